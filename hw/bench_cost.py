"""Tiny benchmark of the cost backend: build the tables for a synthetic Llama-2-7B-shaped graph.

    python -m mapc.hw.bench_cost [n_tasks] [preset]

Tasks are transformer layers of prefill and decode micro-batches (a handful of distinct shapes, as in real
serving graphs), priced on the preset's group sizes 1, 2, 4 (61 placements on mcm6x6).
"""

from __future__ import annotations

import sys
import time

from mapc.core.graph import Edge, ExecutionGraph, OpKind, Operator, Task
from mapc.core.spec import Phase
from mapc.hw.cost import CostModel
from mapc.hw.presets import get


def llama_layer_ops(batch: int, seq: int, context: int, hidden: int = 4096, heads: int = 32, ffn: int = 11008,
                    b: int = 2) -> tuple[Operator, ...]:
    """Operators of one Llama-2-7B decoder layer (fp16) for `batch` sequences of `seq` new tokens."""
    M, hd = batch * seq, hidden // heads
    kv_ctx = context + seq

    def g(name: str, kind: OpKind, m: int, k: int, n: int, count: int = 1, w: bool = True, kvr: float = 0.0,
          kvw: float = 0.0) -> Operator:
        return Operator(name, kind, m, k, n, count, 2.0 * m * k * n * count, b * k * n * count if w else 0.0,
                        b * m * k * count, b * m * n * count, kvr, kvw)

    kv_bytes = b * batch * kv_ctx * hidden        # K (or V) cache of this layer
    return (
        Operator("norm1", "norm", M, 1, hidden, 1, 4.0 * M * hidden, b * hidden, b * M * hidden, b * M * hidden),
        g("qkv", "gemm", M, hidden, 3 * hidden, kvw=2 * b * M * hidden),
        g("score", "attn_score", seq, hd, kv_ctx, batch * heads, w=False, kvr=kv_bytes),
        g("value", "attn_value", seq, kv_ctx, hd, batch * heads, w=False, kvr=kv_bytes),
        g("o", "gemm", M, hidden, hidden),
        Operator("norm2", "norm", M, 1, hidden, 1, 4.0 * M * hidden, b * hidden, b * M * hidden, b * M * hidden),
        g("gate_up", "gemm", M, hidden, 2 * ffn),
        g("down", "gemm", M, ffn, hidden),
    )


def synthetic_graph(n_tasks: int, layers: int = 32) -> ExecutionGraph:
    shapes: list[tuple[Phase, int, int, int]] = [("prefill", 4, 512, 0), ("prefill", 4, 1024, 0), ("decode", 32, 1, 1024), ("decode", 32, 1, 2048)]
    ops = {s: llama_layer_ops(s[1], s[2], s[3]) for s in shapes}
    tasks: list[Task] = []
    edges: list[Edge] = []
    while len(tasks) < n_tasks:
        s = shapes[(len(tasks) // layers) % len(shapes)]
        for l in range(layers):
            if len(tasks) >= n_tasks:
                break
            i = len(tasks)
            tasks.append(Task(i, f"t{i}", "llama2_7b", s[0], i // layers, (l, l), ops[s], f"llama2_7b/L{l}"))
            if l:
                edges.append(Edge(i - 1, i, 2.0 * s[1] * s[2] * 4096))
    return ExecutionGraph(tuple(tasks), tuple(edges), ("llama2_7b",))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    n = int(argv[0]) if argv else 10_000
    hw = get(argv[1] if len(argv) > 1 else "mcm6x6")
    g = synthetic_graph(n)
    t0 = time.perf_counter()
    cm = CostModel(hw, g)
    dt = time.perf_counter() - t0
    print(f"{hw.name}: {g.n} tasks x {len(cm.placements)} placements priced in {dt * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
