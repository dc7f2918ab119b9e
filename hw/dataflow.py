"""Tiling of a GEMM onto an R x C PE array by dataflow: cycles (fill and drain included) and buffer traffic.

Cycle counts follow SCALE-Sim's analytical model (Samajdar et al., ISPASS 2020): a fold (one tile of the
stationary operand) takes 2R + C + T - 2 cycles, T being the length of the streamed dimension.

An operator is `count` independent (M x K) @ (K x N) products. Every formula is vectorised over NumPy arrays
of M, K, N, count (one entry per operator). `T` is the number of array tiles, `cdiv` a ceiling division.

weight-stationary (ws, TPU-like): a K x N weight tile sits in the array (K on rows, N on columns); the M input
rows stream through it.
    T = cdiv(K, R) * cdiv(N, C)
    cycles/tile = 2R + C + M - 2              # R to preload the weights, M rows streamed, R + C - 2 fill/drain
    traffic: weights read once (K*N); inputs read once per column tile (M*K*cdiv(N, C));
             partial sums written per row tile and read back between them (M*N*(2*cdiv(K, R) - 1))
output-stationary (os, ShiDianNao-like): an M x N output tile accumulates in place; K streams.
    T = cdiv(M, R) * cdiv(N, C)
    cycles/tile = 2R + C + K - 2              # K partial products streamed, R + C - 2 skew, R to drain results
    traffic: inputs M*K*cdiv(N, C); weights K*N*cdiv(M, R); outputs written once (M*N)
row-stationary (rs): approximated by the third classical GEMM mapping (SCALE-Sim's "input-stationary": the
K reduction on PE rows, output rows M on PE columns, output channels N streamed, partial sums accumulating down
the columns), which is how an Eyeriss-style array reuses a 1x1 filter row; Eyeriss' full kh x kw row-stationary
mapping of a convolution is not modelled.
    T = cdiv(K, R) * cdiv(M, C)
    cycles/tile = 2R + C + N - 2
    traffic: inputs read once (M*K); weights K*N*cdiv(M, C); partial sums M*N*(2*cdiv(K, R) - 1)

So ws wins on tall-skinny GEMMs (large M: long streams through few tiles), os on short-wide ones (small M,
large K: a decode GEMV keeps its outputs in place while K streams), and the reuse each dataflow gets decides how
many bytes cross the global buffer, hence SRAM energy. Non-GEMM operators (norm, pool, elementwise, embed) run
on a C-wide vector datapath: cycles = cdiv(flops, C); traffic = their in + out bytes.
"""

from __future__ import annotations

import numpy as np


def cdiv(a, b):
    """Elementwise ceiling division of non-negative arrays (float results, exact for integers < 2**53)."""
    return np.ceil(np.asarray(a, dtype=np.float64) / b)


def gemm_cycles(dataflow: str, M, K, N, count, R: int, C: int) -> np.ndarray:
    """Array cycles of `count` (M x K) @ (K x N) products on an R x C array (fill and drain included)."""
    M, K, N, count = (np.asarray(v, dtype=np.float64) for v in (M, K, N, count))
    if dataflow == "ws":
        t, stream = cdiv(K, R) * cdiv(N, C), M
    elif dataflow == "os":
        t, stream = cdiv(M, R) * cdiv(N, C), K
    elif dataflow == "rs":
        t, stream = cdiv(K, R) * cdiv(M, C), N
    else:
        raise ValueError(f"unknown dataflow {dataflow!r} (expected ws, os or rs)")
    return count * t * (2 * R + C + stream - 2)


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
