"""Property: random small graphs on random small meshes always give schedules the checker accepts."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_hw, make_task
from mapc.core.graph import Edge, ExecutionGraph
from mapc.compiler.check import check
from mapc.compiler.schedule import materialize
from mapc.core.spec import ParallelSpec
from mapc.core.errors import InfeasibleError
from mapc.hw.cost import CostModel
from mapc.compiler.problem import Problem
from mapc.core.options import SolveOptions
from mapc.solvers import baseline, greedy
from mapc.solvers.listsched import choose_residency, list_schedule

KiB = 1024


@st.composite
def instances(draw):
    n = draw(st.integers(1, 12))
    n_keys = draw(st.integers(1, n))
    tasks, edges = [], []
    for i in range(n):
        M, K, N = (draw(st.integers(1, 384)) for _ in range(3))
        key = draw(st.integers(0, n_keys - 1))
        model = draw(st.sampled_from(["a", "b"]))
        tasks.append(make_task(i, M, K, N, model, key, i, key=f"{model}/k{key}"))
        for j in range(i):
            if draw(st.booleans()) and draw(st.booleans()):
                edges.append(Edge(j, i, float(draw(st.integers(0, 1 << 18)))))
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    c = rows * cols
    flows = draw(st.lists(st.sampled_from(["ws", "os", "rs"]), min_size=c, max_size=c))
    # weights are up to 288 KiB per task; capacities of 48..384 KiB make some fit and some not
    srams = draw(st.lists(st.sampled_from([64 * KiB, 128 * KiB, 256 * KiB, 512 * KiB]), min_size=c, max_size=c))
    g = ExecutionGraph(tuple(tasks), tuple(edges), ("a", "b"))
    hw = make_hw(rows, cols, flows, srams, pe=draw(st.sampled_from([4, 8, 16])))
    streaming = draw(st.sampled_from([True, True, True, False]))
    return g, hw, streaming, draw(st.sampled_from([1, 2, 4])), draw(st.sampled_from([None, 1, 2, 3]))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_solvers_always_valid(inst):
    g, hw, streaming, tensor, pipeline = inst
    cost = CostModel(hw, g, allow_streaming=streaming)
    if tensor not in set(cost.group_size.tolist()):
        tensor = 1
    pr = Problem(g, hw, cost, ParallelSpec(tensor=tensor, pipeline=pipeline))
    for mod in (baseline, greedy):
        try:
            r = mod.solve(pr, SolveOptions(objective="edp"))
        except InfeasibleError:
            assert not streaming            # with streaming every placement can run every task
            continue
        assert check(r.schedule, cost) == [], mod.__name__
        assert np.isfinite(r.objective) and r.objective > 0


@settings(max_examples=60, deadline=None)
@given(instances(), st.integers(0, 2**31 - 1))
def test_list_schedule_any_placement_any_priority_valid(inst, seed):
    g, hw, _, _, _ = inst
    cost = CostModel(hw, g)
    rng = np.random.default_rng(seed)
    pi = rng.integers(0, len(cost.placements), g.n)
    res = choose_residency(cost, pi)
    prio = rng.random(g.n)
    for ins in (True, False):
        s = list_schedule(cost, pi, res, prio, insertion=ins)
        assert check(materialize(cost, pi, res, s), cost) == []
