"""cpsat against an independent exhaustive search on tiny instances, plus bounds, Pareto, hints, determinism,
the schedule checker and infeasibility diagnosis."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from conftest import chain_graph, make_hw, random_graph

from mapc.compiler.objective import score
from mapc.compiler.problem import Problem
from mapc.core.options import CpsatOptions, SolveOptions
from mapc.core.spec import ParallelSpec
from mapc.core.errors import InfeasibleError
from mapc.hw.cost import CostModel
from mapc.solvers import cpsat


# ---- independent exhaustive search ----------------------------------------------------------------------
def _topo_orders(n, preds):
    def rec(done, order):
        if len(order) == n:
            yield tuple(order)
            return
        for i in range(n):
            if i not in done and all(p in done for p in preds[i]):
                done.add(i); order.append(i)
                yield from rec(done, order)
                done.discard(i); order.pop()
    yield from rec(set(), [])


def exhaustive(cost):
    """(min makespan, min energy) over every placement x residency choice and every task order.

    For fixed choices, an optimal schedule is the left-shifted schedule of some order of the tasks by start
    time (shifting every task as early as its inputs and chiplets allow never delays another), so trying all
    topological orders finds the optimum makespan; energy = dynamic + transfers + static x that makespan."""
    g, hw = cost.graph, cost.hw
    n = g.n
    opts = []
    for i in range(n):
        o = [(p, True) for p in range(len(cost.placements)) if np.isfinite(cost.lat_resident[i, p])]
        o += [(p, False) for p in range(len(cost.placements)) if np.isfinite(cost.lat_stream[i, p])]
        opts.append(o)
    orders = list(_topo_orders(n, g.preds))
    best_t, best_e = math.inf, math.inf
    for choice in itertools.product(*opts):
        held = {}
        for i, (p, r) in enumerate(choice):
            if r:
                for c in cost.placements[p]:
                    k = (c, g.tasks[i].weight_key)
                    held[k] = max(held.get(k, 0.0), g.tasks[i].weight_bytes / len(cost.placements[p]))
        use = np.zeros(hw.n)
        for (c, _), b in held.items():
            use[c] += b
        if np.any(use > cost.weight_capacity):
            continue
        dur = [cost.lat_resident[i, p] if r else cost.lat_stream[i, p] for i, (p, r) in enumerate(choice)]
        lead = [cost.placements[p][0] for p, _ in choice]
        delay = {}
        e_dyn = sum(cost.energy_resident[i, p] if r else cost.energy_stream[i, p] for i, (p, r) in enumerate(choice))
        for ed in g.edges:
            h = hw.hops[lead[ed.src], lead[ed.dst]]
            delay[(ed.src, ed.dst)] = (h * hw.nop.hop_latency + ed.bytes / hw.nop.link_bw) if h else 0.0
            e_dyn += ed.bytes * 8 * hw.nop.energy_per_bit * h
        ms_best = math.inf
        for order in orders:
            free = np.zeros(hw.n)
            end = [0.0] * n
            for i in order:
                t = max([end[s] + delay[(s, i)] for s in g.preds[i]], default=0.0)
                mem = list(cost.placements[choice[i][0]])
                t = max(t, free[mem].max())
                end[i] = t + dur[i]
                free[mem] = end[i]
            ms_best = min(ms_best, max(end))
        best_t = min(best_t, ms_best)
        best_e = min(best_e, e_dyn + cost.static_power * ms_best)
    return best_t, best_e


def tiny(seed, n=5):
    rng = np.random.default_rng(seed)
    hw = make_hw(1, 3, ["ws", "os", "ws"], srams=[2**16, 2**15, 2**16])   # small SRAM: residency competes
    g = random_graph(rng, n, p_edge=0.4, n_keys=2)
    return hw, g, CostModel(hw, g, group_sizes=(1,))


def B(obj):
    """5 s, seed 0, 2 threads (deterministic), minimising `obj`."""
    return SolveOptions(solver="cpsat", objective=obj, time_limit=5.0, seed=0, threads=2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_latency_optimum_matches_exhaustive(seed):
    hw, g, cost = tiny(seed)
    opt_t, _ = exhaustive(cost)
    r = cpsat.solve(Problem(g, hw, cost), B("latency"))
    assert r.status == "optimal"
    assert r.objective == pytest.approx(opt_t, rel=1e-3)
    assert r.objective >= opt_t * (1 - 1e-9)
    assert r.bound <= opt_t * (1 + 1e-9)


@pytest.mark.parametrize("seed", [3, 4])
def test_energy_optimum_matches_exhaustive(seed):
    hw, g, cost = tiny(seed)
    _, opt_e = exhaustive(cost)
    r = cpsat.solve(Problem(g, hw, cost), B("energy"))
    assert r.status == "optimal"
    assert r.objective == pytest.approx(opt_e, rel=1e-3)
    assert r.bound <= opt_e * (1 + 1e-9)


def test_sram_is_modelled_and_binding():
    """On some tiny instance the SRAM constraint is active in the model and the exhaustive optimum agrees."""
    seen = 0
    for seed in range(5, 12):
        hw, g, cost = tiny(seed, n=4)
        r = cpsat.solve(Problem(g, hw, cost), B("latency"))
        if r.stats.sram_keys:
            seen += 1
            assert r.objective == pytest.approx(exhaustive(cost)[0], rel=1e-3)
    assert seen


def _check(sched, cost):
    check = pytest.importorskip("mapc.compiler.check")
    return check.check(sched, cost)


@pytest.mark.parametrize("obj", ["latency", "energy", "edp"])
def test_never_worse_than_greedy_and_valid(obj):
    from mapc.solvers import greedy
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = chain_graph(3, 3)
    cost = CostModel(hw, g)
    p = Problem(g, hw, cost)
    r = cpsat.solve(p, SolveOptions(solver="cpsat", objective=obj, time_limit=2.0))
    h = greedy.solve(p, SolveOptions(objective=obj, time_limit=2.0))
    assert r.objective <= h.objective * (1 + 1e-12)
    assert r.objective == pytest.approx(score(r.schedule, cost, obj), rel=1e-12)
    assert r.bound is not None and r.bound <= r.objective
    assert r.bound <= h.objective
    assert _check(r.schedule, cost) == []
    assert r.stats.variables > 0 and r.stats.constraints > 0 and r.stats.candidates > 0


def test_pareto_front_monotone_and_written(tmp_path):
    from mapc.compiler.emit import pareto_csv
    from mapc.compiler.plots import render_pareto
    from mapc.solvers.pareto import front
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = chain_graph(3, 3)
    cost = CostModel(hw, g)
    r = cpsat.solve(Problem(g, hw, cost), SolveOptions(solver="cpsat", objective="edp", time_limit=3.0))
    pts = r.stats.pareto
    assert pts
    for (t0, e0), (t1, e1) in zip(pts, pts[1:]):
        assert t1 > t0 and e1 < e0                      # no point dominates another
    assert min(t * e for t, e in pts) == pytest.approx(r.objective, rel=1e-9)
    # what mapc.compiler.emit.write_outputs writes for a cpsat result with a front
    (tmp_path / "pareto.csv").write_text(pareto_csv(pts), encoding="utf-8")
    render_pareto(pts, tmp_path / "pareto.png")
    rows = (tmp_path / "pareto.csv").read_text().strip().splitlines()
    assert rows[0] == "makespan_s,energy_j,edp_js" and len(rows) == len(pts) + 1
    assert (tmp_path / "pareto.png").stat().st_size > 1000
    assert front([(1, 5), (2, 5), (2, 4), (3, 6), (0.5, 9)]) == [(0.5, 9.0), (1.0, 5.0), (2.0, 4.0)]


def test_deterministic_same_seed_same_schedule():
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = random_graph(np.random.default_rng(7), 10, n_keys=3)
    cost = CostModel(hw, g)
    b = SolveOptions(solver="cpsat", objective="edp", time_limit=1.0, seed=3, threads=2, wall_clock=False)
    a = cpsat.solve(Problem(g, hw, cost), b)
    c = cpsat.solve(Problem(g, hw, cost), b)
    assert np.array_equal(a.schedule.start, c.schedule.start)
    assert np.array_equal(a.schedule.placement_index, c.schedule.placement_index)


def test_infeasible_weights_named():
    hw = make_hw(2, 2, srams=[2**10] * 4)
    g = chain_graph(2, 1, K=256, N=256)
    cost = CostModel(hw, g, allow_streaming=False)
    with pytest.raises(InfeasibleError) as ei:
        cpsat.solve(Problem(g, hw, cost), B("latency"))
    msg = ei.value.message
    assert "m.L0.mb0" in msg and "131072 B" in msg and "32768 B" in msg and "768 B" in msg and "disabled" in msg


def test_infeasible_tensor_degree():
    hw = make_hw(2, 2)
    g = chain_graph(2, 1)
    cost = CostModel(hw, g, group_sizes=(1, 2, 4))
    with pytest.raises(InfeasibleError, match="tensor-parallel degree 8"):
        cpsat.solve(Problem(g, hw, cost, ParallelSpec(tensor=8)), B("latency"))


# forces the chain decomposition: a 36-task graph would otherwise be solved whole
DECOMPOSE = CpsatOptions(small_tasks=10, neighbourhood_tasks=12)


def _decomp_problem():
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = chain_graph(6, 6)
    cost = CostModel(hw, g)
    return Problem(g, hw, cost)


@pytest.mark.slow
@pytest.mark.parametrize("obj", ["edp", "energy"])
def test_decompose_path_valid_and_never_worse(obj):
    """Force the chain decomposition on a small graph: every window is feasible (the current schedule is a
    feasible hint), the result is valid and never worse than greedy."""
    from mapc.solvers import greedy
    p = _decomp_problem()
    r = cpsat.solve(p, SolveOptions(solver="cpsat", objective=obj, time_limit=8.0, cpsat=DECOMPOSE))
    h = greedy.solve(p, SolveOptions(objective=obj))
    assert r.stats.strategy == "decompose" and r.stats.windows >= 2
    assert "INFEASIBLE" not in r.stats.window_statuses
    assert r.objective <= h.objective * (1 + 1e-12)
    assert r.objective == pytest.approx(score(r.schedule, p.cost, obj), rel=1e-12)
    assert r.bound <= r.objective
    assert _check(r.schedule, p.cost) == []


def test_decompose_deterministic():
    p = _decomp_problem()
    b = SolveOptions(solver="cpsat", objective="edp", time_limit=2.0, seed=5, threads=2, wall_clock=False,
                     cpsat=DECOMPOSE)
    a, c = cpsat.solve(p, b), cpsat.solve(p, b)
    assert np.array_equal(a.schedule.start, c.schedule.start)
    assert np.array_equal(a.schedule.placement_index, c.schedule.placement_index)
    assert np.array_equal(a.schedule.resident, c.schedule.resident)


def test_neighbourhoods_cover_components():
    from mapc.solvers.decompose import components, neighbourhoods
    g = chain_graph(5, 4)
    comps = components(g)
    assert [c.tolist() for c in comps] == [list(range(5 * k, 5 * k + 5)) for k in range(4)]
    nbs = neighbourhoods(g, np.zeros(g.n), nb_max=10)
    assert [len(x) for x in nbs] == [10, 10]
    nbs = neighbourhoods(g, np.arange(g.n, dtype=float), nb_max=3)       # chains cut into runs
    assert sorted(np.concatenate(nbs).tolist()) == list(range(g.n)) and max(len(x) for x in nbs) <= 3


def test_latency_at_bound_is_optimal_without_search():
    """A chain on one chiplet type: the heuristic meets the critical path, so cpsat proves optimality."""
    hw = make_hw(1, 2)
    g = chain_graph(4, 1)
    cost = CostModel(hw, g, group_sizes=(1,))
    r = cpsat.solve(Problem(g, hw, cost), B("latency"))
    assert r.status == "optimal" and r.stats.strategy == "at-bound"
    assert r.bound == pytest.approx(r.objective) and _check(r.schedule, cost) == []


def test_identical_chains_proven_optimal():
    """2 layers x 6 identical micro-batches on a 2x2 mixed mesh (12 tasks): the per-chiplet load bounds and the
    chain symmetry break (5 orderings) let CP-SAT prove the latency optimum within the budget, in the
    deterministic single-worker mode. (2 x 4 chains became an at-bound case, solved without search, when the
    cost model's double-buffered dataflow changed the latencies.)"""
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = chain_graph(2, 6)
    cost = CostModel(hw, g)
    r = cpsat.solve(Problem(g, hw, cost),
                    SolveOptions(solver="cpsat", objective="latency", time_limit=10, threads=2, wall_clock=False))
    assert r.stats.strategy == "whole" and r.stats.chain_symmetry == 5
    assert r.status == "optimal" and r.stats.calls[-1]["status"] == "OPTIMAL"
    assert r.bound == pytest.approx(r.objective, rel=1e-3)
    assert _check(r.schedule, cost) == []
    from mapc.compiler.evaluate import lower_bound
    assert r.objective >= lower_bound(cost).value * (1 - 1e-9)


def test_hint_chains_sorted_into_symmetry_order():
    """The greedy hint's identical chains are permuted so their first tasks' option indices are non-decreasing
    in chain order (the model's symmetry break), and the permuted schedule is still valid with the same
    objective. The test instance is chosen so greedy's own order violates the break (else it proves nothing)."""
    from mapc.compiler.schedule import materialize
    from mapc.solvers import greedy
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = chain_graph(2, 4)
    cost = CostModel(hw, g)
    s = greedy.solve(Problem(g, hw, cost), SolveOptions(objective="edp")).schedule
    pi, res, st = np.asarray(s.placement_index), np.asarray(s.resident), np.asarray(s.start)
    opts = cpsat.candidates(cost, keep=(pi, res))      # the option literals cpsat builds its model from
    firsts = [0, 2, 4, 6]

    def keys(p, r):
        return [opts.index(t, int(p[t]), bool(r[t])) - int(opts.first[t]) for t in firsts]
    assert keys(pi, res) != sorted(keys(pi, res))
    p2, r2, s2 = cpsat.sort_chains(cost, opts, pi, res, st)
    assert keys(p2, r2) == sorted(keys(p2, r2))
    assert sorted(zip(p2.tolist(), r2.tolist())) == sorted(zip(pi.tolist(), res.tolist()))
    sched = materialize(cost, p2, r2, s2)
    assert _check(sched, cost) == []
    assert score(sched, cost, "edp") == pytest.approx(score(s, cost, "edp"), rel=1e-12)


@pytest.mark.parametrize("kind", ["chain", "tail", "stage", "region"])
def test_neighbourhood_families_partition_the_tasks(kind):
    """Every LNS family cuts the tasks into windows of at most nb_max tasks, each task in exactly one window."""
    from mapc.solvers import greedy
    from mapc.solvers.decompose import families
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = chain_graph(5, 4)
    cost = CostModel(hw, g)
    s = greedy.solve(Problem(g, hw, cost), SolveOptions(objective="latency")).schedule
    nbs = families(cost, np.asarray(s.placement_index), np.asarray(s.resident), np.asarray(s.start), 6, kind)
    assert sorted(np.concatenate(nbs).tolist()) == list(range(g.n))
    assert max(len(w) for w in nbs) <= 6
    if kind == "tail":       # the first window holds the tasks that end last
        end = np.asarray(s.start) + np.array([t.end - t.start for t in s.tasks])
        assert int(np.argmax(end)) in nbs[0].tolist()


def _packing(weights, sram=1.5 * 2**17):
    from mapc.core.graph import ExecutionGraph
    from conftest import make_task
    hw = make_hw(1, 2, srams=[sram] * 2)
    tasks = [make_task(i, 64, 256, int(w // 512), layer=i, key=f"w{i}") for i, w in enumerate(weights)]
    g = ExecutionGraph(tuple(tasks), ())
    return Problem(g, hw, CostModel(hw, g, allow_streaming=False, group_sizes=(1,)))


def test_infeasible_packing_names_constraints_and_numbers():
    """Three weight sets that each fit a chiplet alone but not together: the message names the CP-SAT core
    (every task's assignment, both chiplets' SRAM) with the capacities and the totals."""
    p = _packing([131072] * 3)
    with pytest.raises(InfeasibleError) as ei:
        cpsat.solve(p, B("latency"))
    msg = ei.value.message
    assert "sram[0]" in msg and "sram[1]" in msg and "assign[0]" in msg
    assert "147456 B" in msg and "393216 B > 294912 B" in msg and "disabled" in msg


def test_infeasible_packing_when_the_total_fits():
    """Total weights below the total capacity, but no chiplet holds two sets: said so, with the numbers."""
    p = _packing([90112] * 3)
    with pytest.raises(InfeasibleError) as ei:
        cpsat.solve(p, B("latency"))
    msg = ei.value.message
    assert "270336 B <= 294912 B" in msg and "no split" in msg and "sram[" in msg


@pytest.mark.parametrize("obj", ["edp", "energy"])
def test_anytime_is_best_so_far_across_restarts(obj):
    """The anytime curve (schedule.json `anytime`) is the best objective so far with the time it was found:
    monotone non-increasing even when the LNS restarts from a worse heuristic schedule and improves on that."""
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = chain_graph(3, 4)
    p = Problem(g, hw, CostModel(hw, g))
    r = cpsat.solve(p, SolveOptions(solver="cpsat", objective=obj, time_limit=4, seed=5,
                                    cpsat=CpsatOptions(small_tasks=4, neighbourhood_tasks=4)))
    assert r.stats.strategy == "decompose" and r.stats.restarts >= 1 and r.stats.accepted >= 1
    times = [t for t, _ in r.trace]
    vals = [v for _, v in r.trace]
    assert times == sorted(times)
    assert all(b < a for a, b in zip(vals, vals[1:]))
    assert vals[-1] == pytest.approx(r.objective, rel=1e-9)
