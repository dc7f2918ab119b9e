"""Structured large-neighbourhood search for `cpsat`: re-optimise whole micro-batch chains with CP-SAT.

Why: mapc's execution graphs are unions of independent chains (one per micro-batch, or per request of a
model); on the examples the longest chain sets the makespan (critical path = lower bound) and the chiplets
are 10-50 % busy, so what a heuristic leaves on the table is mostly *energy*: a task off the critical chain
can move to a slower, cheaper placement (another dataflow, residency, no transfer) for free. A whole CP-SAT
model of 200-400 tasks x 60 options is too big to search in seconds; one chain of 32 tasks with the rest of
the schedule fixed is small and CP-SAT solves it to optimality.

Neighbourhoods: the weakly connected components of the graph, merged up to `CpsatOptions.neighbourhood_tasks`
(48) tasks (components larger than that are cut into runs of that many tasks in start order). For each neighbourhood:
  1. the current schedule is re-timed on integer ticks (`cpsat_model.retime` in its own start order, durations
     and serialisation rounded up, so it is feasible in ticks AND, read back as seconds, in real time);
  2. every other task is FIXED at those ticks: its intervals block chiplets, its SRAM stays held, and its
     edges to the neighbourhood become constant precedences in BOTH directions (so the current solution is
     always a feasible hint: no window can come back INFEASIBLE through rounding);
  3. the free tasks keep a few options each (`restrict`): the Pareto (latency, energy) classes of the task,
     `CpsatOptions.per_class` placements per class (least busy first, then nearest to the current one), the current option,
     and the placements of its graph neighbours (co-location saves the transfer);
  4. CP-SAT minimises a linear objective: latency: W x makespan + sum of ends; energy: energy (static power
     x makespan included); edp: the first-order change of E x T at the current point, T0 x energy + E0 x
     makespan (makespan >= the fixed tasks' end);
  5. the answer (seconds = ticks x tick) is left-shifted by `retime` at exact latencies, and replaces the
     current schedule only if the true objective is strictly better.
Passes over all neighbourhoods repeat until the budget is spent; a pass that changes nothing with every call
proven optimal (a local optimum of this neighbourhood structure) restarts the search from the next distinct
heuristic schedule (best first) while any is left. The best schedule of all starts is returned: never worse
than the best heuristic.
Parallel: `Driver.lns_workers` (= `threads` in deterministic mode) consecutive windows of a pass form a batch:
disjoint neighbourhoods, each modelled against the same incumbent and solved concurrently by a single-worker
CP-SAT call; the answers are merged IN WINDOW ORDER (each re-timed onto the schedule merged so far and accepted
only if the true objective improves), so the outcome never depends on which thread finished first. Each window
gets the share of the budget it would get alone; a batch is charged its longest call (`lns_det_s` in the stats
sums all calls). With `wall_clock`, one window at a time with `threads` CP-SAT workers.
Deterministic: fixed neighbourhood order, deterministic CP-SAT limits; wall time only as a safety cap.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mapc.compiler.check import sram_use
from mapc.compiler.evaluate import Bound
from mapc.core.errors import NoSolutionError
from mapc.compiler.objective import score
from mapc.compiler.problem import Problem
from mapc.core.graph import ExecutionGraph
from mapc.core.options import SolveOptions
from mapc.core.solution import Status
from mapc.hw.cost import CostModel
from mapc.solvers.base import Named, SolveResult
from mapc.solvers.cpsat_run import DET_PER_S_LNS, CpsatStats, Driver, TickSolution, point
from mapc.solvers import cpsat_steady
from mapc.solvers.cpsat_explain import explain
from mapc.solvers.cpsat_model import ENERGY_UNITS, Built, Fixed, build, retime
from mapc.solvers.cpsat_options import Options, candidates
from mapc.solvers.listsched import objective_of, task_latency
from mapc.solvers.pareto import front
from mapc.solvers.stretch import best_finish

TICKS = 1 << 16   # ticks over the current makespan (hop delays rounded up: the model is conservative)
MIN_CALL = 0.4     # budget seconds (before DET_PER_S_LNS scaling) of the smallest CP-SAT call


def components(g: ExecutionGraph) -> list[np.ndarray]:
    """Weakly connected components of the execution graph (sorted task ids), ordered by their first id."""
    comp = g.component
    return [np.nonzero(comp == c)[0] for c in range(int(comp.max()) + 1)] if g.n else []


def neighbourhoods(g: ExecutionGraph, start: np.ndarray, nb_max: int) -> list[np.ndarray]:
    """Components merged in id order up to `nb_max` tasks; larger ones cut into runs in
    start order."""
    out: list[np.ndarray] = []
    cur: list[np.ndarray] = []
    for c in components(g):
        if c.size > nb_max:
            if cur:
                out.append(np.sort(np.concatenate(cur))); cur = []
            o = c[np.lexsort((c, start[c]))]
            k = math.ceil(c.size / nb_max)
            out.extend(np.sort(part) for part in np.array_split(o, k))
        elif sum(x.size for x in cur) + c.size > nb_max:
            out.append(np.sort(np.concatenate(cur))); cur = [c]
        else:
            cur.append(c)
    if cur:
        out.append(np.sort(np.concatenate(cur)))
    return out


FAMILIES = ("chain", "tail", "stage", "region")   # neighbourhood families, one per pass (see `families`)


def _runs(ids: np.ndarray, key: np.ndarray, nb_max: int) -> list[np.ndarray]:
    """`ids` ordered by `key` (ties by id) cut into consecutive runs of at most `nb_max` tasks."""
    if ids.size == 0:
        return []
    o = ids[np.lexsort((ids, key[ids]))]
    return [np.sort(part) for part in np.array_split(o, math.ceil(o.size / nb_max))]


def families(cost: CostModel, pi: np.ndarray, res: np.ndarray, st: np.ndarray, nb_max: int, kind: str
             ) -> list[np.ndarray]:
    """The neighbourhoods of one family for the current schedule (placements `pi`, residency `res`, starts `st`):
    chain: micro-batch chains (`neighbourhoods`); tail: tasks by end time, latest first (where a makespan is
    made); stage: the tasks of one layer segment (weight key) across micro-batches, several keys merged up to
    `nb_max`; region: tasks whose lead chiplet lies in one quadrant of the grid, in start order."""
    g = cost.graph
    if kind == "chain":
        return neighbourhoods(g, st, nb_max)
    ids = np.arange(g.n)
    if kind == "tail":
        return _runs(ids, -(st + task_latency(cost, pi, res)), nb_max)
    if kind == "stage":
        out: list[np.ndarray] = []
        cur: list[np.ndarray] = []
        for k in np.unique(g.weight_index):
            mem = np.nonzero(g.weight_index == k)[0]
            if mem.size > nb_max:
                out.extend(_runs(mem, st, nb_max))
            elif sum(x.size for x in cur) + mem.size > nb_max:
                out.append(np.sort(np.concatenate(cur)))
                cur = [mem]
            else:
                cur.append(mem)
        if cur:
            out.append(np.sort(np.concatenate(cur)))
        return out
    hw = cost.hw
    lead = cost.lead[pi]
    qx = np.array([2 * c.x // max(hw.cols, 1) for c in hw.chiplets])
    qy = np.array([2 * c.y // max(hw.rows, 1) for c in hw.chiplets])
    quad = (qy * 2 + qx)[lead]
    return [w for q in range(4) for w in _runs(ids[quad == q], st, nb_max)]


def restrict(cost: CostModel, opts: Options, tasks: np.ndarray, pi: np.ndarray, res: np.ndarray, busy: np.ndarray,
             per_class: int) -> Options:
    """Keep, per free task, its current option, options on its graph neighbours' placements, and for every
    Pareto-optimal (latency, energy) value `per_class` placements (least busy members, then fewest hops from
    the current lead). `busy[c]` = seconds chiplet c is busy with fixed tasks."""
    g = cost.graph
    hops = cost.hw.hops
    pbusy = np.array([busy[list(m)].max() for m in cost.placements])
    keep = np.zeros(opts.size, bool)
    for j, t in enumerate(tasks):
        r = np.arange(opts.first[j], opts.first[j + 1])
        if r.size == 0:
            continue
        lat, en, pl, rs = opts.lat[r], opts.energy[r], opts.place[r], opts.resident[r]
        near = set(int(pi[u]) for u in g.preds[t]) | set(int(pi[u]) for u in g.succs[t])
        keep[r[(pl == pi[t]) & (rs == res[t])]] = True
        # Pareto classes: round to 1e-9 relative so identical chiplets form one class
        key_l = np.round(lat / max(lat.min(), 1e-300), 9)
        key_e = np.round(en / max(en.min(), 1e-300), 9)
        o = np.lexsort((key_e, key_l))
        best_e = math.inf
        pareto_vals: list[tuple[float, float]] = []
        for k in o:
            if key_e[k] < best_e:
                best_e = key_e[k]
                pareto_vals.append((key_l[k], key_e[k]))
        cur_lead = int(cost.lead[pi[t]])
        for vl, ve in pareto_vals:
            cls = np.nonzero((key_l == vl) & (key_e == ve))[0]
            keep[r[cls[np.isin(pl[cls], list(near))]]] = True
            rank = np.lexsort((cls, hops[cur_lead, cost.lead[pl[cls]]], pbusy[pl[cls]]))
            keep[r[cls[rank[:per_class]]]] = True
    sel = np.nonzero(keep)[0]
    ti = np.searchsorted(opts.first, sel, side="right") - 1
    first = np.searchsorted(ti, np.arange(len(tasks) + 1))
    return Options(opts.task[sel], opts.place[sel], opts.resident[sel], opts.lat[sel], opts.energy[sel], first,
                   False, opts.pruned, opts.cut + int(opts.size - sel.size))


def tick_schedule(cost: CostModel, pi: np.ndarray, res: np.ndarray, st: np.ndarray, tick: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The schedule (placements, residencies, start order of `st`) re-timed on ticks: (start, end) ticks.
    Durations and serialisation are rounded up as `cpsat_model.build` rounds them, so it is feasible there."""
    g = cost.graph
    lat = task_latency(cost, pi, res)
    dur = np.maximum(np.ceil(lat / tick - 1e-9), 0).astype(np.int64)
    if g.edges:
        hops = cost.hw.hops[cost.lead[pi[g.edge_src]], cost.lead[pi[g.edge_dst]]]
        hop_t = int(math.ceil(cost.hw.nop.hop_latency / tick - 1e-9)) if cost.hw.nop.hop_latency > 0 else 0
        ser = np.ceil(g.edge_bytes / cost.hw.nop.link_bw / tick - 1e-9).astype(np.int64)
        delay = np.where(hops > 0, hops * hop_t + ser, 0).astype(np.int64)
    else:
        delay = np.zeros(0, np.int64)
    s = np.asarray(retime(cost, pi, res, st, dur=dur.tolist(), delay=delay.tolist()), dtype=np.int64)
    return s, s + dur


