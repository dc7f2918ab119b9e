"""The computation execution graph (CEG): tasks = layer segment x micro-batch x phase x model; edges carry bytes.

Layers and micro-batches are decoupled: every (segment, micro-batch) pair is its own task, so two micro-batches
of one segment may run on different chiplets (inter-chiplet pipelining). Each task carries everything the cost
backend needs to price it (operator shapes, FLOPs, bytes), in SI units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

from mapc.core.spec import Phase

EdgeKind = Literal["act", "kv"]   # activations, or KV cache moved between chiplets
OpKind = Literal["gemm", "attn_score", "attn_value", "conv", "pool", "norm", "elementwise", "embed", "moe_gemm"]


@dataclass(frozen=True)
class Operator:
    """One operator in GEMM view: `count` independent (M x K) @ (K x N) products.

    conv layers are in im2col view (M = batch*out_h*out_w, K = in_ch/groups*kh*kw, N = out_ch/groups,
    count = groups, `taps` = kh*kw, so in_ch/groups = K / taps); attention score/value are batched GEMMs over heads (count = batch*heads) whose second
    operand is the KV cache, not weights. Non-GEMM ops (norm, pool, elementwise) have K = 1 and their FLOPs
    given directly.
    """

    name: str
    kind: OpKind
    M: int
    K: int
    N: int
    count: int = 1
    flops: float = 0.0           # FLOPs (2 per MAC for GEMM-like)
    weight_bytes: float = 0.0    # parameters read
    in_bytes: float = 0.0        # activations in
    out_bytes: float = 0.0       # activations out
    kv_read_bytes: float = 0.0   # KV cache read (decode attention)
    kv_write_bytes: float = 0.0  # KV cache appended
    taps: int = 1                # filter positions kh*kw of a convolution (1 for GEMMs)
    stored_weight_bytes: float | None = None   # parameters held (MoE: every expert); None = weight_bytes

    @property
    def macs(self) -> float:
        return self.flops / 2.0

    @property
    def held_weight_bytes(self) -> float:
        """Bytes of parameters that must be stored to run the operator (what residency and capacity count:
        every expert of a MoE layer, where `weight_bytes` counts the experts a micro-batch reads)."""
        return self.weight_bytes if self.stored_weight_bytes is None else self.stored_weight_bytes


@dataclass(frozen=True)
class Task:
    """One node of the CEG.

    `weight_key` names the weight set the task reads: tasks of the same model and layer segment share it
    across micro-batches and phases, so a chiplet holding those weights resident in SRAM pays for them once.
    `tokens` is how many output tokens the task's micro-batch produces when this is the model's last segment
    (0 otherwise); throughput = sum(tokens) / makespan.
    """

    id: int
    name: str
    model: str
    phase: Phase
    microbatch: int
    layers: tuple[int, int]      # first and last layer index (inclusive) of the segment
    ops: tuple[Operator, ...]
    weight_key: str
    batch: int = 1               # sequences (or images) in this micro-batch
    seq: int = 1                 # tokens per sequence processed by this task (prompt len, or decode width)
    context: int = 0             # KV context length (decode)
    tokens: int = 0
    step: int = 0                # decode iteration index

    @cached_property
    def flops(self) -> float:
        return float(sum(o.flops for o in self.ops))

    @cached_property
    def weight_bytes(self) -> float:
        return float(sum(o.weight_bytes for o in self.ops))

    @cached_property
    def held_weight_bytes(self) -> float:
        """Parameters the task needs stored (MoE: all experts); `weight_bytes` is what it reads."""
        return float(sum(o.held_weight_bytes for o in self.ops))

    @cached_property
    def kv_read_bytes(self) -> float:
        return float(sum(o.kv_read_bytes for o in self.ops))

    @cached_property
    def kv_write_bytes(self) -> float:
        return float(sum(o.kv_write_bytes for o in self.ops))

    @cached_property
    def in_bytes(self) -> float:
        return float(self.ops[0].in_bytes) if self.ops else 0.0

    @cached_property
    def out_bytes(self) -> float:
        return float(self.ops[-1].out_bytes) if self.ops else 0.0


@dataclass(frozen=True)
class Edge:
    src: int
    dst: int
    bytes: float
    kind: EdgeKind = "act"


@dataclass(frozen=True)
class RequestGroups:
    """Requests of a serving graph grouped by (model, micro-batch), for SLOs (arrays of length R).

    `ttft_task[r]`: the last-layer prefill task whose end is the group's time to first token (-1: no prefill);
    `tpot_div[r]`: decode steps x tokens per step (0: no decode), so TPOT = makespan / tpot_div in steady state
    (see `mapc.compiler.evaluate.Metrics`); `batch[r]` its requests, `tokens[r]` the tokens it produces,
    `model[r]` its model."""

    ttft_task: np.ndarray
    tpot_div: np.ndarray
    batch: np.ndarray
    tokens: np.ndarray
    model: tuple[str, ...]


@dataclass(frozen=True)
class ExecutionGraph:
    """Tasks in a topological order (every edge goes from a lower to a higher id) and edges between them."""

    tasks: tuple[Task, ...]
    edges: tuple[Edge, ...]
    models: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False)   # workload summary for reports

    def __post_init__(self) -> None:
        for i, t in enumerate(self.tasks):
            if t.id != i:
                raise ValueError(f"task {t.name} has id {t.id} at position {i}")
        for e in self.edges:
            if not e.src < e.dst:
                raise ValueError(f"edge {e.src}->{e.dst} is not in topological order")

    @property
    def n(self) -> int:
        return len(self.tasks)

    @cached_property
    def preds(self) -> tuple[tuple[int, ...], ...]:
        p: list[list[int]] = [[] for _ in self.tasks]
        for e in self.edges:
            p[e.dst].append(e.src)
        return tuple(tuple(x) for x in p)

    @cached_property
    def succs(self) -> tuple[tuple[int, ...], ...]:
        s: list[list[int]] = [[] for _ in self.tasks]
        for e in self.edges:
            s[e.src].append(e.dst)
        return tuple(tuple(x) for x in s)

    @cached_property
    def component(self) -> np.ndarray:
        """component[i]: the weakly connected component of task i, numbered in order of first task id.

        Independent components (e.g. the micro-batch chains of a serving iteration) can be reordered or
        re-optimised separately."""
        parent = list(range(self.n))

        def find(a: int) -> int:
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for e in self.edges:
            ra, rb = find(e.src), find(e.dst)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        roots = np.array([find(i) for i in range(self.n)], dtype=np.int64)
        return np.unique(roots, return_inverse=True)[1].astype(np.int64) if self.n else roots

    @cached_property
    def requests(self) -> "RequestGroups":
        """The graph's request groups for SLOs (`RequestGroups`): one per (model, micro-batch) whose prefill or
        decode reaches the model's last layer; a linked decode (`meta["serves"]`) continues its prefill's group."""
        linked = {s["model"] for s in self.meta.get("serves", []) for p in s.get("phases", []) if p.get("linked")}
        last: dict[str, int] = {}
        for t in self.tasks:
            last[t.model] = max(last.get(t.model, 0), t.layers[1])
        idx: dict[tuple[str, str, int], int] = {}
        ttft: list[int] = []
        div: list[int] = []
        batch: list[int] = []
        tokens: list[int] = []
        model: list[str] = []
        steps: dict[int, int] = {}
        for t in self.tasks:
            if t.phase not in ("prefill", "decode"):
                continue
            phase = "request" if t.model in linked else t.phase
            key = (t.model, phase, t.microbatch)
            if key not in idx:
                idx[key] = len(ttft)
                ttft.append(-1); div.append(0); batch.append(0); tokens.append(0); model.append(t.model)
            r = idx[key]
            tokens[r] += t.tokens
            if t.layers[1] != last[t.model]:
                continue
            if t.phase == "prefill":
                ttft[r] = t.id
                batch[r] = max(batch[r], t.batch)
            else:
                steps[r] = max(steps.get(r, 0), t.step + 1)
                if t.step == 0:
                    div[r] = max(t.seq, 1)
                    batch[r] = max(batch[r], t.batch)
        for r, k in steps.items():
            div[r] *= k
        return RequestGroups(np.array(ttft, dtype=np.int64), np.array(div, dtype=np.int64),
                             np.array(batch, dtype=np.float64), np.array(tokens, dtype=np.float64), tuple(model))

    @cached_property
    def edge_src(self) -> np.ndarray:
        return np.array([e.src for e in self.edges], dtype=np.int64)

    @cached_property
    def edge_dst(self) -> np.ndarray:
        return np.array([e.dst for e in self.edges], dtype=np.int64)

    @cached_property
    def edge_bytes(self) -> np.ndarray:
        return np.array([e.bytes for e in self.edges], dtype=np.float64)

    @cached_property
    def flops(self) -> np.ndarray:
        return np.array([t.flops for t in self.tasks], dtype=np.float64)

    @cached_property
    def weight_bytes(self) -> np.ndarray:
        return np.array([t.weight_bytes for t in self.tasks], dtype=np.float64)

    @cached_property
    def held_weight_bytes(self) -> np.ndarray:
        """[n] parameters each task needs stored (`Task.held_weight_bytes`): what residency counts."""
        return np.array([t.held_weight_bytes for t in self.tasks], dtype=np.float64)

    @cached_property
    def weight_keys(self) -> tuple[str, ...]:
        """Distinct weight sets, in first-use order; `weight_index[i]` maps task i into it."""
        seen: dict[str, int] = {}
        for t in self.tasks:
            seen.setdefault(t.weight_key, len(seen))
        return tuple(seen)

    @cached_property
    def weight_index(self) -> np.ndarray:
        idx = {k: i for i, k in enumerate(self.weight_keys)}
        return np.array([idx[t.weight_key] for t in self.tasks], dtype=np.int64)
