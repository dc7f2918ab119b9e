"""Lower bound and metrics (compiler/evaluate.py) on small hand-built schedules."""

from dataclasses import replace

import numpy as np
import pytest

from mapc.compiler.evaluate import Bound, evaluate, lower_bound
from mapc.compiler.lower import lower
from mapc.compiler.schedule import materialize
from mapc.core.spec import CNNLayer, CNNModel, ParallelSpec, PhaseSpec, ServeSpec, Spec, TransformerModel, WorkloadSpec
from mapc.core.errors import InfeasibleError
from mapc.hw.cost import CostModel
from mapc.core.hardware import Chiplet, ChipletType, DramChannel, Hardware, NoP
from mapc.compiler.objective import energy_of, score

# Test hardware: 2 x 2 chiplets, two dataflows. Constants: FP16 MAC 0.0873 pJ (Gemini / Compass code constants),
# SRAM 20 pJ per 64-bit read of a 32 KB array = 2.5 pJ/B (Horowitz ISSCC 2014), HBM2 3.9 pJ/bit (O'Connor
# MICRO 2017), NoP 100 GB/s, 20 ns, 1.3 pJ/bit (DESIGN.md mcm6x6 example); static power 0.1 W is a test value.
WS = ChipletType("ws", 16, 16, "ws", 1e9, 512 * 1024, 0.0873e-12, 2.5e-12, 0.1)
OS = ChipletType("os", 16, 16, "os", 1e9, 512 * 1024, 0.0873e-12, 2.5e-12, 0.1)


def hw2x2():
    chips = tuple(Chiplet(y * 2 + x, x, y, WS if y == 0 else OS) for y in range(2) for x in range(2))
    return Hardware("t2x2", 2, 2, chips, NoP(), (DramChannel("hbm", "west", 64e9, 3.9e-12, attach=(0, 2)),))


TINY = TransformerModel("tiny_lm", layers=4, hidden=256, heads=4, kv_heads=2, ffn=512, vocab=1000)
CNN = CNNModel("tiny_cnn", (CNNLayer("c1", "conv", 3, 16, 32, 32, kh=3, kw=3, pad=1),
                            CNNLayer("c2", "conv", 16, 32, 32, 32, kh=3, kw=3, stride=2, pad=1),
                            CNNLayer("fc", "fc", 32 * 16 * 16, 10, 1, 1)))


def graph():
    serves = (ServeSpec("tiny_lm", (PhaseSpec("prefill", 4, (64, 128)), PhaseSpec("decode", 4, (256,), steps=2)), 2),
              ServeSpec("tiny_cnn", (PhaseSpec("forward", 2, (1,)),), 2))
    spec = Spec("t.dsl", {"tiny_lm": TINY, "tiny_cnn": CNN}, WorkloadSpec("w", serves), ParallelSpec())
    return lower(spec, segment=2)


@pytest.fixture(scope="module")
def cost():
    return CostModel(hw2x2(), graph())


def list_schedule(cost, choose):
    """ASAP list schedule in id order: `choose(i) -> (placement index, resident)`; waits for predecessors'
    transfers and for every member chiplet to be free, so the schedule is valid."""
    g = cost.graph
    n = g.n
    pi = np.zeros(n, dtype=np.int64); res = np.zeros(n, dtype=bool); st = np.zeros(n)
    free = np.zeros(cost.hw.n); end = np.zeros(n)
    for i in range(n):
        p, r = choose(i)
        pi[i], res[i] = p, r
        lat = (cost.lat_resident if r else cost.lat_stream)[i, p]
        ready = 0.0
        for e in g.edges:
            if e.dst == i:
                a, b = cost.lead[pi[e.src]], cost.lead[p]
                ready = max(ready, end[e.src] + float(cost.transfer_time(e.bytes, a, b)))
        members = list(cost.placements[p])
        st[i] = max(ready, free[members].max())
        end[i] = st[i] + lat
        free[members] = end[i]
    return materialize(cost, pi, res, st)


def schedules(cost):
    single = [p for p, pl in enumerate(cost.placements) if len(pl) == 1]
    serial = list_schedule(cost, lambda i: (single[0], False))
    rr = list_schedule(cost, lambda i: (single[i % len(single)], False))

    def best(i):
        lr, ls = cost.lat_resident[i], cost.lat_stream[i]
        p_r, p_s = int(np.argmin(lr)), int(np.argmin(ls))
        return (p_r, True) if lr[p_r] <= ls[p_s] else (p_s, False)

    return {"serial": serial, "round_robin": rr, "fastest": list_schedule(cost, best)}


