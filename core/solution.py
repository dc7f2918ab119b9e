"""What a solver returns: the schedule, its status and objective, a proven bound, the anytime curve and the
solver's statistics (a frozen `SolverStats` subclass per solver)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from mapc.core.schedule import Schedule

Status = Literal["optimal", "feasible", "heuristic", "infeasible", "no_solution"]


@dataclass(frozen=True)
class SolverStats:
    """Base of every solver's statistics (numbers a reader of schedule.json may want: model sizes,
    evaluations, moves). Subclasses add typed fields."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class SolveResult:
    """A solver's answer. `objective` is the value of the objective it minimised (SI units; EDP in J*s);
    `bound` a proven lower bound on it where the solver has one; `trace` the anytime curve (wall seconds,
    best objective so far)."""

    schedule: Schedule | None
    status: Status
    objective: float | None
    bound: float | None = None
    trace: tuple[tuple[float, float], ...] = ()
    stats: SolverStats = SolverStats()
    message: str = ""
    solver: str = ""
    wall_time: float = 0.0

    @property
    def gap(self) -> float | None:
        """(objective - bound) / objective, or None without a bound."""
        if self.objective is None or self.bound is None or self.objective <= 0:
            return None
        return max(0.0, (self.objective - self.bound) / self.objective)
