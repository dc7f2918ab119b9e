"""Per-operator mapping model: how an operator's loops land on one core's PE array and memory hierarchy.

An operator is `G` independent products (M x Kr) @ (Kr x N) (`mapc.core.graph.Operator`: G = count, Kr = K);
a convolution's reduction Kr = Cin x taps (taps = kh x kw filter positions, `Operator.taps`). The model is in
the spirit of ZigZag and SCALE-Sim, in closed form and vectorised over operators:

Spatial unrolling on an R x C array, by dataflow (the loop dimension on the rows, on the columns, and the one
streamed through the array in time, `S`):

    ws  weight-stationary (TPU-like)     rows: reduction   cols: N   stream: M    tiles G*ceil(Kr/R)*ceil(N/C)
    os  output-stationary (ShiDianNao)   rows: M           cols: N   stream: Kr   tiles G*ceil(M/R)*ceil(N/C)
    is  input-stationary                 rows: reduction   cols: M   stream: N    tiles G*ceil(Kr/R)*ceil(M/C)
    rs  row-stationary (Eyeriss-like)    as `is` spatially; the RF keeps a filter row per PE (below)

`unroll channels` (a core's setting) unrolls only the input channels of a convolution on the rows and loops
over its filter taps in time (ZigZag's tpu_like mapping: K on one array axis, C on the other); the default,
`im2col`, unrolls the whole reduction Cin x kh x kw on the rows (SCALE-Sim's mapping). Edge effects follow:
a dimension that does not fill the array (C = 3 channels on 32 rows) leaves PEs idle, and
`utilization = MACs / (tiles x R x C x S)`.

A core may hold several identical arrays (`arrays`, TPU v4's four MXUs, an A100 SM's four tensor cores): the
tiles are dealt over them, `rounds = ceil(tiles / arrays)` replaces `tiles` below.
Time on the array (`array_cycles`). A PE holds the stationary operand of its tile in its register file (`rf`
bytes per PE). When it holds two (`rf` >= 2 stationary words), the next tile's operand loads while the current
one streams (double buffering, as the TPU's weight FIFO and ZigZag's per-PE weight registers do): the first
tile pays SCALE-Sim's whole fold, each further tile max(S, L), L = R cycles to load (or drain) a tile:

    double-buffered:  (L + R + C - 2 + S) + (tiles - 1) * max(S, L)
    single register:  tiles * (S + L + R + C - 2)   with L = R for ws / is / rs and 0 for os   (SCALE-Sim)

so a core without room for a second stationary word (`rf 2 B` at fp16) reproduces SCALE-Sim's cycle counts
(ws loads each weight fold, os drains in place) and a core with one (`rf 64 B`) hides the reloads.
Non-GEMM operators (norms, softmax, activations, pooling) run on a `vector`-lane datapath: flops / lanes.

Traffic (`sram_read`, `sram_write`, `rf_bytes`, in bytes per core). Operands: inputs at the core's precision
(`eb`), weights at their stored width (`wb`), partial sums at accumulation precision (`ab`, e.g. fp32 for fp16
MACs, `accumulate` setting). Between the global buffer (SRAM) and the array:
    ws  weights once (K*N), inputs once per column tile (M*Kr*ceil(N/C)), partial sums written per row tile
        and read back between them (M*N*(2*ceil(Kr/R) - 1) at ab), final outputs M*N
    os  inputs M*Kr*ceil(N/C), weights Kr*N*ceil(M/R), outputs written once
    is  inputs once (M*Kr), weights Kr*N*ceil(M/C), partial sums as ws
    rs  as is, but a filter row stays in the PE's RF across the kw positions of a convolution window: weights
        Kr*N*ceil(M/C)/kw
A vector streamed from the buffer narrower than its access word (`mapc.hw.constants.SRAM_WORD`, 8 bytes)
still reads a whole word: a depthwise convolution feeding one PE row pays 8x its input bytes.
Partial sums go through the buffer once per `depth` row tiles of the reduction, where `depth` is the number of
stationary words a PE's register file holds besides the double buffer: a PE accumulates over the reduction
slices whose operands it holds before it releases a partial sum (ws: M*N*(2*ceil(Kr/(R*depth)) - 1)).
The register file serves every MAC: the stationary operand read per MAC (`rf_bytes`), and the accumulator
register the partial sum read and written per MAC (`acc_bytes`; for os the output held in place).

Reuse against DRAM (`dram_reuse`): the buffer holds what it can of the operands, and an operand that does not
stay on chip is read again for every block of the other loop. With `S` bytes of buffer: everything fits, or
the inputs stay (I + M*C*ab <= S: each weight read once, inputs once), or the weights stay, or output blocks
Mb x Nb (Mb*Nb*ab <= S/2) stream the reduction: inputs read ceil(N/Nb) times and weights ceil(M/Mb) times,
Nb chosen from a small ladder to minimise the bytes. This is a closed-form stand-in for ZigZag's loop-order
search (which minimises latency, not traffic, and can re-read more: see bench/validate/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mapc.core.hardware import ChipletType
from mapc.hw.constants import ACC_BYTES, BYTES_PER_ELEMENT, RF_BYTES_DEFAULT, SRAM_WORD

DATAFLOWS = ("ws", "os", "is", "rs")
UNROLLS = ("im2col", "channels")


def cdiv(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Elementwise ceiling division (float results, exact for integers < 2**53)."""
    return np.ceil(np.asarray(a, dtype=np.float64) / b)


