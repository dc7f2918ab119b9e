"""The cost backend: dataflow tiling, tensor-parallel groups, residency, transfers, collectives, DRAM bound."""

from __future__ import annotations

import time

import numpy as np
import pytest

from conftest import make_hw
from mapc.core.graph import Edge, ExecutionGraph, Operator, Task
from mapc.hw import dataflow as df
from mapc.hw.bench_cost import llama_layer_ops, synthetic_graph
from mapc.hw.cost import CostModel
from mapc.hw.placement import group_tiles, ring_allgather, ring_stats
from mapc.hw.presets import PRESETS, get


def gemm_op(M, K, N, count=1, kind="gemm", b=2, w=True, kvr=0.0):
    return Operator("op", kind, M, K, N, count, 2.0 * M * K * N * count, b * K * N * count if w else 0.0,
                    b * M * K * count, b * M * N * count, kvr)


def graph_of(*ops_per_task) -> ExecutionGraph:
    tasks = tuple(Task(i, f"t{i}", "m", "prefill", 0, (i, i), tuple(ops), f"m/L{i}")
                  for i, ops in enumerate(ops_per_task))
    return ExecutionGraph(tasks, ())


# ---- dataflow tiling ---------------------------------------------------------------------------------------
def test_one_tile_is_scalesims_fold_and_further_tiles_overlap_their_reload():
    R = C = 32
    # one tile: SCALE-Sim's fold 2R + C + S - 2 with S the streamed length
    assert df.gemm_cycles("ws", 100, 32, 32, 1, R, C) == 2 * R + C + 100 - 2
    assert df.gemm_cycles("os", 32, 100, 32, 1, R, C) == 2 * R + C + 100 - 2
    assert df.gemm_cycles("rs", 32, 32, 100, 1, R, C) == 2 * R + C + 100 - 2
    # n tiles (count multiplies): fill/drain once, then max(S, R) per further tile (double-buffered reload)
    n = 3 * 2 * 3
    assert df.gemm_cycles("ws", 100, 64, 96, 3, R, C) == 2 * R + C - 2 + 100 + (n - 1) * 100
    assert df.gemm_cycles("ws", 16, 64, 96, 3, R, C) == 2 * R + C - 2 + 16 + (n - 1) * R   # reload-bound
    assert df.gemm_cycles("os", 64, 16, 96, 1, R, C) == 2 * R + C - 2 + 16 + (2 * 3 - 1) * R  # drain-bound
    # never slower than SCALE-Sim's per-fold sum, and much faster on many short tiles
    rng = np.random.default_rng(0)
    M, K, N = (rng.integers(1, 3000, 200) for _ in range(3))
    for d, stream, tiles in (("ws", M, df.cdiv(K, R) * df.cdiv(N, C)), ("os", K, df.cdiv(M, R) * df.cdiv(N, C)),
                             ("rs", N, df.cdiv(K, R) * df.cdiv(M, C))):
        fold_sum = tiles * (2 * R + C + stream - 2)
        got = df.gemm_cycles(d, M, K, N, 1, R, C)
        assert (got <= fold_sum).all() and (got >= M * K * N / (R * C)).all()     # never beats the peak
    assert df.gemm_cycles("ws", 16, 4096, 4096, 1, R, C) < 0.4 * 128 * 128 * (2 * R + C + 16 - 2)
    assert df.gemm_cycles("ws", 0, 0, 0, 1, R, C) == 0
    with pytest.raises(ValueError):
        df.gemm_cycles("xs", 1, 1, 1, 1, 4, 4)


def test_prefill_runs_at_peak_and_decode_at_batch_over_rows():
    R = C = 128
    peak = lambda M, K, N: M * K * N / (R * C)
    for d in ("ws", "os", "rs"):
        assert df.gemm_cycles(d, 2048, 4096, 4096, 1, R, C) < 1.01 * peak(2048, 4096, 4096)
    # a batch-16 decode GEMV: the 128-cycle weight reload paces every tile, 16 / 128 of peak (was ~4%)
    for d in ("ws", "os"):
        eff = peak(16, 4096, 4096) / df.gemm_cycles(d, 16, 4096, 4096, 1, R, C)
        assert 0.12 < eff <= 16 / 128