def test_bound_never_beats_valid_schedules(cost):
    b = lower_bound(cost)
    # the cheap bounds, then compiler/bounds.py's (transfer-aware critical path, LP) on top
    assert b.value > 0 and b.value == max(b.work, b.dram, b.critical_path, b.transfer_path, b.lp)
    assert b.value >= max(b.work, b.dram, b.critical_path)
    assert b.dram_valid and b.dram <= b.work * (1 + 1e-9)
    for name, s in schedules(cost).items():
        assert b.value <= s.makespan * (1 + 1e-12), name
        assert b.energy <= energy_of(s, cost) * (1 + 1e-12), name
        assert b.edp <= score(s, cost, "edp") * (1 + 1e-12), name


def test_serial_schedule_metrics(cost):
    s = schedules(cost)["serial"]
    m = evaluate(s, cost, cost.graph)
    g = cost.graph
    assert m.makespan == pytest.approx(sum(t.end - t.start for t in s.tasks))
    assert m.utilisation == pytest.approx(1 / 4)                 # one chiplet of four busy all the time
    assert m.busy[0] == pytest.approx(m.makespan) and m.busy[1] == 0
    assert m.energy == pytest.approx(energy_of(s, cost))
    assert sum(m.energy_breakdown.values()) == pytest.approx(m.energy, rel=1e-9)
    assert abs(m.energy_breakdown["other"]) <= 1e-9 * m.energy   # the cost backend prices exactly the named parts
    assert m.edp == pytest.approx(m.energy * m.makespan)
    # tokens: prefill 4 (1 per sequence), decode 4 seqs x 2 steps, CNN 2 images
    assert m.tokens == 4 + 8 + 2
    assert m.throughput == pytest.approx(14 / m.makespan)
    assert m.throughput_by_phase["decode"] == pytest.approx(8 / m.makespan)
    last_pre = [t for t in g.tasks if t.phase == "prefill" and t.layers[1] == 3]
    assert m.ttft_max == pytest.approx(max(s.tasks[t.id].end for t in last_pre))
    assert m.ttft_mean == pytest.approx(np.mean([s.tasks[t.id].end for t in last_pre]))   # equal mb sizes
    spans = []                                    # the scheduled step time: each micro-batch's span / 2 steps
    for mb in sorted({t.microbatch for t in g.tasks if t.phase == "decode"}):
        dec = [t for t in g.tasks if t.phase == "decode" and t.microbatch == mb]
        spans.append(max(s.tasks[t.id].end for t in dec) - min(s.tasks[t.id].start for t in dec))
    assert m.decode_step_time == pytest.approx(np.mean(spans) / 2)
    # TPOT in steady state: the iteration (prefill included) repeats, each request gets 2 tokens per makespan
    assert m.tpot == pytest.approx(m.makespan / 2) and m.tpot > m.decode_step_time
    assert m.requests_per_s == pytest.approx((4 + 2) / m.makespan)
    assert m.bound_ratio >= 1.0
    d = m.to_dict()
    for key in ("makespan_s", "energy_j", "edp_js", "throughput_tokens_per_s", "utilisation", "busy_s",
                "energy_breakdown_j", "lower_bound", "makespan_over_bound", "ttft_mean_s", "tpot_s"):
        assert key in d
    assert d["lower_bound"]["makespan_s"] == m.bound.value


def test_chain_critical_path_is_tight():
    spec = Spec("c.dsl", {"tiny_lm": TINY},
                WorkloadSpec("w", (ServeSpec("tiny_lm", (PhaseSpec("decode", 1, (32,), steps=3),), 1),)),
                ParallelSpec())
    c = CostModel(hw2x2(), lower(spec, segment=1))
    b = lower_bound(c)
    assert b.critical_path == pytest.approx(c.min_latency.sum())     # a single chain: every task in series
    # all tasks on the one fastest placement, back to back, every weight resident: no transfers, but the four
    # layers' weights do not fit in SRAM together, so the checker rejects it and the bound (LP row (i), SRAM
    # capacity) lies above its makespan
    from mapc.compiler.check import sram_use
    from mapc.solvers.listsched import choose_residency, makespan_of
    from mapc.solvers.listsched import list_schedule as timed
    p = int(np.argmin(np.minimum(c.lat_resident, c.lat_stream).sum(axis=0)))
    assert np.allclose(np.minimum(c.lat_resident, c.lat_stream)[:, p], c.min_latency)
    s = list_schedule(c, lambda i: (p, bool(c.lat_resident[i, p] <= c.lat_stream[i, p])))
    pi = np.full(c.graph.n, p)
    allres = np.array([bool(c.lat_resident[i, p] <= c.lat_stream[i, p]) for i in range(c.graph.n)])
    assert (sram_use(c, pi, allres) > c.weight_capacity).any() and s.makespan < b.value
    # the same placement with the weights that fit kept resident: a valid schedule within 5 % of the bound
    res = choose_residency(c, pi)
    ms = makespan_of(c, pi, res, timed(c, pi, res))
    assert b.value <= ms <= 1.05 * b.value