@dataclass(frozen=True)
class OpMapping:
    """Per operator (arrays of one length), for one core: cycles, utilisation and bytes per memory level."""

    array_cycles: np.ndarray      # PE-array cycles of GEMM-like operators (0 for the others)
    vector_cycles: np.ndarray     # vector-datapath cycles of the non-GEMM operators (0 for GEMM-like)
    utilization: np.ndarray       # MACs / (array cycles x R x C) of GEMM-like operators, else 0
    rf_bytes: np.ndarray          # register-file bytes of the stationary operand read by the MACs
    acc_bytes: np.ndarray         # accumulator-register bytes (partial sums read and written per MAC)
    sram_read: np.ndarray         # global-buffer bytes read
    sram_write: np.ndarray        # global-buffer bytes written
    first_tile: np.ndarray        # bytes of the first stationary tile (to load before the array can start)


def stationary_bytes(t: ChipletType) -> float:
    """Bytes of one stationary word: an output accumulator for os, an operand element otherwise."""
    return float(acc_bytes(t) if t.dataflow == "os" else BYTES_PER_ELEMENT.get(t.precision, 2))


def acc_bytes(t: ChipletType) -> float:
    """Bytes of a partial sum at the core's accumulation precision."""
    return float(BYTES_PER_ELEMENT.get(t.accumulate, 4) if t.accumulate else ACC_BYTES.get(t.precision, 4))


def rf_bytes(t: ChipletType) -> float:
    """The core's register file per PE (its `rf`, else the Eyeriss-class default of `mapc.hw.constants`)."""
    return float(RF_BYTES_DEFAULT if t.rf is None else t.rf)


def double_buffered(t: ChipletType) -> bool:
    """True when each PE's register file holds two stationary words (the next tile loads behind the current)."""
    return rf_bytes(t) >= 2 * stationary_bytes(t)


