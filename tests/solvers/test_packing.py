"""Component packing (`solvers/packing.py`): one group per chain, loads balanced, valid and deterministic."""

from __future__ import annotations

import numpy as np
from conftest import chain_graph, make_hw

from mapc.compiler.check import check as check_schedule
from mapc.compiler.evaluate import lower_bound
from mapc.compiler.schedule import materialize
from mapc.hw.cost import CostModel
from mapc.solvers.listsched import makespan_of
from mapc.solvers.packing import allot, pack, _channel_time, _lengths


def test_pack_is_valid_deterministic_and_above_the_bound():
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = chain_graph(6, 4)
    cost = CostModel(hw, g)
    a, b = pack(cost), pack(cost)
    assert a and [x[0] for x in a] == [x[0] for x in b]
    lb = lower_bound(cost).value
    for (name, pi, res, st), (_, pi2, res2, st2) in zip(a, b):
        assert np.array_equal(pi, pi2) and np.array_equal(res, res2) and np.array_equal(st, st2)
        assert not check_schedule(materialize(cost, pi, res, st), cost), name
        assert makespan_of(cost, pi, res, st) >= lb * (1 - 1e-9)


def test_allot_keeps_every_component_on_one_group_within_the_target():
    hw = make_hw(2, 2)
    g = chain_graph(4, 4)
    cost = CostModel(hw, g)
    comps = [np.nonzero(g.component == c)[0] for c in range(int(g.component.max()) + 1)]
    L, D = _lengths(cost, comps), _channel_time(cost, comps)
    serial = float(L.min(axis=1).sum())
    a = allot(cost, L, D, serial * 1.001)
    assert a is not None and a.shape == (len(comps),)
    assert allot(cost, L, D, float(L.min(axis=1).max()) * 0.5) is None      # shorter than the longest chain
    # components on a shared chiplet run one after another: every chiplet's load fits the target
    load = np.zeros(hw.n)
    for c, p in enumerate(a):
        load[cost.members[p].astype(bool)] += L[c, p]
    assert load.max() <= serial * 1.001 * (1 + 1e-9)


def test_single_component_gives_no_packing():
    hw = make_hw(2, 2)
    g = chain_graph(4, 1)
    assert pack(CostModel(hw, g)) == []
