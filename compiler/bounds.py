"""Stronger proven lower bounds on makespan, energy and EDP, computed before any search (SI units).

`evaluate.lower_bound` gives the cheap bounds (total work / chiplets, DRAM bytes / bandwidth, critical path at
minimum latencies); `strengthen` adds, for every solver and report:

(d) critical path with minimum transfer times (`transfer_delays`): an edge u -> v costs at least
    h x hop latency + bytes / link bandwidth where h is the fewest hops between any lead chiplet u may take and
    any lead v may take (0 when both may share a lead). It binds where directives keep producer and consumer
    apart (PD disaggregation's KV transfer).
(e) an LP relaxation (OR-Tools GLOP) of the assignment: x[i, o] >= 0 is the fraction of task i on option o
    (placement x residency), sum_o x[i, o] = 1; per chiplet class K (the chiplets of one type: a sum of the
    per-chiplet no-overlap constraints, so a valid aggregate) sum x[i, o] lat[i, o] |members(o) & K| <= T |K|;
    per dependency f_v >= f_u + d_min(u, v) + sum_o x[v, o] lat[v, o], T >= f. Min T is a makespan bound that
    couples heterogeneity (a ws-friendly layer cannot put all its work on the ws chiplets when they are full)
    with the critical path (a critical task cannot take its cheapest slow option). The order on a chiplet and
    integrality are relaxed, SRAM capacity is kept only in total ((i)), so every schedule is a point of the LP.
    Symmetry keeps it small: options with the same member counts per class (and resource rows, (h), (i)) are
    merged to their (latency, energy) Pareto front (a dominated option can be replaced in any LP solution), and
    identical components (micro-batch chains with equal tables and edges) share one set of variables weighted
    by their count (the LP is convex and invariant under swapping them, so averaging an optimal solution over
    them is optimal).
    Graphs whose LP would exceed `LP_MAX_VARS` variables drop the dependency rows and merge identical tasks
    instead (load LP); above `LP_MAX_TASKS` tasks no LP is solved.
(g) whole-machine exclusion: a task on a placement that spans every chiplet overlaps no other task, and the
    tasks of one chain (a component whose edges form a path) run one after another, so per chain c
    T >= sum_{i in c} sum_o x[i, o] lat[i, o] + sum_{j not in c} sum_{o spans all} x[j, o] lat[j, o]. It binds
    where a long chain can only be sped up by the whole-machine group (wsc8x8 prefills: the longest prompt's
    chain on a 16-chiplet group is longer than the work bound, and every layer it moves to the 64-chiplet group
    stalls the other chains): long_prompt_prefill's LP bound 0.2133 s -> 0.2274 s.
(h) shared resources in the LP: each DRAM channel h serves at most its bandwidth, so
    sum_i sum_o x[i, o] bytes[i, o] frac[o, h] / bw_h <= T (the channel split `dram_frac` follows from the
    placement), and the pooled PIM units' bytes and FLOPs the same way (`ResourceTimes`; `compiler.check`'s `dram`
    and `pim` rules). A placement that uses a channel and shares a chiplet with every placement that uses it
    *blocks* it: while a task runs there nothing else draws on the channel, and two such tasks never overlap.
    So a blocking option's coefficient is its latency, not its own channel time (T >= blocked time + every
    other task's time on the channel). The whole machine blocks every resource; a 16-die block of wsc8x8 its two
    HBM stacks. It binds where the options that read the least DRAM block: llama2_7b_chat on mcm6x6 reads 140 GB
    of prefill DRAM on the 36-chiplet group (up to 235 GB on smaller ones), and decode's 123 GB cannot use the
    bandwidth that prefill leaves free: LP 1.025 s -> 1.434 s (greedy 1.473 s); on wsc8x8 0.0432 s -> 0.0536 s
    (cpsat 0.0562 s). Options are merged by (member counts, resource times, blocking, residency).
(i) SRAM capacity in the LP: a weight set that stays resident takes its bytes (split over its group's members,
    `CostModel.weight_share`) from the package's total weight capacity for the whole schedule (the checker's
    `sram` rule, summed over chiplets), so with r_k in [0, 1] >= the resident share of every task using set k,
    sum_k bytes_k r_k <= sum_c capacity_c. Without it the LP keeps every weight in SRAM; it binds where SRAM
    holds a few layers: 8-layer chains with 512 KiB of weights per layer on a 2x2 mesh of 256 KiB chiplets
    (`tests/compiler/test_bounds.py`): 0.53 ms -> 13.7 ms (greedy 14.7 ms). Tasks of identical components
    share a row only when they use the same weight set.
(f) energy and EDP: E(T) = min dynamic energy of the LP with makespan <= T is non-increasing in T, so for any
    schedule of makespan M in [t_k, t_k+1]: energy >= E(t_k+1) + P_static t_k and EDP >= that x t_k; the
    bound is the least of these over a grid t_0 = the makespan bound < t_1 < ... and the tail
    (E_min + P_static t_last) t_last. Transfer energies (>= 0) are left out.

LP answers are read with a relative safety margin (`LP_MARGIN`) for GLOP's tolerances. `Bounds.tightest` names
the largest makespan bound (the simplest of those within `TIE_REL` of it); `parts` has every one (s), for
reports and bench tables.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from ortools.linear_solver import pywraplp

from mapc.hw.cost import CostModel

LP_MAX_VARS = 40_000      # per-task LP with dependency rows up to this many option variables (GLOP: ~1 s)
LP_MAX_TASKS = 20_000     # no LP above this many tasks (the table deduplication alone gets slow)
LP_MARGIN = 1e-6          # LP optima are read as value x (1 - margin): GLOP's feasibility tolerances
TIE_REL = 1e-5            # `tightest`: bounds this close to the largest count as equal; the first (simplest) wins
LP_FINE_GRID_VARS = 5_000   # larger LPs sweep every other makespan of T_GRID (each re-solve ~0.1 s there)
T_GRID = (1.0, 1.005, 1.01, 1.02, 1.04, 1.07, 1.1, 1.15, 1.2, 1.3, 1.45, 1.6, 1.8, 2.0, 2.5, 3.0, 4.0)


@dataclass(frozen=True)
class Bounds:
    """Makespan (s), energy (J) and EDP (J*s) lower bounds; `parts` every makespan bound by name (s)."""

    makespan: float
    energy: float
    edp: float
    parts: dict[str, float] = field(default_factory=dict)
    tightest: str = ""
    lp: str = "none"           # "paths" (per-task LP with dependencies), "load" (merged tasks), "none"
    lp_s: float = 0.0          # wall seconds spent on LPs (not part of any result)


def transfer_delays(cost: CostModel) -> np.ndarray:
    """[edges] the least time any schedule spends on each edge's transfer (s): fewest hops between the lead
    chiplets the producer and the consumer may take (finite table entries), priced as `transfer_time`."""
    g, hw = cost.graph, cost.hw
    if not g.edges:
        return np.zeros(0)
    fin = np.isfinite(cost.lat_resident) | np.isfinite(cost.lat_stream)                   # [n, P]
    onehot = np.zeros((len(cost.placements), hw.n), bool)
    onehot[np.arange(len(cost.placements)), cost.lead] = True
    leads = (fin.astype(np.int32) @ onehot.astype(np.int32)) > 0                          # [n, C]
    hops = hw.hops.astype(np.float64)
    dist = np.full((g.n, hw.n), np.inf)                   # fewest hops from any lead of task i to chiplet c
    for a in range(hw.n):
        dist = np.minimum(dist, np.where(leads[:, a:a + 1], hops[a][None, :], np.inf))
    h = np.where(leads[g.edge_dst], dist[g.edge_src], np.inf).min(axis=1)
    h = np.where(np.isfinite(h), h, 0.0)
    nop = hw.nop
    return np.where(h > 0, h * nop.hop_latency + g.edge_bytes / nop.link_bw, 0.0)


def critical_path(cost: CostModel, min_lat: np.ndarray, delay: np.ndarray) -> float:
    """Longest dependency chain with every task at its minimum latency and every transfer at its least time
    (task ids are a topological order)."""
    g = cost.graph
    finish = min_lat.astype(np.float64).copy()
    ready = np.zeros(g.n)
    inc: list[list[int]] = [[] for _ in range(g.n)]
    for k, v in enumerate(g.edge_dst.tolist() if g.edges else []):
        inc[v].append(k)
    src = g.edge_src if g.edges else np.zeros(0, np.int64)
    for i in range(g.n):
        if inc[i]:
            ready[i] = max(finish[src[k]] + delay[k] for k in inc[i])
            finish[i] = ready[i] + min_lat[i]
    return float(finish.max()) if g.n else 0.0


def chiplet_classes(cost: CostModel) -> tuple[np.ndarray, np.ndarray]:
    """([P, K] members of each placement in each chiplet class, [K] chiplets per class); a class is the
    chiplets of one type."""
    names = [c.type.name for c in cost.hw.chiplets]
    kinds = sorted(set(names))
    cls = np.array([kinds.index(n) for n in names])
    A = np.zeros((len(cost.placements), len(kinds)), np.int64)
    for p, mem in enumerate(cost.placements):
        np.add.at(A[p], cls[list(mem)], 1)
    return A, np.bincount(cls, minlength=len(kinds))


@dataclass(frozen=True)
class _Opts:
    """Collapsed options of one distinct table row: latency, energy, member counts per class [o, K], and the
    time each shared resource (DRAM channels, then the PIM pools) spends on the task [o, R] (s at full rate)."""

    lat: np.ndarray
    energy: np.ndarray
    counts: np.ndarray
    res: np.ndarray
    blocks: np.ndarray        # [o, R] the option holds the resource alone while it runs ((h) in the module doc)
    resident: np.ndarray      # [o] the option keeps the task's weights in SRAM


def _collapse(lat: np.ndarray, en: np.ndarray, counts: np.ndarray, res: np.ndarray, blocks: np.ndarray,
              resident: np.ndarray) -> _Opts:
    """The (latency, energy) Pareto front of the finite options among those with the same member counts per
    class (`counts` [o, K]), the same resource times and blocking (`res`, `blocks` [o, R]) and the same
    residency; see module doc."""
    fin = np.isfinite(lat) & np.isfinite(en)
    lat, en, counts, res, blocks, resident = lat[fin], en[fin], counts[fin], res[fin], blocks[fin], resident[fin]
    keys = np.concatenate([counts.astype(np.float64), res, blocks.astype(np.float64),
                           resident[:, None].astype(np.float64)], axis=1)
    _, arow = np.unique(keys, axis=0, return_inverse=True)
    arow = np.asarray(arow).reshape(-1)
    order = np.lexsort((en, lat, arow))
    keep: list[int] = []
    cur, best_e = -1, math.inf
    for j in order:
        if arow[j] != cur:
            cur, best_e = int(arow[j]), math.inf
        if en[j] < best_e:
            best_e = float(en[j])
            keep.append(int(j))
    k = np.array(keep, np.int64)
    return _Opts(lat[k], en[k], counts[k], res[k], blocks[k], resident[k])


class ResourceTimes:
    """The time each shared resource is busy with a task, per option (resident options then streamed, s at full
    rate): per DRAM channel its bytes / bandwidth (`dram_frac`), then the pooled PIM units' bytes and FLOPs over
    their totals (`compiler.check`'s `dram` and `pim` rules). A resource serves at most its rate, so the times of
    the tasks it serves sum to at most the makespan: (h) in the module doc."""

    def __init__(self, cost: CostModel) -> None:
        hw = cost.hw
        self.names: list[str] = []
        self._tables: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []    # (resident [n, P], streamed, [2P] scale)
        self.n_options = 2 * len(cost.placements)
        frac = np.concatenate([cost.dram_frac, cost.dram_frac], 0)              # [2P, H]
        dr, ds = (cost.dram_bytes(True), cost.dram_bytes(False)) if hw.dram else (None, None)
        mem = cost.members.astype(np.int64)
        meets = (mem @ mem.T) > 0                                                # [P, P] placements share a chiplet
        blocks: list[np.ndarray] = []
        for h, ch in enumerate(hw.dram):
            if ch.bandwidth > 0 and frac[:, h].any() and dr is not None and ds is not None:
                self.names.append(f"dram:{ch.name}")
                self._tables.append((dr, ds, frac[:, h] / ch.bandwidth))
                users = cost.dram_frac[:, h] > 0
                blocks.append(users & meets[:, users].all(axis=1))
        units = hw.pim
        for key, cap in (("pim_bytes", sum(u.bandwidth for u in units)),
                         ("pim_flops", sum(u.peak_flops for u in units))):
            if cap > 0:
                tr, ts = cost.table(key, True), cost.table(key, False)
                if tr.any() or ts.any():
                    self.names.append(key)
                    self._tables.append((tr, ts, np.full(frac.shape[0], 1.0 / cap)))
                    blocks.append(np.asarray(meets.all(axis=1), bool))
        # [2P, R] the option's placement uses the resource and shares a chiplet with every placement that can
        # use it: nothing else uses it while the task runs, and two such tasks never overlap (each meets the
        # other). The whole machine blocks every resource; on wsc8x8 a 16-die block blocks its two HBM stacks
        self.blocks = (np.concatenate([np.stack(blocks, 1)] * 2, 0) if blocks
                       else np.zeros((self.n_options, 0), bool))

    def key_tables(self) -> list[np.ndarray]:
        """The [n, P] tables the times are read from (for deduplicating tasks)."""
        return [t for tr, ts, _ in self._tables for t in (tr, ts)]

    def of(self, task: int) -> np.ndarray:
        """[2P, R] the resources' times on task `task`'s options."""
        if not self._tables:
            return np.zeros((self.n_options, 0))
        return np.stack([np.concatenate([tr[task], ts[task]]) * sc for tr, ts, sc in self._tables], axis=1)


class _Lp:
    """The LP relaxation of module doc (e), kept to re-solve with other makespan caps and objectives."""

    def __init__(self, cost: CostModel, t_scale: float, e_scale: float, t_floor: float) -> None:
        g = cost.graph
        A, size = chiplet_classes(cost)
        A2 = np.concatenate([A, A], 0)
        resident2 = np.arange(2 * A.shape[0]) < A.shape[0]          # options: resident placements, then streamed
        rt = ResourceTimes(cost)
        self.resources = rt.names
        tables = np.ascontiguousarray(
            np.concatenate([cost.lat_resident, cost.lat_stream, cost.energy_resident, cost.energy_stream,
                            *rt.key_tables()], 1))
        # distinct rows by their bytes (one 1-D sort of opaque records: ~10x faster than unique(axis=0))
        keys = tables.view(np.dtype((np.void, tables.dtype.itemsize * tables.shape[1]))).reshape(-1)
        _, row, mult_row = np.unique(keys, return_inverse=True, return_counts=True)
        row = np.asarray(row).reshape(-1)
        uniq: dict[int, _Opts] = {}
        for i in range(g.n):
            r = int(row[i])
            if r not in uniq:
                uniq[r] = _collapse(np.concatenate([cost.lat_resident[i], cost.lat_stream[i]]),
                                    np.concatenate([cost.energy_resident[i], cost.energy_stream[i]]), A2, rt.of(i),
                                    rt.blocks, resident2)
        delay = transfer_delays(cost)
        # representatives: one component of each identical group (same rows in id order, same edges)
        comp = g.component if g.n else np.zeros(0, np.int64)
        members: dict[int, list[int]] = {}
        for t in range(g.n):
            members.setdefault(int(comp[t]), []).append(t)
        inc: dict[int, list[int]] = {}
        for k, v in enumerate(g.edge_dst.tolist() if g.edges else []):
            inc.setdefault(int(comp[v]), []).append(k)
        groups: dict[tuple, list[int]] = {}
        for c, mem in members.items():
            pos = {t: j for j, t in enumerate(mem)}
            edges = tuple(sorted((pos[int(g.edge_src[k])], pos[int(g.edge_dst[k])], float(delay[k]))
                                 for k in inc.get(c, [])))
            groups.setdefault((tuple(int(row[t]) for t in mem), edges), []).append(c)
        n_vars = sum(sum(uniq[int(row[t])].lat.size for t in members[cs[0]]) for cs in groups.values())
        self.kind = "paths" if n_vars <= LP_MAX_VARS else "load"
        s = pywraplp.Solver.CreateSolver("GLOP")
        if s is None:                 # pragma: no cover - GLOP ships with OR-Tools
            raise RuntimeError("GLOP is not available")
        self.s, self.t_scale, self.e_scale = s, t_scale, e_scale
        inf = s.infinity()
        self.T = s.NumVar(t_floor / t_scale, inf, "T")
        loads = [s.Constraint(-inf, 0.0) for _ in range(size.size)]
        for k, ct in enumerate(loads):
            ct.SetCoefficient(self.T, -float(size[k]))
        busy = [s.Constraint(-inf, 0.0) for _ in rt.names]       # (h) each DRAM channel / PIM pool: sum <= T
        for ct in busy:
            ct.SetCoefficient(self.T, -1.0)
        self.energy_terms: list[tuple[pywraplp.Variable, float]] = []
        self.energy_set = False
        self.n_vars = n_vars

        full_row = size[None, :]     # member counts of a placement that spans every chiplet

        def add_task(o: _Opts, weight: float, total: float) -> tuple[list[pywraplp.Variable], np.ndarray]:
            xs = [s.NumVar(0.0, total, "") for _ in range(o.lat.size)]
            one = s.Constraint(total, total)
            lat = o.lat / t_scale
            for j, x in enumerate(xs):
                one.SetCoefficient(x, 1.0)
                for k in np.nonzero(o.counts[j])[0]:
                    loads[k].SetCoefficient(x, weight * float(lat[j] * o.counts[j, k]))
                for r in range(len(busy)):       # a blocking task holds the resource for its whole latency
                    own = float(o.res[j, r]) / t_scale
                    rv = max(float(lat[j]), own) if o.blocks[j, r] else own
                    if rv > 0:
                        busy[r].SetCoefficient(x, weight * rv)
                self.energy_terms.append((x, weight * float(o.energy[j]) / e_scale))
            return xs, lat

        if self.kind == "load":       # identical rows merged, no dependency rows
            for r, o in uniq.items():
                add_task(o, 1.0, float(mult_row[r]))
            return
        # (i) SRAM capacity: (weight set, the resident option variables of one task using it)
        wkey = g.weight_index
        held_min = np.full(len(g.weight_keys), np.inf)
        np.minimum.at(held_min, wkey, g.held_weight_bytes)
        cap_total = float(cost.weight_capacity.sum())
        held_terms: list[tuple[int, list[pywraplp.Variable]]] = []
        # (g) whole-machine exclusion, per chain: [(weight, own terms, whole-machine terms, is a chain)]
        chains: list[tuple[float, list[tuple[pywraplp.Variable, float]], list[tuple[pywraplp.Variable, float]],
                           bool]] = []
        for (_, _edges), cs in groups.items():
            mem = members[cs[0]]
            w = float(len(cs))
            f: dict[int, pywraplp.Variable] = {}
            own: list[tuple[pywraplp.Variable, float]] = []
            whole: list[tuple[pywraplp.Variable, float]] = []
            ein = [k for k in inc.get(cs[0], [])]
            dst = [int(g.edge_dst[k]) for k in ein]
            srcs = [int(g.edge_src[k]) for k in ein]
            chain = (len(ein) == len(mem) - 1 and len(set(dst)) == len(dst) and len(set(srcs)) == len(srcs))
            chains.append((w, own, whole, chain))
            for j, t in enumerate(mem):
                o = uniq[int(row[t])]
                xs, lat = add_task(o, w, 1.0)
                wsets = {int(wkey[members[c][j]]) for c in cs}
                if len(wsets) == 1 and held_min[min(wsets)] > 0 and o.resident.any():
                    held_terms.append((min(wsets), [x for x, r in zip(xs, o.resident) if r]))
                spans = (o.counts == full_row).all(axis=1)
                own += [(x, float(lv)) for x, lv in zip(xs, lat)]
                whole += [(x, float(lv)) for x, lv, sp in zip(xs, lat, spans) if sp]
                f[t] = s.NumVar(0.0, inf, "")
                preds = [k for k in inc.get(cs[0], []) if int(g.edge_dst[k]) == t]
                rows = [(f[int(g.edge_src[k])], float(delay[k]) / t_scale) for k in preds] or [(None, 0.0)]
                for fu, d in rows:
                    ct = s.Constraint(d, inf)          # f_t - f_u - sum x lat >= d
                    ct.SetCoefficient(f[t], 1.0)
                    if fu is not None:
                        ct.SetCoefficient(fu, -1.0)
                    for x, lv in zip(xs, lat):
                        ct.SetCoefficient(x, -float(lv))
                top = s.Constraint(0.0, inf)
                top.SetCoefficient(self.T, 1.0)
                top.SetCoefficient(f[t], -1.0)
        # (i) SRAM: a weight set held anywhere takes its bytes from the package's total weight capacity
        if held_terms and cap_total > 0:
            held = {k: s.NumVar(0.0, 1.0, "") for k, _ in held_terms}
            for k, xs_res in held_terms:          # r_k >= the resident share of every task of the set
                ct = s.Constraint(0.0, inf)
                ct.SetCoefficient(held[k], 1.0)
                for x in xs_res:
                    ct.SetCoefficient(x, -1.0)
            cap_ct = s.Constraint(-inf, 1.0)
            for k, r in held.items():
                cap_ct.SetCoefficient(r, float(held_min[k]) / cap_total)
        # a chain's tasks run one at a time, and no task on a whole-machine placement overlaps any of them:
        # T >= (the chain's latencies) + (every other task's whole-machine time). Identical chains share
        # variables: the others of its group count w - 1 times (valid for the averaged solution, module doc)
        total_whole = [(x, wg * lv) for wg, _, wh, _ in chains for x, lv in wh]
        if total_whole:
            for w, own, wh, chain in chains:
                if not chain:
                    continue
                coef: dict[int, tuple[pywraplp.Variable, float]] = {}
                for x, cf in [*own, *total_whole, *[(x, -lv) for x, lv in wh]]:
                    vi = x.index()
                    coef[vi] = (x, coef.get(vi, (x, 0.0))[1] + cf)
                ct = s.Constraint(0.0, inf)
                ct.SetCoefficient(self.T, 1.0)
                for x, cf in coef.values():
                    if cf != 0.0:
                        ct.SetCoefficient(x, -cf)

    def min_makespan(self) -> float | None:
        """Min T (s), or None when GLOP does not prove an optimum."""
        obj = self.s.Objective()
        obj.Clear()
        self.energy_set = False
        obj.SetCoefficient(self.T, 1.0)
        obj.SetMinimization()
        self.T.SetUb(self.s.infinity())
        if self.s.Solve() != pywraplp.Solver.OPTIMAL:
            return None
        return float(self.T.solution_value()) * self.t_scale

    def min_energy(self, cap: float) -> float | None:
        """Min dynamic energy (J) with makespan <= cap s, or None when not proven optimal."""
        obj = self.s.Objective()
        if not self.energy_set:      # the objective is set once for the whole sweep of caps
            obj.Clear()
            for x, c in self.energy_terms:
                obj.SetCoefficient(x, c)
            obj.SetMinimization()
            self.energy_set = True
        self.T.SetUb(cap / self.t_scale)
        st = self.s.Solve()
        if st != pywraplp.Solver.OPTIMAL:
            return None
        return float(obj.Value()) * self.e_scale


def strengthen(cost: CostModel, work: float, dram: float, crit: float, e_min: float, pim: float = 0.0) -> Bounds:
    """The bounds of the module doc from the cheap ones (`work`, `dram`, `crit`, `pim` s; `e_min` = sum of the
    tasks' least dynamic energies, J)."""
    g = cost.graph
    ps = float(cost.static_power)
    parts = {"work": work, "dram": dram, "critical_path": crit}
    if pim > 0:
        parts["pim"] = pim
    if g.n == 0:
        return Bounds(0.0, 0.0, 0.0, parts, "work")
    min_lat = np.minimum(cost.lat_resident, cost.lat_stream).min(axis=1)
    parts["critical_path_transfers"] = critical_path(cost, min_lat, transfer_delays(cost))
    t_lb = max(parts.values())
    e_lb = e_min + ps * t_lb
    kind, lp_s = "none", 0.0
    edp_lb = e_lb * t_lb
    if g.n <= LP_MAX_TASKS and t_lb > 0:
        t0 = time.perf_counter()
        lp = _Lp(cost, t_lb, max(e_min, 1e-300), t_lb * (1 - 1e-3))
        kind = lp.kind
        tl = lp.min_makespan()
        if tl is not None:
            parts["lp"] = tl * (1 - LP_MARGIN)
            t_lb = max(t_lb, parts["lp"])
        grid = [t_lb * f for f in (T_GRID if lp.n_vars <= LP_FINE_GRID_VARS else T_GRID[::2])]     # T_GRID has an odd length: the last stays
        es = [lp.min_energy(t) for t in grid[1:]]          # E(t_0) enters no interval's bound
        if all(e is not None for e in es):
            ev = [e_min] + [max(float(e) * (1 - LP_MARGIN), e_min) for e in es if e is not None]
            cands_e = [ev[k + 1] + ps * grid[k] for k in range(len(grid) - 1)] + [e_min + ps * grid[-1]]
            cands_edp = [(ev[k + 1] + ps * grid[k]) * grid[k] for k in range(len(grid) - 1)]
            cands_edp.append((e_min + ps * grid[-1]) * grid[-1])
            e_lb = max(e_min + ps * t_lb, min(cands_e))
            edp_lb = max(e_lb * t_lb, min(cands_edp))
        else:
            e_lb = e_min + ps * t_lb
            edp_lb = e_lb * t_lb
        lp_s = time.perf_counter() - t0
    else:
        e_lb = e_min + ps * t_lb
        edp_lb = e_lb * t_lb
    # the simplest bound within TIE_REL of the largest names it (a cheap bound the LP matches up to its
    # tolerances explains the number better than the LP)
    top = max(parts.values())
    tightest = next(k for k in parts if parts[k] >= top * (1 - TIE_REL))
    return Bounds(t_lb, e_lb, edp_lb, parts, tightest, kind, lp_s)
