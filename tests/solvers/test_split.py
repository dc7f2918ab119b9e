"""The tile-split warm start (`mapc.solvers.split`): valid schedules, and the case it was built for."""

from __future__ import annotations

import numpy as np

from mapc import api
from mapc.compiler.check import check
from mapc.compiler.schedule import materialize
from mapc.core.options import SolveOptions
from mapc.solvers import greedy, split
from mapc.solvers.listsched import objective_of


def test_split_beats_every_whole_machine_heuristic_on_hf_model_wsc8x8():
    """hf_model on wsc8x8: every other heuristic runs everything on the whole wafer (0.0637 s, 8.3 % above the
    bound); the split's schedule is valid, at least 5 % shorter than greedy's, and within 1 % of the bound, with
    the long prompt's first layers on one 16-die tile."""
    p = api.lower(api.load("examples/hf_model.dsl"), "wsc8x8")
    cost = p.cost
    (name, pi, res, st), = split.split(cost)
    assert name == "split"
    assert check(materialize(cost, pi, res, st), cost) == []
    ms = objective_of(cost, pi, res, st, "latency")
    g_pi, g_res, g_st = greedy.candidates(p, SolveOptions(solver="greedy", objective="latency"))[0][1:4]
    assert ms <= 0.95 * objective_of(cost, g_pi, g_res, g_st, "latency")
    from mapc.compiler.evaluate import lower_bound
    assert float(lower_bound(cost).value) <= ms <= 1.01 * float(lower_bound(cost).value)
    assert set(cost.group_size[pi].tolist()) >= {16, 64}


def test_split_needs_several_components_and_is_valid_where_tried():
    """One component (peer_gemm): no split hint; where one is tried (hf_model on mcm6x6) it is valid."""
    p = api.lower(api.load("examples/peer_gemm.dsl"), "mcm6x6")
    assert split.split(p.cost) == []
    cost = api.lower(api.load("examples/hf_model.dsl"), "mcm6x6").cost
    assert np.any(cost.group_size == cost.hw.n)      # the case below has one: a split is tried and valid
    out = split.split(cost)
    for _, pi, res, st in out:
        assert check(materialize(cost, pi, res, st), cost) == []
