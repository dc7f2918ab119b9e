"""The steady-state (modulo) model of `cpsat` (`mapc.solvers.cpsat_steady`): the proven period, model size
independent of the micro-batch count, valid unrolled schedules, and its place in `cpsat`."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from conftest import chain_graph, make_hw

from mapc.compiler.check import check
from mapc.compiler.problem import Problem
from mapc.compiler.schedule import materialize
from mapc.core.options import SolveOptions
from mapc.hw.cost import CostModel
from mapc.hw.dram_resources import dram_resources, option_amounts
from mapc.solvers import cpsat, cpsat_steady
from mapc.solvers.cpsat_options import candidates
from mapc.solvers.cpsat_run import Driver
from mapc.solvers.listsched import objective_of

OPT = SolveOptions(solver="cpsat", objective="latency", time_limit=20.0, seed=0, threads=1)


def _setup(layers: int, microbatches: int, dram_bw: float = 64e9):
    hw = make_hw(2, 2, dram_bw=dram_bw)
    g = chain_graph(layers, microbatches, M=64, K=512, N=512)
    cost = CostModel(hw, g)
    p = Problem(g, hw, cost)
    hints = cpsat.heuristic_hints(p, OPT)
    base = min(hints, key=lambda h: objective_of(cost, h[1], h[2], h[3], "latency"))
    return p, cost, candidates(cost), base


def _brute_period(cost: CostModel, opts) -> float:
    """The least pinned period (R = 1) in seconds, by enumerating every option of every position: the largest
    over chiplets and DRAM resources of one micro-batch's load, SRAM capacity respected (exact latencies)."""
    grs = cpsat_steady.groups(cost, opts)
    rep = grs[0].rep
    rs = dram_resources(cost)
    per_pos = [list(range(opts.of(int(t)).start, opts.of(int(t)).stop)) for t in rep]
    best = np.inf
    for choice in itertools.product(*per_pos):
        o = np.array(choice)
        chip = np.zeros(cost.hw.n)
        sram = np.zeros(cost.hw.n)
        for j, oo in enumerate(o):
            p = int(opts.place[oo])
            chip[list(cost.placements[p])] += opts.lat[oo]
            if opts.resident[oo]:
                sram[list(cost.placements[p])] += cost.weight_share[int(rep[j]), p]
        if np.any(sram > cost.weight_capacity * (1 + 1e-9)):
            continue
        dram = (option_amounts(cost, opts.task[o], opts.place[o], opts.resident[o]) / rs.capacity).sum(0) \
            if rs.capacity.size else np.zeros(0)
        best = min(best, max(chip.max(), dram.max() if dram.size else 0.0))
    return float(best)


def test_period_bound_is_proven_against_enumeration():
    """The period CP-SAT proves for one micro-batch's pinned stages (R = 1) never exceeds the true least period
    (found by enumeration), and the period it reaches is within the tick rounding of it."""
    p, cost, opts, base = _setup(layers=3, microbatches=6)
    drv = Driver(p, OPT, time.perf_counter())
    ss = cpsat_steady.solve(cost, opts, drv, base, budget=20.0)
    r1 = next(g for g in ss.groups if g["replicas"] == 1)
    assert r1["chains"] == 6 and r1["stages"] == 3
    exact = _brute_period(cost, opts)
    assert r1["period_bound_s"] <= exact * (1 + 1e-9)
    assert r1["period_status"] == "OPTIMAL"
    assert r1["period_alone_s"] >= exact * (1 - 1e-9)
    assert r1["period_alone_s"] <= exact * 1.01 + 3 * (r1["period_alone_s"] / cpsat_steady.TICKS)


def test_model_size_does_not_grow_with_microbatches():
    """One micro-batch's model: the same variables for 8 and for 64 identical micro-batch chains."""
    sizes = []
    for mb in (8, 64):
        _, cost, opts, base = _setup(layers=4, microbatches=mb)
        grs = cpsat_steady.groups(cost, opts)
        assert len(grs) == 1 and grs[0].k == mb
        mod = cpsat_steady._build(cost, opts, grs, [1], np.asarray(base[1]), np.asarray(base[2], bool), 1e-9)
        sizes.append((len(mod.m.proto.variables), len(mod.m.proto.constraints)))
    assert sizes[0] == sizes[1]


@pytest.mark.parametrize("dram_bw", [64e9, 2e9])
def test_unrolled_schedules_are_valid(dram_bw):
    """Every unrolled steady-state schedule (each replica count, both assignments) passes the checker, and every
    micro-batch of a replica takes that replica's placements."""
    p, cost, opts, base = _setup(layers=4, microbatches=8, dram_bw=dram_bw)
    drv = Driver(p, OPT, time.perf_counter())
    ss = cpsat_steady.solve(cost, opts, drv, base, budget=6.0)
    assert ss.hints
    grs = cpsat_steady.groups(cost, opts)
    for label, pi, res, st in ss.hints:
        assert check(materialize(cost, pi, res, st), cost) == [], label
        R = int(label.split("-r")[1].split("-")[0])
        mem = grs[0].members
        for r in range(R):
            rows = pi[mem[r::R]]
            assert (rows == rows[0]).all(), label


def test_cpsat_reports_the_steady_state_and_is_never_worse_than_its_starts():
    """cpsat on repeated micro-batches (the decomposition path) reports the steady-state groups in its stats and
    its schedule is no longer than any start it had, the steady-state ones included."""
    g = chain_graph(6, 8, M=64, K=512, N=512)
    hw = make_hw(2, 2, dram_bw=2e9)       # DRAM-bound: no heuristic meets the bound, the LNS runs
    cost = CostModel(hw, g)
    r = cpsat.solve(Problem(g, hw, cost), SolveOptions(solver="cpsat", objective="latency", time_limit=4.0,
                                                       seed=0, threads=1))
    st = r.stats
    assert st.strategy == "decompose"
    assert [x["replicas"] for x in st.steady_state] == [1, 2, 4]
    assert all(x["period_bound_s"] <= x.get("period_alone_s", np.inf) * (1 + 1e-9) for x in st.steady_state)
    opts = candidates(cost)
    _, _, _, base = _setup(6, 8, dram_bw=2e9)
    drv = Driver(Problem(g, hw, cost), OPT, time.perf_counter())
    for label, pi, res, s in cpsat_steady.solve(cost, opts, drv, base, 0.4).hints:
        assert r.objective <= objective_of(cost, pi, res, s, "latency") * (1 + 1e-9), label
