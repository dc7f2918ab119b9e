"""GA: deterministic with a seed, elitism (best never worse), only checker-valid schedules, batch pricing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import chain_graph, make_hw

from mapc import api
from mapc.compiler.check import check
from mapc.compiler.objective import score
from mapc.compiler.problem import Problem
from mapc.core.options import GaOptions, SolveOptions
from mapc.hw.cost import CostModel
from mapc.solvers import ga
from mapc.solvers.encoding import decode_placements, encoding, evaluate_batch, genome_from_placement, segment_starts
from mapc.solvers.listsched import choose_residency, list_schedule, objective_of


@pytest.fixture(scope="module")
def problem():
    hw = make_hw(2, 3, ["ws", "os", "ws", "os", "ws", "os"])
    g = chain_graph(layers=6, microbatches=4, M=128, K=512, N=512)
    return Problem(g, hw, CostModel(hw, g, group_sizes=(1, 2)))


def opts(time_limit, seed, **ga_kw):
    """GA options minimising EDP (the fixture problem's objective before objectives moved to the options)."""
    return SolveOptions(solver="ga", objective="edp", time_limit=time_limit, seed=seed, ga=GaOptions(**ga_kw))


def test_deterministic_with_seed(problem):
    a = ga.solve(problem, opts(5, 3, population=10, generations=6))
    b = ga.solve(problem, opts(5, 3, population=10, generations=6))
    assert np.array_equal(a.schedule.placement_index, b.schedule.placement_index)
    assert np.array_equal(a.schedule.start, b.schedule.start)
    assert a.objective == b.objective
    assert a.stats.generations == 6 and a.stats.deterministic


def test_best_never_worse_and_valid(problem):
    r = ga.solve(problem, opts(5, 1, population=12, generations=10))
    best = r.stats.best_per_generation
    assert len(best) == 11
    assert all(b <= a + 1e-15 * abs(a) for a, b in zip(best, best[1:])), best
    vals = [v for _, v in r.trace]
    assert all(b < a for a, b in zip(vals, vals[1:]))
    assert check(r.schedule, problem.cost) == []
    assert r.objective == pytest.approx(score(r.schedule, problem.cost, "edp"), rel=1e-9)
    assert r.objective <= vals[-1] * (1 + 1e-9)
    assert r.status == "heuristic" and r.stats.evals_per_s > 0


def test_no_worse_than_seeds(problem):
    from mapc.solvers import baseline, greedy
    r = ga.solve(problem, opts(5, 0, population=8, generations=4))
    assert r.objective <= greedy.solve(problem).objective * (1 + 1e-9)
    assert r.objective <= baseline.solve(problem).objective * (1 + 1e-9)


def test_decode_and_batch_pricing_match_scalar(problem):
    cost = problem.cost
    enc = encoding(problem.graph)
    assert enc.n_units == 6 and enc.n_streams == 4
    rng = np.random.default_rng(0)
    G = 5
    B = (rng.random((G, enc.n_units)) < 0.4) | enc.model_first
    X = rng.integers(len(cost.placements), size=(G, enc.n_streams, enc.n_units))
    PI = decode_placements(enc, B, X)
    # every task takes the gene of its segment's first unit in its own stream
    ss = segment_starts(B)
    for j in range(G):
        for i, t in enumerate(problem.graph.tasks):
            assert PI[j, i] == X[j, enc.stream[i], ss[j, enc.unit[i]]]
    K = np.tile(np.arange(problem.graph.n, 0, -1, dtype=float), (G, 1))
    val, RES, ST = evaluate_batch(cost, PI, K, "edp")
    for j in range(G):
        res = choose_residency(cost, PI[j])
        st = list_schedule(cost, PI[j], res, K[j])
        assert val[j] == pytest.approx(objective_of(cost, PI[j], res, st, "edp"), rel=1e-12)


def test_genome_from_placement_roundtrip(problem):
    enc = encoding(problem.graph)
    pi = np.random.default_rng(2).integers(len(problem.cost.placements), size=problem.graph.n)
    B, X = genome_from_placement(enc, pi)
    assert np.array_equal(decode_placements(enc, B[None], X[None])[0], pi)


def test_bad_options(problem):
    from mapc.core.errors import MapcError
    with pytest.raises(MapcError):
        ga.solve(problem, opts(1, 0, population=1))


@pytest.mark.slow
def test_llama_example_evals_per_s():
    p = api.lower(api.load(Path(__file__).resolve().parents[2] / "examples" / "llama2_7b_chat.dsl"), "mcm6x6")
    r = ga.solve(p, SolveOptions(solver="ga", time_limit=3, seed=0))
    print(f"\nGA on llama2_7b_chat/mcm6x6: {p.graph.n} tasks, {r.stats.evals_per_s:.0f} evaluations/s, "
          f"{r.stats.generations} generations")
    assert check(r.schedule, p.cost) == []


def test_cache_counts_and_determinism(problem):
    a = ga.solve(problem, opts(5, 4, population=10, generations=8))
    b = ga.solve(problem, opts(5, 4, population=10, generations=8))
    s = a.stats
    assert s.decodes + s.cache_hits == s.evaluations and s.decodes > 0
    assert s.evaluations == 10 + 8 * (10 - GaOptions().elite)
    assert a.objective == b.objective and s.cache_hits == b.stats.cache_hits


def test_cheaper_mutation_lowers_segment_energy(problem):
    cost = problem.cost
    enc = encoding(problem.graph)
    rng = np.random.default_rng(0)
    ops = ga.Ops(cost, enc, rng, np.arange(len(cost.placements)))
    pi0 = np.full(problem.graph.n, int(np.argmax(ops.energy.sum(axis=0))), dtype=np.int64)   # costliest
    B, X = genome_from_placement(enc, pi0)
    K = np.zeros(problem.graph.n)
    e = lambda pi: ops.energy[np.arange(pi.size), pi].sum()
    e0 = e(pi0)
    for _ in range(20):
        ops.cheaper(B, X, K)
    e1 = e(decode_placements(enc, B[None], X[None])[0])
    assert e1 < e0