def solve_structured(problem: Problem, options: SolveOptions, drv: Driver, lb: Bound, t0: float, det_left: float,
                     steady: tuple[dict[str, Any], ...] = ()) -> SolveResult:
    """Chain/component LNS from the best schedule in `drv.found`; `det_left` = budget seconds still to spend
    (each CP-SAT call gets `DET_PER_S_LNS` x its share as deterministic time); `steady` = what the steady-state
    model found (`cpsat_steady.SteadyState.groups`), kept in the stats."""
    cost, obj = problem.cost, options.goal
    g = cost.graph
    if not drv.found:
        why = explain(cost, options.seed)      # proven infeasible: name the constraints in conflict
        if why is not None:
            raise why
        raise NoSolutionError(f"no heuristic schedule to start the decomposition from ({g.n} tasks)",
                              hint="allow streaming or use hardware with more SRAM")
    label, pi, res, st = min(drv.found, key=lambda f: objective_of(cost, f[1], f[2], f[3], obj))
    pi, res, st = np.asarray(pi, np.int64), np.asarray(res, bool), np.asarray(st, float)
    best = objective_of(cost, pi, res, st, obj)
    nb_max = options.cpsat.neighbourhood_tasks
    # one family of neighbourhoods per pass, in rotation; latency starts where the makespan is made
    order = ("tail", "chain", "stage", "region") if obj == "latency" else FAMILIES
    nbs = families(cost, pi, res, st, nb_max, order[0])
    full = candidates(cost)        # dominance-pruned options of every task (current ones re-added per call)
    cap = cost.weight_capacity * (1 + 1e-12)
    rounds = accepted = passes = 0
    sizes: list[tuple[int, int]] = []
    statuses: list[str] = []
    left = float(det_left)
    # other starts (distinct heuristic schedules, best first) for when the search converges with budget left
    starts: list[Named] = []
    seen: set[tuple[bytes, bytes]] = set()
    for f in sorted(drv.found, key=lambda f: objective_of(cost, f[1], f[2], f[3], obj)):
        sig = (np.asarray(f[1], np.int64).tobytes(), np.asarray(f[2], bool).tobytes())
        if sig not in seen:
            seen.add(sig)
            starts.append(f)
    starts = starts[1:]
    glob_ = (pi, res, st, best)
    restarts = quiet = n_windows = 0
    kept: dict[str, int] = {}
    ends_sum = float((st + task_latency(cost, pi, res)).sum())
    while left > 0.05 and not drv.past_deadline():
        changed, all_opt = False, True
        kind = order[passes % len(order)]
        if passes:
            nbs = families(cost, pi, res, st, nb_max, kind)
        n_windows += len(nbs)
        width = drv.lns_workers
        for b0 in range(0, len(nbs), width):
            if left <= 0.05 or drv.past_deadline():
                all_opt = False
                break
            # a batch: disjoint windows of one family, each modelled against the same incumbent and solved
            # concurrently; merged below in window order, so the outcome does not depend on thread timing
            batch = nbs[b0:b0 + width]
            merged = False             # the incumbent changed since this batch was modelled
            built = [_window(cost, full, win, pi, res, st, kind, options.cpsat.per_class, obj) for win in batch]
            sizes += [(w.bm.stats["variables"], w.bm.stats["constraints"]) for w in built]
            share = max(MIN_CALL, left / max(1, len(nbs) - b0))    # per window, as if one at a time
            outs = drv.run_batch([(w.bm, w.hint, w.expr) for w in built], share)
            # the batch's budget is its longest call: its windows ran side by side
            left -= (max(o[3] for o in outs) / DET_PER_S_LNS if options.deterministic
                     else sum(c["wall_s"] for c in drv.calls[-len(outs):]))
            for win, w, (name, sol, _, _) in zip(batch, built, outs):
                rounds += 1
                statuses.append(name)
                all_opt &= name == "OPTIMAL"
                if sol is None:
                    continue
                ch, wt = sol
                pi2, res2 = pi.copy(), res.copy()
                pi2[win], res2[win] = w.opts.place[ch], w.opts.resident[ch]
                if np.any(sram_use(cost, pi2, res2) > cap):
                    continue
                # start order: the merged schedule's own ticks, this window's tasks at their solved ticks
                key = tick_schedule(cost, pi, res, st, w.tick)[0] if merged else w.sticks.copy()
                key[win] = wt
                st2 = retime(cost, pi2, res2, key)
                v = objective_of(cost, pi2, res2, st2, obj)
                es2 = float((st2 + task_latency(cost, pi2, res2)).sum())
                # latency: also keep a schedule of equal makespan whose tasks end earlier in sum (it frees
                # chiplets for the next window, where the makespan can drop); otherwise strictly better only
                tie = obj == "latency" and v <= best * (1 + 1e-12) and es2 < ends_sum * (1 - 1e-9)
                if v < best * (1 - 1e-12) or tie:
                    if v < best * (1 - 1e-12):
                        drv.add("decompose", pi2, res2, st2)     # the anytime trace: best of ALL starts
                        accepted += 1
                        kept[kind] = kept.get(kind, 0) + 1
                    pi, res, st, best, ends_sum = pi2, res2, st2, min(v, best), es2
                    changed = merged = True
        passes += 1
        if best < glob_[3]:
            glob_ = (pi, res, st, best)
        quiet = 0 if (changed or not all_opt) else quiet + 1
        if quiet >= len(order):      # every family at a proven local optimum: restart from the next heuristic
            if not starts:
                break
            _, pi, res, st = starts.pop(0)
            pi, res, st = np.asarray(pi, np.int64), np.asarray(res, bool), np.asarray(st, float)
            best = objective_of(cost, pi, res, st, obj)
            ends_sum = float((st + task_latency(cost, pi, res)).sum())
            quiet = 0
            restarts += 1
    if best < glob_[3]:
        glob_ = (pi, res, st, best)
    pi, res, st, best = glob_
    drv.close()
    drv.found.append(("decompose" if accepted else label, pi, res, st))
    pick, sched = best_finish(cost, drv.found, drv.hints, obj)    # the final DRAM stretching, never worse
    val = score(sched, cost, obj)
    bound = min(val, {"latency": lb.value, "energy": lb.energy, "edp": lb.edp, "slo": lb.energy}[obj])
    pts = front(point(cost, f[1], f[2], f[3]) for f in drv.found)
    stats = CpsatStats(
        strategy="decompose", variables=max((s[0] for s in sizes), default=0),
        constraints=max((s[1] for s in sizes), default=0), hints=tuple(f[0] for f in drv.found[:3]),
        pareto=tuple(pts), chosen=pick, calls=tuple(drv.calls[-10:]),
        solutions=sum(c["solutions"] for c in drv.calls), deterministic=drv.deterministic, bound_tightest=lb.tightest,
        neighbourhoods=n_windows, passes=passes, windows=rounds, accepted_by_family=kept,
        accepted=accepted, restarts=restarts, window_statuses={s: statuses.count(s) for s in sorted(set(statuses))},
        lns_workers=drv.lns_workers, lns_det_s=round(drv.det_s, 3), steady_state=steady,
        window_model_max=(max(s[0] for s in sizes), max(s[1] for s in sizes)) if sizes else None, start=label)
    status: Status = "optimal" if val <= bound * (1 + 1e-12) else "feasible"
    msg = (f"LNS: {passes} pass(es) over {n_windows} neighbourhoods ({', '.join(order)}), {rounds} CP-SAT calls, "
           f"{accepted} improvements over the heuristic start ({label}), {drv.lns_workers} window(s) at a time"
           + (f"; {cpsat_steady.summary(steady)}" if cpsat_steady.summary(steady) else "") + drv.cut_note())
    return SolveResult(sched, status, val, bound, tuple(drv.trace), stats, msg, "cpsat",
                       time.perf_counter() - t0)


