"""A task's latency as a function of the DRAM rate it gets: stretching into the bandwidth its channels have free.

The cost model prices every task at its placement's PEAK DRAM rate (`CostModel.group_dram_bw`, see the "DRAM
model" in `mapc.hw.cost`). When its channels are partly taken by other tasks, a list scheduler may instead start
it now at a lower aggregate rate r and let it take longer (issue 13, item 1). Only the DRAM terms scale with
the rate; compute, collectives and PIM kernels do not:

    latency(r) = max( max(compute, collective, memory(r)) + pim,  dram_bytes / r ),
    memory(r)  = own_bytes / r + round trip       (own_bytes: the chiplets' own DRAM traffic, not PIM kernels')

which is the cost model's latency formula with `group_dram_bw` replaced by r (at r >= peak it is the table
latency exactly). The parts come from the cost model's breakdown (`CostModel.part_at`), so this module prices
nothing itself. Energy does not depend on the rate (the same bytes move; only static power x makespan changes).
The pooled PIM units (`mapc.hw.pim`) get no term of their own: a task that starts while they are partly busy is
stretched by the DRAM formula at a rate scaled down by their free share (`mapc.solvers.listsched.
stretched_duration`), which lengthens it by at least that factor, so its PIM draws fit too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mapc.hw.cost import CostModel


@dataclass(frozen=True)
class StretchParts:
    """Per task (at its placement and residency): the parts of its latency that do and do not scale with the
    DRAM rate. Times in s at the peak rate, rates in B/s."""

    fixed: np.ndarray        # max(compute, collective): does not scale
    own: np.ndarray          # the chiplets' own DRAM bytes / peak (the memory term without its round trip)
    round_trip: np.ndarray   # added to the memory term when the task moves own DRAM bytes
    pim: np.ndarray          # PIM kernels handed off, added after the chiplets' part
    dram: np.ndarray         # all DRAM bytes (PIM kernels' external ones too) / peak
    peak: np.ndarray         # the placement's peak DRAM rate
    latency: np.ndarray      # the table latency (at the peak rate)

    def latency_at(self, i: int, rate: float) -> float:
        """Latency (s) of task i streaming at aggregate DRAM rate `rate` (B/s); never below its table latency,
        inf at a zero rate when it moves DRAM bytes."""
        lat = float(self.latency[i])
        pk = float(self.peak[i])
        if rate >= pk or self.dram[i] <= 0:
            return lat
        if rate <= 0:
            return float("inf")
        s = pk / rate
        own = float(self.own[i])
        mem = own * s + float(self.round_trip[i]) if own > 0 else 0.0
        out = max(max(float(self.fixed[i]), mem) + float(self.pim[i]), float(self.dram[i]) * s)
        return max(out, lat)


def stretch_parts(cost: CostModel, placement_index: npt.ArrayLike, resident: npt.ArrayLike) -> StretchParts:
    """The `StretchParts` of every task at its placement and residency (module docstring)."""
    pi = np.asarray(placement_index, dtype=np.int64)
    res = np.asarray(resident, dtype=bool)
    part = lambda key: cost.part_at(key, res, pi)
    lat = cost.task_latency(pi, res)
    if not cost.hw.dram:
        z = np.zeros(pi.size)
        return StretchParts(z, z, z, z, z, np.full(pi.size, np.inf), lat)
    peak = cost.group_dram_bw[pi]
    rt = cost.dram_latency[pi]
    mem = part("memory")
    own = np.where((mem > 0) & np.isfinite(mem), np.maximum(mem - rt, 0.0), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        dram = np.where(peak > 0, part("dram_bytes") / peak, 0.0)
    return StretchParts(np.maximum(part("compute"), part("collective")), own, rt, part("pim"), dram, peak, lat)
