"""Re-timing a heuristic's final plan with DRAM stretching (issue 13, item 1).

greedy, scar, ga and baseline search placements with the peak-rate list scheduler (`list_schedule`: a task waits
for its channels' full rate), which keeps their inner loops fast and exact. Their final plan is then re-timed by
`retime`: the same placements and residencies, tasks taken in the order of their planned starts, with
`list_schedule_timed(stretch=True)`, so a task whose channels are partly busy may start at the bandwidth they
have free and take longer when that finishes it earlier. `finish` keeps whichever of the two timings scores
better under the objective (a greedy per-task choice can delay a later task), so re-timing never makes a plan
worse. CP-SAT keeps its fixed-size intervals at the peak rate (a cumulative whose demand is bytes / a variable
duration is not linear) and `finish`es its best plans and the heuristics' the same way (`best_finish`), so it
never reports worse than a heuristic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from mapc.compiler.schedule import Schedule, materialize
from mapc.core.options import Objective
from mapc.hw.cost import CostModel
from mapc.solvers.base import Named
from mapc.solvers.listsched import list_schedule_timed, objective_of, task_latency

TIME_TOL = 1e-12     # relative: a duration this close to the latency is not counted as stretched


def _order(start: np.ndarray) -> np.ndarray:
    """List-scheduling priorities that take tasks in the order of `start` (ties by id)."""
    order = np.lexsort((np.arange(start.size), start))
    prio = np.empty(start.size)
    prio[order] = -np.arange(start.size, dtype=np.float64)
    return prio


def retime(cost: CostModel, placement_index: npt.ArrayLike, resident: npt.ArrayLike, start: npt.ArrayLike
           ) -> tuple[np.ndarray, np.ndarray]:
    """([n] starts, [n] durations) (s): the plan re-timed with stretching, tasks in the order of `start`
    (ties by id), chiplet gaps reused."""
    st = np.asarray(start, dtype=np.float64)
    return list_schedule_timed(cost, placement_index, np.asarray(resident, dtype=bool), _order(st), stretch=True)


def best_finish(cost: CostModel, plans: Sequence[Named], hints: int, objective: Objective, top: int = 4
                ) -> tuple[str, Schedule]:
    """(label, schedule): CP-SAT's choice among the plans it found (all at peak rates), each `finish`ed: the
    heuristics' plans (the first `hints`) and the `top` best others by their peak objective, so CP-SAT never
    does worse than the heuristics' stretched plans. The label gets "+stretch" when the chosen plan was
    re-timed."""
    key = lambda f: objective_of(cost, f[1], f[2], f[3], objective)
    pool = list(plans[:hints]) + sorted(plans[hints:], key=key)[:top]
    best: tuple[float, str, Schedule] | None = None
    for label, pi, res, st in pool:
        s, k = finish(cost, pi, res, st, objective)
        v = objective_of(cost, pi, res, s.start, objective, s.end - s.start)
        if best is None or v < best[0]:
            best = (v, label + ("+stretch" if k else ""), s)
    assert best is not None
    return best[1], best[2]


def finish(cost: CostModel, placement_index: npt.ArrayLike, resident: npt.ArrayLike, start: npt.ArrayLike,
           objective: Objective) -> tuple[Schedule, int]:
    """(schedule, number of stretched tasks): the plan as timed, or re-timed with stretching (`retime`) when
    that scores strictly better under `objective`."""
    pi = np.asarray(placement_index, dtype=np.int64)
    res = np.asarray(resident, dtype=bool)
    st = np.asarray(start, dtype=np.float64)
    if pi.size == 0 or not cost.hw.dram:
        return materialize(cost, pi, res, st), 0
    st2, dur = retime(cost, pi, res, st)
    if objective_of(cost, pi, res, st2, objective, dur) < objective_of(cost, pi, res, st, objective):
        lat = task_latency(cost, pi, res)
        return materialize(cost, pi, res, st2, dur), int((dur > lat * (1 + TIME_TOL)).sum())
    return materialize(cost, pi, res, st), 0
