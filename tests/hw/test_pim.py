"""PIM kernels and their pricing in the cost backend (mapc.hw.pim, CostModel(pim=...))."""

from __future__ import annotations

import numpy as np
import pytest

from mapc.core.graph import Edge, ExecutionGraph, Operator, Task
from mapc.compiler.check import check
from mapc.compiler.evaluate import lower_bound
from mapc.compiler.ops import transformer_segment
from mapc.dsl import zoo
from mapc.core.errors import MapcError
from mapc.hw import constants as K
from mapc.hw import pim as pimk
from mapc.hw.cost import CostModel
from mapc.hw.presets import get
from mapc.compiler.problem import Problem
from mapc.core.options import SolveOptions
from mapc.solvers import registry

LLAMA = zoo.get("llama2_7b")


def decode_graph(batch=1, width=1, context=1024, layers=(30, 31), chain=True) -> ExecutionGraph:
    """Decode tasks of Llama-2-7B, one per layer in `layers` (the last one carries the LM head)."""
    tasks = []
    for i, l in enumerate(layers):
        ops = transformer_segment(LLAMA, "decode", batch, width, context, l, l)
        tasks.append(Task(i, f"L{l}", LLAMA.name, "decode", 0, (l, l), ops, f"llama/L{l}", batch=batch, seq=width,
                          context=context))
    edges = tuple(Edge(i, i + 1, batch * width * 4096 * 2.0) for i in range(len(tasks) - 1)) if chain else ()
    return ExecutionGraph(tuple(tasks), edges)


def gemv(M=1, K_=4096, N=4096) -> Operator:
    return Operator("fc1", "gemm", M, K_, N, 1, 2.0 * M * K_ * N, 2.0 * K_ * N, 2.0 * M * K_, 2.0 * M * N)


# ---- kernels and characterisation ----------------------------------------------------------------------------
def test_operator_classes_and_kernel_bytes():
    ops = transformer_segment(LLAMA, "decode", 2, 1, 512, 5, 5)
    names = {o.name: pimk.op_class(o) for o in ops}
    assert names["attn_score"] == names["softmax"] == names["attn_value"] == "attention"
    assert names["ffn_up"] == names["ffn_act"] == names["ffn_down"] == "ffn"
    assert names["norm_attn"] is None and names["attn_out"] == "out_proj" and names["qkv"] == "qkv"
    assert pimk.op_class(gemv()) == "fc"
    cls, internal, external = pimk.kernel_bytes(ops)
    att = [i for i, o in enumerate(ops) if names[o.name] == "attention"]
    score, soft, value = (ops[i] for i in att)
    # only the query goes in and the attention output comes out; the scores stay inside the PIM unit
    assert external[att].sum() == pytest.approx(score.in_bytes + value.out_bytes)
    assert internal[att].sum() == pytest.approx(score.kv_read_bytes + value.kv_read_bytes + score.out_bytes
                                                + soft.in_bytes + soft.out_bytes + value.in_bytes)
    assert (cls[att] == pimk.CLASSES.index("attention")).all()


def test_characterise_gemv_memory_bound_big_gemm_compute_bound():
    hw = get("npu-pim")
    npu, pim_u = [u for u in pimk.units(hw) if u.kind == "npu"][0], pimk.units(hw)[-1]
    assert pim_u.kind == "pim" and pim_u.ridge == pytest.approx(K.PIM_OPS_PER_BYTE)
    assert npu.ridge > 100                           # 32.8 TFLOP/s per core over its HBM share
    c = pimk.characterise(gemv(1), npu)
    assert c.bound == "memory" and c.intensity == pytest.approx(1.0, rel=1e-3)
    assert pimk.characterise(gemv(1), hw.pim[0]).bound == "memory"
    big = gemv(512)
    assert pimk.characterise(big, npu).bound == "compute" and pimk.characterise(big, pim_u).bound == "compute"
    assert pimk.characterise(gemv(64), npu).bound == "memory"   # 64 FLOP/B sits below the NPU ridge


# ---- pricing ---------------------------------------------------------------------------------------------------
def test_no_pim_hardware_prices_are_unchanged():
    g = decode_graph(4, 2)
    hw = get("npu4x4")
    ref = CostModel(hw, g)
    for mode in ("off", "all", {"attention"}):
        cm = CostModel(hw, g, pim=mode)
        for a in ("lat_resident", "lat_stream", "energy_resident", "energy_stream"):
            np.testing.assert_array_equal(getattr(cm, a), getattr(ref, a))
        assert not cm.pim_offload(False).any()
    # npu-pim with PIM off prices exactly like npu4x4 (same cores and HBM)
    off = CostModel(get("npu-pim"), g, pim="off")
    np.testing.assert_array_equal(off.lat_stream, ref.lat_stream)
    np.testing.assert_array_equal(off.energy_stream, ref.energy_stream)