def test_ws_and_os_agree_on_even_tiles_and_split_on_ragged_streams():
    R = C = 32
    # evenly tiled: both keep min(M,R)/R x min(K,R)/R of the array busy; only the fill/drain constant differs
    for shape in ((8192, 32, 32), (1, 4096, 4096), (512, 256, 2048)):
        ws, os_ = (float(df.gemm_cycles(d, *shape, 1, R, C)) for d in ("ws", "os"))
        assert abs(ws - os_) <= 2 * R + C
    # a ragged reduction (K = R + 8) wastes most of a second row of tiles under ws (K on rows), none under os
    # (K streams); a ragged token count (M = R + 8) the other way round
    assert df.gemm_cycles("os", 8192, 40, 32, 1, R, C) < 0.7 * df.gemm_cycles("ws", 8192, 40, 32, 1, R, C)
    assert df.gemm_cycles("ws", 40, 8192, 32, 1, R, C) < 0.7 * df.gemm_cycles("os", 40, 8192, 32, 1, R, C)
    # rs is a third mapping, not a copy of either
    shape = (40, 64, 2000)
    cyc = {d: float(df.gemm_cycles(d, *shape, 1, R, C)) for d in ("ws", "os", "rs")}
    assert len(set(cyc.values())) == 3


def test_dataflow_direction_through_the_cost_model():
    """Reuse decides: with a finite buffer bandwidth, ws wins on many tokens, os on a GEMV."""
    import dataclasses
    base = make_hw(1, 2, ["ws", "os"], pe=32)
    chips = tuple(dataclasses.replace(c, type=dataclasses.replace(c.type, sram_bw=64e9)) for c in base.chiplets)
    hw = dataclasses.replace(base, chiplets=chips)     # 64 B/cycle at 1 GHz: half the operand ports' demand
    g = graph_of([gemm_op(8192, 32, 32)], [gemm_op(1, 4096, 4096)])
    cm = CostModel(hw, g, group_sizes=(1,))
    comp = cm.breakdown(False)["compute"]
    assert comp[0, 0] < comp[0, 1] / 1.3   # tall-skinny: ws chiplet faster (weights read once)
    # short-wide (a GEMV) on PEs with a single stationary register (no double buffering, SCALE-Sim's array):
    # ws reloads a weight tile for every input row, os streams K through outputs that stay in place
    single = tuple(dataclasses.replace(c, type=dataclasses.replace(c.type, rf=2.0)) for c in chips)
    comp1 = CostModel(dataclasses.replace(hw, chiplets=single), g, group_sizes=(1,)).breakdown(False)["compute"]
    assert comp1[1, 1] < comp1[1, 0] / 2
    free = CostModel(base, g, group_sizes=(1,)).breakdown(False)["compute"]
    assert (free <= comp).all()


def test_reuse_decides_sram_traffic():
    R = C = 32
    # many tokens, short reduction: os re-reads the weights for every row tile, ws reads them once
    tall = (4096, 32, 256)
    assert df.gemm_traffic("ws", *tall, 1, R, C) < df.gemm_traffic("os", *tall, 1, R, C)
    # few tokens, long reduction: ws spills partial sums per K tile, os keeps outputs in place
    wide = (32, 4096, 4096)
    assert df.gemm_traffic("os", *wide, 1, R, C) < df.gemm_traffic("ws", *wide, 1, R, C)
    for d in ("ws", "os", "rs"):
        M, K, N = tall
        assert df.gemm_traffic(d, *tall, 1, R, C) >= M * K + K * N + M * N   # every operand at least once


