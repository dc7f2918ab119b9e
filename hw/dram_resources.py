"""The shared DRAM-path resources of a schedule: the DRAM channels and the NoP links the DRAM traffic crosses.

Issue 13: a task streaming DRAM bytes draws bytes / duration from each channel that serves it AND from each
directed NoP link on the X-Y routes from those channels' attach chiplets to its members (`mapc.hw.placement.
dram_link_split`): a chiplet reading a channel that is not its own neighbour uses the links in between, and those
links have a bandwidth (`link_bw`). Resources 0..H-1 are the channels (capacity: their bandwidth), H.. the links
(capacity: `link_bw`; the DRAM streams share it among themselves: the data transfers between tasks are priced
apart, as if they had the links to themselves, the solvers' convention for transfers). The list scheduler, HEFT
and CP-SAT keep the draws on every resource within its capacity at every instant; `mapc.compiler.check` verifies
it (rules `dram` and `link`, the latter on every link). Links that can never bind (their feeding channels'
bandwidths sum to at most `link_bw`, `dram_link_split(may_bind=True)`) are left out of the resources: on
mcm6x6 and npu4x4 that is all of them, so the schedulers pay nothing for links there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mapc.hw.cost import CostModel
from mapc.hw.placement import dram_link_split


@dataclass(frozen=True)
class DramResources:
    """Channels then links (module docstring). `frac[p, r]`: fraction of placement p's DRAM bytes through r."""

    names: tuple[str, ...]
    capacity: np.ndarray            # [R] B/s
    frac: np.ndarray                # [P, R]
    channels: int                   # H: resources [0, H) are channels, [H, R) links
    links: tuple[tuple[int, int], ...]


def dram_resources(cost: CostModel) -> DramResources:
    """The `DramResources` of `cost`'s hardware and placements (cached on the cost model)."""
    cached: DramResources | None = cost.__dict__.get("_mapc_dram_resources")
    if cached is None:
        hw = cost.hw
        links, lfrac = dram_link_split(hw, cost.placements, may_bind=True)
        names = tuple(ch.name for ch in hw.dram) + tuple(f"link {u}->{v}" for u, v in links)
        cap = np.array([ch.bandwidth for ch in hw.dram] + [hw.nop.link_bw] * len(links), dtype=np.float64)
        cached = DramResources(names, cap, np.concatenate([cost.dram_frac, lfrac], axis=1), len(hw.dram),
                               tuple(links))
        cost.__dict__["_mapc_dram_resources"] = cached      # beside the cost model's cached_properties
    return cached


def all_links(cost: CostModel) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Every link on a DRAM route and [P, links] the fraction of a placement's DRAM bytes crossing it, those that
    cannot bind included (what the checker verifies; cached on the cost model)."""
    cached: tuple[list[tuple[int, int]], np.ndarray] | None = cost.__dict__.get("_mapc_dram_links")
    if cached is None:
        cached = dram_link_split(cost.hw, cost.placements)
        cost.__dict__["_mapc_dram_links"] = cached
    return cached


def resource_bytes(cost: CostModel, placement_index: npt.ArrayLike, resident: npt.ArrayLike) -> np.ndarray:
    """[n_tasks, R] DRAM bytes each task moves through each resource (channels, then links)."""
    pi = np.asarray(placement_index, dtype=np.int64)
    by = cost.part_at("dram_bytes", np.asarray(resident, dtype=bool), pi)
    return by[:, None] * dram_resources(cost).frac[pi]
