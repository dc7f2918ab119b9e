"""The independent checker: a valid schedule passes, and each rule is caught by a deliberately broken one."""

from dataclasses import replace

import numpy as np
import pytest

from conftest import chain_graph, make_hw, make_task
from mapc.core.graph import Edge, ExecutionGraph
from mapc.compiler.check import Violation, assert_valid, check, sram_use
from mapc.compiler.schedule import Schedule, materialize
from mapc.core.errors import MapcError
from mapc.hw.cost import CostModel
from mapc.solvers.listsched import choose_residency, list_schedule


@pytest.fixture
def setup():
    """Two chains of 3 layers on a 2x2 mesh, chain 0 on chiplets 0 -> 1 -> 3 (transfers), chain 1 on chiplet 2."""
    g = chain_graph(3, 2, M=64, K=128, N=128)
    cost = CostModel(make_hw(2, 2, ["ws", "os", "os", "ws"]), g)
    pi = np.array([0, 1, 3, 2, 2, 2])
    res = choose_residency(cost, pi)
    st = list_schedule(cost, pi, res)
    return g, cost, materialize(cost, pi, res, st)


def kinds(v):
    return {x.kind for x in v}


def with_task(s: Schedule, i, **kw) -> Schedule:
    t = list(s.tasks)
    t[i] = replace(t[i], **kw)
    return replace(s, tasks=tuple(t))


def test_valid_schedule_passes(setup):
    _, cost, s = setup
    assert check(s, cost) == []
    assert len(s.transfers) == 2
    assert_valid(s, cost)


def test_missing_task(setup):
    _, cost, s = setup
    v = check(replace(s, tasks=s.tasks[:-1]), cost)
    assert kinds(v) == {"missing"} and v[0].tasks == (5,)


def test_unknown_placement(setup):
    _, cost, s = setup
    assert kinds(check(with_task(s, 0, placement=(0, 3)), cost)) == {"placement"}


def test_negative_start(setup):
    _, cost, s = setup
    t = s.tasks[3]
    v = check(with_task(s, 3, start=-1e-3, end=t.end - 1e-3 - t.start), cost)
    assert "negative_start" in kinds(v)


def test_duration_too_short(setup):
    _, cost, s = setup
    t = s.tasks[4]
    v = check(with_task(s, 4, end=t.start + 0.5 * (t.end - t.start)), cost)
    assert kinds(v) == {"duration"} and v[0].tasks == (4,)


def test_duration_inf_when_resident_cannot_fit():
    g = ExecutionGraph((make_task(0, 8, 1024, 1024),), ())          # 2 MiB of weights
    cost = CostModel(make_hw(1, 1), g)                              # 0.75 MiB weight capacity
    s = materialize(cost, [0], [False], [0.0])
    assert check(s, cost) == []
    bad = with_task(s, 0, resident=True)
    assert kinds(check(bad, cost)) == {"duration", "sram"}


def test_dependency_violated(setup):
    _, cost, s = setup
    t = s.tasks[4]                 # same chiplet as its producer 3: no transfer, only the dependency
    shift = s.tasks[3].end - t.start + 1e-9
    v = check(with_task(s, 3, start=s.tasks[3].start + shift, end=s.tasks[3].end + shift), cost)
    assert "dependency" in kinds(v)
    assert any(x.kind == "dependency" and x.tasks == (3, 4) for x in v)


def test_dependency_includes_transfer_latency(setup):
    _, cost, s = setup
    # task 1 (chiplet 1) consumes task 0 (chiplet 0): starting at the producer's end ignores the transfer
    t0, t1 = s.tasks[0], s.tasks[1]
    v = check(with_task(s, 1, start=t0.end, end=t0.end + t1.end - t1.start), cost)
    assert any(x.kind == "dependency" and x.tasks == (0, 1) for x in v)


def test_overlap_on_group_member(setup):
    _, cost, s = setup
    # move task 3 (chain 1, chiplet 2) into the window of task 4 by placing it on group (2, 3)
    t4 = s.tasks[4]
    p23 = cost.placements.index((2, 3))
    lat = cost.lat_stream[0, p23]
    bad = with_task(s, 3, placement=(2, 3), resident=False, start=t4.start, end=t4.start + lat)
    v = check(bad, cost)
    assert "overlap" in kinds(v)
    assert any(x.kind == "overlap" and set(x.tasks) == {3, 4} for x in v)


def test_zero_length_touching_is_not_overlap(setup):
    _, cost, s = setup
    assert not [x for x in check(s, cost) if x.kind == "overlap"]


def test_transfer_early_late_route_missing(setup):
    _, cost, s = setup
    x = s.transfers[0]
    early = replace(s, transfers=(replace(x, start=x.start - 1e-6, end=x.end - 1e-6),) + s.transfers[1:])
    assert "transfer" in kinds(check(early, cost))
    late = replace(s, transfers=(replace(x, end=s.tasks[x.dst_task].start + 1e-6),) + s.transfers[1:])
    assert "transfer" in kinds(check(late, cost))
    route = replace(s, transfers=(replace(x, route=(x.src_chiplet, 3, x.dst_chiplet)),) + s.transfers[1:])
    v = check(route, cost)
    assert kinds(v) == {"transfer"} and "route" in v[0].message
    light = replace(s, transfers=(replace(x, bytes=x.bytes / 2),) + s.transfers[1:])
    v = check(light, cost)
    assert kinds(v) == {"transfer"} and "carry" in v[0].message
    gone = replace(s, transfers=s.transfers[1:])
    v = check(gone, cost)
    assert kinds(v) == {"transfer"} and "no transfer" in v[0].message


def test_sram_over_capacity():
    # two distinct 0.5 MiB weight sets resident on one chiplet with 0.75 MiB weight capacity
    g = ExecutionGraph((make_task(0, 8, 512, 512, key="a"), make_task(1, 8, 512, 512, key="b"),
                        make_task(2, 8, 512, 512, key="a")), (Edge(0, 1, 1024.0),))
    cost = CostModel(make_hw(1, 2), g)
    pi = [0, 0, 0]
    st = list_schedule(cost, pi, [True, False, True])
    ok = materialize(cost, pi, [True, False, True], st)
    assert check(ok, cost) == []                         # key "a" counted once although two tasks use it
    assert sram_use(cost, pi, [True, False, True])[0] == pytest.approx(512 * 512 * 2)
    st = list_schedule(cost, pi, [True, True, True])
    bad = materialize(cost, pi, [True, True, True], st)
    v = check(bad, cost)
    assert kinds(v) == {"sram"}
    with pytest.raises(MapcError, match="sram"):
        assert_valid(bad, cost)


def test_violation_is_data():
    v = Violation("overlap", "x", (1, 2))
    assert v.kind == "overlap" and v.tasks == (1, 2)
