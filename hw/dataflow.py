"""Tiling of a GEMM onto an R x C PE array by dataflow: cycles (fill and drain included) and buffer traffic.

An operator is `count` independent (M x K) @ (K x N) products. Every formula is vectorised over NumPy arrays
of M, K, N, count (one entry per operator). `T` is the number of array tiles of one product, `n = count * T`
the tiles of the operator, `S` the length of the streamed dimension, `cdiv` a ceiling division.

Cycle model: SCALE-Sim's fold (Samajdar et al., "A Systematic Methodology for Characterizing Scalability of DNN
Accelerators using SCALE-Sim", ISPASS 2020) charges each tile ("fold") 2R + C + S - 2 cycles: R to load the
stationary operand (or drain the stationary outputs), S streamed rows, R + C - 2 of pipeline fill and drain.
Summing that per tile leaves the array idle during every reload, so a batch-16 decode GEMV on a 128 x 128 array
would run at ~4% of peak. Real weight-stationary arrays double-buffer the stationary operand: the TPU's matrix
unit holds one 64 KiB weight tile plus a second one for double-buffering, which hides the 256 cycles a tile
takes to shift in (Jouppi et al., "In-Datacenter Performance Analysis of a Tensor Processing Unit", ISCA 2017),
and the next tile's data enters right behind the current one, so the systolic skew is paid once. Modelled here
for every dataflow, with the analogous overlap for os (a tile's R-cycle output drain overlaps the next tile's
K-stream: double-buffered output registers) and rs (the next input tile preloads while the current one
streams):

    cycles = (2R + C - 2) + S + (n - 1) * max(S, R)        (0 when n = 0)

i.e. the first tile exactly as SCALE-Sim's fold (R preload / drain + S + R + C - 2 fill and drain, once per
operator), then each further tile costs max(S, R): its stream when S >= R (the next tile's reload hides
behind it), else the R-cycle reload / drain it waits for. A single tile (n = 1) is SCALE-Sim's fold unchanged,
and a long operator keeps S / max(S, R) of its tiles' occupancy: a prefill GEMM (S = thousands of tokens) is at
peak, a decode GEMV (S = M = batch < R) is paced by the weight reload, C weights per cycle, i.e. batch / R of
peak. On the NPU presets (128 x 128 at 1 GHz: 128 fp16 weights per cycle = 256 GB/s per core, against a
168 GB/s HBM share) that makes fp16 decode DRAM-bound, as on real NPUs.

weight-stationary (ws, TPU-like): a K x N weight tile sits in the array (K on rows, N on columns); the M input
rows stream through it.
    T = cdiv(K, R) * cdiv(N, C),  S = M
    traffic: weights read once (K*N); inputs read once per column tile (M*K*cdiv(N, C));
             partial sums written per row tile and read back between them (M*N*(2*cdiv(K, R) - 1))
output-stationary (os, ShiDianNao-like): an M x N output tile accumulates in place; K streams.
    T = cdiv(M, R) * cdiv(N, C),  S = K
    traffic: inputs M*K*cdiv(N, C); weights K*N*cdiv(M, R); outputs written once (M*N)
row-stationary (rs): approximated by the third classical GEMM mapping (SCALE-Sim's "input-stationary": the
K reduction on PE rows, output rows M on PE columns, output channels N streamed, partial sums accumulating down
the columns), which is how an Eyeriss-style array reuses a 1x1 filter row; Eyeriss' full kh x kw row-stationary
mapping of a convolution is not modelled.
    T = cdiv(K, R) * cdiv(M, C),  S = N
    traffic: inputs read once (M*K); weights K*N*cdiv(M, C); partial sums M*N*(2*cdiv(K, R) - 1)

What separates the dataflows. With the overlap, an evenly tiled GEMM takes about the same cycles under ws and
os: both keep min(M, R) / R x min(K, R) / R of the array busy (ws idles in time when M < R, waiting for the
weight reload; os idles in space, using M of R rows), and both take in C weights per cycle. They differ in
(1) ragged tiles: the dataflow that streams the dimension which does not divide the array wastes nothing on
it (ws streams M, os streams K); (2) short operators (few tiles), where the fill/drain and the first load
weigh; and above all (3) reuse, hence the bytes that cross the global buffer: ws reads every weight once and
spills partial sums per K tile (best for many tokens), os re-reads the weights per M tile but keeps outputs in
place (best for few tokens and long reductions). That decides SRAM energy, and time when the chiplet type gives
a buffer bandwidth (`sram_bw`, see `mapc.hw.cost`). (Under the old non-overlapped fold, os ran a GEMV ~3x faster
than ws only because ws paid an exposed R + R + C - 2 per weight tile.)

Non-GEMM operators (norm, pool, elementwise, embed) run on a C-wide vector datapath: cycles = cdiv(flops, C);
traffic = their in + out bytes.
"""

from __future__ import annotations

import numpy as np


def cdiv(a, b):
    """Elementwise ceiling division of non-negative arrays (float results, exact for integers < 2**53)."""
    return np.ceil(np.asarray(a, dtype=np.float64) / b)


def gemm_cycles(dataflow: str, M, K, N, count, R: int, C: int) -> np.ndarray:
    """Array cycles of `count` (M x K) @ (K x N) products on an R x C array: stationary operand double-buffered,
    fill and drain once per operator (module docstring)."""
    M, K, N, count = (np.asarray(v, dtype=np.float64) for v in (M, K, N, count))
    if dataflow == "ws":
        t, stream = cdiv(K, R) * cdiv(N, C), M
    elif dataflow == "os":
        t, stream = cdiv(M, R) * cdiv(N, C), K
    elif dataflow == "rs":
        t, stream = cdiv(K, R) * cdiv(M, C), N
    else:
        raise ValueError(f"unknown dataflow {dataflow!r} (expected ws, os or rs)")
    n = count * t
    first = 2 * R + C - 2 + stream                 # SCALE-Sim's fold: load/drain R, stream, fill/drain R + C - 2
    return np.where(n > 0, first + np.maximum(n - 1, 0) * np.maximum(stream, R), 0.0)


def gemm_traffic(dataflow: str, M, K, N, count, R: int, C: int) -> np.ndarray:
    """Elements moved between the global buffer and the array (inputs + weights + outputs/partial sums)."""
    M, K, N, count = (np.asarray(v, dtype=np.float64) for v in (M, K, N, count))
    psum = M * N * (2 * cdiv(K, R) - 1)
    if dataflow == "ws":
        e = K * N + M * K * cdiv(N, C) + psum
    elif dataflow == "os":
        e = M * K * cdiv(N, C) + K * N * cdiv(M, R) + M * N
    elif dataflow == "rs":
        e = M * K + K * N * cdiv(M, C) + psum
    else:
        raise ValueError(f"unknown dataflow {dataflow!r} (expected ws, os or rs)")
    return count * e


def vector_cycles(flops, C: int) -> np.ndarray:
    """Cycles of a non-GEMM operator on a C-lane vector datapath."""
    return cdiv(flops, C)
