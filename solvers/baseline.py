"""`baseline`: what a homogeneous design does today, an even layer-pipeline over the chiplets.

Under a static pipeline/data plan (`mapc.compiler.parallel`) every task has one allowed placement and the
baseline takes it. Otherwise chiplet groups of the tensor-parallel degree (`problem.parallel.tensor`, single
chiplets by default) are ordered in a snake over the grid. Several models split that sequence into contiguous runs in proportion to
their FLOPs (at least one group each; models share groups round-robin when there are fewer groups than
models). Each model's layer segments, sorted by layer, are split evenly into S pipeline stages
(`parallel.pipeline`, or, when auto, as many as its groups allow, up to its segment count); stage s runs on
the model's s-th group, and every micro-batch and phase follows the same mapping. Residency and timing come
from `choose_residency` and `list_schedule`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from mapc.compiler.parallel import snake_groups
from mapc.compiler.schedule import materialize
from mapc.core.graph import ExecutionGraph
from mapc.core.spec import ParallelSpec
from mapc.hw.cost import CostModel
from mapc.core.errors import MapcError
from mapc.compiler.objective import score
from mapc.compiler.problem import Problem
from mapc.core.options import SolveOptions
from mapc.solvers.base import SolveResult, SolverStats
from mapc.solvers.listsched import choose_residency, list_schedule
from mapc.solvers.stretch import finish



@dataclass(frozen=True)
class BaselineStats(SolverStats):
    stages: int = 0               # distinct chiplet groups used
    resident_tasks: int = 0       # tasks whose weights stay in SRAM
    stretched_tasks: int = 0      # tasks the final re-timing streams below their peak DRAM rate (solvers.stretch)


def split_counts(total: int, weights: list[float]) -> list[int]:
    """Split `total` items into len(weights) positive counts proportional to weights (largest remainder)."""
    m = len(weights)
    w = np.asarray(weights, dtype=np.float64)
    w = np.where(w > 0, w, 0.0)
    w = w / w.sum() if w.sum() > 0 else np.full(m, 1.0 / m)
    extra = total - m
    raw = w * extra
    cnt = np.floor(raw).astype(int)
    rem = extra - cnt.sum()
    order = np.lexsort((np.arange(m), -(raw - cnt)))
    cnt[order[:rem]] += 1
    return (cnt + 1).tolist()


def baseline_placement(cost: CostModel, parallel: ParallelSpec | None = None) -> np.ndarray:
    """[n] placement index of every task under the even pipeline split described in the module doc.

    Under PD disaggregation (`cost.regions`) each class of tasks with the same allowed placements (a phase's
    region) gets its own pipeline over the groups `cost.allowed()` leaves it.
    """
    g = cost.graph
    ok = cost.allowed()
    if g.n and bool((ok.sum(axis=1) == 1).all()):
        return ok.argmax(axis=1).astype(np.int64)        # a static pipeline/data plan fixes every placement
    k = int(getattr(parallel, "tensor", 1) or 1)
    groups = snake_groups(cost, k)
    if not groups:
        sizes = sorted({len(m) for m in cost.placements})
        raise MapcError(f"tensor-parallel degree {k} has no chiplet groups in the cost model "
                        f"(group sizes available: {sizes})",
                        hint="choose a tensor degree among the available group sizes")
    classes: dict[bytes, list[int]] = {}
    for t in g.tasks:
        classes.setdefault(ok[t.id].tobytes(), []).append(t.id)
    pi = np.zeros(g.n, dtype=np.int64)
    for ids in classes.values():
        mine = [p for p in groups if ok[ids[0], p]]
        if not mine:
            t = g.tasks[ids[0]]
            raise MapcError(f"no group of {k} chiplet(s) lies inside the {t.phase} region",
                            hint="make the PD split a multiple of the tensor degree and the group shape")
        _pipeline(g, ids, mine, getattr(parallel, "pipeline", None), pi)
    return pi


def _pipeline(g: ExecutionGraph, ids: list[int], groups: list[int], pipeline: int | None, pi: np.ndarray) -> None:
    """Fill pi[ids] with the even layer pipeline of those tasks' models over `groups` (module doc)."""
    tasks = [g.tasks[i] for i in ids]
    models = list(dict.fromkeys(t.model for t in tasks))
    flops = [float(sum(t.flops for t in tasks if t.model == m)) for m in models]
    G, M = len(groups), len(models)
    runs: dict[str, list[int]] = {}
    if G >= M:
        at = 0
        for m, c in zip(models, split_counts(G, flops)):
            runs[m] = groups[at:at + c]
            at += c
    else:
        for j, m in enumerate(models):
            runs[m] = [groups[j % G]]
    for m in models:
        segs = sorted({t.layers for t in tasks if t.model == m})
        S = max(1, min(int(pipeline) if pipeline else len(runs[m]), len(runs[m]), len(segs)))
        stage_of = {s: runs[m][j * S // len(segs)] for j, s in enumerate(segs)}
        for t in tasks:
            if t.model == m:
                pi[t.id] = stage_of[t.layers]


def plan(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(placement_index, resident, start) of the baseline at peak DRAM rates, before `solve`'s stretching."""
    cost = problem.cost
    pi = baseline_placement(cost, problem.parallel)
    res = choose_residency(cost, pi)
    return pi, res, list_schedule(cost, pi, res)


def solve(problem: Problem, options: SolveOptions = SolveOptions()) -> SolveResult:
    t0 = time.perf_counter()
    cost = problem.cost
    pi, res, st = plan(problem)
    sched, k = finish(cost, pi, res, st, options.goal)
    val = score(sched, cost, options.goal)
    stages = len(set(pi.tolist()))
    return SolveResult(sched, "heuristic", val, trace=((time.perf_counter() - t0, val),),
                       stats=BaselineStats(stages, int(res.sum()), k),
                       message=f"even layer pipeline over {stages} chiplet group(s)" + (" (+stretch)" if k else ""), solver="baseline",
                       wall_time=time.perf_counter() - t0)
