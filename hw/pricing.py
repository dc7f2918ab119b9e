"""Per-operator quantities of one core type in a tensor-parallel group of k, for the cost tables (`mapc.hw.cost`).

For every operator (arrays over the operators of a graph) and one (chiplet type, group size k):

* the member's share of the operator under the TP scheme (`mapc.hw.tp.split_dims`); attention is split by
  heads (count) and, when a group has more members than heads, by keys (the KV sequence, flash-decoding
  style), never by head_dim: a 128-wide head sliced 36 ways would use 4 of the array's columns;
* the mapping on the member's PE array and buffer (`mapc.hw.mapping`): array and vector cycles, register file,
  SRAM reads and writes;
* what goes to DRAM besides weights and the KV cache: activations that do not fit the part of the buffer left
  for them (`act_cap = sram x (1 - weight_fraction)`) are written out and read back, the inputs as many times as
  the blocking re-reads them. Attention is fused (flash-attention style: the score matrix never leaves the
  buffer) when a tile of R query rows against all keys, with the head's K and V, fits `act_cap`; otherwise the
  scores round-trip through DRAM too (`spills`). Streamed weights are read `weight_reads` times (once unless
  neither the inputs nor the weights stay on chip, `mapping.dram_reuse`).

Values are per member unless the name says group (`*_group`): time in s, bytes in B, MACs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mapc.core.hardware import ChipletType
from mapc.hw import tp as tpm
from mapc.hw.constants import BYTES_PER_ELEMENT
from mapc.hw.energy import acc_energy, rf_energy, sram_write_energy
from mapc.hw.mapping import acc_bytes, dram_reuse, map_gemm, map_vector

GEMM_KINDS = ("gemm", "attn_score", "attn_value", "conv", "moe_gemm")


@dataclass(frozen=True)
class OpArrays:
    """The operators of a graph (flattened over its distinct operator tuples) as arrays."""

    names: list[str]
    kinds: list[str]
    M: np.ndarray
    K: np.ndarray
    N: np.ndarray
    count: np.ndarray
    flops: np.ndarray
    weight_bytes: np.ndarray
    kv_read: np.ndarray
    kv_write: np.ndarray
    in_bytes: np.ndarray
    out_bytes: np.ndarray
    taps: np.ndarray

    @property
    def is_gemm(self) -> np.ndarray:
        return np.array([k in GEMM_KINDS for k in self.kinds], dtype=bool)


def split_attention(ops: OpArrays, k: int, K_m: np.ndarray, N_m: np.ndarray, cnt_m: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Attention products split over k members by heads, and by keys (never head_dim) when heads < k."""
    if k <= 1:
        return K_m, N_m, cnt_m
    kinds = np.array(ops.kinds)
    score, value = kinds == "attn_score", kinds == "attn_value"
    by_count = ops.count >= k
    keys_split = lambda keys: np.ceil(keys / np.maximum(np.floor(k / np.maximum(ops.count, 1)), 1))
    N_m = np.where(score & ~by_count, keys_split(ops.N), N_m)          # score: N = keys
    K_m = np.where(value & ~by_count, keys_split(ops.K), K_m)          # value: K = keys
    N_m = np.where(value & ~by_count, ops.N, N_m)                       # head_dim stays whole
    cnt_m = np.where((score | value) & ~by_count, 1.0, cnt_m)
    return K_m, N_m, cnt_m


