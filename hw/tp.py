"""Tensor-parallel schemes for a task placed on a group of k cores: how each GEMM is split and which
collectives the split implies, priced on the group's actual mesh routes.

Schemes (a `CostModel(tp_scheme=...)` option):

* "gather" (the default, the cost backend's original scheme): every GEMM-like operator is split along `count`
  (heads, experts, groups) when count >= k, else along N, and every split operator except attn_score is
  followed by a ring all-gather of its output over the whole group.
* "1d" (Megatron-LM, Shoeybi et al. 2019, section 3): column-parallel QKV / FFN-up / LM-head (N split, no
  collective), attention by heads (no collective: its output stays sharded by heads and feeds the row-parallel
  out-projection), row-parallel attn_out / FFN-down (K split) each followed by one ring all-reduce
  (reduce-scatter + all-gather) of its output: one all-reduce per column/row pair. The LM head's logits are
  all-gathered. Operators outside a transformer layer (conv, fc, MoE experts) fall back to "gather".
* "2d" (2-D / SUMMA-style partitioning as in Optimus, Xu et al. 2021, and the multi-core NPU study's 2-D TP):
  the group is a logical r x c grid (r <= c, r * c = k, as square as possible; rows = consecutive runs of the
  placement, un-snaked so that columns line up physically). A transformer weight GEMM is split N / c and
  K / r; its input is all-gathered along the grid rows (c members, B_in / r per row ring) and its partial
  outputs reduce-scattered along the grid columns (r members, B_out / c per column ring). Attention splits by
  heads over all k (no collective).

A collective "channel" is one kind of collective on one set of concurrent rings. For each placement a channel
has (latency per collective, seconds per byte, joules per byte); an operator contributes (count, bytes) to the
channels its scheme uses. Ring costs: an all-gather or reduce-scatter of B bytes over a ring of m members takes
(m - 1) steps of B / m bytes; a step's time is the longest ring hop's router latency plus its chunk serialised
over the most loaded directed link (routes of all concurrent rings counted: link contention), its energy the
chunk's bits x the rings' total hop count x NoP pJ/bit.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

SCHEMES = ("gather", "1d", "2d")
COLUMN_OPS = frozenset({"qkv", "ffn_up", "lm_head", "moe_router"})
ROW_OPS = frozenset({"attn_out", "ffn_down"})
HEAD_OPS = frozenset({"attn_score", "attn_value"})
CHANNELS = ("ag_ring", "ar_ring", "ag_row", "rs_col")


def grid_shape(k: int) -> tuple[int, int]:
    """(r, c) with r * c = k, r <= c, as square as possible."""
    r = int(np.floor(np.sqrt(k)))
    while k % r:
        r -= 1
    return r, k // r


def logical_grid(members: tuple[int, ...]) -> list[list[int]]:
    """The r x c logical grid of a placement: rows are consecutive runs of c members; every other run is
    reversed so that a boustrophedon-walked block maps to its physical rows and columns."""
    r, c = grid_shape(len(members))
    rows = [list(members[i * c:(i + 1) * c]) for i in range(r)]
    return [row[::-1] if i % 2 else row for i, row in enumerate(rows)]


def rings_stats(hw, rings: list[list[int]]) -> tuple[int, int, int]:
    """(longest hop count, total hop count, most routes on one directed link) over concurrent rings."""
    load: Counter = Counter()
    hmax = hsum = 0
    for ring in rings:
        m = len(ring)
        if m <= 1:
            continue
        for i in range(m):
            r = hw.route(ring[i], ring[(i + 1) % m])
            h = len(r) - 1
            hmax, hsum = max(hmax, h), hsum + h
            load.update(zip(r[:-1], r[1:]))
    return hmax, hsum, (max(load.values()) if load else 0)


def channel_coeffs(hw, placements) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per channel, per placement: (s per collective, s per byte of the operator's B, J per byte of B)."""
    nop = hw.nop
    P = len(placements)
    out = {ch: (np.zeros(P), np.zeros(P), np.zeros(P)) for ch in CHANNELS}
    for p, mem in enumerate(placements):
        k = len(mem)
        if k <= 1:
            continue
        hmax, hsum, load = rings_stats(hw, [list(mem)])
        lat, bw, en = (k - 1) * hmax * nop.hop_latency, (k - 1) / k * load / nop.link_bw, \
            (k - 1) / k * 8 * hsum * nop.energy_per_bit
        out["ag_ring"][0][p], out["ag_ring"][1][p], out["ag_ring"][2][p] = lat, bw, en
        out["ar_ring"][0][p], out["ar_ring"][1][p], out["ar_ring"][2][p] = 2 * lat, 2 * bw, 2 * en
        g = logical_grid(tuple(mem))
        r, c = len(g), len(g[0])
        rows, cols = g, [[g[i][j] for i in range(r)] for j in range(c)]
        if c > 1:   # all-gather along rows: each of r rings carries B / r
            hm, hs, ld = rings_stats(hw, rows)
            out["ag_row"][0][p] = (c - 1) * hm * nop.hop_latency
            out["ag_row"][1][p] = (c - 1) / c * ld / nop.link_bw / r
            out["ag_row"][2][p] = (c - 1) / c * 8 * hs * nop.energy_per_bit / r
        if r > 1:   # reduce-scatter along columns: each of c rings carries B / c
            hm, hs, ld = rings_stats(hw, cols)
            out["rs_col"][0][p] = (r - 1) * hm * nop.hop_latency
            out["rs_col"][1][p] = (r - 1) / r * ld / nop.link_bw / c
            out["rs_col"][2][p] = (r - 1) / r * 8 * hs * nop.energy_per_bit / c
    return out


