"""Large-neighbourhood search for problems too big for one CP-SAT model (> cpsat.MAX_TASKS tasks).

Start: the best heuristic schedule (greedy / baseline / fastest list schedule). Repeat until the budget is
spent: take a window of WINDOW consecutive tasks in start order of the current best schedule; build a CP-SAT
model in which the window's tasks are free (their best MAX_PER_TASK options plus their current one), the
tasks scheduled before the window are fixed (their intervals block chiplets and feed precedences), every
non-window task keeps its SRAM, and the tasks after the window are left out; minimise the window's finish
(latency windows: W x last end + sum of ends) or its energy (energy windows), alternating for EDP. The new
placements and residencies are then re-timed over the whole graph by `list_schedule` (priority = new start
order; valid for any priority), SRAM is checked, and the result replaces the best only if its objective is
strictly better. So the answer is always feasible and never worse than the heuristic. Windows advance by
half a window and wrap around. Deterministic given the seed (deterministic CP-SAT limits, fixed order).
The bound reported is `compiler.evaluate.lower_bound` (the windows' CP-SAT bounds are local).
"""

from __future__ import annotations

import math
import time

import numpy as np

from mapc.compiler.check import sram_use
from mapc.compiler.schedule import materialize
from mapc.errors import NoSolutionError
from mapc.solvers.base import SolveResult, score
from mapc.solvers.cpsat_model import ENERGY_UNITS, build, candidates
from mapc.solvers.listsched import list_schedule, objective_of, task_latency
from mapc.solvers.pareto import front

WINDOW = 120
MAX_PER_TASK = 8
WINDOW_TIME = 2.0      # s of budget per window at most
TICKS_LNS = 1 << 20


def solve_large(problem, budget, drv, lb, t0) -> SolveResult:
    from mapc.solvers.cpsat import DET_PER_S, _point
    cost, obj = problem.cost, problem.objective
    g = cost.graph
    if not drv.found:
        raise NoSolutionError("no heuristic schedule to start the large-neighbourhood search from, and the "
                              f"problem ({g.n} tasks) is too large to solve whole",
                              hint="allow streaming or use hardware with more SRAM")
    label, pi, res, st = min(drv.found, key=lambda f: objective_of(cost, f[1], f[2], f[3], obj))
    best = objective_of(cost, pi, res, st, obj)
    n_win = max(1, math.ceil(g.n / (WINDOW / 2)))
    left = max(0.5, budget.time_limit - (0.0 if budget.deterministic else time.perf_counter() - t0))
    per = min(WINDOW_TIME, max(0.2, left / n_win))
    rounds, accepted, a = 0, 0, 0
    cap = cost.weight_capacity * (1 + 1e-12)
    sizes = []
    while left > 0.1 and time.perf_counter() - t0 < budget.time_limit:   # the wall budget is a hard cap
        order = np.lexsort((np.arange(g.n), st))
        a = a % g.n
        win = np.sort(order[a:a + WINDOW])
        before = order[:a]
        end = st + task_latency(cost, pi, res)
        ms = float(end.max())
        tick = ms / TICKS_LNS
        e_now = objective_of(cost, pi, res, st, "energy")
        if cost.static_power > 0:
            ks = max(1, round(cost.static_power * tick * ENERGY_UNITS / max(e_now, 1e-300)))
            eunit = cost.static_power * tick / ks
        else:
            ks, eunit = 0, max(e_now, 1e-300) / ENERGY_UNITS
        opts = candidates(cost, keep=(pi, res), max_per_task=MAX_PER_TASK, tasks=win)
        lo = int(math.floor(st[win].min() / tick))
        fixed = {"pi": pi, "res": res, "start_ticks": np.floor(st / tick).astype(np.int64),
                 "end_ticks": np.ceil(end / tick).astype(np.int64),
                 "tasks": np.setdiff1d(np.arange(g.n), win), "sched": set(before.tolist())}
        bm = build(cost, opts, tick, eunit, ks, fixed=fixed, window_lo=lo)
        sizes.append((bm.stats["variables"], bm.stats["constraints"]))
        chosen = np.array([opts.index(j, int(pi[t]), bool(res[t])) for j, t in enumerate(win)], dtype=np.int64)
        hint = (chosen, np.maximum(lo, np.ceil(st[win] / tick)).astype(np.int64))
        kind = {"latency": "compact", "energy": "energy"}.get(obj, "compact" if rounds % 2 == 0 else "energy")
        _, sol, _, used = drv.run(bm, kind, per, hint)
        left -= used / DET_PER_S if budget.deterministic else drv.calls[-1]["wall_s"]
        rounds += 1
        a += WINDOW // 2
        if sol is None:
            continue
        ch, sticks = sol
        pi2, res2 = pi.copy(), res.copy()
        pi2[win], res2[win] = opts.place[ch], opts.resident[ch]
        key = st.copy()
        key[win] = sticks * tick
        if np.any(sram_use(cost, pi2, res2) > cap):
            continue
        st2 = list_schedule(cost, pi2, res2, priority=-key, insertion=False)
        v = objective_of(cost, pi2, res2, st2, obj)
        drv.found.append(("lns", pi2, res2, st2))
        if v < best * (1 - 1e-12):
            pi, res, st, best = pi2, res2, st2, v
            accepted += 1
            drv.trace.append((time.perf_counter() - t0, float(v)))
    sched = materialize(cost, pi, res, st)
    val = score(sched, cost, obj)
    bound = min(val, {"latency": lb.value, "energy": lb.energy, "edp": lb.edp}[obj])
    pts = front(_point(cost, f[1], f[2], f[3]) for f in drv.found[-50:] + drv.found[:3])
    stats = {"strategy": "lns", "windows": rounds, "accepted": accepted, "window_tasks": WINDOW,
             "window_model_max": [max(s[0] for s in sizes), max(s[1] for s in sizes)] if sizes else None,
             "calls": drv.calls[-10:], "solutions": sum(c["solutions"] for c in drv.calls),
             "hints": [f[0] for f in drv.found[:3]], "pareto": pts, "chosen": label if not accepted else "lns",
             "candidates": None, "variables": sizes[-1][0] if sizes else 0,
             "constraints": sizes[-1][1] if sizes else 0}
    msg = (f"large-neighbourhood search: {rounds} CP-SAT windows of {WINDOW} tasks, {accepted} improvements "
           f"over the heuristic start ({label})")
    return SolveResult(sched, "feasible", val, bound, tuple(drv.trace), stats, msg, "cpsat",
                       time.perf_counter() - t0)
