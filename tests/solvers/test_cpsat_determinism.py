"""cpsat is deterministic by default whatever the machine's load: the budget is spent in CP-SAT deterministic
time and counted LNS passes, so the same input, seed and budget give the same tasks, transfers and metrics,
also while another process keeps a core busy (the wall clock only caps a run far beyond its budget)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from conftest import chain_graph, make_hw

from mapc.compiler.evaluate import evaluate
from mapc.compiler.problem import Problem
from mapc.core.options import CpsatOptions, SolveOptions
from mapc.hw.cost import CostModel
from mapc.solvers import cpsat

# forces the chain decomposition (its outer loop is what used to stop on wall time)
DECOMPOSE = CpsatOptions(small_tasks=10, neighbourhood_tasks=12)


def _fingerprint(r, cost):
    s = r.schedule
    tasks = [(t.task, tuple(t.placement), bool(t.resident), t.start, t.end, t.energy) for t in s.tasks]
    transfers = [(x.src_task, x.dst_task, x.src_chiplet, x.dst_chiplet, x.start, x.end) for x in s.transfers]
    m = evaluate(s, cost).to_dict()
    metrics = {k: m[k] for k in ("makespan_s", "energy_j", "edp_js", "utilisation", "busy_s")}
    return tasks, transfers, metrics, r.objective, r.bound


def _busy_core():
    """A process that keeps one core busy until killed (started and stopped by this test, by its pid)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def test_same_schedule_twice_and_under_cpu_load():
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = chain_graph(6, 6)
    cost = CostModel(hw, g)
    p = Problem(g, hw, cost)
    b = SolveOptions(solver="cpsat", objective="edp", time_limit=1.5, seed=11, threads=2, cpsat=DECOMPOSE)
    assert b.deterministic                       # the default; --wall-clock is the opt-in
    first = cpsat.solve(p, b)
    second = cpsat.solve(p, b)
    hog = _busy_core()
    try:
        loaded = cpsat.solve(p, b)
    finally:
        hog.kill()
        hog.wait()
    assert first.stats.strategy == "decompose" and first.stats.windows >= 2
    assert first.stats.deterministic and second.stats.deterministic and loaded.stats.deterministic
    fa, fb, fc = (_fingerprint(r, cost) for r in (first, second, loaded))
    assert fa == fb
    assert fa == fc
    assert np.array_equal(first.schedule.placement_index, loaded.schedule.placement_index)


def test_wall_cap_far_beyond_budget_in_deterministic_mode():
    """The deterministic run's wall cap is a safety net several times the budget, not the budget itself."""
    from mapc.solvers.cpsat_run import DET_WALL_CAP, Driver
    hw = make_hw(1, 2)
    g = chain_graph(2, 1)
    p = Problem(g, hw, CostModel(hw, g))
    det = Driver(p, SolveOptions(solver="cpsat", time_limit=2.0), 0.0)
    wall = Driver(p, SolveOptions(solver="cpsat", time_limit=2.0, wall_clock=True), 0.0)
    assert det.deadline >= DET_WALL_CAP * 2.0 > wall.deadline == 2.0


def test_parallel_windows_deterministic_per_thread_count():
    """With threads=2 the LNS solves two disjoint windows at a time (one CP-SAT worker each) and merges them in
    window order: the same input, seed and budget give the same schedule for each thread count."""
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = chain_graph(6, 6)
    cost = CostModel(hw, g)
    p = Problem(g, hw, cost)
    for threads in (1, 2):
        b = SolveOptions(solver="cpsat", objective="edp", time_limit=1.5, seed=5, threads=threads, cpsat=DECOMPOSE)
        first, second = cpsat.solve(p, b), cpsat.solve(p, b)
        assert first.stats.lns_workers == threads
        assert first.stats.windows >= 2 and first.stats.lns_det_s > 0
        assert first.stats.deterministic and second.stats.deterministic
        assert _fingerprint(first, cost) == _fingerprint(second, cost)
        assert [c["deterministic_s"] for c in first.stats.calls] == [c["deterministic_s"] for c in second.stats.calls]