def test_decode_attention_at_batch_1_goes_to_pim():
    g = decode_graph(1, 1)
    cm = CostModel(get("npu-pim"), g)
    a = cm.pim_classes.index("attention")
    assert cm.pim_offload(False)[:, :, a].all() and cm.pim_offload(True)[:, :, a].all()
    off = CostModel(get("npu-pim"), g, pim="off")
    assert (cm.lat_stream < off.lat_stream).all()


def test_large_batch_fc_leaves_pim():
    cm = CostModel(get("npu-pim"), decode_graph(256, 1), group_sizes=(16,))
    off = cm.pim_offload(False)[0, 0]
    assert off[cm.pim_classes.index("attention")] and not off[cm.pim_classes.index("ffn")]


def test_pim_price_is_the_roofline_of_the_whole_package():
    """A task's PIM kernels reach every unit (interleaved weights/KV): priced at the package's PIM as if it had it
    to itself, the external bytes at the placement's peak DRAM rate; the schedule shares the units."""
    hw = get("npu-pim")
    g = ExecutionGraph((Task(0, "t", "m", "decode", 0, (0, 0), (gemv(1),), "m/L0"),), ())
    cm = CostModel(hw, g, group_sizes=(1, 4), pim="all")
    F = len(hw.pim) * K.HBM3_STACK_BW * K.PIM_BW_SCALE * K.PIM_OPS_PER_BYTE       # FLOP/s, all units
    B = len(hw.pim) * K.HBM3_STACK_BW * K.PIM_BW_SCALE                            # internal B/s, all units
    op = gemv(1)
    for p in range(len(cm.placements)):
        E = cm.group_dram_bw[p]
        t1 = max(op.flops / F, op.weight_bytes / B, (op.in_bytes + op.out_bytes) / E)
        assert cm.lat_stream[0, p] == pytest.approx(t1, rel=1e-12)
    assert cm.lat_stream[0, 0] < 1e-6                 # 32 MiB of weights at 43 TB/s: 0.78 us, not 16x that
    bd = cm.breakdown(False)
    assert bd["pim_bytes"][0, 0] == pytest.approx(op.weight_bytes)
    assert bd["pim_flops"][0, 0] == pytest.approx(op.flops)
    bd = cm.breakdown(False)
    assert bd["dram_bytes"][0, 0] == pytest.approx(op.in_bytes + op.out_bytes)      # weights never leave HBM
    assert bd["e_pim"][0, 0] == pytest.approx(op.weight_bytes * 8 * K.PIM_BANK_E_BIT
                                              + op.flops * K.PIM_MAC_ENERGY / 2)
    assert bd["e_mac"][0, 0] == 0.0


def test_dram_invariant_and_bound_hold_with_pim():
    cm = CostModel(get("npu-pim"), decode_graph(8, 2))
    assert lower_bound(cm).dram_valid


def test_mode_validation_and_fixed_choices():
    g = decode_graph(1, 1, layers=(31,))
    hw = get("npu-pim")
    with pytest.raises(MapcError):
        CostModel(hw, g, pim="sometimes")
    with pytest.raises(MapcError):
        CostModel(hw, g, pim={"attn"})
    only = CostModel(hw, g, pim={"ffn"}).pim_offload(False)[0, 0]
    assert only[pimk.CLASSES.index("ffn")] and only.sum() == 1
    fn = CostModel(hw, g, pim=lambda t: ("lm_head",) if t.batch == 1 else ()).pim_offload(False)[0, 0]
    assert fn[pimk.CLASSES.index("lm_head")] and fn.sum() == 1
    assert not CostModel(hw, g, pim="all").pim_offload(False)[0, 0, pimk.CLASSES.index("moe")]   # absent class


@pytest.mark.parametrize("solver", ["greedy", "baseline"])
def test_schedules_with_pim_pass_the_checker(solver):
    g = decode_graph(2, 1, layers=tuple(range(24, 32)))
    hw = get("npu-pim")
    cm = CostModel(hw, g, group_sizes=(1, 4))
    r = registry.run(Problem(g, hw, cm), SolveOptions(solver=solver, objective="latency", time_limit=2.0))
    assert r.schedule is not None and check(r.schedule, cm) == []
    rows = np.arange(g.n)
    assert (cm.breakdown(False)["pim"][rows, r.schedule.placement_index] > 0).all()   # PIM really used