@dataclass(frozen=True)
class Window:
    """One LNS neighbourhood modelled against the incumbent: the CP-SAT model, its options, the incumbent as
    hint, the objective expression, the incumbent's start ticks and the tick (s)."""

    bm: Built
    opts: Options
    hint: TickSolution
    expr: Any
    sticks: np.ndarray
    tick: float


def _window(cost: CostModel, full: Options, win: np.ndarray, pi: np.ndarray, res: np.ndarray, st: np.ndarray,
            kind: str, per_class: int, obj: str) -> Window:
    """The CP-SAT model of neighbourhood `win` with every other task fixed at the incumbent (`pi`, `res`, `st`)
    re-timed on ticks (see the module docstring, steps 1-4)."""
    g = cost.graph
    lat = task_latency(cost, pi, res)
    ms = float((st + lat).max())
    tick = ms / TICKS
    e_now = objective_of(cost, pi, res, st, "energy")
    if cost.static_power > 0:
        ks = max(1, round(cost.static_power * tick * ENERGY_UNITS / max(e_now, 1e-300)))
        eunit = cost.static_power * tick / ks
    else:
        ks, eunit = 0, max(e_now, 1e-300) / ENERGY_UNITS
    sticks, eticks = tick_schedule(cost, pi, res, st, tick)
    others = np.setdiff1d(np.arange(g.n), win)
    busy = np.zeros(cost.hw.n)
    np.add.at(busy, np.nonzero(cost.members[pi[others]])[1], np.repeat(lat[others], cost.group_size[pi[others]]))
    opts = _with_current(cost, full, win, pi, res)
    opts = restrict(cost, opts, win, pi, res, busy, per_class)
    fixed: Fixed = {"pi": pi, "res": res, "start_ticks": sticks, "end_ticks": eticks, "tasks": others,
                    "sched": set(others.tolist())}
    # time-ordered families (tail, region) keep their tasks at or after the window's earliest start: the fixed
    # intervals before it drop out of the model (measured 2-5x faster windows), the current schedule stays a
    # feasible hint
    lo = int(sticks[win].min()) if kind in ("tail", "region") else 0
    bm = build(cost, opts, tick, eunit, ks, fixed=fixed, window_lo=lo, window_hi=int(eticks.max()) * 2 + 1)
    fixed_ms = int(eticks[others].max()) if others.size else 0
    bm.model.add(bm.makespan >= fixed_ms)
    chosen = np.array([opts.index_of(j, int(pi[t]), bool(res[t])) for j, t in enumerate(win)], np.int64)
    t_now = int(eticks.max())
    expr: Any
    if obj == "latency":
        expr = len(win) * bm.makespan + sum(bm.ends)
    elif obj == "energy":
        expr = bm.energy
    else:    # first-order EDP: T0 dE + E0 dT, in energy units per tick
        kt = max(1, round(e_now / eunit / max(t_now, 1)))
        expr = bm.energy + kt * bm.makespan
    return Window(bm, opts, (chosen, sticks[win]), expr, sticks, tick)