def map_gemm(t: ChipletType, G: np.ndarray, M: np.ndarray, Kr: np.ndarray, N: np.ndarray, taps: np.ndarray,
             wb: np.ndarray) -> OpMapping:
    """The mapping of GEMM-like operators (arrays) on one core of type `t` (module docstring).

    `wb` is the bytes per weight element of each operator (the second operand's element bytes where it is not a
    weight, e.g. the K and V of attention)."""
    G, M, Kr, N, taps = (np.asarray(v, dtype=np.float64) for v in (G, M, Kr, N, taps))
    R, C = float(t.pe_rows), float(t.pe_cols)
    eb, ab = float(BYTES_PER_ELEMENT.get(t.precision, 2)), acc_bytes(t)
    taps = np.maximum(taps, 1.0)
    if t.unroll == "channels":          # channels on the rows, filter taps looped in time
        red_s, red_t = np.maximum(Kr / taps, 1.0), taps
    else:
        red_s, red_t = Kr, np.ones_like(Kr)
    df = t.dataflow
    if df == "ws":
        tiles, stream = G * red_t * cdiv(red_s, R) * cdiv(N, C), M
    elif df == "os":
        tiles, stream = G * cdiv(M, R) * cdiv(N, C), Kr
    elif df in ("is", "rs"):
        tiles, stream = G * red_t * cdiv(red_s, R) * cdiv(M, C), N
    else:
        raise ValueError(f"unknown dataflow {df!r} (expected one of {', '.join(DATAFLOWS)})")
    L = R
    rounds = cdiv(tiles, float(t.arrays))              # tiles spread over the core's identical arrays
    if double_buffered(t):
        cycles = (L + R + C - 2 + stream) + np.maximum(rounds - 1, 0) * np.maximum(stream, L)
    else:
        cycles = rounds * (stream + (0.0 if df == "os" else L) + R + C - 2)
    macs = G * M * Kr * N
    cycles = np.where(macs > 0, cycles, 0.0)
    util = np.where(cycles > 0, macs / np.maximum(cycles * R * C * t.arrays, 1.0), 0.0)
    # partial-sum passes through the buffer. A PE whose register file holds `depth` stationary words (half of it,
    # the other half double-buffers) accumulates over that many reduction slices before it releases a partial sum
    # (ZigZag's tpu_like keeps a reduction loop inside its output register this way): one pass per `depth` row
    # tiles of the reduction, filter taps included
    depth = max(1.0, np.floor(rf_bytes(t) / (2 * stationary_bytes(t))))
    psum = M * N * (2 * cdiv(red_s * red_t, R * depth) - 1)
    # a streamed vector narrower than the buffer's access word still costs a word (`SRAM_WORD`)
    word = lambda width, nbytes: np.maximum(1.0, SRAM_WORD / np.maximum(width * nbytes, 1e-12))
    if df == "ws":
        rd = (Kr * N * wb + M * Kr * cdiv(N, C) * eb * word(np.minimum(red_s, R), eb)
              + (psum - M * N) * ab)
        wr = (psum - M * N) * ab + M * N * eb
    elif df == "os":
        rd = (M * Kr * cdiv(N, C) * eb * word(np.minimum(M, R), eb)
              + Kr * N * cdiv(M, R) * wb * word(np.minimum(N, C), wb))
        wr = M * N * eb
    else:
        reuse = np.where(taps > 1, np.sqrt(taps), 1.0) if df == "rs" else 1.0   # kw of a square window
        rd = (M * Kr * eb + Kr * N * cdiv(M, C) * wb / reuse * word(np.minimum(red_s, R), wb)
              + (psum - M * N) * ab)
        wr = (psum - M * N) * ab + M * N * eb
    stat = 0.0 if df == "os" else (wb if df == "ws" else eb)   # os: the output itself is stationary
    rf = macs * stat
    acc = macs * 2 * ab                                          # partial sum read and written per MAC
    first = np.minimum(R * C * (wb if df == "ws" else eb), G * Kr * N * wb if df == "ws" else G * M * Kr * eb)
    z = np.zeros_like(cycles)
    return OpMapping(cycles, z, util, rf, acc, G * rd, G * wr, np.where(macs > 0, first, 0.0))


def map_vector(t: ChipletType, flops: np.ndarray, in_bytes: np.ndarray, out_bytes: np.ndarray) -> OpMapping:
    """Non-GEMM operators on the core's vector datapath (`t.vector` lanes, default the array's width)."""
    lanes = float(t.vector or t.pe_cols)
    flops = np.asarray(flops, dtype=np.float64)
    z = np.zeros_like(flops)
    return OpMapping(z, cdiv(flops, lanes), z, z, z, np.asarray(in_bytes, np.float64),
                     np.asarray(out_bytes, np.float64), z)


def dram_reuse(I: np.ndarray, W: np.ndarray, M: np.ndarray, N: np.ndarray, ab: float, S: float | np.ndarray,
               C: float) -> tuple[np.ndarray, np.ndarray]:
    """(input reads, weight reads) from DRAM per operator when `S` bytes of buffer hold what they can of the
    inputs `I` (bytes), weights `W` (bytes) and the M x N partial sums (module docstring). Each factor >= 1."""
    I, W, M, N = (np.asarray(v, dtype=np.float64) for v in (I, W, M, N))
    S = np.asarray(S, dtype=np.float64) + 0 * I
    ones = np.ones_like(I)
    fits_all = I + W + M * N * ab <= S
    keep_i = I + M * np.minimum(N, C) * ab <= S
    keep_w = W + M * np.minimum(N, C) * ab <= S      # weights resident: stream the inputs once
    best_i, best_w = ones.copy(), ones.copy()
    cost = np.full_like(I, np.inf)
    for j in range(12):                                # output blocks Mb x Nb, Nb = C * 2^j
        Nb = np.minimum(C * 2.0 ** j, np.maximum(N, 1.0))
        Mb = np.clip(np.floor(S / 2 / (Nb * ab)), 1.0, np.maximum(M, 1.0))
        ri, rw = cdiv(N, Nb), cdiv(M, Mb)
        c = ri * I + rw * W
        better = c < cost
        cost = np.where(better, c, cost)
        best_i = np.where(better, ri, best_i)
        best_w = np.where(better, rw, best_w)
    once = fits_all | keep_i | keep_w
    return np.where(once, 1.0, best_i), np.where(once, 1.0, best_w)