# ---- groups, residency ---------------------------------------------------------------------------------------
def test_group_of_four_is_faster_on_a_big_gemm():
    hw = get("mcm6x6-homo")
    g = graph_of([gemm_op(2048, 4096, 4096)])
    cm = CostModel(hw, g)
    best = {k: cm.lat_stream[0, cm.group_size == k].min() for k in (1, 2, 4)}
    assert best[4] < best[2] < best[1]
    assert best[1] / best[4] > 2.5


def test_resident_is_inf_when_the_share_exceeds_capacity():
    hw = make_hw(2, 2, srams=[1 * 2**20] * 4)
    big = gemm_op(16, 1024, 1024)          # 2 MiB of weights: fits nowhere alone, fits a group of 4 at 0.5 MiB
    g = graph_of([big])
    cm = CostModel(hw, g, group_sizes=(1, 2, 4))
    for p, k in enumerate(cm.group_size):
        share = big.weight_bytes / k
        assert cm.weight_share[0, p] == pytest.approx(share)
        if share > 0.75 * 2**20:
            assert np.isinf(cm.lat_resident[0, p]) and np.isinf(cm.energy_resident[0, p])
        else:
            assert np.isfinite(cm.lat_resident[0, p])
    assert np.isfinite(cm.lat_stream).all()
    assert np.isinf(CostModel(hw, g, allow_streaming=False).lat_stream).all()


def test_streaming_moves_the_weights_through_dram():
    hw = make_hw(2, 2)
    op = gemm_op(16, 256, 256)
    cm = CostModel(hw, graph_of([op]))
    d_res, d_str = cm.dram_bytes(True), cm.dram_bytes(False)
    assert d_res.shape == d_str.shape == (1, len(cm.placements))
    np.testing.assert_allclose(d_str - d_res, op.weight_bytes)
    assert (cm.energy_stream[0] > cm.energy_resident[0]).all()


def test_attention_reads_the_kv_cache_not_weights():
    hw = make_hw(2, 2)
    kv = 2 * 8 * 1024 * 128 * 2.0
    score = gemm_op(1, 128, 1024, count=8, kind="attn_score", w=False, kvr=kv)
    cm = CostModel(hw, graph_of([score]))
    np.testing.assert_allclose(cm.dram_bytes(True), kv)        # resident or not, the KV comes from DRAM
    np.testing.assert_allclose(cm.lat_resident, cm.lat_stream)
    assert (cm.breakdown(True)["collective"] == 0).all()       # scores stay with their heads


def test_mixed_group_runs_at_the_pace_of_its_slowest_member():
    hw = make_hw(1, 2, ["ws", "os"], pe=32)
    g = graph_of([gemm_op(8192, 64, 64)])
    cm = CostModel(hw, g, group_sizes=(2,))
    c = cm.breakdown(False)["compute"][0, 0]
    ws_half = df.gemm_cycles("ws", 8192, 64, 32, 1, 32, 32) / 1e9
    os_half = df.gemm_cycles("os", 8192, 64, 32, 1, 32, 32) / 1e9
    assert c == pytest.approx(max(ws_half, os_half))


# ---- transfers and collectives --------------------------------------------------------------------------------
def test_xy_routes_have_manhattan_length():
    hw = get("mcm6x6")
    for s in range(hw.n):
        for d in range(hw.n):
            r = hw.route(s, d)
            a, b = hw.chiplets[s], hw.chiplets[d]
            assert len(r) - 1 == abs(a.x - b.x) + abs(a.y - b.y) == hw.hops[s, d]
            assert r[0] == s and r[-1] == d


def test_transfer_energy_is_bits_times_hops_times_pj_per_bit():
    hw = get("mcm6x6")
    cm = CostModel(hw, graph_of([gemm_op(1, 8, 8)]), group_sizes=(1,))
    nbytes, src, dst = 1e6, 0, 35
    t = cm.transfer_cost(nbytes, src, dst)
    assert t.energy == pytest.approx(nbytes * 8 * 10 * 1.3e-12)
    assert t.latency == pytest.approx(10 * 20e-9 + nbytes / 100e9)
    assert len(t.route) == 11
    assert cm.transfer_energy(nbytes, src, dst) == pytest.approx(t.energy)
    assert cm.transfer_time(nbytes, src, dst) == pytest.approx(t.latency)
    assert cm.transfer_cost(nbytes, 3, 3).energy == 0.0