def op_roles(names, kinds, gemm_kinds) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Boolean arrays over operators: (GEMM-like, column-parallel, row-parallel, attention-by-heads)."""
    is_gemm = np.array([k in gemm_kinds for k in kinds], dtype=bool)
    col = np.array([n in COLUMN_OPS for n in names], dtype=bool) & is_gemm
    row = np.array([n in ROW_OPS for n in names], dtype=bool) & is_gemm
    head = np.array([n in HEAD_OPS for n in names], dtype=bool) & is_gemm
    return is_gemm, col, row, head


def split_dims(scheme: str, k: int, roles, K, N, cnt) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-member (K, N, count) of every operator on a group of k under `scheme`."""
    is_gemm, col, row, head = roles
    by_count = cnt >= k
    cnt_m = np.where(by_count, np.ceil(cnt / k), cnt)
    N_m = np.where(by_count, N, np.ceil(N / k))
    K_m = np.asarray(K, dtype=np.float64).copy()
    if k <= 1 or scheme == "gather":
        return K_m, N_m, cnt_m
    if scheme == "1d":
        K_m = np.where(row & ~by_count, np.ceil(K / k), K_m)
        N_m = np.where(row & ~by_count, N, N_m)
        return K_m, N_m, cnt_m
    r, c = grid_shape(k)
    two = (col | row) & ~by_count
    K_m = np.where(two, np.ceil(K / r), K_m)
    N_m = np.where(two, np.ceil(N / c), N_m)
    return K_m, N_m, cnt_m


def channel_loads(scheme: str, roles, in_bytes, out_bytes, names, kinds) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per channel: (collectives per operator, bytes B per operator) under `scheme` (see the module doc)."""
    is_gemm, col, row, head = roles
    z = np.zeros(len(is_gemm))
    out = {ch: (z, z) for ch in CHANNELS}
    if scheme == "gather":
        ag = is_gemm & ~np.array([k == "attn_score" for k in kinds], dtype=bool)
        out["ag_ring"] = (ag.astype(np.float64), np.where(ag, out_bytes, 0.0))
        return out
    other = is_gemm & ~(col | row | head)
    if scheme == "1d":
        lm = np.array([n == "lm_head" for n in names], dtype=bool)
        ag = other | lm
        out["ag_ring"] = (ag.astype(np.float64), np.where(ag, out_bytes, 0.0))
        out["ar_ring"] = (row.astype(np.float64), np.where(row, out_bytes, 0.0))
        return out
    two = col | row
    out["ag_ring"] = (other.astype(np.float64), np.where(other, out_bytes, 0.0))
    out["ag_row"] = (two.astype(np.float64), np.where(two, in_bytes, 0.0))
    out["rs_col"] = (two.astype(np.float64), np.where(two, out_bytes, 0.0))
    return out
