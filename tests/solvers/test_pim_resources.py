"""The package's PIM units as shared resources of the schedule (issue 13): a task's PIM kernels are priced at the
whole package's PIM (weights/KV interleaved over all stacks), and at every instant the PIM internal bytes and
FLOPs / duration of the running tasks fit the units' totals. The checker rejects a plan that over-subscribes
them (rule `pim`); the list scheduler, HEFT, the re-timing with stretching and CP-SAT never emit one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mapc import api
from mapc.compiler.check import check
from mapc.compiler.evaluate import lower_bound
from mapc.compiler.problem import Problem
from mapc.compiler.schedule import materialize
from mapc.core.graph import ExecutionGraph, Operator, Task
from mapc.core.options import SolveOptions
from mapc.hw.cost import CostModel
from mapc.hw.dram_resources import dram_resources, option_amounts, resource_bytes
from mapc.hw.presets import get
from mapc.solvers import registry
from mapc.solvers.listsched import list_schedule_timed

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def gemv_task(i: int, K: int = 4096, N: int = 4096) -> Task:
    """A decode GEMV (batch 1) with its own weights: PIM-bound, 32 MiB of fp16 weights."""
    op = Operator("fc1", "gemm", 1, K, N, 1, 2.0 * K * N, 2.0 * K * N, 2.0 * K, 2.0 * N)
    return Task(i, f"t{i}", "m", "decode", 0, (0, 0), (op,), f"m/L{i}")


@pytest.fixture(scope="module")
def four_gemvs():
    """Four independent GEMV tasks, every kernel on PIM, on chiplets 0..3 of npu-pim (k = 1)."""
    hw = get("npu-pim")
    g = ExecutionGraph(tuple(gemv_task(i) for i in range(4)), ())
    return CostModel(hw, g, group_sizes=(1,), pim="all")


def test_pim_resources_are_pooled_after_channels_and_links(four_gemvs):
    cm = four_gemvs
    rs = dram_resources(cm)
    assert rs.names[-2:] == ("PIM bandwidth", "PIM compute")
    assert rs.capacity[-2] == pytest.approx(sum(u.bandwidth for u in cm.hw.pim))
    assert rs.capacity[-1] == pytest.approx(sum(u.peak_flops for u in cm.hw.pim))
    pi, res = np.arange(4), np.zeros(4, dtype=bool)
    by = resource_bytes(cm, pi, res)
    np.testing.assert_allclose(by[:, -2], cm.part_at("pim_bytes", res, pi))
    np.testing.assert_allclose(by[:, -1], cm.part_at("pim_flops", res, pi))
    np.testing.assert_allclose(by[:, :rs.channels].sum(axis=1), cm.part_at("dram_bytes", res, pi))
    np.testing.assert_allclose(option_amounts(cm, np.arange(4), pi, res), by)
    off = CostModel(cm.hw, cm.graph, group_sizes=(1,), pim="off")
    assert "PIM bandwidth" not in dram_resources(off).names           # nothing on PIM: no PIM resource


def test_checker_rejects_an_oversubscribed_pim_plan_and_the_list_scheduler_shares_it(four_gemvs):
    cm = four_gemvs
    pi, res = np.arange(4), np.zeros(4, dtype=bool)
    lat = cm.task_latency(pi, res)
    # each task alone draws (nearly) the whole package's PIM bandwidth: four at once are ~4x over it
    bad = materialize(cm, pi, res, np.zeros(4))
    kinds = {v.kind for v in check(bad, cm)}
    assert "pim" in kinds and kinds <= {"pim", "dram"}
    st, dur = list_schedule_timed(cm, pi, res, stretch=False)
    ok = materialize(cm, pi, res, st, dur)
    assert check(ok, cm) == []
    assert ok.makespan >= 3.5 * lat.max()        # the PIM units serialise the four tasks, the chiplets do not
    st2, dur2 = list_schedule_timed(cm, pi, res, stretch=True)
    assert check(materialize(cm, pi, res, st2, dur2), cm) == []
    # the bound knows: four tasks' PIM bytes / the units' bandwidth
    bw, fl = dram_resources(cm).capacity[-2:]
    lb = lower_bound(cm)
    pim = max(cm.part_at("pim_bytes", res, pi).sum() / bw, cm.part_at("pim_flops", res, pi).sum() / fl)
    assert lb.pim == pytest.approx(pim) and lb.to_dict()["pim_s"] == lb.pim
    assert lb.value >= pim * (1 - 1e-9) and lb.value <= ok.makespan * (1 + 1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("example", ["decode_pim.dsl", "spec_decode_sweep.dsl"])
def test_every_solver_plan_on_the_pim_examples_passes_the_checker(example):
    problem = api.lower(api.load(EXAMPLES / example), "npu-pim")
    cm = problem.cost
    assert "PIM compute" in dram_resources(cm).names
    bound = lower_bound(cm).value
    for solver in ("greedy", "scar", "ga", "baseline", "cpsat"):
        r = api.solve(problem, SolveOptions(solver=solver, objective="latency", time_limit=1.0))
        assert check(r.schedule, cm) == [], solver
        assert r.schedule.makespan >= bound * (1 - 1e-9), solver


@pytest.mark.parametrize("solver", ["greedy", "scar", "ga", "baseline", "cpsat"])
def test_every_solver_shares_the_pim_units(four_gemvs, solver):
    """Four PIM-bound tasks on single cores: the chiplets would run them at once, the PIM units cannot; every
    solver's plan (CP-SAT: a cumulative per PIM pool) passes rule `pim` and takes about four tasks' PIM time."""
    cm = four_gemvs
    r = registry.run(Problem(cm.graph, cm.hw, cm), SolveOptions(solver=solver, objective="latency", time_limit=1.0))
    assert check(r.schedule, cm) == []
    rows = np.arange(cm.graph.n)
    assert r.schedule.makespan >= 3.5 * cm.lat_stream[rows, r.schedule.placement_index].min()