def test_collective_time_grows_with_group_diameter():
    hw = get("mcm6x6")
    compact = (0, 1, 7, 6)          # a 2x2 block in ring order
    spread = (0, 5, 35, 30)         # the four corners
    assert ring_stats(hw, compact) == (1, 4, 1)
    t_c, e_c = ring_allgather(hw, compact, 8e6)
    t_s, e_s = ring_allgather(hw, spread, 8e6)
    assert t_s > t_c and e_s > e_c
    assert e_c == pytest.approx(3 * 2e6 * 8 * 4 * 1.3e-12)
    # inside the cost model: a 1x4 row group (ring diameter 3) pays more than a 2x2 block
    wsc = get("wsc8x8")
    g = graph_of([gemm_op(512, 4096, 4096)])
    row = CostModel(wsc, g, group_sizes=(4,), placement_policy="row")
    blk = CostModel(wsc, g, group_sizes=(4,), placement_policy="block")
    assert row.placements[0] == (0, 1, 2, 3) and blk.placements[0] == (0, 1, 9, 8)
    assert row.breakdown(False)["collective"].min() > blk.breakdown(False)["collective"].max()


def test_block_groups_are_listed_in_ring_order():
    hw = get("mcm6x6")
    for grp in group_tiles(hw, 4, "block"):
        assert ring_stats(hw, grp)[0] == 1


# ---- DRAM model and the lower-bound sanity check ----------------------------------------------------------------
def test_no_task_alone_draws_more_than_its_channels_deliver():
    """Priced at its placement's peak, a task's draw on each of its channels (bytes there / latency) is at most
    the channel's bandwidth, so every task fits an idle package; the channel split covers all its bytes."""
    for name in PRESETS:
        hw = get(name)
        cm = CostModel(hw, graph_of([gemm_op(1, 4096, 4096)]))
        assert (cm.group_dram_bw > 0).all() and np.allclose(cm.dram_frac.sum(axis=1), 1.0)
        bw = np.array([ch.bandwidth for ch in hw.dram])
        lat = cm.lat_stream[0]
        draw = cm.dram_bytes(False)[0][:, None] * cm.dram_frac / lat[:, None]
        assert (draw <= bw[None, :] * (1 + 1e-9)).all(), name


def llama2_7b_decode_graph() -> ExecutionGraph:
    """A batch-1 decode step of Llama-2-7B (fp16, context 1024): 32 layer tasks and the LM head, chained."""
    layer = llama_layer_ops(batch=1, seq=1, context=1024)
    head = (Operator("lm_head", "gemm", 1, 4096, 32000, 1, 2.0 * 4096 * 32000, 2.0 * 4096 * 32000, 2 * 4096, 2 * 32000),)
    tasks = [Task(l, f"L{l}", "llama2_7b", "decode", 0, (l, l), layer, f"llama2_7b/L{l}", context=1024)
             for l in range(32)]
    tasks.append(Task(32, "head", "llama2_7b", "decode", 0, (32, 32), head, "llama2_7b/head", context=1024))
    return ExecutionGraph(tuple(tasks), tuple(Edge(i, i + 1, 2 * 4096) for i in range(32)))


@pytest.mark.parametrize("name", list(PRESETS))
def test_llama2_7b_decode_is_never_faster_than_weights_over_dram_bandwidth(name):
    g = llama2_7b_decode_graph()
    weights = float(g.weight_bytes.sum())
    assert 13.0e9 < weights < 13.6e9             # 6.6 B parameters read per token (embedding rows excluded)
    hw = get(name)
    # the step is a chain, so its time is at least the sum of the fastest price of every task; with PIM the
    # weights may also be read at the PIM units' internal bandwidth
    step = float(CostModel(hw, g, pim="off").min_latency.sum())
    assert step >= weights / hw.dram_bandwidth
    step = float(CostModel(hw, g).min_latency.sum())
    assert step >= weights / (hw.dram_bandwidth + sum(u.bandwidth for u in hw.pim))


