"""List scheduler, residency chooser and upward rank."""

import time

import numpy as np
import pytest

from conftest import MiB, chain_graph, make_hw, make_task, random_graph
from mapc.core.graph import Edge, ExecutionGraph
from mapc.compiler.check import check, sram_use
from mapc.compiler.schedule import materialize
from mapc.core.errors import InfeasibleError
from mapc.hw.cost import CostModel
from mapc.compiler.objective import score
from mapc.solvers.listsched import (choose_residency, list_schedule, makespan_of, objective_of, task_latency,
                                    upward_rank)


def lat(cost, pi, res):
    return task_latency(cost, pi, res)


def test_insertion_fills_idle_gap():
    # 0 (long) on chiplet 0 -> 1 on chiplet 1; 2 is independent, short, low priority, also on chiplet 1
    g = ExecutionGraph((make_task(0, 512, 256, 256, key="a"), make_task(1, 8, 64, 64, key="b"),
                        make_task(2, 8, 64, 64, key="c")), (Edge(0, 1, 4096.0),))
    cost = CostModel(make_hw(1, 2), g)
    pi, res, prio = [0, 1, 1], np.zeros(3, bool), [3.0, 2.0, 1.0]
    st = list_schedule(cost, pi, res, prio)
    assert st[0] == 0.0 and st[2] == 0.0            # 2 slips into the gap before 1's data arrives
    assert st[1] == pytest.approx(lat(cost, pi, res)[0] + cost.transfer_time(4096.0, 0, 1))
    st_no = list_schedule(cost, pi, res, prio, insertion=False)
    assert st_no[2] == pytest.approx(st_no[1] + lat(cost, pi, res)[1])
    for s in (st, st_no):
        assert check(materialize(cost, pi, res, s), cost) == []


def test_group_occupies_every_member_and_priority_order():
    g = ExecutionGraph(tuple(make_task(i, 64, 128, 128, key=f"k{i}") for i in range(3)), ())
    cost = CostModel(make_hw(1, 2), g)
    pair = cost.placements.index((0, 1))
    pi, res = [pair, 1, 0], np.zeros(3, bool)
    st = list_schedule(cost, pi, res, [1.0, 2.0, 3.0])   # 2 first, then 1, then the group
    d = lat(cost, pi, res)
    assert st[2] == 0.0 and st[1] == 0.0
    assert st[0] == pytest.approx(max(d[1], d[2]))
    assert check(materialize(cost, pi, res, st), cost) == []


def test_infinite_latency_raises():
    g = ExecutionGraph((make_task(0, 8, 1024, 1024),), ())   # 2 MiB of weights > 0.75 MiB capacity
    cost = CostModel(make_hw(1, 1), g)
    with pytest.raises(InfeasibleError, match="infinite latency"):
        list_schedule(cost, [0], [True])


def test_upward_rank_chain_on_one_chiplet_is_remaining_work():
    g = chain_graph(4, 1)
    cost = CostModel(make_hw(1, 1), g)
    pi, res = np.zeros(4, int), np.zeros(4, bool)
    r = upward_rank(cost, pi, res)
    d = lat(cost, pi, res)
    assert np.allclose(r, np.cumsum(d[::-1])[::-1])
    r_mean = upward_rank(cost)
    assert np.all(np.diff(r_mean) < 0)
    with pytest.raises(ValueError):
        upward_rank(cost, mode="median")


def test_upward_rank_counts_transfers():
    g = chain_graph(2, 1)
    cost = CostModel(make_hw(1, 2), g)
    pi, res = np.array([0, 1]), np.zeros(2, bool)
    d = lat(cost, pi, res)
    tt = cost.transfer_time(g.edges[0].bytes, 0, 1)
    assert upward_rank(cost, pi, res)[0] == pytest.approx(d[0] + tt + d[1])


def test_residency_counts_shared_key_once_and_respects_capacity():
    # keys a, a, b of 0.5 MiB each on one chiplet with 0.75 MiB: a fits (once), b does not
    g = ExecutionGraph((make_task(0, 64, 512, 512, key="a"), make_task(1, 64, 512, 512, key="a"),
                        make_task(2, 64, 512, 512, key="b")), ())
    cost = CostModel(make_hw(1, 1, srams=[1 * MiB]), g)
    res = choose_residency(cost, [0, 0, 0])
    assert res.tolist() in ([True, True, False], [False, False, True])
    assert res.tolist() == [True, True, False]      # a saves twice the time of b per byte
    assert sram_use(cost, [0, 0, 0], res)[0] <= cost.weight_capacity[0]
    # `order` puts b first
    assert choose_residency(cost, [0, 0, 0], order=[2, 0, 1]).tolist() == [False, False, True]


def test_residency_mandatory_without_streaming_and_infeasible_message():
    g = ExecutionGraph((make_task(0, 64, 512, 512, key="a"), make_task(1, 64, 512, 512, key="b")), ())
    cost = CostModel(make_hw(1, 2, srams=[1 * MiB, 1 * MiB]), g, allow_streaming=False)
    assert choose_residency(cost, [0, 1]).tolist() == [True, True]
    with pytest.raises(InfeasibleError, match=r"\(id 1\).*already taken"):
        choose_residency(cost, [0, 0])
    big = ExecutionGraph((make_task(0, 8, 1024, 1024),), ())
    with pytest.raises(InfeasibleError, match="capacity"):
        choose_residency(CostModel(make_hw(1, 1), big, allow_streaming=False), [0])


def test_random_graphs_valid_and_objective_of_matches_score():
    rng = np.random.default_rng(7)
    for _ in range(10):
        g = random_graph(rng, 12)
        cost = CostModel(make_hw(2, 2, ["ws", "os", "rs", "ws"], [256 * 1024] * 4), g)
        pi = rng.integers(0, len(cost.placements), g.n)
        res = choose_residency(cost, pi)
        for ins in (True, False):
            st = list_schedule(cost, pi, res, rng.random(g.n), insertion=ins)
            s = materialize(cost, pi, res, st)
            assert check(s, cost) == []
            assert makespan_of(cost, pi, res, st) == pytest.approx(s.makespan)
            for obj in ("latency", "energy", "edp"):
                assert objective_of(cost, pi, res, st, obj) == pytest.approx(score(s, cost, obj), rel=1e-9)


def _schedule_10k():
    g = chain_graph(40, 250, M=128, K=1024, N=1024)
    cost = CostModel(make_hw(6, 6, ["ws", "os"] * 18, [2 * MiB] * 36, pe=32), g)
    pi = np.arange(g.n) % len(cost.placements)
    res = choose_residency(cost, pi)
    t = time.perf_counter()
    st = list_schedule(cost, pi, res)
    return cost, pi, res, st, time.perf_counter() - t


@pytest.mark.slow
def test_list_schedule_10k_tasks_valid():
    cost, pi, res, st, _ = _schedule_10k()
    assert check(materialize(cost, pi, res, st), cost) == []


@pytest.mark.slow
@pytest.mark.benchmark
def test_list_schedule_10k_tasks_fast():
    cost, pi, res, st, wall = _schedule_10k()
    assert wall < 1.0
    assert check(materialize(cost, pi, res, st), cost) == []
