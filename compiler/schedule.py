"""Building a `Schedule` from a solver's decision arrays, priced by the cost backend.

Solvers decide three arrays over tasks (placement index into `CostModel.placements`, weights resident or
streamed, start time); `materialize` turns them into a `Schedule`, so every solver's output is built and timed
the same way.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mapc.core.schedule import Schedule, ScheduledTask, Transfer
from mapc.hw.cost import CostModel

__all__ = ["Schedule", "ScheduledTask", "Transfer", "materialize"]


def materialize(cost: CostModel, placement_index: npt.ArrayLike, resident: npt.ArrayLike, start: npt.ArrayLike,
                duration: npt.ArrayLike | None = None) -> Schedule:
    """Build a `Schedule` from decision arrays.

    `cost` is a `mapc.hw.cost.CostModel`; `placement_index[i]` indexes `cost.placements`; `resident[i]` says
    whether task i keeps its weights in SRAM; `start[i]` is its start time in seconds; `duration[i]` its
    duration (default its latency; longer when it streams DRAM below its peak rate, `mapc.hw.bandwidth`). Ends,
    energies and transfers come from the cost backend. No feasibility is checked here: that is `compiler.check`'s job.
    """
    g = cost.graph
    pi = np.asarray(placement_index, dtype=np.int64)
    res = np.asarray(resident, dtype=bool)
    st = np.asarray(start, dtype=np.float64)
    n = g.n
    lat = cost.task_latency(pi, res) if duration is None else np.asarray(duration, dtype=np.float64)
    en = cost.task_energy(pi, res)
    tasks = tuple(
        ScheduledTask(i, cost.placements[pi[i]], float(st[i]), float(st[i] + lat[i]), float(en[i]), bool(res[i]))
        for i in range(n)
    )
    transfers: list[Transfer] = []
    for e in g.edges:
        a, b = cost.lead[pi[e.src]], cost.lead[pi[e.dst]]
        if a == b or e.bytes <= 0:
            continue
        tc = cost.transfer_cost(e.bytes, int(a), int(b))
        t0 = tasks[e.src].end
        transfers.append(Transfer(e.src, e.dst, int(a), int(b), float(e.bytes), tc.route, t0, t0 + tc.latency,
                                  tc.energy, e.kind))
    return Schedule(tasks, tuple(transfers), pi, res)