def test_decode_is_dram_bound_and_prefill_compute_bound_on_npu4x4():
    """Double-buffered weights: a batch-16 fp16 decode layer streams its weights faster than HBM delivers them,
    a 2048-token prefill layer is compute-bound at near peak."""
    hw = get("npu4x4")
    dec = Task(0, "dec", "llama2_7b", "decode", 0, (0, 0), llama_layer_ops(batch=16, seq=1, context=1024), "k0")
    pre = Task(1, "pre", "llama2_7b", "prefill", 0, (0, 0), llama_layer_ops(batch=1, seq=2048, context=0), "k1")
    cm = CostModel(hw, ExecutionGraph((dec, pre), ()), group_sizes=(4,), pim="off")
    bd = cm.breakdown(False)
    assert (bd["memory"][0] > 1.2 * bd["compute"][0]).all()          # was compute-bound (2x memory) before
    assert (bd["compute"][1] > 2 * bd["memory"][1]).all()
    t = hw.chiplets[0].type
    peak = 4 * t.pe_rows * t.pe_cols * t.freq * 2                      # FLOP/s of a 4-core group
    gemm_flops = sum(o.flops for o in pre.ops if o.kind == "gemm")
    assert gemm_flops / peak <= bd["compute"][1].min() < 1.25 * float(sum(o.flops for o in pre.ops)) / peak


# ---- speed ---------------------------------------------------------------------------------------------------
def test_ten_thousand_tasks_price():
    cm = CostModel(get("mcm6x6"), synthetic_graph(10_000))
    assert cm.lat_stream.shape == (10_000, len(cm.placements)) and len(cm.placements) >= 60
    assert np.isfinite(cm.lat_stream).all()


@pytest.mark.benchmark
def test_ten_thousand_tasks_price_well_under_a_second():
    g = synthetic_graph(10_000)
    hw = get("mcm6x6")
    t0 = time.perf_counter()
    cm = CostModel(hw, g)
    dt = time.perf_counter() - t0
    assert cm.lat_stream.shape == (10_000, len(cm.placements)) and len(cm.placements) >= 60
    assert np.isfinite(cm.lat_stream).all()
    assert dt < 1.0


def test_npu_pim_prices_without_using_pim_yet():
    cm = CostModel(get("npu-pim"), llama2_7b_decode_graph())
    assert np.isfinite(cm.lat_stream).all() and (cm.energy_stream > 0).all()
    tc = cm.task_cost(0, 0, False)
    assert tc.latency == pytest.approx(cm.lat_stream[0, 0])
    assert set(tc.breakdown) >= {"compute", "memory", "collective", "dram_bytes", "e_mac", "e_sram", "e_dram", "e_nop"}


def test_sram_bandwidth_limit_slows_a_traffic_heavy_gemm():
    import dataclasses
    base = make_hw(1, 1, pe=32)
    t = base.chiplets[0].type
    slow_t = dataclasses.replace(t, sram_bw=1e9)       # 1 GB/s buffer: traffic-bound
    slow = dataclasses.replace(base, chiplets=(dataclasses.replace(base.chiplets[0], type=slow_t),))
    g = graph_of([gemm_op(1024, 1024, 1024)])
    fast_c = CostModel(base, g, group_sizes=(1,)).breakdown(False)["compute"][0, 0]
    slow_cm = CostModel(slow, g, group_sizes=(1,))
    slow_c = slow_cm.breakdown(False)["compute"][0, 0]
    bd = slow_cm.breakdown(False)
    assert slow_c == pytest.approx(bd["sram_time"][0, 0])          # the buffer bounds it: a read and a write port
    assert bd["sram_bytes"][0, 0] / 2e9 <= slow_c <= bd["sram_bytes"][0, 0] / 1e9
    assert slow_c > fast_c
