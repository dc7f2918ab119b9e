"""A schedule: where and when every task runs, and every transfer between chiplets (SI units).

Solvers decide three arrays over tasks (placement index into `CostModel.placements`, weights resident or
streamed, start time); `mapc.compiler.schedule.materialize` turns them into a `Schedule` priced by the cost
backend, so every solver's output is built and timed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mapc.core.graph import EdgeKind


@dataclass(frozen=True)
class ScheduledTask:
    task: int
    placement: tuple[int, ...]   # chiplet ids (a tensor-parallel group when more than one)
    start: float                 # s
    end: float                   # s
    energy: float                # J, dynamic only (MACs, SRAM, DRAM, collectives); static power is package-wide
    resident: bool               # weights kept in the placement's SRAM (else streamed from DRAM)


@dataclass(frozen=True)
class Transfer:
    """Activations (or KV) sent from a producer task's lead chiplet to a consumer's lead chiplet."""

    src_task: int
    dst_task: int
    src_chiplet: int
    dst_chiplet: int
    bytes: float
    route: tuple[int, ...]       # chiplet ids from src to dst inclusive
    start: float
    end: float
    energy: float
    kind: EdgeKind = "act"


@dataclass(frozen=True)
class Schedule:
    tasks: tuple[ScheduledTask, ...]      # indexed by task id
    transfers: tuple[Transfer, ...]
    placement_index: np.ndarray | None = field(compare=False, repr=False, default=None)  # the solver's decision
    resident: np.ndarray | None = field(compare=False, repr=False, default=None)         # arrays, when known

    @property
    def makespan(self) -> float:
        return max((t.end for t in self.tasks), default=0.0)

    @property
    def start(self) -> np.ndarray:
        return np.array([t.start for t in self.tasks])

    @property
    def end(self) -> np.ndarray:
        return np.array([t.end for t in self.tasks])
