"""The common solver interface: a `Problem` and a `Budget` in, a `SolveResult` out.

Every solver module exposes `solve(problem: Problem, budget: Budget) -> SolveResult` and registers itself in
`mapc.solvers.registry.SOLVERS` under its command-line name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mapc.core.graph import ExecutionGraph
from mapc.compiler.schedule import Schedule

Objective = Literal["latency", "energy", "edp"]
Status = Literal["optimal", "feasible", "heuristic", "infeasible", "no_solution"]


@dataclass(frozen=True)
class Budget:
    time_limit: float = 10.0      # wall seconds
    seed: int = 0
    threads: int = 2
    deterministic: bool = True    # same input + seed + budget -> same schedule (CP-SAT: deterministic time)


@dataclass(frozen=True)
class Problem:
    """What a solver schedules: the execution graph priced by a cost model on a hardware."""

    graph: ExecutionGraph
    hw: object                    # mapc.core.hardware.Hardware
    cost: object                  # mapc.hw.cost.CostModel
    objective: Objective = "edp"
    parallel: object | None = None  # mapc.core.spec.ParallelSpec (tensor degree, placement policy, pd mode)


@dataclass(frozen=True)
class SolveResult:
    schedule: Schedule | None
    status: Status
    objective: float | None           # value of problem.objective for the schedule (SI units; EDP in J*s)
    bound: float | None = None        # proven lower bound on the objective, where the solver has one
    trace: tuple[tuple[float, float], ...] = ()  # anytime trace: (wall seconds, best objective so far)
    stats: dict = field(default_factory=dict)   # solver-specific numbers (variables, evaluations, ...)
    message: str = ""
    solver: str = ""
    wall_time: float = 0.0

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None or self.objective <= 0:
            return None
        return max(0.0, (self.objective - self.bound) / self.objective)


def energy_of(schedule: Schedule, cost) -> float:
    """Total energy (J): dynamic energy of tasks and transfers plus the package's static power x makespan."""
    dyn = sum(t.energy for t in schedule.tasks) + sum(x.energy for x in schedule.transfers)
    return float(dyn + cost.static_power * schedule.makespan)


def score(schedule: Schedule, cost, objective: Objective) -> float:
    """The objective value of a schedule: makespan (s), energy (J) or EDP (J*s)."""
    if objective == "latency":
        return float(schedule.makespan)
    e = energy_of(schedule, cost)
    return e if objective == "energy" else e * float(schedule.makespan)
