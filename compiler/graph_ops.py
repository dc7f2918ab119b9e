"""Operators of an imported graph (`GraphModel`, from ONNX) for a micro-batch, with the FLOP conventions of
`mapc.compiler.ops`.

A `GraphOp` holds shapes at the graph's own batch (one request = one run of the graph). A micro-batch of `b`
requests runs `b` times that: rows (`M`) grow b-fold, except for the products of two activations (attention,
batched MatMul) whose independent products (`count`) do; weights are read once per micro-batch (an embedding
gathers b times the rows). FLOPs: 2 per MAC for GEMM-like operators; per element for the rest: `NORM_FLOPS` for
normalisations, `SOFTMAX_FLOPS` for softmax, `ACT_FLOPS` for transcendental activations (sigmoid, tanh, GELU,
SiLU, erf, exp, ...), 1 for the others (add, mul, ReLU, max, ...); a pooling window costs one FLOP per element of
the window. Bytes use the model's dtype. A softmax is named `softmax` (the cost model fuses it with the attention
products around it when their tile fits on chip).
"""

from __future__ import annotations

from functools import lru_cache

from mapc.compiler.ops import ACT_FLOPS, NORM_FLOPS, SOFTMAX_FLOPS, TOKEN_ID_BYTES
from mapc.core.errors import DslError
from mapc.core.graph import OpKind, Operator
from mapc.core.spec import GraphModel, GraphOp

TRANSCENDENTAL = frozenset({"Sigmoid", "Tanh", "Gelu", "FastGelu", "BiasGelu", "Erf", "Silu", "Swish", "Exp",
                            "Log", "Softplus", "Softsign", "Mish", "HardSwish", "HardSigmoid", "Elu", "Selu",
                            "Celu", "QuickGelu"})
GEMM_KINDS: dict[str, OpKind] = {"gemm": "gemm", "matmul": "gemm", "attn_score": "attn_score",
                                 "attn_value": "attn_value", "conv": "conv"}
BATCH_NORM_FLOPS = 2.0   # inference batch norm: one multiply-add per element (scale and shift folded)


def _flops_per_element(op: GraphOp) -> float:
    if op.kind == "norm":
        return BATCH_NORM_FLOPS if op.op_type == "BatchNormalization" else NORM_FLOPS
    if op.kind == "softmax":
        return SOFTMAX_FLOPS
    return ACT_FLOPS if op.op_type in TRANSCENDENTAL else 1.0


def graph_operator(op: GraphOp, batch: int, dt: float) -> Operator:
    """The priced view of `op` for a micro-batch of `batch` runs of the graph (module docstring)."""
    if batch < 1:
        raise DslError(f"batch must be >= 1, got {batch}")
    M, count = (op.M, op.count * batch) if op.per_count else (op.M * batch, op.count)
    ins = float(op.in_elements * batch)
    out = float(M * op.N * count * dt)
    if op.kind in GEMM_KINDS:
        return Operator(op.name, GEMM_KINDS[op.kind], M, op.K, op.N, count, flops=2.0 * M * op.K * op.N * count,
                        weight_bytes=float(op.weights * dt), in_bytes=ins * dt, out_bytes=out, taps=op.taps)
    if op.kind == "pool":
        return Operator(op.name, "pool", M, 1, op.N, count, flops=float(M * op.N * count * op.taps),
                        in_bytes=ins * dt, out_bytes=out)
    if op.kind == "embed":
        return Operator(op.name, "embed", M, 1, op.N, 1, flops=0.0, weight_bytes=float(M * op.N * dt),
                        in_bytes=float(M * TOKEN_ID_BYTES), out_bytes=out)
    name = "softmax" if op.kind == "softmax" else op.name
    kind: OpKind = "norm" if op.kind == "norm" else "elementwise"
    return Operator(name, kind, M, 1, op.N, count, flops=_flops_per_element(op) * M * op.N * count,
                    weight_bytes=float(op.weights * dt), in_bytes=ins * dt, out_bytes=out)


@lru_cache(maxsize=8192)
def graph_segment(m: GraphModel, batch: int, first: int, last: int) -> tuple[Operator, ...]:
    """Operators of layers first..last (inclusive) of `m` for a micro-batch of `batch` runs of the graph."""
    if not 0 <= first <= last < len(m.layers):
        raise DslError(f"layer range {first}..{last} outside model {m.name} with {len(m.layers)} layers")
    dt = m.dtype_bytes
    return tuple(graph_operator(op, batch, dt) for layer in m.layers[first:last + 1] for op in layer.ops)
