"""The objectives a schedule is scored by: makespan (s), energy (J), their product EDP (J*s), and `slo` (energy
while every SLO target is met, misses first otherwise: `mapc.compiler.slo`)."""

from __future__ import annotations

import numpy as np

from mapc.compiler.slo import slo_value
from mapc.core.options import Objective
from mapc.core.schedule import Schedule
from mapc.hw.cost import CostModel


def energy_of(schedule: Schedule, cost: CostModel) -> float:
    """Total energy (J): dynamic energy of tasks and transfers plus the package's static power x makespan."""
    dyn = sum(t.energy for t in schedule.tasks) + sum(x.energy for x in schedule.transfers)
    return float(dyn + cost.static_power * schedule.makespan)


def score(schedule: Schedule, cost: CostModel, objective: Objective) -> float:
    """The objective value of a schedule: makespan (s), energy (J), EDP (J*s) or `slo`."""
    if objective == "latency":
        return float(schedule.makespan)
    e = energy_of(schedule, cost)
    if objective == "slo":
        end = np.array([t.end for t in schedule.tasks], dtype=np.float64)
        return slo_value(cost.graph, end, float(schedule.makespan), e)
    return e if objective == "energy" else e * float(schedule.makespan)