def _with_current(cost: CostModel, full: Options, win: np.ndarray, pi: np.ndarray, res: np.ndarray) -> Options:
    """`full`'s options of the tasks in `win` (in order), plus each task's current option if pruned."""
    parts = []
    for t in win:
        r = slice(int(full.first[t]), int(full.first[t + 1]))
        tk, pl, rs = full.task[r], full.place[r], full.resident[r]
        lt, en = full.lat[r], full.energy[r]
        if not np.any((pl == pi[t]) & (rs == res[t])):
            p, z = int(pi[t]), bool(res[t])
            lt1 = cost.lat_resident[t, p] if z else cost.lat_stream[t, p]
            en1 = cost.energy_resident[t, p] if z else cost.energy_stream[t, p]
            tk, pl, rs = np.append(tk, t), np.append(pl, p), np.append(rs, z)
            lt, en = np.append(lt, lt1), np.append(en, en1)
        parts.append((tk, pl, rs, lt, en))
    cnt = np.array([p[0].size for p in parts], np.int64)
    first = np.concatenate([[0], np.cumsum(cnt)])
    cat = [np.concatenate([p[i] for p in parts]) for i in range(5)]
    return Options(cat[0].astype(np.int64), cat[1].astype(np.int64), cat[2].astype(bool), cat[3], cat[4], first,
                   False, full.pruned, full.cut)