def op_quantities(t: ChipletType, k: int, ops: OpArrays, roles: tuple, tp_scheme: str,
                  weight_fraction: float) -> dict[str, np.ndarray]:
    """Per operator, for one member of a k-group of type `t` (module docstring)."""
    is_gemm = roles[0]
    K_m, N_m, cnt_m = tpm.split_dims(tp_scheme, k, roles, ops.K, ops.N, ops.count)
    K_m, N_m, cnt_m = split_attention(ops, k, K_m, N_m, cnt_m)
    eb = float(BYTES_PER_ELEMENT.get(t.precision, 2))
    ab = acc_bytes(t)
    elems = ops.K * ops.N * ops.count
    wbe = np.where((ops.weight_bytes > 0) & (elems > 0), ops.weight_bytes / np.maximum(elems, 1.0), eb)
    g = map_gemm(t, cnt_m, ops.M, K_m, N_m, ops.taps, wbe)
    v = map_vector(t, ops.flops / k, ops.in_bytes / k, ops.out_bytes / k)
    f = float(t.freq)
    array_t = np.where(is_gemm, g.array_cycles / f, 0.0)
    vector_t = np.where(is_gemm, 0.0, v.vector_cycles / f)
    sram_r = np.where(is_gemm, g.sram_read, v.sram_read)
    sram_w = np.where(is_gemm, g.sram_write, v.sram_write)
    sram_t = np.maximum(sram_r, sram_w) / t.sram_bw if t.sram_bw else np.zeros_like(sram_r)   # a read, a write port
    rf = np.where(is_gemm, g.rf_bytes, 0.0)
    acc = np.where(is_gemm, g.acc_bytes, 0.0)
    # activations against the buffer: fused attention keeps its scores on chip
    act_cap = float(t.sram) * (1.0 - weight_fraction)
    kinds = np.array(ops.kinds)
    names = np.array(ops.names)
    R = float(t.pe_rows)
    score, value, soft = kinds == "attn_score", kinds == "attn_value", names == "softmax"
    keys = np.where(score, N_m, np.where(value, K_m, ops.N))
    hd = np.where(score, ops.K, ops.N)
    tile = R * keys * ab + np.where(soft, 0.0, keys * hd * 2 * eb)
    fused = (score | value | soft) & (tile <= act_cap)
    I_m, O_m = ops.in_bytes / k, ops.out_bytes / k
    score_part = np.minimum(ops.M * K_m * cnt_m * eb, I_m)            # attn_value's scores (per member)
    I_eff = np.where(fused & soft, 0.0, np.where(fused & value, I_m - score_part, I_m))
    O_eff = np.where(fused & (score | soft), 0.0, O_m)
    W_m = ops.weight_bytes * np.where(elems > 0, K_m * N_m * cnt_m / np.maximum(elems, 1.0), 1.0 / k)
    r_i, r_w = dram_reuse(I_eff, W_m, ops.M, N_m, ab, act_cap, float(t.pe_cols))
    over = I_eff + O_eff > act_cap
    spill = np.where(over, r_i * I_eff + O_eff, 0.0)
    spills = (score | value | soft) & ~fused & over
    return {"array_t": array_t, "vector_t": vector_t, "sram_t": sram_t, "sram_r": sram_r, "sram_w": sram_w,
            "rf": rf, "acc": acc, "macs": ops.flops / 2.0 / k, "spill_group": spill * k,
            "weights_group": ops.weight_bytes * np.where(is_gemm, r_w, 1.0), "spills": spills.astype(np.float64),
            "utilization": np.where(is_gemm, g.utilization, 0.0)}


# Per (task, placement) tables combined over a group's member types (`combine`).
TABLES = ("array_t", "vector_t", "sram_t", "sram_bytes", "rf", "spill_group", "weights_group", "e_mac", "e_rf",
           "e_sram", "e_sram_w_per_b")


def combine(combo: tuple, k: int, src: dict[tuple, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """A group of k members of the types in `combo` ((type, count) pairs): times at the pace of its slowest
    member type, bytes and energies summed over members, DRAM bytes as the largest any member type needs."""
    q = [(t, c, src[(t, k)]) for t, c in combo]
    mx = lambda name: np.max([x[name] for _, _, x in q], axis=0)
    tot = lambda name: sum(c * x[name] for _, c, x in q)
    return {"array_t": mx("array_t"), "vector_t": mx("vector_t"), "sram_t": mx("sram_t"),
            "sram_bytes": tot("sram_r") + tot("sram_w"), "rf": tot("rf") + tot("acc"),
            "spill_group": mx("spill_group"), "weights_group": mx("weights_group"),
            "e_mac": sum(c * x["macs"] * t.mac_energy for t, c, x in q),
            "e_rf": sum(c * (x["rf"] * rf_energy(t) + x["acc"] * acc_energy(t)) for t, c, x in q),
            "e_sram": sum(c * (x["sram_r"] * t.sram_energy + x["sram_w"] * sram_write_energy(t)) for t, c, x in q),
            "e_sram_w_per_b": sum(c / k * sram_write_energy(t) for t, c, _ in q) + 0 * mx("array_t")}
