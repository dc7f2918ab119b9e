"""The per-operator cost table of a workload on a hardware (`mapc cost`): every distinct operator shape of the
execution graph priced alone on one core of every chiplet type (`mapc.hw.opcost`: operands in DRAM, as
ZigZag prices a layer), with the bound that limits it and its energy by memory level.

One row per (distinct operator, chiplet type). `count` is how many times the operator occurs in the graph
(layers x micro-batches x steps). Attention rows say whether a fused tile fits the core's buffer (`fused`: the
score matrix stays on chip in a schedule) or not (`spills`: it round-trips through DRAM).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from mapc.core.graph import ExecutionGraph, Operator
from mapc.core.hardware import ChipletType, Hardware
from mapc.hw.cost import WEIGHT_FRACTION
from mapc.hw.opcost import BOUNDS, LEVELS, isolated_cost
from mapc.hw.pricing import OpArrays, op_quantities
from mapc.hw import tp as tpm

SCHEMA = "mapc.cost/1"
ATTENTION = ("attn_score", "attn_value")


@dataclass(frozen=True)
class OpCost:
    """One operator alone on one core of a chiplet type (SI units)."""

    name: str
    kind: str
    shape: dict[str, int]
    chiplet: str
    dataflow: str
    cycles: float
    latency_s: float
    utilization: float
    bound: str
    energy_j: float
    energy_by_level_j: dict[str, float] = field(default_factory=dict)
    count: int = 1
    attention: str | None = None          # "fused" | "spills" for attention products, else None
    dram_bytes: float = 0.0
    time_s: dict[str, float] = field(default_factory=dict)   # compute, sram, dram, onload, offload terms

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "shape": dict(self.shape), "chiplet": self.chiplet,
                "dataflow": self.dataflow, "cycles": self.cycles, "latency_s": self.latency_s,
                "utilization": self.utilization, "bound": self.bound, "energy_j": self.energy_j,
                "energy_by_level_j": dict(self.energy_by_level_j), "count": self.count,
                "attention": self.attention, "dram_bytes": self.dram_bytes, "time_s": dict(self.time_s)}


def op_arrays(ops: list[Operator]) -> OpArrays:
    """The operators as the arrays the cost functions take."""
    f = lambda a: np.array([getattr(o, a) for o in ops], dtype=np.float64)
    return OpArrays([o.name for o in ops], [o.kind for o in ops], f("M"), f("K"), f("N"), f("count"), f("flops"),
                    f("weight_bytes"), f("kv_read_bytes"), f("kv_write_bytes"), f("in_bytes"), f("out_bytes"),
                    f("taps"))


def operator_costs(graph: ExecutionGraph, hw: Hardware, dram_bw: dict[str, float]) -> list[OpCost]:
    """Rows for every distinct operator of `graph` on every chiplet type of `hw`; `dram_bw` maps a chiplet
    type's name to the DRAM bandwidth one core of it gets (B/s)."""
    counts: Counter[Operator] = Counter(op for t in graph.tasks for op in t.ops)
    ops = list(counts)
    if not ops:
        return []
    arr = op_arrays(ops)
    roles = tpm.op_roles(arr.names, arr.kinds, ("gemm", "attn_score", "attn_value", "conv", "moe_gemm"))
    e_bit = (sum(ch.energy_per_bit * ch.bandwidth for ch in hw.dram) / hw.dram_bandwidth) if hw.dram else 0.0
    types: dict[str, ChipletType] = {c.type.name: c.type for c in hw.chiplets}
    rows = []
    for tname, t in types.items():
        c = isolated_cost(arr, t, dram_bw.get(tname, 0.0), e_bit)
        spills = op_quantities(t, 1, arr, roles, "gather", WEIGHT_FRACTION)["spills"]
        for i, op in enumerate(ops):
            levels = {lv: float(c[f"e_{lv}"][i]) for lv in LEVELS}
            att = None
            if op.kind in ATTENTION:
                att = "spills" if spills[i] > 0 else "fused"
            rows.append(OpCost(op.name, op.kind, {"M": op.M, "K": op.K, "N": op.N, "count": op.count,
                                                  "taps": op.taps}, tname, t.dataflow, float(c["cycles"][i]),
                               float(c["latency_s"][i]), float(c["utilization"][i]), BOUNDS[int(c["bound"][i])],
                               float(sum(levels.values())), levels, int(counts[op]), att,
                               float(c["dram_bytes"][i]),
                               {k: float(c[f"{k}_s"][i]) for k in ("compute", "sram", "dram", "onload", "offload")}))
    return rows


def cost_document(rows: list[OpCost], hardware: str) -> dict:
    """The `mapc.cost/1` JSON document."""
    return {"schema": SCHEMA, "hardware": hardware, "ops": [r.to_dict() for r in rows]}
