"""DRAM channels as shared resources (issue 13): the per-channel timeline, the list scheduler and HEFT keep every
channel within its bandwidth, the checker catches a plan that over-subscribes one, and `mapc simulate` names it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapc import api
from mapc.compiler import emit
from mapc.compiler.check import check, dram_draws
from mapc.compiler.evaluate import lower_bound
from mapc.compiler.problem import Problem
from mapc.compiler.schedule import materialize
from mapc.compiler.simulate import simulate
from mapc.core.options import SolveOptions
from mapc.core.spec import ParallelSpec
from mapc.core.solution import SolveResult
from mapc.hw.cost import CostModel
from mapc.solvers import greedy
from mapc.solvers.channels import ChannelTimeline, channel_rates
from mapc.solvers.greedy import heft
from mapc.solvers.listsched import choose_residency, list_schedule
from conftest import thin_edge_channels
from test_random_instances import instances

TINY = """
model tiny = transformer(layers=2, hidden=1024, heads=8, kv_heads=8, ffn=4096, vocab=1000, dtype=fp16)
workload w {
  serve tiny
  decode batch=2 context=128
  microbatches 2
}
parallel { segment 2 }
"""


def test_timeline_fits_reuses_gaps_and_waits():
    tl = ChannelTimeline([10.0])
    tl.book(0.0, 5.0, [(0, 6.0)])
    assert tl.earliest(0.0, 2.0, [(0, 4.0)]) == 0.0          # 6 + 4 fits 10
    assert tl.earliest(0.0, 2.0, [(0, 5.0)]) == 5.0          # 6 + 5 does not: wait for the booking to end
    tl.book(10.0, 10.0, [(0, 8.0)])
    assert tl.earliest(4.0, 3.0, [(0, 5.0)]) == 5.0          # the gap [5, 10) holds a 3 s run
    assert tl.earliest(6.0, 5.0, [(0, 5.0)]) == 20.0         # [6, 11) would meet the 8 B/s booking
    assert tl.earliest(6.0, 5.0, [(0, 2.0)]) == 6.0          # 8 + 2 fits
    with pytest.raises(ValueError, match="never fits"):
        tl.earliest(0.0, 1.0, [(0, 11.0)])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    p = tmp_path_factory.mktemp("tiny") / "tiny.dsl"
    p.write_text(TINY)
    return api.lower(api.load(p), "mcm6x6")


def _on(cost, chips):
    return cost.placements.index(tuple(chips))


def test_two_streams_on_one_channel_are_serialised(tiny):
    """Both micro-batches on chiplets next to the west0 PHY draw the channel's whole bandwidth: the list
    scheduler runs them one after the other; on chiplets of different channels they run at once."""
    cost = tiny.cost
    assert cost.graph.n == 2 and not cost.graph.edges
    res = np.zeros(2, dtype=bool)
    same = np.array([_on(cost, (0,)), _on(cost, (6,))])
    rates = channel_rates(cost, same, res)
    assert (rates[:, 0] > 0.9 * cost.hw.dram[0].bandwidth).all()     # each alone: (nearly) the whole channel
    st = list_schedule(cost, same, res)
    lat = cost.task_latency(same, res)
    assert sorted(st.tolist()) == pytest.approx([0.0, lat[0]])
    assert check(materialize(cost, same, res, st), cost) == []
    apart = np.array([_on(cost, (0,)), _on(cost, (5,))])            # west0 and east0
    assert list_schedule(cost, apart, res).tolist() == [0.0, 0.0]
    pi, r, s = heft(cost)                                           # HEFT prices the channels' free bandwidth
    h = materialize(cost, pi, r, s)
    assert check(h, cost) == [] and h.makespan <= lat.sum()


def test_an_over_subscribing_plan_is_refused_and_named_by_simulate(tiny):
    cost = tiny.cost
    res = np.zeros(2, dtype=bool)
    pi = np.array([_on(cost, (0,)), _on(cost, (6,))])
    bad = materialize(cost, pi, res, [0.0, 0.0])                    # both at once on west0
    v = [x for x in check(bad, cost) if x.kind == "dram"]
    assert v and "hbm_west0" in v[0].message and set(v[0].tasks) == {0, 1}
    draws = dram_draws(cost, pi, res, bad.start, bad.end)
    assert draws[:, 0].sum() > 1.8 * cost.hw.dram[0].bandwidth
    good = api.solve(tiny, SolveOptions(solver="greedy", time_limit=1))
    forced = replace(good, solution=SolveResult(bad, "heuristic", bad.makespan, solver="hand"),
                     metrics=api.evaluate(tiny, bad))
    doc = json.loads(json.dumps(emit.schedule_document(forced)))
    assert [t["dram_channels"] for t in doc["tasks"]] == [{"hbm_west0": t["dram_bytes"]} for t in doc["tasks"]]
    sim = simulate(doc)
    assert sim.contention and 1.8 < sim.slowdown <= 2.0 + 1e-9
    top = sim.contended(3)
    assert top and top[0].name == "hbm_west0" and top[0].peak_utilisation == pytest.approx(1.0)
    ok = simulate(json.loads(json.dumps(emit.schedule_document(good))))
    assert ok.slowdown == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("solver", ["greedy", "scar", "ga", "baseline", "cpsat"])
def test_every_solver_keeps_channels_within_bandwidth_and_replays_exactly(solver):
    root = Path(__file__).resolve().parents[2]
    problem = api.lower(api.load(root / "bench" / "dram_decode.dsl"), "mcm6x6")
    r = api.solve(problem, SolveOptions(solver=solver, objective="latency", time_limit=2))
    assert check(r.schedule, problem.cost) == []                   # api.solve checked it too
    doc = json.loads(json.dumps(emit.schedule_document(r)))
    for t in doc["tasks"]:
        assert sum(t["dram_channels"].values()) == pytest.approx(t["dram_bytes"], rel=1e-9)
    assert simulate(doc).slowdown <= 1.02
    assert r.metrics.bound.dram <= r.metrics.makespan * (1 + 1e-9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.integers(0, 2**31 - 1), st.sampled_from([1e9, 8e9, 64e9]))
def test_thin_channels_random_instances_stay_valid_and_above_the_bound(inst, seed, bw):
    """Two channels (west and east edges) thin enough to bind: greedy and list schedules of random placements and
    priorities pass the checker (its `dram` rule included) and never beat the proven lower bound."""
    g, hw, _, _, _ = inst
    hw = thin_edge_channels(hw, bw)
    cost = CostModel(hw, g)
    lb = lower_bound(cost).value
    rng = np.random.default_rng(seed)
    pi = rng.integers(0, len(cost.placements), g.n)
    res = choose_residency(cost, pi)
    for ins in (True, False):
        s = materialize(cost, pi, res, list_schedule(cost, pi, res, rng.random(g.n), insertion=ins))
        assert check(s, cost) == [] and s.makespan >= lb * (1 - 1e-9)
    r = greedy.solve(Problem(g, hw, cost, ParallelSpec()), SolveOptions(objective="latency"))
    assert check(r.schedule, cost) == [] and r.schedule.makespan >= lb * (1 - 1e-9)
