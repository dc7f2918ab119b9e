"""The CP-SAT model of a mapc scheduling problem (ortools.sat.python.cp_model), and the helpers around it.

Decision per task: one *option* = (placement, resident?) with a finite latency, chosen by a presence literal
of an optional fixed-size interval; all of a task's intervals share its start variable.

Integer time. One tick = `tick` seconds, chosen from the hint's makespan (about `TICKS` ticks over it) and made
an exact divisor of the NoP hop latency, so hop delays are exact multiples. Task durations and the
serialisation part of transfers are rounded UP to whole ticks, so a tick schedule is feasible at float
durations; the float schedule returned is rebuilt from the tick schedule's order (`retime`, a semi-active
left shift at exact float durations), which starts every task no later than the tick schedule did.
Bounds are converted down: any float schedule, re-timed on the rounded problem with the same order, is at most
`slack = 2n` ticks longer (< 1 tick per task duration and < 1 per transfer on its critical path), so
`true optimum >= (CP-SAT bound - slack) * tick`.

Constraints:
- exactly one option per task; per chiplet a no-overlap over every option interval using it (a group occupies
  all members); a redundant cumulative (demand = group size, capacity = chiplets) strengthens the bound.
- precedence u -> v: start_v >= end_u + hop_ticks * hops(lead_u, lead_v) + ser_ticks(bytes) * [leads differ].
  hops is an integer variable per edge: on a mesh, |x_u - x_v| + |y_u - y_v| of the lead coordinates (linear
  in the option literals; one-sided inequalities suffice because larger hops only hurt); elsewhere an
  `AddElement` over the table of hops between the leads. Edges whose endpoints have one possible lead each
  become constants. O(options + edges) constraints, no per-pair products.
- SRAM: only on chiplets where the resident options could over-fill it (elsewhere residency is free).
  held[key, chiplet] >= share * literal of every resident option of that key on that chiplet (a key is counted
  once, at its largest share, as `compiler/check.py` counts it); per chiplet sum(held) <= capacity (shares
  rounded up, capacity down).
- DRAM: the cost backend gives each chiplet a static share of the aggregate DRAM bandwidth, so DRAM can never be
  over-used by any schedule and needs no cumulative here (see `hw/cost.py`).
- energy (integer units `eunit` J, option and transfer energies rounded down, static power x makespan exact
  per tick): sum of chosen option energies + bits x NoP J/bit x hops per edge + static power x makespan.
- per chiplet, makespan >= total duration of the chosen options using it (redundant with the no-overlaps but
  visible to the LP relaxation; without it the bound on 8-task chain instances stalls at the work bound).
- symmetry: interchangeable identical components (e.g. micro-batch chains with the same options, weights and
  edge bytes) are sorted by their first task's option index; otherwise, a reflection of the grid that maps every placement to a placement with the same lead image and
  identical cost columns, and preserves capacities, is a symmetry of the whole problem; for each such
  reflection the first task with several leads gets its lead coordinate on the low half (valid: reflecting any
  schedule fixes it, and the two axes commute).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

TICKS = 1 << 18          # ticks over the hint makespan (time resolution ~ 4e-6 of it)
ENERGY_UNITS = 1 << 22   # energy units over the hint energy
WINDOW_LOAD = False      # per-chiplet load bound also in the decomposition's windows (fixed intervals counted).
                         # Off: measured at 10 s it makes windows prove optimal sooner but the search settles in
                         # worse local optima (llama2_7b_chat +0.90 % vs greedy instead of +2.05 %; datacenter_mix
                         # +0.55 vs +0.53, pd_fused_vs_disagg +0.46 vs +0.48)


@dataclass(frozen=True)
class Options:
    """Candidate (placement, residency) choices, sorted by task; options of task i are first[i]:first[i+1]."""

    task: np.ndarray
    place: np.ndarray
    resident: np.ndarray
    lat: np.ndarray          # s
    energy: np.ndarray       # J (dynamic)
    first: np.ndarray
    exact: bool              # only provably safe pruning was applied (bounds hold for the full problem)
    pruned: int = 0          # options dropped by dominance
    cut: int = 0             # options dropped by the per-task limit

    @property
    def size(self) -> int:
        return int(self.task.size)

    def of(self, i: int) -> range:
        return range(int(self.first[i]), int(self.first[i + 1]))

    def index(self, i: int, p: int, res: bool) -> int | None:
        for o in self.of(i):
            if self.place[o] == p and bool(self.resident[o]) == bool(res):
                return o
        return None


def sram_demand(cost) -> np.ndarray:
    """[C] bytes per chiplet if every weight key were resident there at its largest possible share."""
    g = cost.graph
    K, C = len(g.weight_keys), cost.hw.n
    demand = np.zeros((C, max(K, 1)))
    lr, share = cost.lat_resident, cost.weight_share
    for p, mem in enumerate(cost.placements):
        fin = np.isfinite(lr[:, p])
        if not fin.any():
            continue
        hk = np.zeros(max(K, 1))
        np.maximum.at(hk, g.weight_index[fin], share[fin, p])
        m = list(mem)
        demand[m] = np.maximum(demand[m], hk[None, :])
    return demand.sum(axis=1)


def candidates(cost, keep=None, max_per_task: int | None = None, tasks=None) -> Options:
    """Finite options of each task (of `tasks`, default all), with dominated ones pruned.

    Resident is dropped where streaming on the same placement is at least as fast and as cheap (always safe);
    streaming is dropped where residency is at least as fast and cheap AND no member chiplet's SRAM can be
    over-filled (so residency there never competes for capacity). `keep = (placement_index, resident)` options
    are never dropped; `max_per_task` keeps the best options by normalised latency + energy (then `exact`
    is False: CP-SAT's bound is for the restricted problem only).
    """
    lr, ls, er, es = cost.lat_resident, cost.lat_stream, cost.energy_resident, cost.energy_stream
    n = cost.graph.n
    tasks = np.arange(n) if tasks is None else np.asarray(tasks, dtype=np.int64)
    lr, ls, er, es = lr[tasks], ls[tasks], er[tasks], es[tasks]
    fr = np.isfinite(lr) & np.isfinite(er)
    fs = np.isfinite(ls) & np.isfinite(es)
    tight = sram_demand(cost) > cost.weight_capacity
    loose_p = ~(cost.members & tight[None, :]).any(axis=1)
    drop_r = fr & fs & (ls <= lr) & (es <= er)
    drop_s = fr & fs & (lr <= ls) & (er <= es) & loose_p[None, :] & ~drop_r
    if keep is not None:
        kp, kr = np.asarray(keep[0])[tasks], np.asarray(keep[1], dtype=bool)[tasks]
        rows = np.arange(tasks.size)
        drop_r[rows[kr], kp[kr]] = False
        drop_s[rows[~kr], kp[~kr]] = False
    kr_, ks_ = fr & ~drop_r, fs & ~drop_s
    pruned = int((fr & drop_r).sum() + (fs & drop_s).sum())
    ti_r, p_r = np.nonzero(kr_)
    ti_s, p_s = np.nonzero(ks_)
    ti = np.concatenate([ti_r, ti_s])
    pl = np.concatenate([p_r, p_s])
    rs = np.concatenate([np.ones(ti_r.size, bool), np.zeros(ti_s.size, bool)])
    lat = np.concatenate([lr[ti_r, p_r], ls[ti_s, p_s]])
    en = np.concatenate([er[ti_r, p_r], es[ti_s, p_s]])
    order = np.lexsort((~rs, pl, ti))
    ti, pl, rs, lat, en = ti[order], pl[order], rs[order], lat[order], en[order]
    cut = 0
    if max_per_task is not None:
        cnt = np.bincount(ti, minlength=tasks.size)
        if cnt.max(initial=0) > max_per_task:
            lmin = np.full(tasks.size, np.inf); np.minimum.at(lmin, ti, lat)
            emin = np.full(tasks.size, np.inf); np.minimum.at(emin, ti, en)
            sc = lat / np.maximum(lmin[ti], 1e-30) + en / np.maximum(emin[ti], 1e-30)
            forced = np.zeros(ti.size, bool)
            if keep is not None:
                forced = (pl == kp[ti]) & (rs == kr[ti])
            o2 = np.lexsort((sc, ~forced, ti))
            rank = np.empty(ti.size, np.int64)
            starts = np.searchsorted(ti[o2], np.arange(tasks.size))
            rank[o2] = np.arange(ti.size) - starts[ti[o2]]
            sel = (rank < max_per_task) | forced
            cut = int((~sel).sum())
            ti, pl, rs, lat, en = ti[sel], pl[sel], rs[sel], lat[sel], en[sel]
    first = np.searchsorted(ti, np.arange(tasks.size + 1))
    return Options(tasks[ti], pl, rs, lat, en, first, cut == 0, pruned, cut)


def reflections(cost) -> list[tuple[str, np.ndarray]]:
    """Grid reflections ('x' or 'y', placement permutation) that are exact symmetries of the cost model."""
    hw = cost.hw
    if hw.nop.topology != "mesh" or len(hw.chiplets) != hw.rows * hw.cols:
        return []
    out = []
    pindex = {tuple(p): i for i, p in enumerate(cost.placements)}
    for axis in ("x", "y"):
        if (hw.cols if axis == "x" else hw.rows) < 2:
            continue
        sig = np.empty(hw.n, np.int64)
        for c in hw.chiplets:
            x, y = (hw.cols - 1 - c.x, c.y) if axis == "x" else (c.x, hw.rows - 1 - c.y)
            sig[c.id] = y * hw.cols + x
        if any(hw.chiplets[sig[c.id]].type != c.type for c in hw.chiplets):
            continue
        if not np.array_equal(cost.weight_capacity[sig], cost.weight_capacity):
            continue
        if not np.array_equal(hw.hops[np.ix_(sig, sig)], hw.hops):
            continue
        if hw.dram and not np.array_equal(hw.dram_hops[sig], hw.dram_hops):
            continue
        perm = np.empty(len(cost.placements), np.int64)
        ok = True
        for p, mem in enumerate(cost.placements):
            img = tuple(int(sig[c]) for c in mem)
            q = pindex.get(img)
            if q is None:   # same members in another ring order with the same lead
                q = next((j for j, m in enumerate(cost.placements)
                          if m[0] == img[0] and sorted(m) == sorted(img)), None)
            if q is None:
                ok = False
                break
            perm[p] = q
        if not ok:
            continue
        same = all(np.array_equal(np.nan_to_num(t[:, perm], posinf=-1), np.nan_to_num(t, posinf=-1))
                   for t in (cost.lat_resident, cost.lat_stream, cost.energy_resident, cost.energy_stream))
        if same:
            out.append((axis, perm))
    return out


def identical_components(cost, opts: Options, tasks) -> list[list[int]]:
    """Groups of interchangeable weakly connected components of the graph (over `tasks`, all free), each
    group as the list of its components' first tasks, in id order.

    Two components are interchangeable when, matched task by task in id order, the tasks have identical
    options (placements, residency, latencies, energies), weight key and weight shares, and the edges map to
    edges with the same bytes. Swapping them maps any schedule to one with the same makespan, energy and SRAM
    use, so sorting them by their first task's chosen option is a valid symmetry break. (It does not commute
    with the grid reflections, which permute options, so `build` then skips the reflection break: measured
    faster than ordering the chains by start time and keeping the reflections.)"""
    g = cost.graph
    tasks = [t for t in tasks if t is not None]
    if len(tasks) != g.n:
        return []
    comp = g.component
    comps: dict[int, list[int]] = {}
    for t in range(g.n):
        comps.setdefault(int(comp[t]), []).append(t)
    ins: dict[int, list] = {}
    for e in g.edges:
        ins.setdefault(int(comp[e.src]), []).append(e)
    slot = {}
    for t in range(g.n):
        j = t   # opts order is task order when all tasks are free
        r = opts.of(j)
        slot[t] = (opts.place[r.start:r.stop].tobytes(), opts.resident[r.start:r.stop].tobytes(),
                   opts.lat[r.start:r.stop].tobytes(), opts.energy[r.start:r.stop].tobytes(),
                   int(g.weight_index[t]), cost.weight_share[t].tobytes())
    sigs: dict[tuple, list[int]] = {}
    for rt, mem in comps.items():
        idx = {t: i for i, t in enumerate(mem)}
        edges = tuple(sorted((idx[e.src], idx[e.dst], float(e.bytes)) for e in ins.get(rt, [])))
        sig = (tuple(slot[t] for t in mem), edges)
        sigs.setdefault(sig, []).append(mem[0])
    return [sorted(v) for v in sigs.values() if len(v) > 1]


def choose_tick(cost, makespan_hint: float) -> float:
    """Seconds per tick: about makespan_hint / TICKS, made an exact divisor of the hop latency."""
    want = max(makespan_hint, 1e-12) / TICKS
    hop = float(cost.hw.nop.hop_latency)
    if hop > 0:
        return hop / math.ceil(hop / want)
    return want


def retime(cost, pi, res, order_key, dur=None, delay=None):
    """Semi-active schedule: tasks in order of `order_key` (ties by id), each at the earliest time its inputs
    have arrived and all its chiplets are free. With `dur`/`delay` (per task / per edge) in ticks, integer
    arithmetic; else exact float latencies and transfer times. Never later than any schedule with that order."""
    g = cost.graph
    n = g.n
    pi = np.asarray(pi, np.int64)
    if dur is None:
        dur = cost.task_latency(pi, res).tolist()
        delay = (cost.transfer_time(g.edge_bytes, cost.lead[pi[g.edge_src]], cost.lead[pi[g.edge_dst]]).tolist()
                 if g.edges else [])
        zero = 0.0
    else:
        dur, delay, zero = list(dur), list(delay), 0
    order = np.lexsort((np.arange(n), np.asarray(order_key)))
    ins: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for k, e in enumerate(g.edges):
        ins[e.dst].append((e.src, k))
    free = [zero] * cost.hw.n
    start = [zero] * n
    end = [zero] * n
    placements = cost.placements
    for i in order.tolist():
        t = zero
        for s, k in ins[i]:
            a = end[s] + delay[k]
            if a > t:
                t = a
        mem = placements[pi[i]]
        for c in mem:
            if free[c] > t:
                t = free[c]
        start[i] = t
        end[i] = t + dur[i]
        for c in mem:
            free[c] = end[i]
    return np.array(start)


@dataclass
class Built:
    """A built model and the handles the driver needs."""

    model: cp_model.CpModel
    opts: Options
    tick: float
    eunit: float
    lits: list
    start: list                    # per task in opts order (index = position in opts.first)
    makespan: object
    energy: object                 # integer linear expression (units of eunit)
    dur: np.ndarray                # [O] ticks
    slack: int                     # ticks: rounding allowance for bounds
    ks: int                        # energy units per tick of static power
    horizon: int
    sym: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    ends: list = field(default_factory=list)


def build(cost, opts: Options, tick: float, eunit: float, ks: int, *, fixed=None, window_lo: int = 0,
          window_hi: int | None = None, symmetry: bool = True) -> Built:
    """Build the CP-SAT model over `opts` (tasks opts.task). With `fixed` (a dict: pi, res, start_ticks,
    end_ticks, tasks, sched), the tasks not in opts are fixed: `tasks` (all of them) hold their SRAM, and
    `sched` (those scheduled before the window) their intervals and precedences as constants; the free tasks
    are confined to [window_lo, window_hi] ticks (LNS windows)."""
    g = cost.graph
    hw = cost.hw
    m = cp_model.CpModel()
    free_tasks = [int(opts.task[opts.first[j]]) if opts.first[j] < opts.first[j + 1] else None
                  for j in range(len(opts.first) - 1)]
    pos = {t: j for j, t in enumerate(free_tasks) if t is not None}
    O = opts.size
    dur = np.ceil(opts.lat / tick - 1e-9).astype(np.int64)
    dur = np.maximum(dur, 0)
    lead = cost.lead
    nop = hw.nop
    hop_ticks = int(math.ceil(nop.hop_latency / tick - 1e-9)) if nop.hop_latency > 0 else 0   # exact when tick divides it
    D = int(hw.hops.max()) if hw.n > 1 else 0
    ebit = 8.0 * nop.energy_per_bit / eunit
    # horizon: serial execution of the slowest options plus the slowest transfers
    max_dur = np.zeros(len(free_tasks), np.int64)
    np.maximum.at(max_dur, np.searchsorted(opts.first, np.arange(O), side="right") - 1, dur)
    ser = np.ceil(g.edge_bytes / nop.link_bw / tick - 1e-9).astype(np.int64) if g.edges else np.zeros(0, np.int64)
    horizon = int(max_dur.sum() + (ser.sum() + len(g.edges) * hop_ticks * D if g.edges else 0)) + 1
    if fixed is not None:
        horizon = max(horizon, int(window_hi or 0), int(max(fixed["end_ticks"], default=0)) + 1)
    hi = horizon if window_hi is None else int(window_hi)
    lits = [m.new_bool_var(f"x{o}") for o in range(O)]
    start = [m.new_int_var(window_lo, hi, f"s{t}") for t in free_tasks]
    end = []
    per_chip: list[list] = [[] for _ in range(hw.n)]
    demands, all_iv = [], []
    for j, t in enumerate(free_tasks):
        r = opts.of(j)
        m.add_exactly_one(lits[o] for o in r)
        for o in r:
            iv = m.new_optional_fixed_size_interval_var(start[j], int(dur[o]), lits[o], f"i{o}")
            all_iv.append(iv)
            demands.append(int(cost.group_size[opts.place[o]]))
            for c in cost.placements[opts.place[o]]:
                per_chip[c].append(iv)
        e = start[j] + sum(int(dur[o]) * lits[o] for o in r)
        end.append(e)
        m.add(e <= hi)
    busy = np.zeros(hw.n, np.int64)      # ticks each chiplet is held by fixed intervals
    if fixed is not None:
        for t in fixed["sched"]:
            s, f = int(fixed["start_ticks"][t]), int(fixed["end_ticks"][t])
            if f <= window_lo or s >= hi or f == s:
                continue
            iv = m.new_fixed_size_interval_var(s, f - s, f"f{t}")
            for c in cost.placements[int(fixed["pi"][t])]:
                per_chip[c].append(iv)
                busy[c] += f - s
    for c in range(hw.n):
        if len(per_chip[c]) > 1:
            m.add_no_overlap(per_chip[c])
    if fixed is None and all_iv:
        m.add_cumulative(all_iv, demands, hw.n)

    # lead coordinates of each free task, as linear expressions of its literals (or constants)
    mesh = hw.nop.topology == "mesh" and len(hw.chiplets) == hw.rows * hw.cols and np.array_equal(
        hw.hops, np.abs(np.subtract.outer([c.x for c in hw.chiplets], [c.x for c in hw.chiplets]))
        + np.abs(np.subtract.outer([c.y for c in hw.chiplets], [c.y for c in hw.chiplets])))
    xs = np.array([c.x for c in hw.chiplets]); ys = np.array([c.y for c in hw.chiplets])
    leads_used = sorted(set(lead[opts.place].tolist()) | (set(lead[np.asarray(fixed["pi"])].tolist())
                                                             if fixed is not None else set()))
    lix = {c: i for i, c in enumerate(leads_used)}

    def lead_info(t):
        """(constant lead or None, x expr, y expr, lead-index expr)."""
        if t in pos:
            r = opts.of(pos[t])
            ls = {int(lead[opts.place[o]]) for o in r}
            if len(ls) == 1:
                c = ls.pop()
                return c, int(xs[c]), int(ys[c]), lix[c]
            return (None, sum(int(xs[lead[opts.place[o]]]) * lits[o] for o in r),
                    sum(int(ys[lead[opts.place[o]]]) * lits[o] for o in r),
                    sum(lix[int(lead[opts.place[o]])] * lits[o] for o in r))
        c = int(lead[int(fixed["pi"][t])])
        return c, int(xs[c]), int(ys[c]), lix[c]

    info = {}
    hop_table = [int(hw.hops[a, b]) for a in leads_used for b in leads_used]
    e_const = 0
    e_terms = []
    n_hopvars = 0
    for k, ed in enumerate(g.edges):
        u, v = ed.src, ed.dst
        if u not in pos and v not in pos:
            continue
        if fixed is not None and ((u not in pos and u not in fixed["sched"])
                                  or (v not in pos and v not in fixed["sched"])):
            continue       # LNS: the other end is re-timed after the window, not fixed
        for t in (u, v):
            if t not in info:
                info[t] = lead_info(t)
        cu, xu, yu, iu = info[u]
        cv, xv, yv, iv_ = info[v]
        eb = int(math.floor(ed.bytes * ebit)) if ed.bytes > 0 else 0
        if cu is not None and cv is not None:
            h = int(hw.hops[cu, cv])
            delay = (h * hop_ticks + int(ser[k])) if h > 0 else 0
            e_const += eb * h
        else:
            hv = m.new_int_var(0, D, f"h{k}")
            n_hopvars += 1
            if mesh:
                dx = m.new_int_var(0, hw.cols - 1, f"dx{k}"); dy = m.new_int_var(0, hw.rows - 1, f"dy{k}")
                m.add(dx >= xu - xv); m.add(dx >= xv - xu); m.add(dy >= yu - yv); m.add(dy >= yv - yu)
                m.add(hv == dx + dy)
            else:
                m.add_element(iu * len(leads_used) + iv_, hop_table, hv)
            if ser[k] > 0:
                d = m.new_bool_var(f"d{k}")
                m.add(hv <= D * d)
                delay = hop_ticks * hv + int(ser[k]) * d
            else:
                delay = hop_ticks * hv
            if eb:
                e_terms.append(eb * hv)
        su = start[pos[u]] if u in pos else None
        if u in pos and v in pos:
            m.add(start[pos[v]] >= end[pos[u]] + delay)
        elif u in pos:     # fixed consumer
            m.add(end[pos[u]] + delay <= int(fixed["start_ticks"][v]))
        else:              # fixed producer
            m.add(start[pos[v]] >= int(fixed["end_ticks"][u]) + delay)
        del su

    # SRAM on chiplets that could over-fill
    tight = sram_demand(cost) > cost.weight_capacity
    wkey = g.weight_index
    n_sram = 0
    if tight.any():
        pre = np.zeros((hw.n, len(g.weight_keys)))
        if fixed is not None:
            for t in fixed["tasks"]:
                if fixed["res"][t]:
                    p = int(fixed["pi"][t])
                    for c in cost.placements[p]:
                        pre[c, wkey[t]] = max(pre[c, wkey[t]], cost.weight_share[t, p])
        held: dict[tuple[int, int], dict[int, list]] = {}
        for o in np.nonzero(opts.resident)[0]:
            t, p = int(opts.task[o]), int(opts.place[o])
            lvl = int(math.ceil(cost.weight_share[t, p]))
            for c in cost.placements[p]:
                if tight[c]:
                    held.setdefault((c, int(wkey[t])), {}).setdefault(lvl, []).append(lits[o])
        per_c: dict[int, list] = {}
        for (c, k), lv in held.items():
            base = int(math.ceil(pre[c, k]))
            lv = {L: ls for L, ls in lv.items() if L > base}
            if not lv:
                continue
            if len(lv) == 1 and base == 0:
                (L, ls), = lv.items()
                r = m.new_bool_var(f"r{c}_{k}")
                for x in ls:
                    m.add_implication(x, r)
                per_c.setdefault(c, []).append(L * r)
            else:
                hk = m.new_int_var(base, max(lv), f"hk{c}_{k}")
                for L, ls in lv.items():
                    r = m.new_bool_var(f"r{c}_{k}_{L}")
                    for x in ls:
                        m.add_implication(x, r)
                    m.add(hk >= L * r)
                per_c.setdefault(c, []).append(hk - base)
            n_sram += 1
        for c, terms in per_c.items():
            capc = int(math.floor(cost.weight_capacity[c] - pre[c].sum()))
            m.add(sum(terms) <= capc)

    ms = m.new_int_var(window_lo, hi, "makespan")
    has_succ = np.zeros(g.n, bool)
    for ed in g.edges:
        if ed.src in pos and ed.dst in pos:
            has_succ[ed.src] = True
    for j, t in enumerate(free_tasks):
        if not has_succ[t]:
            m.add(ms >= end[j])
    if fixed is None or (WINDOW_LOAD and window_lo == 0):
        # per-chiplet load: the options on a chiplet never overlap (nor the fixed intervals there, in a window),
        # so their total duration bounds the makespan (redundant; the LP relaxation of the no-overlaps alone
        # only sees the global cumulative)
        if fixed is not None and busy.any():   # every fixed interval counted ends by the makespan
            m.add(ms >= max(int(fixed["end_ticks"][t]) for t in fixed["sched"]
                            if int(fixed["end_ticks"][t]) > int(fixed["start_ticks"][t])))
        for c in range(hw.n):
            terms = [int(dur[o]) * lits[o] for o in range(O) if dur[o] and c in cost.placements[opts.place[o]]]
            if terms:
                m.add(ms >= sum(terms) + window_lo + int(busy[c]))
    n_chain_sym = 0
    if symmetry and fixed is None:
        for grp in identical_components(cost, opts, free_tasks):
            # sort the chains by their first task's option index (ties allowed)
            idx = [sum(k * lits[o] for k, o in enumerate(opts.of(pos[t]))) for t in grp]
            for x, y in zip(idx, idx[1:]):
                m.add(x <= y)
                n_chain_sym += 1
    eopt = np.floor(opts.energy / eunit).astype(np.int64)
    energy = sum(int(eopt[o]) * lits[o] for o in range(O) if eopt[o]) + sum(e_terms) + e_const + ks * ms
    sym = []
    if symmetry and fixed is None and not n_chain_sym:
        for axis, perm in reflections(cost):
            for j, t in enumerate(free_tasks):
                li = info.get(t) or lead_info(t)
                if li[0] is None:
                    coord = li[1] if axis == "x" else li[2]
                    m.add(2 * coord <= (hw.cols if axis == "x" else hw.rows) - 1)
                    sym.append((axis, perm, t))
                    break
    n = len(free_tasks)
    proto = m.proto
    stats = {"variables": len(proto.variables), "constraints": len(proto.constraints),
             "booleans": O + sum(1 for _ in range(0)), "intervals": O, "options": O, "tasks_free": n,
             "hop_vars": n_hopvars, "sram_keys": n_sram, "chain_symmetry": n_chain_sym, "symmetry": [a for a, _, _ in sym]}
    return Built(m, opts, tick, eunit, lits, start, ms, energy, dur, 2 * max(n, 1), ks, horizon, sym, stats, end)
