"""Peer-tool benchmark: the three cases where Stream (stream-dse) falls short, scheduled by mapc.

    python bench/peer.py [--solver greedy,cpsat] [--time-limit S] [--hw mcm6x6,simba6x6] [--tiles 36] [-o FILE]

Stream (pip `stream-dse`) takes 12-14 s to schedule one attention head on a 6x6 Simba package, spreads a
512x4096x4096 GEMM over 4 of 36 chiplets, and refuses a Llama-3-8B SwiGLU FFN whose weights exceed one
chiplet's SRAM. Each case is built here as a mapc execution graph with the shapes of Stream's own inputs
(`/work/shared/peer/stream-inputs/workload/*.onnx`: every tensor is bfloat16 = 2 bytes, ONNX elem_type 16):

* attention head, the ONNX one: X 128x512, wQ/wK/wV 512x64 -> Q, K, V, Transpose(K), QK^T 128x64x128,
  Softmax, AV 128x128x64 (seq 128, d_model 512, head dim 64: 7 dependent tasks, Stream's 7 ONNX nodes);
  and the Llama-sized head of the product card: 512x4096 @ 4096x128 projections, QK^T 512x128x512, AV
  512x512x128.
* GEMM 512x4096x4096 (ONNX `gemm_512_4096_4096`).
* SwiGLU FFN of Llama-3-8B (ONNX `swiglu_512_4096_14336`): gate and up 512x4096 @ 4096x14336, SiLU, the
  gating product, down 512x14336 @ 14336x4096 (Stream's 5 nodes; SiLU and Mul kept apart as in the ONNX).

Each big GEMM also comes split into `--tiles` column (N) blocks as separate tasks (the "tiled" variant, like
Stream's layer tiling), so mapc can spread it by tiles as well as by tensor-parallel groups. The whole mapc run
(graph build + cost tables + solve + independent check + evaluation) is timed and set against Stream's 12-14 s.

Hardware: `mcm6x6` (mapc's preset) and, with `--hw simba6x6`, a homogeneous 6x6 package built from the figures
of Stream's `simba.yaml` / `cores/simba_chiplet.yaml` (see `simba6x6`).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np

from mapc import api
from mapc.core.graph import Edge, ExecutionGraph, Operator, Task
from mapc.compiler.check import check
from mapc.compiler.problem import Problem, group_sizes_for
from mapc.compiler.memory import check_memory
from mapc.core.errors import MapcError
from mapc.hw import constants as K
from mapc.hw.cost import CostModel
from mapc.core.hardware import Hardware
from mapc.core.options import SolveOptions
from mapc.core.spec import ParallelSpec, Spec
from mapc.apps.bench import machine as bench_machine

BF16 = 2                         # bytes per element: every tensor of Stream's ONNX inputs is bfloat16 (elem_type 16)
SOFTMAX_FLOPS = 5.0              # per element, as mapc.compiler.ops.SOFTMAX_FLOPS
SILU_FLOPS = 4.0                 # per element, as mapc.compiler.ops.ACT_FLOPS
MUL_FLOPS = 1.0                  # the gating product, as mapc.compiler.ops.GATE_FLOPS
STREAM_SECONDS = (12.0, 14.0)    # Stream's time to schedule one attention head on 6x6 Simba (product card)
STREAM_GEMM_CHIPLETS = 4         # chiplets Stream spreads the 512x4096x4096 GEMM over (product card)
MODEL = "peer"


# ---- graph building ---------------------------------------------------------------------------------------

class _Builder:
    """Accumulates tasks (ids in creation order = a topological order) and edges."""

    def __init__(self, name: str):
        self.name = name
        self.tasks: list[Task] = []
        self.edges: list[Edge] = []

    def add(self, name: str, op: Operator, preds: tuple[int, ...] = (), weights: bool = False) -> int:
        i = len(self.tasks)
        self.tasks.append(Task(id=i, name=f"{self.name}.{name}", model=MODEL, phase="forward", microbatch=0,
                               layers=(0, 0), ops=(op,), weight_key=f"{self.name}.{name}" if weights else
                               f"{self.name}.{name}.noweights", batch=1, seq=op.M))
        for p in preds:
            self.edges.append(Edge(p, i, float(self.tasks[p].out_bytes)))
        return i

    def graph(self, **meta) -> ExecutionGraph:
        return ExecutionGraph(tuple(self.tasks), tuple(self.edges), (MODEL,), meta={"case": self.name, **meta})


def gemm_op(name: str, M: int, K_: int, N: int, dt: float = BF16, kind: str = "gemm", weights: bool = True,
            in_bytes: float | None = None) -> Operator:
    """(M x K) @ (K x N); weights K x N when `weights`, else the second operand is an activation."""
    return Operator(name, kind, M, K_, N, 1, flops=2.0 * M * K_ * N,
                    weight_bytes=float(K_ * N * dt) if weights else 0.0,
                    in_bytes=float(M * K_ * dt if in_bytes is None else in_bytes), out_bytes=float(M * N * dt))


def elementwise_op(name: str, rows: int, width: int, flops_per: float, dt: float = BF16, n_in: int = 1) -> Operator:
    return Operator(name, "elementwise", rows, 1, width, 1, flops=float(flops_per * rows * width),
                    in_bytes=float(n_in * rows * width * dt), out_bytes=float(rows * width * dt))


def split(n: int, t: int) -> list[int]:
    """`n` split into `t` nearly equal positive parts (the first n % t are one larger)."""
    if not 1 <= t <= n:
        raise MapcError(f"cannot split {n} columns into {t} tiles", hint=f"use 1 <= tiles <= {n}")
    q, r = divmod(n, t)
    return [q + (i < r) for i in range(t)]


def _gemm_tasks(b: _Builder, name: str, M: int, K_: int, N: int, tiles: int, preds=()) -> list[int]:
    """One GEMM task, or `tiles` column blocks of it (each reads the whole input, writes M x N/t)."""
    if tiles <= 1:
        return [b.add(name, gemm_op(name, M, K_, N), preds, weights=True)]
    return [b.add(f"{name}_t{i}", gemm_op(f"{name}_t{i}", M, K_, n), preds, weights=True)
            for i, n in enumerate(split(N, tiles))]


def attention_head(seq: int = 128, d_model: int = 512, d_head: int = 64, tiles: int = 1) -> ExecutionGraph:
    """One attention head as Stream's ONNX has it: Q, K, V projections, Transpose(K), QK^T, Softmax, AV.

    Defaults are the ONNX shapes (X 128x512, wQ 512x64). Scores are full (no causal mask: the ONNX has none).
    With `tiles` > 1 the three projections are split into column blocks (the head is small: tiles are capped at
    d_head). The transpose moves K (0 FLOPs).
    """
    b = _Builder(f"attn{seq}x{d_model}x{d_head}")
    proj = {}
    for w in ("q", "k", "v"):
        proj[w] = _gemm_tasks(b, w, seq, d_model, d_head, min(tiles, d_head))
    kt = b.add("k_transpose", Operator("k_transpose", "elementwise", d_head, 1, seq, 1, flops=0.0,
                                       in_bytes=float(seq * d_head * BF16), out_bytes=float(seq * d_head * BF16)),
               tuple(proj["k"]))
    # in: Q plus K^T
    s = b.add("qk", gemm_op("qk", seq, d_head, seq, kind="attn_score", weights=False,
                            in_bytes=2 * seq * d_head * BF16), tuple(proj["q"]) + (kt,))
    sm = b.add("softmax", elementwise_op("softmax", seq, seq, SOFTMAX_FLOPS), (s,))
    b.add("av", gemm_op("av", seq, seq, d_head, kind="attn_value", weights=False,
                        in_bytes=(seq * seq + seq * d_head) * BF16), (sm,) + tuple(proj["v"]))
    return b.graph(shapes=f"X {seq}x{d_model}, W {d_model}x{d_head}")


def gemm(M: int = 512, K_: int = 4096, N: int = 4096, tiles: int = 1) -> ExecutionGraph:
    """One GEMM (M x K) @ (K x N) with K x N weights; with `tiles` > 1, that many independent column blocks."""
    b = _Builder(f"gemm{M}x{K_}x{N}")
    _gemm_tasks(b, "gemm", M, K_, N, tiles)
    return b.graph(shapes=f"{M}x{K_}x{N}")


def swiglu_ffn(T: int = 512, hidden: int = 4096, ffn: int = 14336, tiles: int = 1) -> ExecutionGraph:
    """Llama-3-8B SwiGLU FFN: gate and up (T x hidden @ hidden x ffn), SiLU(gate), SiLU * up, down (ffn -> hidden).

    Tiled: gate, up, SiLU and the product are split into the same `tiles` column blocks (block i of the
    product needs block i of gate and up only); down is split into `tiles` output-column blocks, each of which
    needs every block of the product (tiles^2 edges).
    """
    b = _Builder(f"ffn{T}x{hidden}x{ffn}")
    if tiles <= 1:
        g = b.add("gate", gemm_op("gate", T, hidden, ffn), weights=True)
        u = b.add("up", gemm_op("up", T, hidden, ffn), weights=True)
        s = b.add("silu", elementwise_op("silu", T, ffn, SILU_FLOPS), (g,))
        m = b.add("mul", elementwise_op("mul", T, ffn, MUL_FLOPS, n_in=2), (s, u))
        b.add("down", gemm_op("down", T, ffn, hidden), (m,), weights=True)
        return b.graph(shapes=f"{T}x{hidden}x{ffn}")
    muls = []
    for i, n in enumerate(split(ffn, tiles)):
        g = b.add(f"gate_t{i}", gemm_op(f"gate_t{i}", T, hidden, n), weights=True)
        u = b.add(f"up_t{i}", gemm_op(f"up_t{i}", T, hidden, n), weights=True)
        s = b.add(f"silu_t{i}", elementwise_op(f"silu_t{i}", T, n, SILU_FLOPS), (g,))
        muls.append(b.add(f"mul_t{i}", elementwise_op(f"mul_t{i}", T, n, MUL_FLOPS, n_in=2), (s, u)))
    for i, n in enumerate(split(hidden, tiles)):
        b.add(f"down_t{i}", gemm_op(f"down_t{i}", T, ffn, n), tuple(muls), weights=True)
    return b.graph(shapes=f"{T}x{hidden}x{ffn}")


# name -> (builder, kwargs, what Stream does with it)
CASES = {
    "attention (ONNX 128x512, d64)": (attention_head, {}, "12-14 s"),
    "attention (Llama 512x4096, d128)": (attention_head, {"seq": 512, "d_model": 4096, "d_head": 128}, "-"),
    "gemm 512x4096x4096": (gemm, {}, "4 of 36 chiplets"),
    "ffn swiglu 512x4096x14336": (swiglu_ffn, {}, "refused"),
}


# ---- hardware ---------------------------------------------------------------------------------------------

SIMBA_FREQ = 1e9   # Hz: Stream counts cycles; 1 GHz is mapc's mcm6x6 clock (DESIGN.md; Simba runs 0.16-2 GHz)


def simba6x6() -> Hardware:
    """A homogeneous 6x6 package built from Stream's simba.yaml and cores/simba_chiplet.yaml.

    - chiplet: 4x4 PEs x 8 vector MACs x 8 lanes = 1024 MACs (operational_array sizes [4, 4, 8, 8]), taken as a
      32x32 weight-stationary array (Simba keeps weights in per-PE weight buffers), 2 MiB global buffer
      (global_buffer size 2097152 B); int8 operands (operand_precision) - but Stream's workloads are bf16 and
      are costed by Stream at their ONNX width, so mapc keeps fp16-class MACs (Gemini 0.0873 pJ) and 2-byte
      elements.
    - NoP: mesh links of 256 bit/cycle = 32 B/cycle = 32 GB/s at 1 GHz (core_connectivity bandwidth 256);
      hop latency and energy: Simba GRS, mapc.hw.constants (NOP_HOP_LATENCY, NOP_MCM_E_BIT).
    - DRAM: one link of 256 bit/cycle (32 GB/s) per column into the row-0 chiplet (cores 0..5), 6 in all on
      the north edge (simba.yaml "Per-column off-chip DRAM links"); HBM2 3.9 pJ/bit (O'Connor, MICRO 2017),
      64 GiB each as mcm6x6.
    """
    from mapc.core.hardware import Chiplet, DramChannel, NoP
    from mapc.hw.presets import chiplet_type

    link = 256 / 8 * SIMBA_FREQ
    t = chiplet_type("simba", (32, 32), "ws", SIMBA_FREQ, 2 * K.MiB)
    chips = tuple(Chiplet(y * 6 + x, x, y, t) for y in range(6) for x in range(6))
    nop = NoP("mesh", link, K.NOP_HOP_LATENCY, K.NOP_MCM_E_BIT)
    dram = tuple(DramChannel(f"dram_col{x}", "north", link, K.HBM2_E_BIT, 64 * K.GiB, (x,)) for x in range(6))
    return Hardware("simba6x6", 6, 6, chips, nop, dram, (),
                    ("Stream simba.yaml / cores/simba_chiplet.yaml (see bench/peer.py simba6x6)",))


def get_hw(name: str) -> Hardware:
    if name == "simba6x6":
        return simba6x6()
    from mapc.hw import presets
    return presets.get(name)


# ---- one run ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    case: str
    variant: str
    hw: str
    solver: str
    tasks: int
    wall: float          # s: graph build + cost tables + solve + check + evaluate
    build: float         # s: graph + cost tables
    solve: float         # s
    chiplets: int        # distinct chiplets with any task
    makespan: float      # s
    energy: float        # J
    edp: float           # J*s
    ratio: float         # makespan / lower bound
    weight_bytes: float  # B, all weights of the graph
    streamed_bytes: float  # B, weights of tasks scheduled with streamed (not SRAM-resident) weights
    largest_weights: float  # B, the largest weight set of one task (Stream's refusal test: > one chiplet's SRAM)
    violations: int      # checker violations (0 = valid)
    status: str


def run_case(graph: ExecutionGraph, hw: Hardware, solver: str, options: SolveOptions, *, case: str = "",
             variant: str = "", t_graph: float = 0.0) -> tuple[Row, object]:
    """Price `graph` on `hw`, solve with `solver` (and the budget of `options`) through the normal `Problem` /
    `mapc.api.solve` path, check and evaluate. `t_graph` is the time already spent building the graph (added to
    the wall time)."""
    t0 = time.perf_counter()
    check_memory(float(graph.weight_bytes.sum()), graph, hw)
    cost = CostModel(hw, graph, group_sizes=group_sizes_for(Spec("<peer>", {}, None, ParallelSpec()), hw))
    problem = Problem(graph=graph, hw=hw, cost=cost)
    build = time.perf_counter() - t0 + t_graph
    cr = api.solve(problem, options.with_(solver=solver))
    wall = time.perf_counter() - t0 + t_graph
    sched, m = cr.schedule, cr.metrics
    viol = check(sched, cost)
    used = {c for st in sched.tasks for c in st.placement}
    res = np.array([st.resident for st in sched.tasks], dtype=bool)
    wb = graph.weight_bytes
    row = Row(case, variant, hw.name, solver, graph.n, wall, build, cr.timings.get("solve", 0.0), len(used),
              m.makespan, m.energy, m.edp, m.bound_ratio, float(wb.sum()), float(wb[~res].sum()),
              float(wb.max()), len(viol), cr.solution.status)
    return row, cr


def run_all(solvers: list[str], hws: list[str], time_limit: float, tiles: int, cases: list[str] | None = None,
            seed: int = 0) -> list[Row]:
    rows = []
    options = SolveOptions(time_limit=time_limit, seed=seed, threads=2)
    for hw_name in hws:
        hw = get_hw(hw_name)
        for case in (cases or list(CASES)):
            build, kw, _ = CASES[case]
            for variant, t in (("whole", 1), (f"{tiles} tiles", tiles)):
                for solver in solvers:
                    t0 = time.perf_counter()
                    g = build(**kw, tiles=t)
                    tg = time.perf_counter() - t0
                    try:
                        row, _ = run_case(g, hw, solver, options, case=case, variant=variant, t_graph=tg)
                    except MapcError as e:
                        print(f"{case} / {variant} / {hw_name} / {solver}: {e}", file=sys.stderr)
                        continue
                    rows.append(row)
                    print(f"  {case:34s} {variant:9s} {hw_name:9s} {solver:7s} {row.wall:6.2f} s  "
                          f"{row.chiplets:2d} chiplets  makespan {row.makespan * 1e3:8.3f} ms", file=sys.stderr)
    return rows


# ---- report -----------------------------------------------------------------------------------------------

def machine() -> str:
    """The machine the numbers come from (`mapc bench`'s description)."""
    return bench_machine()


def _mb(x: float) -> str:
    return f"{x / 1e6:.1f}"


def table(rows: list[Row], time_limit: float) -> str:
    lo, hi = STREAM_SECONDS
    out = [f"machine: {machine()}; solver budget {time_limit:g} s; wall = graph + cost tables + solve + check "
           f"+ evaluate; Stream: {lo:g}-{hi:g} s for one attention head, GEMM on {STREAM_GEMM_CHIPLETS}/36 "
           "chiplets, FFN refused", "",
           "| case | variant | hw | solver | tasks | wall s | Stream s / mapc s | chiplets used | makespan ms | "
           "energy mJ | EDP J*s | makespan/LB | weights MB | streamed MB | largest task weights MB | status | valid |",
           "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        out.append(f"| {r.case} | {r.variant} | {r.hw} | {r.solver} | {r.tasks} | {r.wall:.2f} | "
                   f"{lo / r.wall:.0f}-{hi / r.wall:.0f}x | {r.chiplets}/36 | {r.makespan * 1e3:.4g} | "
                   f"{r.energy * 1e3:.4g} | {r.edp:.3e} | {r.ratio:.2f} | {_mb(r.weight_bytes)} | "
                   f"{_mb(r.streamed_bytes)} | {_mb(r.largest_weights)} | {r.status} | "
                   f"{'yes' if r.violations == 0 else f'NO ({r.violations})'} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--solver", default="greedy,cpsat", help="comma-separated solver names (default greedy,cpsat)")
    ap.add_argument("--time-limit", type=float, default=3.0, help="solver wall budget in s (default 3)")
    ap.add_argument("--hw", default="mcm6x6", help="comma-separated: presets and/or simba6x6 (default mcm6x6)")
    ap.add_argument("--tiles", type=int, default=36, help="column blocks of the tiled variant (default 36)")
    ap.add_argument("--case", action="append", help="run only this case (repeatable); one of: " + ", ".join(CASES))
    ap.add_argument("-o", "--output", help="also write the table to this file")
    a = ap.parse_args(argv)
    try:
        if a.time_limit <= 0:
            raise MapcError(f"--time-limit must be positive, got {a.time_limit}")
        if a.tiles < 2:
            raise MapcError(f"--tiles must be >= 2, got {a.tiles}")
        from mapc.solvers import registry
        solvers = [s for s in a.solver.split(",") if s]
        for s in solvers:
            registry.get(s)                  # MapcError naming the available solvers
        bad = [c for c in (a.case or []) if c not in CASES]
        if bad:
            raise MapcError(f"unknown case(s) {bad}", hint="cases: " + ", ".join(CASES))
        rows = run_all(solvers, [h for h in a.hw.split(",") if h], a.time_limit,
                       a.tiles, a.case)
    except MapcError as e:
        hint = getattr(e, "hint", None)
        print(f"error: {e}" + (f"\nhint: {hint}" if hint else ""), file=sys.stderr)
        return 2
    text = table(rows, a.time_limit)
    print(text)
    if a.output:
        with open(a.output, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
