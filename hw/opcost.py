"""One operator alone on one core, operands in DRAM: the per-operator costs `mapc cost` reports.

This is how ZigZag prices a layer and how a user compares mapc with it: the inputs and weights start in DRAM,
the outputs end there, and nothing else runs. For each operator on a core of type `t` with `dram_bw` bytes/s of
DRAM bandwidth (`mapc.hw.mapping` for the array and the buffer):

    dram bytes = inputs x input reads + weights x weight reads + outputs (+ KV written)
                 (reads from `mapping.dram_reuse` with the whole buffer)
    latency    = max(array or vector time, buffer bytes / sram_bw, DRAM bytes / dram_bw)
                 + onload + offload
    onload     = what the array needs before it can start, from DRAM: the inputs when they fit in the buffer
                 (loaded once, whole, as ZigZag schedules them), else one row block; or one stationary tile
                 (R x C words; further tiles stream behind the double buffer), whichever is larger
    offload    = the last output tile (R x C elements) written back after the array stops
    (the onload and offload bytes are not counted again in the DRAM term)

and `bound` names the largest term: compute (array or vector), sram or dram. Energy by level: MACs x MAC
energy; register-file bytes x rf energy; buffer reads and writes (the dataflow's traffic plus every DRAM byte
staged through the buffer) x their energies; DRAM bits x DRAM energy per bit. A single core has no NoP term.
In a schedule (`mapc.hw.cost`) operators see a different context: activations arrive over the NoP, weights may
stay resident, and a tensor-parallel group splits the operator.
"""

from __future__ import annotations

import numpy as np

from mapc.core.hardware import ChipletType
from mapc.hw.constants import BYTES_PER_ELEMENT
from mapc.hw.energy import acc_energy, rf_energy, sram_write_energy
from mapc.hw.mapping import acc_bytes, dram_reuse, map_gemm, map_vector
from mapc.hw.pricing import OpArrays

BOUNDS = ("compute", "sram", "dram")
LEVELS = ("mac", "rf", "sram", "dram", "nop")


def isolated_cost(ops: OpArrays, t: ChipletType, dram_bw: float, dram_j_per_bit: float) -> dict[str, np.ndarray]:
    """Per operator: cycles, latency_s, utilization, bound index (into BOUNDS), dram/sram bytes and energy by
    level (`e_mac`, `e_rf`, `e_sram`, `e_dram`, `e_nop`, J) of each operator alone on one core (module doc)."""
    is_gemm = ops.is_gemm
    eb = float(BYTES_PER_ELEMENT.get(t.precision, 2))
    ab = acc_bytes(t)
    R, C, f = float(t.pe_rows), float(t.pe_cols), float(t.freq)
    elems = ops.K * ops.N * ops.count
    W = ops.weight_bytes + ops.kv_read                        # the second operand: weights or the KV cache
    wbe = np.where((W > 0) & (elems > 0), W / np.maximum(elems, 1.0), eb)
    g = map_gemm(t, ops.count, ops.M, ops.K, ops.N, ops.taps, wbe)
    v = map_vector(t, ops.flops, ops.in_bytes, ops.out_bytes)
    compute = np.where(is_gemm, g.array_cycles, v.vector_cycles) / f
    sram_r = np.where(is_gemm, g.sram_read, v.sram_read)
    sram_w = np.where(is_gemm, g.sram_write, v.sram_write)
    sram_t = np.maximum(sram_r, sram_w) / t.sram_bw if t.sram_bw else np.zeros_like(compute)   # read, write ports
    I, O = ops.in_bytes, ops.out_bytes
    r_i, r_w = dram_reuse(I, W, ops.M, ops.N, ab, float(t.sram), C)
    dram = r_i * I + r_w * W + O + ops.kv_write
    i_first = np.where(I + np.minimum(O, ops.M * C * eb) <= t.sram, I, np.minimum(I, R * ops.K * eb))
    w_first = np.where(is_gemm, np.minimum(W, R * C * wbe), 0.0)   # one stationary tile; the rest streams
    first = np.maximum(i_first, w_first)
    last = np.minimum(O, R * C * eb)
    if dram_bw > 0:            # what the onload and offload move is not moved again while the array runs
        onload, offload = first / dram_bw, last / dram_bw
        mem_t = np.maximum(dram - first - last, 0.0) / dram_bw
    else:
        onload = offload = 0.0 * I
        mem_t = np.where(dram > 0, np.inf, 0.0)
    terms = np.stack([compute, sram_t, mem_t])
    latency = terms.max(axis=0) + onload + offload
    e = {"e_mac": ops.flops / 2.0 * t.mac_energy,
         "e_rf": np.where(is_gemm, g.rf_bytes * rf_energy(t) + g.acc_bytes * acc_energy(t), 0.0),
         "e_sram": sram_r * t.sram_energy + (sram_w + dram) * sram_write_energy(t),
         "e_dram": dram * 8 * dram_j_per_bit,
         "e_nop": np.zeros_like(dram)}
    return {"cycles": latency * f, "latency_s": latency, "utilization": np.where(is_gemm, g.utilization, 0.0),
            "bound": terms.argmax(axis=0).astype(np.float64), "dram_bytes": dram, "sram_bytes": sram_r + sram_w,
            "compute_s": compute, "sram_s": sram_t, "dram_s": mem_t, "onload_s": onload, "offload_s": offload, **e}
