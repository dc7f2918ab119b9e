"""The latency-energy Pareto front: the non-dominated (makespan, energy) points of the schedules a solver found
(written as pareto.csv / pareto.png by `mapc.compiler.emit`)."""

from __future__ import annotations

from collections.abc import Iterable


def front(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Non-dominated (makespan s, energy J) points, sorted by makespan (energy then strictly decreasing).

    A point dominates another when it is no worse in both and better in one; duplicates collapse to one.
    """
    pts = sorted({(float(t), float(e)) for t, e in points})
    out: list[tuple[float, float]] = []
    for t, e in pts:                 # by makespan ascending, energy ascending for ties
        if not out or e < out[-1][1]:
            out.append((t, e))
    return out
