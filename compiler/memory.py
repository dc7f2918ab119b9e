"""Memory management for serving: do the weights and the KV cache fit where they are placed? (bytes, SI)

Policies mapc implements (what the cost backend prices, `mapc.hw.cost`):

* Weights: *resident* (each member of a placement of k cores holds 1/k of a task's weights in the part of its
  SRAM reserved for weights, `sram x weight_fraction`; loaded once) or *streamed* (read from DRAM/HBM on every
  execution). A placement whose per-core share exceeds that capacity cannot hold the task resident
  (`placement_fit` says by how much); the solvers then stream, or fail with the numbers when streaming is off.
* KV cache: lives in DRAM/HBM (paged, shared by all cores), written once per new token and read in full by
  every decode step (its bytes are priced as DRAM traffic at the placement's DRAM share), so it grows with
  context: step t of a decode attends to `context + t * width` positions. Activations that overflow the SRAM
  left for them spill to DRAM at the priced cost.
* Capacity: the served models' weights plus the peak KV footprint must fit in the package's DRAM/HBM (plus PIM
  memory); `check_memory` rejects a workload that does not, with the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mapc.core.errors import InfeasibleError
from mapc.core.graph import ExecutionGraph
from mapc.core.hardware import Hardware
from mapc.hw.cost import CostModel

GiB = 2.0 ** 30
MiB = 2.0 ** 20


@dataclass(frozen=True)
class MemoryReport:
    weights: float          # bytes of the served models' parameters
    kv_peak: float          # bytes of KV cache alive at once (every request at its longest context in the graph)
    capacity: float         # bytes of DRAM/HBM (+ PIM memory) on the package

    @property
    def fits(self) -> bool:
        return self.weights + self.kv_peak <= self.capacity

    def to_dict(self) -> dict[str, Any]:
        return {"weights_bytes": self.weights, "kv_peak_bytes": self.kv_peak, "capacity_bytes": self.capacity,
                "fits": self.fits}


def kv_peak(graph: ExecutionGraph) -> float:
    """KV bytes alive at once: per (model, phase, micro-batch) the largest per-step cache (decode: the KV each
    step reads, its context already counting the tokens it appends, summed over the segments; prefill: what it
    writes); a prefill whose
    requests continue in a linked decode is counted there only."""
    linked = {s["model"] for s in graph.meta.get("serves", []) for p in s.get("phases", []) if p.get("linked")}
    per: dict[tuple[str, str, int], dict[int, float]] = {}
    for t in graph.tasks:
        if t.phase == "prefill" and t.model in linked:
            continue
        b = t.kv_read_bytes if t.phase == "decode" else t.kv_write_bytes
        d = per.setdefault((t.model, t.phase, t.microbatch), {})
        d[t.step] = d.get(t.step, 0.0) + b
    return float(sum(max(d.values()) for d in per.values())) if per else 0.0


def memory_report(weights: float, graph: ExecutionGraph, hw: Hardware) -> MemoryReport:
    cap = float(sum(ch.capacity for ch in hw.dram) + sum(u.capacity for u in hw.pim))
    return MemoryReport(float(weights), kv_peak(graph), cap)


def check_memory(weights: float, graph: ExecutionGraph, hw: Hardware) -> MemoryReport:
    """The report, or `InfeasibleError` naming weights, KV cache and capacity when they do not fit."""
    r = memory_report(weights, graph, hw)
    m = graph.models[0] if graph.models else "MODEL"
    quant = f"quantise the weights (`model {m}_w4 = {m}(weights=int4)`, then `serve {m}_w4`)"
    if not r.fits and r.weights > r.capacity:
        raise InfeasibleError(
            f"the served models' weights alone ({r.weights / GiB:.2f} GiB) exceed the {r.capacity / GiB:.2f} GiB "
            f"of DRAM/HBM of {hw.name} ({len(hw.dram)} channel(s))",
            hint=f"{quant}, serve fewer models, or use hardware with more memory")
    if not r.fits:
        raise InfeasibleError(
            f"weights {r.weights / GiB:.2f} GiB + KV cache {r.kv_peak / GiB:.2f} GiB = "
            f"{(r.weights + r.kv_peak) / GiB:.2f} GiB exceed the {r.capacity / GiB:.2f} GiB of DRAM/HBM of "
            f"{hw.name} ({len(hw.dram)} channel(s))",
            hint=f"serve fewer or shorter requests, {quant}, or use bigger memory")
    return r


def placement_fit(cost: CostModel, task: int, p: int) -> tuple[float, float]:
    """(bytes of weights each member core must hold, bytes each can hold) for task on placement p, resident."""
    share = float(cost.weight_share[task, p])
    cap = float(np.min(cost.weight_capacity[list(cost.placements[p])]))
    return share, cap


def require_fit(cost: CostModel, task: int, p: int) -> None:
    """Raise `InfeasibleError` with the numbers when the task's weights do not fit resident on placement p."""
    share, cap = placement_fit(cost, task, p)
    if share > cap:
        t = cost.graph.tasks[task]
        pl = cost.placements[p]
        raise InfeasibleError(
            f"task {t.name} on cores {pl}: its weights need {share / MiB:.2f} MiB per core "
            f"({t.weight_bytes / MiB:.2f} MiB / {len(pl)}), but each core has {cap / MiB:.2f} MiB for weights "
            f"({cost.weight_fraction:.0%} of its SRAM)",
            hint="use a larger tensor-parallel group, or stream the weights from DRAM")
