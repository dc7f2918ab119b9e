"""`scar`: SCAR-style scheduling of (multi-model) workloads on heterogeneous-dataflow multi-chiplet modules.

Steps (after the SCAR study's heuristics, on mapc's execution graph and cost model):

1. Regions: chiplets are ordered in a column-major snake (so every contiguous run of the order crosses the
   dataflow bands of a SCAR-style MCM, ws rows on top, os rows below) and split into one contiguous region per
   model in proportion to the model's work (sum of its tasks' best single-chiplet latency as the cost model
   prices them; at least one chiplet each; models share round-robin when there are more models than chiplets).
2. Windows: each model's layer units (`ga.Encoding` units, in layer order) are split into S consecutive
   segments balanced by work; a model's region holds D = |region| // S replicas of that S-stage pipeline, and
   its micro-batch streams go round-robin over the replicas (micro-batches pipeline across chiplets between
   windows; replicas run side by side).
3. Dataflow affinity: within a replica, segments are assigned to chiplets by the cost model's price of the
   segment on each chiplet (latency, energy or their product per `options.goal`, resident weights where
   they fit the chiplet's SRAM share, else streamed): repeatedly the segment with the largest regret (second
   best minus best) takes its best free chiplet, so a ws chiplet goes to weight-reuse-heavy GEMMs and an os
   chiplet to output-heavy ones exactly when the cost model says so.
4. Configurations: for each model, a few (S, D) splits are tried, coordinate-wise, holding the other models
   fixed; the full schedule (residency within SRAM by `choose_residency`, timing by `list_schedule`) is
   priced with `objective_of`, and the best is kept.
5. Local search: random moves on the (model, replica, segment) -> chiplet map: move a segment to another
   chiplet (anywhere on the package), swap two segments' chiplets, shift a segment boundary; a move is kept
   when it improves the objective. With `options.deterministic` the number of moves is fixed from the time limit
   and problem size (as in `ga`), else moves run until `options.time_limit` (`ScarOptions.moves` fixes it).
6. Greedy start and window search: greedy's best schedule (`greedy.candidates`, incl. its energy-weighted
   sweep) is a second starting point; when it beats the window plan, step 5 is skipped and the whole move
   budget goes to `WindowSearch` (else half of it): per-task window moves from the best schedule so far, most
   of them toward placements with lower dynamic energy. So `scar` is never worse than `greedy`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mapc.compiler.schedule import materialize
from mapc.core.errors import InfeasibleError
from mapc.solvers import greedy
from mapc.solvers.baseline import split_counts
from mapc.compiler.objective import score
from mapc.compiler.problem import Problem
from mapc.core.options import SolveOptions
from mapc.solvers.base import SolveResult, SolverStats
from mapc.solvers.encoding import REF_GENOME_S, REF_TASK_S, SAFETY, encoding, repair, repair_map
from mapc.solvers.listsched import choose_residency, fit_tables, list_schedule, objective_of
from mapc.solvers.stretch import finish
from mapc.solvers.scar_plan import (ModelPlan, _price, assign_by_affinity, balanced_bounds,
                                    single_placements, snake_columns, unit_prices)

# (objective, placement_index, resident, start) of a decoded plan; resident and start are None (objective inf)
# when it is infeasible
Evaluation = tuple[float, np.ndarray, np.ndarray | None, np.ndarray | None]


@dataclass(frozen=True)
class ScarStats(SolverStats):
    regions: tuple[int, ...] = ()         # chiplets per model region
    stages: tuple[int, ...] = ()          # pipeline windows per model
    replicas: tuple[int, ...] = ()        # replicas per model
    configs_tried: int = 0
    moves: int = 0                        # window-plan moves tried
    moves_accepted: int = 0
    move_cap: int = 0
    initial_objective: float = 0.0
    scar_construction_objective: float = 0.0
    greedy_objective: float = 0.0
    started_from: str = ""                # "scar" or "greedy"
    window_moves: int = 0                 # per-task window moves tried
    window_moves_accepted: int = 0
    evaluations: int = 0
    evals_per_s: float = 0.0
    deterministic: bool = True            # False when the wall-time safety stop cut the planned moves
    stretched_tasks: int = 0      # tasks the final re-timing streams below their peak DRAM rate (solvers.stretch)


class Scar:
    def __init__(self, problem: Problem, options: SolveOptions = SolveOptions()) -> None:
        self.problem = problem
        self.options = options
        self.cost = cost = problem.cost
        self.obj = options.goal
        self.enc = enc = encoding(problem.graph)
        self.single = single_placements(cost)
        L, E = unit_prices(cost, enc, self.obj)
        self.L, self.E = L, E
        self.P = _price(L, E, self.obj)
        chip_ids = sorted(self.single)
        self.chip_cols = np.array([self.single[c] for c in chip_ids])
        best = np.where(np.isfinite(L[:, self.chip_cols]), L[:, self.chip_cols], np.inf).min(axis=1)
        self.unit_work = np.where(np.isfinite(best), best, 0.0)
        self.stream_work = np.zeros(enc.n_streams)
        np.add.at(self.stream_work, enc.stream, cost.min_latency)
        self.all_cols = np.arange(len(cost.placements))
        self.fix = repair_map(cost)
        self.evals = 0
        self.t_eval = 0.0

    # ---- building -------------------------------------------------------------------------------------
    def regions(self) -> list[list[int]]:
        """Per model: placement indices (single chiplets) of its region."""
        enc = self.enc
        M = int(enc.unit_model.max()) + 1
        order = [self.single[c] for c in snake_columns(self.cost.hw) if c in self.single]
        work = [float(self.unit_work[enc.unit_model == m].sum()) for m in range(M)]
        if len(order) >= M:
            out: list[list[int]] = []
            at = 0
            for c in split_counts(len(order), work):
                out.append(order[at:at + c]); at += c
            return out
        return [[order[m % len(order)]] for m in range(M)]

    def slots(self, region: list[int], k: int) -> list[int]:
        """Placements of k chiplets lying inside `region` (a list of single-chiplet placements), in the
        region's order of their lead chiplet."""
        chips = {self.cost.placements[p][0] for p in region}
        rank = {self.cost.placements[p][0]: j for j, p in enumerate(region)}
        out = [p for p, mem in enumerate(self.cost.placements) if len(mem) == k and set(mem) <= chips]
        return sorted(out, key=lambda p: rank[self.cost.placements[p][0]])

    def plan_model(self, m: int, region: list[int], S: int, k: int = 1) -> ModelPlan | None:
        """S windows of model m on the k-chiplet slots of its region, D = slots // S replicas; None when the
        region has no k-chiplet slot."""
        slots = region if k == 1 else self.slots(region, k)
        if not slots:
            return None
        return self.plan_slots(m, slots, S)

    def plan_slots(self, m: int, slots: list[int], S: int) -> ModelPlan:
        """S windows of model m on `slots` (placements, at least one), D = slots // S replicas."""
        enc = self.enc
        units = np.nonzero(enc.unit_model == m)[0]
        streams = np.nonzero(enc.stream_model == m)[0]
        S = max(1, min(S, units.size, len(slots)))
        D = max(1, min(len(slots) // S, streams.size))
        bounds = balanced_bounds(self.unit_work[units], S)
        ends = bounds[1:] + [units.size]
        seg_cost = np.array([self.P[units[a:b]].sum(axis=0) for a, b in zip(bounds, ends)])   # [S, P]
        chip: list[list[int]] = []
        for d in range(D):
            cols = slots[d * S:(d + 1) * S]
            a = assign_by_affinity(seg_cost[:, cols])
            chip.append([cols[j] for j in a])
        # streams to replicas: longest stream first onto the least-loaded replica (LPT)
        w = self.stream_work[streams]
        load = np.zeros(D)
        rep = np.zeros(streams.size, dtype=np.int64)
        for j in np.argsort(-w, kind="stable"):
            d = int(np.argmin(load))
            rep[j] = d
            load[d] += w[j]
        return ModelPlan(units, streams, bounds, chip, rep)

    def placement(self, plans: list[ModelPlan]) -> np.ndarray:
        enc = self.enc
        U = enc.n_units
        stage = np.zeros(U, dtype=np.int64)
        for pl in plans:
            b = np.zeros(pl.units.size, dtype=np.int64)
            b[pl.bounds[1:]] = 1
            stage[pl.units] = np.cumsum(b)
        rep = np.zeros(enc.n_streams, dtype=np.int64)
        for pl in plans:
            rep[pl.streams] = pl.replica
        table: dict[tuple[int, int], int] = {}
        pi = np.empty(self.problem.graph.n, dtype=np.int64)
        model_of_unit = enc.unit_model
        for i in range(pi.size):
            u, s = int(enc.unit[i]), int(enc.stream[i])
            key = (u, s)
            if key not in table:
                pl = plans[model_of_unit[u]]
                table[key] = pl.chip[rep[s]][stage[u]]
            pi[i] = table[key]
        return repair(self.fix, pi)

    def evaluate(self, plans: list[ModelPlan]) -> Evaluation:
        """(objective, pi, resident, start); objective inf when infeasible."""
        return self.decode(self.placement(plans))

    def decode(self, pi: np.ndarray) -> Evaluation:
        """(objective, pi, resident, start) of a per-task placement: residency within SRAM, list schedule."""
        t = time.perf_counter()
        try:
            res = choose_residency(self.cost, pi)
            st = list_schedule(self.cost, pi, res)
            val = objective_of(self.cost, pi, res, st, self.obj)
        except InfeasibleError:
            return self._counted(t, (np.inf, pi, None, None))
        return self._counted(t, (val, pi, res, st))

    def _counted(self, t: float, r: Evaluation) -> Evaluation:
        """`r`, counting one evaluation started at perf_counter time `t`."""
        self.evals += 1
        self.t_eval += time.perf_counter() - t
        return r

    # ---- local search moves -----------------------------------------------------------------------------
    def neighbour(self, plans: list[ModelPlan], rng: np.random.Generator) -> list[ModelPlan] | None:
        m = int(rng.integers(len(plans)))
        new = [p if k != m else p.copy() for k, p in enumerate(plans)]
        pl = new[m]
        d = int(rng.integers(len(pl.chip)))
        S = len(pl.bounds)
        s = int(rng.integers(S))
        r = rng.random()
        if r < 0.4:                                        # move a segment to another chiplet (or group)
            pool = self.chip_cols if rng.random() < 0.6 else self.all_cols
            pl.chip[d][s] = int(pool[rng.integers(pool.size)])
        elif r < 0.55:                                     # move a micro-batch stream to another replica
            if len(pl.chip) < 2:
                return None
            pl.replica[int(rng.integers(pl.replica.size))] = d
        elif r < 0.8:                                     # swap two segments' chiplets (any models)
            m2 = int(rng.integers(len(new)))
            if m2 != m:
                new[m2] = new[m2].copy()
            q = new[m2]
            d2, s2 = int(rng.integers(len(q.chip))), int(rng.integers(len(q.bounds)))
            pl.chip[d][s], q.chip[d2][s2] = q.chip[d2][s2], pl.chip[d][s]
        else:                                              # shift a segment boundary
            if S < 2:
                return None
            k = int(rng.integers(1, S))
            lo = pl.bounds[k - 1] + 1
            hi = (pl.bounds[k + 1] if k + 1 < S else pl.units.size) - 1
            step = 1 + int(rng.integers(max(1, (hi - lo) // 4 + 1)))
            v = pl.bounds[k] + (step if rng.random() < 0.5 else -step)
            if not lo <= v <= hi:
                return None
            pl.bounds[k] = v
        return new


class WindowSearch:
    """Local search on a per-task placement vector (so it can start from any schedule, e.g. greedy's).

    A *window* is a run of one micro-batch stream's consecutive layer units on the same placement; half the
    time it is widened to every stream's tasks of those units on that placement (one resident weight group,
    so residency sharing is kept). Moves: to a placement where the window's dynamic energy is lower (one of
    the few cheapest; energy is the remaining EDP headroom once HEFT has packed the critical path), to one of
    the least-loaded placements (busy time of its members), to a random placement, or swap two windows'
    placements. `Scar.decode` prices the result; the caller keeps it only if the objective improves."""

    def __init__(self, sc: Scar) -> None:
        cost, enc = sc.cost, sc.enc
        self.sc, self.cost, self.enc = sc, cost, enc
        self.lat, self.en = fit_tables(cost)                                  # [n, P]
        self.ok = np.isfinite(self.lat) & np.isfinite(self.en)
        self.task_at = np.full((enc.n_streams, enc.n_units), -1, dtype=np.int64)
        self.task_at[enc.stream, enc.unit] = np.arange(enc.unit.size)
        self.singles = sc.chip_cols
        self.members = cost.members.astype(np.float64)                       # [P, C]

    def window(self, pi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        enc = self.enc
        i = int(rng.integers(pi.size))
        s, u, p = int(enc.stream[i]), int(enc.unit[i]), int(pi[i])
        row = self.task_at[s]
        a = b = u
        while a > 0 and row[a - 1] >= 0 and pi[row[a - 1]] == p and enc.unit_model[a - 1] == enc.unit_model[u]:
            a -= 1
        while b + 1 < row.size and row[b + 1] >= 0 and pi[row[b + 1]] == p and enc.unit_model[b + 1] == enc.unit_model[u]:
            b += 1
        if rng.random() < 0.5:
            lo, hi = (a, b + 1) if rng.random() < 0.5 else (u, u + 1)
            cols = self.task_at[:, lo:hi].ravel()
            cols = cols[cols >= 0]
            return cols[pi[cols] == p]
        w = row[a:b + 1]
        return w[w >= 0]

    def neighbour(self, pi: np.ndarray, start: np.ndarray | None, rng: np.random.Generator) -> np.ndarray | None:
        w = self.window(pi, rng)
        p = int(pi[w[0]])
        ok = self.ok[w].all(axis=0)
        ok[p] = False
        if not ok.any():
            return None
        r = rng.random()
        new = pi.copy()
        if r < 0.45:                                       # cheaper placement for the window
            e = self.en[w].sum(axis=0)
            cand = np.nonzero(ok & (e < e[p]))[0]
            if not cand.size:
                return None
            cand = cand[np.argsort(e[cand], kind="stable")[:3]]
            new[w] = int(cand[rng.integers(cand.size)])
        elif r < 0.7:                                      # least-loaded placement
            rows = np.arange(pi.size)
            busy = self.members[pi].T @ self.lat[rows, pi]                  # [C] busy seconds per chiplet
            load = np.where(ok, (self.members * busy).max(axis=1) + self.lat[w].sum(axis=0), np.inf)
            cand = np.argsort(load, kind="stable")[:3]
            cand = cand[np.isfinite(load[cand])]
            new[w] = int(cand[rng.integers(cand.size)])
        elif r < 0.9:                                      # random placement (single chiplets more often)
            pool = self.singles if rng.random() < 0.6 else np.arange(ok.size)
            pool = pool[ok[pool]]
            if not pool.size:
                return None
            new[w] = int(pool[rng.integers(pool.size)])
        else:                                              # swap with another window
            w2 = self.window(pi, rng)
            q = int(pi[w2[0]])
            if q == p or not (self.ok[w, q].all() and self.ok[w2, p].all()):
                return None
            new[w], new[w2] = q, p
        return new


def _moves(options: SolveOptions, n: int) -> tuple[int, bool]:
    """(move cap, whether it is fixed in advance)."""
    sc = options.scar
    if sc.moves is not None:
        return int(sc.moves), True
    if options.deterministic:
        return int(min(sc.max_moves, max(1, options.time_limit / (REF_GENOME_S + n * REF_TASK_S)))), True
    return sc.max_moves, False


def solve(problem: Problem, options: SolveOptions = SolveOptions()) -> SolveResult:
    t0 = time.perf_counter()
    cost, obj, g = problem.cost, options.goal, problem.graph
    if g.n == 0:
        return SolveResult(materialize(cost, [], [], []), "heuristic", 0.0, solver="scar", message="empty graph")
    sc = Scar(problem, options)
    rng = np.random.default_rng(options.seed)
    cap, fixed = _moves(options, g.n)
    deadline = t0 + (SAFETY if fixed else 1.0) * options.time_limit
    trace: list[tuple[float, float]] = []
    regions = sc.regions()
    M = len(regions)
    n_units = [int((sc.enc.unit_model == m).sum()) for m in range(M)]
    whole = [sc.single[c] for c in snake_columns(cost.hw) if c in sc.single]
    sizes = sorted(set(cost.group_size.tolist()))

    def choices(m: int) -> list[tuple[list[int], int, int]]:
        """(region, group size, windows) candidates of model m: its own region or the whole package, every
        group size, and pipeline depths from one window per slot down to a sixth of that."""
        out: list[tuple[list[int], int, int]] = []
        for reg in ([regions[m], whole] if len(regions[m]) < len(whole) else [regions[m]]):
            for k in sizes:
                n_slots = len(reg) if k == 1 else len(sc.slots(reg, k))
                if n_slots == 0:
                    continue
                for S in sorted({max(1, min(n_slots, n_units[m]) // j) for j in (1, 2, 3, 4, 6)}, reverse=True):
                    out.append((reg, k, S))
        return out

    plans = [sc.plan_slots(m, regions[m], min(len(regions[m]), n_units[m])) for m in range(M)]
    best = sc.evaluate(plans)
    trace.append((time.perf_counter() - t0, float(best[0])))
    configs = 1
    stopped = False
    for m in range(M):                                     # coordinate-wise choice per model
        for reg, k, S in choices(m):
            if time.perf_counter() >= deadline:
                stopped = True
                break
            pm = sc.plan_model(m, reg, S, k)
            if pm is None:
                continue
            tried = list(plans)
            tried[m] = pm
            r = sc.evaluate(tried)
            configs += 1
            if r[0] < best[0]:
                best, plans = r, tried
                trace.append((time.perf_counter() - t0, float(best[0])))
    scar_only = float(best[0])
    start_from = "scar"
    greedy_val = np.inf
    try:                                                   # greedy's best schedule is a second starting point
        _, gpi, gres, gst, greedy_val = greedy.candidates(problem, options)[0]
    except InfeasibleError:
        pass
    plan_cap = cap // 2
    if greedy_val < best[0]:
        best, start_from, plan_cap = (greedy_val, gpi, gres, gst), "greedy", 0
        trace.append((time.perf_counter() - t0, float(best[0])))
    initial = float(best[0])
    done = accepted = 0
    while done < plan_cap:                                 # window-plan moves (only when SCAR's plan leads)
        if time.perf_counter() >= deadline:
            stopped = True
            break
        moved = sc.neighbour(plans, rng)
        done += 1
        if moved is None:
            continue
        r = sc.evaluate(moved)
        if r[0] < best[0]:
            best, plans = r, moved
            accepted += 1
            trace.append((time.perf_counter() - t0, float(best[0])))
    ws = WindowSearch(sc)
    w_done = w_acc = 0
    while np.isfinite(best[0]) and done + w_done < cap:    # per-task window moves from the best so far
        if time.perf_counter() >= deadline:
            stopped = True
            break
        cand_pi = ws.neighbour(best[1], best[3], rng)
        w_done += 1
        if cand_pi is None:
            continue
        r = sc.decode(cand_pi)
        if r[0] < best[0]:
            best = r
            w_acc += 1
            trace.append((time.perf_counter() - t0, float(best[0])))
    val, pi, res, st = best
    if not np.isfinite(val) or res is None or st is None:
        return SolveResult(None, "no_solution", None, solver="scar", wall_time=time.perf_counter() - t0,
                           message="no feasible window plan found (weights fit no SRAM and cannot stream?)")
    sched, k = finish(cost, pi, res, st, obj)
    stats = ScarStats(regions=tuple(len(r) for r in regions), stages=tuple(len(p.bounds) for p in plans),
                      replicas=tuple(len(p.chip) for p in plans), configs_tried=configs, moves=done,
                      moves_accepted=accepted, move_cap=cap, initial_objective=initial,
                      scar_construction_objective=scar_only, greedy_objective=float(greedy_val),
                      started_from=start_from, window_moves=w_done, window_moves_accepted=w_acc,
                      evaluations=sc.evals, evals_per_s=sc.evals / sc.t_eval if sc.t_eval > 0 else 0.0,
                      deterministic=bool(fixed and not stopped), stretched_tasks=k)
    return SolveResult(sched, "heuristic", score(sched, cost, obj), trace=tuple(trace), stats=stats,
                       message=f"{M} model region(s), windows {list(stats.stages)} x replicas {list(stats.replicas)}, "
                               f"best start {start_from}, {accepted}/{done} plan and {w_acc}/{w_done} window moves kept"
                               + (" (+stretch)" if k else "")
                               + (" (stopped by the time limit before the planned search ended: the result may "
                                  "differ between runs; raise --time-limit for a reproducible run)"
                                  if stopped else ""),
                       solver="scar", wall_time=time.perf_counter() - t0)
