"""Shared test fixtures: small hand-built `Hardware` values and execution graphs built directly from
`mapc.core.graph` values (no DSL, no lowering), so solver and checker tests stand alone.

Plain builder functions (importable as `from conftest import make_hw`) plus fixtures wrapping them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mapc.core.graph import Edge, ExecutionGraph, Operator, Task
from mapc.core.hardware import Chiplet, ChipletType, DramChannel, Hardware, NoP

MiB = 2**20

# Test-hardware constants (small chiplets so that tests exercise SRAM limits):
MAC_ENERGY = 0.0873e-12   # J/MAC, FP16 MAC at 12 nm: Gemini (HPCA 2024) and Compass code constants (REFERENCE.md)
SRAM_ENERGY = 100e-12 / 8  # J/B, 64-bit read of a 1 MB SRAM array ~100 pJ: Horowitz, ISSCC 2014 (REFERENCE.md)
STATIC_POWER = 0.1        # W per chiplet: an assumed test value, not a published figure
HBM_E_BIT = 3.9e-12       # J/bit, HBM2: O'Connor et al., MICRO 2017 (REFERENCE.md)
NOP_E_BIT = 1.3e-12       # J/bit/hop: the NoP default of mapc.core.hardware.NoP (DESIGN.md section 3 example)


def chiplet_type(dataflow="ws", sram=1 * MiB, pe=8, freq=1e9, name=None) -> ChipletType:
    return ChipletType(name or f"{dataflow}_{pe}x{pe}_{int(sram)}", pe, pe, dataflow, freq, float(sram),
                       MAC_ENERGY, SRAM_ENERGY, STATIC_POWER)


def make_hw(rows=2, cols=2, dataflows=None, srams=None, pe=8, link_bw=100e9, dram_bw=64e9) -> Hardware:
    """A rows x cols mesh; `dataflows`/`srams` give per-chiplet values (row-major) or default ws / 1 MiB."""
    n = rows * cols
    dataflows = dataflows or ["ws"] * n
    srams = srams if srams is not None else [1 * MiB] * n
    chips = tuple(Chiplet(y * cols + x, x, y, chiplet_type(dataflows[y * cols + x], srams[y * cols + x], pe))
                  for y in range(rows) for x in range(cols))
    west = tuple(y * cols for y in range(rows))
    dram = (DramChannel("hbm0", "west", dram_bw, HBM_E_BIT, attach=west),)
    return Hardware(f"test{rows}x{cols}", rows, cols, chips, NoP(link_bw=link_bw, energy_per_bit=NOP_E_BIT), dram)


def thin_edge_channels(hw: Hardware, bw: float) -> Hardware:
    """`hw` with two DRAM channels thin enough to bind: `bw` B/s on the west edge, `bw` / 2 on the east edge."""
    west = tuple(y * hw.cols for y in range(hw.rows))
    east = tuple(y * hw.cols + hw.cols - 1 for y in range(hw.rows))
    return replace(hw, dram=(DramChannel("w", "west", bw, 4e-12, attach=west),
                             DramChannel("e", "east", bw / 2, 4e-12, attach=east)))


def gemm(name, M, K, N, dtype_bytes=2) -> Operator:
    return Operator(name, "gemm", M, K, N, 1, 2.0 * M * K * N, dtype_bytes * K * N, dtype_bytes * M * K,
                    dtype_bytes * M * N)


def make_task(i, M, K, N, model="m", layer=0, mb=0, key=None, phase="prefill") -> Task:
    return Task(i, f"{model}.L{layer}.mb{mb}", model, phase, mb, (layer, layer), (gemm(f"L{layer}", M, K, N),),
                key or f"{model}/L{layer}")


def chain_graph(layers=8, microbatches=8, M=64, K=256, N=256, model="m") -> ExecutionGraph:
    """`microbatches` independent chains of `layers` GEMM layers; layer l of every micro-batch shares weights."""
    tasks, edges = [], []
    for mb in range(microbatches):
        for l in range(layers):
            i = len(tasks)
            tasks.append(make_task(i, M, K, N, model, l, mb))
            if l:
                edges.append(Edge(i - 1, i, 2.0 * M * N))
    return ExecutionGraph(tuple(tasks), tuple(edges), (model,))


def random_graph(rng: np.random.Generator, n=8, p_edge=0.3, n_keys=None) -> ExecutionGraph:
    """n tasks, edges i<j with probability p_edge, random GEMM sizes; tasks share weight keys at random."""
    n_keys = n_keys or max(1, n // 2)
    tasks, edges = [], []
    for i in range(n):
        M, K, N = (int(x) for x in rng.integers(1, 257, size=3))
        k = int(rng.integers(0, n_keys))
        tasks.append(make_task(i, M, K, N, "m", k, i, key=f"m/k{k}"))
        for j in range(i):
            if rng.random() < p_edge:
                edges.append(Edge(j, i, float(rng.integers(0, 1 << 16))))
    return ExecutionGraph(tuple(tasks), tuple(edges), ("m",))


@pytest.fixture
def hw2x2() -> Hardware:
    return make_hw(2, 2, ["ws", "os", "os", "ws"])


@pytest.fixture
def chain8x8() -> ExecutionGraph:
    return chain_graph(8, 8)


def peer_dir():
    """shared/peer (the peers' own inputs: Stream's ONNX workloads and accelerators, ZigZag's cores): beside the
    repository (CI clones it next to a copy of shared/), else at /work/shared/peer; None when neither is there."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    for p in (root.parent / "shared" / "peer", Path("/work/shared/peer")):
        if p.is_dir():
            return p
    return None
