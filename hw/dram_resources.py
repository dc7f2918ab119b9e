"""The shared memory-side resources of a schedule: the DRAM channels, the NoP links the DRAM traffic crosses,
and the package's PIM units.

Issue 13: a task streaming DRAM bytes draws bytes / duration from each channel that serves it AND from each
directed NoP link on the X-Y routes from those channels' attach chiplets to its members (`mapc.hw.placement.
dram_link_split`): a chiplet reading a channel that is not its own neighbour uses the links in between, and those
links have a bandwidth (`link_bw`). A task whose kernels run on PIM (`mapc.hw.pim`) draws its PIM internal bytes
/ duration from the pooled PIM internal bandwidth and its PIM FLOPs / duration from the pooled PIM compute (every
placement reaches every unit: weights and KV are interleaved over all stacks, so one pooled resource per
quantity is exact). Resources 0..H-1 are the channels (capacity: their bandwidth), then the links (capacity:
`link_bw`; the DRAM streams share it among themselves: the data transfers between tasks are priced apart, as if
they had the links to themselves, the solvers' convention for transfers), then "PIM bandwidth" (B/s) and "PIM
compute" (FLOP/s) when the cost model sends any kernel to PIM. `kind[r]` says which per-task amount a resource
carries (`AMOUNTS`: DRAM bytes, PIM internal bytes, PIM FLOPs) and `frac[p, r]` which fraction of it on
placement p. The list scheduler, HEFT and CP-SAT keep the draws on every resource within its capacity at every
instant; `mapc.compiler.check` verifies it (rules `dram`, `link` on every link, `pim`). Links that can never bind
(their feeding channels' bandwidths sum to at most `link_bw`, `dram_link_split(may_bind=True)`) are left out of
the resources: on mcm6x6 and npu4x4 that is all of them, so the schedulers pay nothing for links there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mapc.hw.cost import CostModel
from mapc.hw.placement import dram_link_split


AMOUNTS = ("dram_bytes", "pim_bytes", "pim_flops")     # `CostModel` breakdown keys a resource can carry


@dataclass(frozen=True)
class DramResources:
    """Channels, links, then PIM (module docstring). `frac[p, r]`: fraction of placement p's amount `kind[r]`
    (an index into `AMOUNTS`) through r."""

    names: tuple[str, ...]
    capacity: np.ndarray            # [R] B/s (FLOP/s for PIM compute)
    frac: np.ndarray                # [P, R]
    channels: int                   # H: resources [0, H) are channels, [H, H + len(links)) links, then PIM
    links: tuple[tuple[int, int], ...]
    kind: np.ndarray                # [R] index into AMOUNTS


def dram_resources(cost: CostModel) -> DramResources:
    """The `DramResources` of `cost`'s hardware and placements (cached on the cost model)."""
    cached: DramResources | None = cost.__dict__.get("_mapc_dram_resources")
    if cached is None:
        hw = cost.hw
        links, lfrac = dram_link_split(hw, cost.placements, may_bind=True)
        names = tuple(ch.name for ch in hw.dram) + tuple(f"link {u}->{v}" for u, v in links)
        cap = [ch.bandwidth for ch in hw.dram] + [hw.nop.link_bw] * len(links)
        frac = [cost.dram_frac, lfrac]
        kind = [0] * len(cap)
        if uses_pim(cost):
            names += ("PIM bandwidth", "PIM compute")
            cap += [sum(u.bandwidth for u in hw.pim), sum(u.peak_flops for u in hw.pim)]
            frac.append(np.ones((len(cost.placements), 2)))
            kind += [1, 2]
        cached = DramResources(names, np.array(cap, dtype=np.float64), np.concatenate(frac, axis=1),
                               len(hw.dram), tuple(links), np.array(kind, dtype=np.int64))
        cost.__dict__["_mapc_dram_resources"] = cached      # beside the cost model's cached_properties
    return cached


def uses_pim(cost: CostModel) -> bool:
    """Whether any task sends any kernel to PIM on any placement (else no PIM resource is needed)."""
    return bool(cost.hw.pim) and any(bool((cost.table("pim_bytes", r) > 0).any()
                                          or (cost.table("pim_flops", r) > 0).any()) for r in (True, False))


def all_links(cost: CostModel) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Every link on a DRAM route and [P, links] the fraction of a placement's DRAM bytes crossing it, those that
    cannot bind included (what the checker verifies; cached on the cost model)."""
    cached: tuple[list[tuple[int, int]], np.ndarray] | None = cost.__dict__.get("_mapc_dram_links")
    if cached is None:
        cached = dram_link_split(cost.hw, cost.placements)
        cost.__dict__["_mapc_dram_links"] = cached
    return cached


def resource_bytes(cost: CostModel, placement_index: npt.ArrayLike, resident: npt.ArrayLike) -> np.ndarray:
    """[n_tasks, R] amount (bytes, FLOPs for PIM compute) each task moves through each resource at its placement
    and residency (channels, links, then PIM)."""
    pi = np.asarray(placement_index, dtype=np.int64)
    res = np.asarray(resident, dtype=bool)
    rs = dram_resources(cost)
    amt = np.stack([cost.part_at(key, res, pi) for key in AMOUNTS], axis=1)        # [n, AMOUNTS]
    return amt[:, rs.kind] * rs.frac[pi]


def option_amounts(cost: CostModel, task: npt.ArrayLike, place: npt.ArrayLike, resident: npt.ArrayLike
                   ) -> np.ndarray:
    """[m, R] amount each option (task, placement, residency) moves through each resource (as `resource_bytes`)."""
    t, p = np.asarray(task, dtype=np.int64), np.asarray(place, dtype=np.int64)
    res = np.asarray(resident, dtype=bool)
    rs = dram_resources(cost)
    if t.size == 0 or rs.capacity.size == 0:
        return np.zeros((t.size, rs.capacity.size))
    used = sorted(set(rs.kind.tolist()))
    amt = np.zeros((t.size, len(AMOUNTS)))
    for k in used:
        amt[:, k] = np.where(res, cost.table(AMOUNTS[k], True)[t, p], cost.table(AMOUNTS[k], False)[t, p])
    return amt[:, rs.kind] * rs.frac[p]