def test_dram_bound_is_the_bytes_over_the_bandwidth_and_per_channel():
    c = CostModel(hw2x2(), graph())
    b = lower_bound(c)
    dmin = np.minimum(c.dram_bytes(True), c.dram_bytes(False)).min(axis=1).sum()
    assert b.dram_valid and b.dram >= dmin / c.hw.dram_bandwidth * (1 - 1e-12)
    two = replace(hw2x2(), dram=(DramChannel("a", "west", 64e9, 3.9e-12, attach=(0, 2)),
                                 DramChannel("b", "east", 64e9, 3.9e-12, attach=(1, 3))))
    one = CostModel(two, graph(), group_sizes=(1,))            # every task forced onto chiplet 0: channel a
    one = one.restricted({"test": np.array([[p == (0,) for p in one.placements]] * one.graph.n)})
    assert one.dram_frac[0].tolist() == [1.0, 0.0]
    fin = lambda lat, by: np.where(np.isfinite(lat[:, 0]), by[:, 0], np.inf)
    forced = np.minimum(fin(one.lat_resident, one.dram_bytes(True)), fin(one.lat_stream, one.dram_bytes(False))).sum()
    b1 = lower_bound(one)
    assert b1.dram == pytest.approx(forced / 64e9, rel=1e-9)   # twice the aggregate bound (128 GB/s)


def test_infeasible_task_raises():
    big = TransformerModel("big", layers=1, hidden=4096, heads=32, kv_heads=32, ffn=11008, vocab=32000)
    spec = Spec("b.dsl", {"big": big}, WorkloadSpec("w", (ServeSpec("big", (PhaseSpec("prefill", 1, (8,)),)),)),
                ParallelSpec())
    c = CostModel(hw2x2(), lower(spec), allow_streaming=False)
    with pytest.raises(InfeasibleError, match="fits no placement"):
        lower_bound(c)


def test_placement_from_chiplets_and_group_busy(cost):
    from mapc.compiler.schedule import Schedule
    quad = next(p for p, pl in enumerate(cost.placements) if len(pl) == 4)
    s = list_schedule(cost, lambda i: (quad, False))
    m1 = evaluate(s, cost)
    m2 = evaluate(Schedule(s.tasks, s.transfers), cost)        # no decision arrays: placements looked up
    assert m1.energy_breakdown == m2.energy_breakdown
    assert m1.utilisation == pytest.approx(1.0)                 # every task on all four chiplets, back to back
    assert m1.busy == pytest.approx((m1.makespan,) * 4)


def test_bound_is_frozen():
    b = Bound(1.0, 1.0, 0.0, 0.5)
    with pytest.raises(Exception):
        b.value = 2.0


@pytest.mark.parametrize("preset", ["mcm6x6", "npu4x4"])
def test_bound_below_solver_schedules_on_presets(preset):
    from mapc.compiler.check import check
    from mapc.hw import presets
    from mapc.compiler.problem import Problem
    from mapc.core.options import SolveOptions
    from mapc.solvers import registry
    llama = TransformerModel("llama2_7b", layers=32, hidden=4096, heads=32, kv_heads=32, ffn=11008, vocab=32000)
    serve = ServeSpec("llama2_7b", (PhaseSpec("prefill", 4, (512, 1024, 2048, 1536)),
                                    PhaseSpec("decode", 32, (1024,), steps=2)), 8)
    g = lower(Spec("c.dsl", {"llama2_7b": llama}, WorkloadSpec("w", (serve,)), ParallelSpec()), segment=4)
    hw = presets.get(preset)
    c = CostModel(hw, g)
    b = lower_bound(c)
    for name in ("baseline", "greedy"):
        r = registry.run(Problem(g, hw, c), SolveOptions(solver=name, time_limit=5))
        assert check(r.schedule, c) == []
        m = evaluate(r.schedule, c, g)
        assert m.bound == b and m.bound_directives == b           # no directive: one bound
        assert m.makespan >= b.value * (1 - 1e-9), name
        assert m.energy >= b.energy * (1 - 1e-9) and m.edp >= b.edp * (1 - 1e-9), name
        assert 0 < m.utilisation <= 1 + 1e-9
        peak = hw.peak_flops + sum(u.peak_flops for u in hw.pim)
        assert m.compute_utilisation == pytest.approx(float(g.flops.sum()) / (peak * m.makespan))
        # no schedule moves its DRAM bytes faster than the aggregate bandwidth (and the bound's DRAM term agrees)
        assert 0 < m.dram_utilisation <= 1 + 1e-9
        assert m.dram_utilisation * m.makespan >= b.dram * (1 - 1e-9)     # bytes / bandwidth, in s
        assert m.ttft_max <= m.makespan * (1 + 1e-12) and 0 < m.tpot <= m.makespan / 2 * (1 + 1e-12)
