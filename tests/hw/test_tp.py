"""Tensor-parallel schemes (mapc.hw.tp, CostModel(tp_scheme=...)), placement policies and PD regions."""

from __future__ import annotations

import numpy as np
import pytest

from mapc.core.graph import ExecutionGraph, Task
from mapc.compiler.ops import transformer_layer
from mapc.core.spec import TransformerModel
from mapc.core.errors import MapcError
from mapc.hw import tp as tpm
from mapc.hw.cost import CostModel
from mapc.hw.placement import group_tiles
from mapc.hw.presets import get

SMALL = TransformerModel("small", layers=2, hidden=1024, heads=16, kv_heads=16, ffn=2816, vocab=32000)


def layer_graph(phase="decode", batch=8, seq=1, context=512, m=SMALL) -> ExecutionGraph:
    ops = transformer_layer(m, phase, batch, seq, context)
    return ExecutionGraph((Task(0, "t", "small", phase, 0, (0, 0), ops, "small/L0-0", batch=batch),), ())


def coll(cm, placement) -> float:
    p = cm.placements.index(tuple(placement))
    return float(cm.breakdown(True)["collective"][0, p])


def test_collective_grows_with_group_diameter():
    hw = get("npu4x4")
    g = layer_graph()
    for scheme in tpm.SCHEMES:
        cm = CostModel(hw, g, group_sizes=(4,), placement_policy=("block", "row", "column"), tp_scheme=scheme)
        block = coll(cm, (0, 1, 5, 4))         # 2x2 block, diameter 2
        row = coll(cm, (0, 1, 2, 3))           # 1x4 row, diameter 3 (the ring closes over 3 hops)
        assert 0 < block < row, scheme
    # the same holds for the raw ring: a spread-out ring of 4 costs more than a compact one
    c = tpm.channel_coeffs(hw, [(0, 1, 5, 4), (0, 3, 15, 12)])
    assert c["ar_ring"][0][0] < c["ar_ring"][0][1] and c["ar_ring"][1][0] <= c["ar_ring"][1][1]


def test_1d_is_one_allreduce_per_column_row_pair():
    hw = get("npu4x4")
    g = layer_graph(batch=4)
    cm = CostModel(hw, g, group_sizes=(2,), placement_policy="row", tp_scheme="1d")
    p = cm.placements.index((0, 1))
    nop = hw.nop
    B = 4 * SMALL.hidden * 2.0              # attn_out and ffn_down outputs: T x hidden x fp16
    # a 2-ring over one link each way: all-reduce = 2 x (k-1) steps of (hop latency + B/k / link_bw)
    one_ar = 2 * (1 * nop.hop_latency + (B / 2) * 1 / nop.link_bw)
    assert coll(cm, (0, 1)) == pytest.approx(2 * one_ar, rel=1e-9)
    # the legacy scheme gathers after every GEMM: more collectives than 1d
    leg = CostModel(hw, g, group_sizes=(2,), placement_policy="row")
    assert leg.tp_scheme == "gather" and coll(leg, (0, 1)) > coll(cm, (0, 1))
    assert p >= 0


def test_2d_splits_both_k_and_n():
    roles = tpm.op_roles(["ffn_up", "ffn_down", "attn_score", "conv1"], ["gemm", "gemm", "attn_score", "conv"],
                         ("gemm", "attn_score", "conv"))
    K, N, cnt = np.array([1024., 2816, 64, 27]), np.array([5632., 1024, 512, 64]), np.array([1., 1, 16, 1])
    K2, N2, c2 = tpm.split_dims("2d", 4, roles, K, N, cnt)
    np.testing.assert_array_equal(K2, [512, 1408, 64, 27])       # K / r (r = 2)
    np.testing.assert_array_equal(N2, [2816, 512, 512, 16])      # N / c (c = 2); conv falls back to N / k
    np.testing.assert_array_equal(c2, [1, 1, 4, 1])              # attention by heads over all k
    K1, N1, _ = tpm.split_dims("1d", 4, roles, K, N, cnt)
    np.testing.assert_array_equal(K1, [1024, 704, 64, 27])       # row-parallel ffn_down splits K
    np.testing.assert_array_equal(N1, [1408, 1024, 512, 16])     # column-parallel ffn_up splits N
    assert tpm.grid_shape(4) == (2, 2) and tpm.grid_shape(8) == (2, 4) and tpm.grid_shape(6) == (2, 3)


def test_2d_grid_is_physical_for_a_snaked_block():
    assert tpm.logical_grid((0, 1, 5, 4)) == [[0, 1], [4, 5]]


def test_unknown_scheme_and_regions_are_user_errors():
    hw = get("npu4x4")
    with pytest.raises(MapcError, match="tensor-parallel scheme"):
        CostModel(hw, layer_graph(), tp_scheme="3d")
    with pytest.raises(MapcError, match="lacks"):
        CostModel(hw, layer_graph(), regions={"decode": (99,)})


def test_several_policies_give_the_union_of_placements():
    hw = get("npu4x4")
    cm = CostModel(hw, layer_graph(), group_sizes=(4,), placement_policy=("block", "row", "column", "snake"))
    expect = []
    for pol in ("block", "row", "column", "snake"):
        expect += [g for g in group_tiles(hw, 4, pol) if g not in expect]
    assert list(cm.placements) == expect and len(expect) == len(set(expect)) > 4


def test_regions_forbid_placements_outside():
    hw = get("npu4x4")
    cm = CostModel(hw, layer_graph(), group_sizes=(1, 4), regions={"decode": range(8, 16)})
    ok = np.array([set(p) <= set(range(8, 16)) for p in cm.placements])
    assert np.isinf(cm.lat_resident[0, ~ok]).all() and np.isinf(cm.lat_stream[0, ~ok]).all()
    assert np.isfinite(cm.lat_stream[0, ok]).all()
