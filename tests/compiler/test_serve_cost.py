"""Iteration pricing of `mapc serve` (mapc.compiler.serve_cost): the grid, its interpolation and the cache."""

from __future__ import annotations

import pytest

from mapc.compiler.serve_cost import IterationPricer, Point, Shape, corners, exact_point, grid_pair, round_pow2


def test_grid_pairs():
    assert grid_pair(0) == (0, 0, 0.0)
    assert grid_pair(1) == (1, 1, 0.0)
    assert grid_pair(8) == (8, 8, 0.0)
    assert grid_pair(12) == (8, 16, 0.5)
    assert grid_pair(0.5) == (0, 1, 0.5)
    assert grid_pair(0.5, lo_min=1) == (1, 1, 0.0)
    assert [round_pow2(n) for n in (1, 2, 3, 5, 6, 11, 12)] == [1, 2, 4, 4, 8, 8, 16]


def test_a_shape_on_the_grid_is_one_point():
    s = Shape("m", 8, 512.0, 1, 2, 1024)
    assert corners(s) == [(1.0, Point("m", 8, 512, 1, (512, 512)))]
    assert corners(Shape("m", 0, 0.0, 1, 1, 512)) == [(1.0, Point("m", 0, 0, 1, (512,)))]
    assert corners(Shape("m", 4, 100.0, 2, 0, 0))[0][1].width == 2
    assert corners(Shape("m", 0, 0.0, 1, 3, 1024), exact_seqs=4) == [(1.0, Point("m", 0, 0, 1, (342, 341, 341)))]
    assert corners(Shape("m", 0, 0.0, 1, 3, 1024)) == [(1.0, Point("m", 0, 0, 1, (256,) * 4))]   # rounded to 4
    assert corners(Shape("m", 0, 0.0, 1, 12, 1024), exact_seqs=8)[0][1].prefill_lengths == (64,) * 16


def test_weights_sum_to_one_and_bilinear_functions_are_exact():
    f = lambda p: 3.0 + 0.5 * p.batch + 0.01 * p.context + 0.002 * p.batch * p.context + 1e-4 * sum(p.prefill_lengths)
    pr = IterationPricer(f)
    for s in (Shape("m", 11, 700.5, 1, 0, 0), Shape("m", 3, 37.0, 1, 1, 300), Shape("m", 0, 0.0, 1, 3, 1500)):
        cs = corners(s)
        assert sum(w for w, _ in cs) == pytest.approx(1.0) and len(cs) <= 8
        want = 3.0 + 0.5 * s.batch + 0.01 * s.context * (s.batch > 0) + 0.002 * s.batch * s.context \
            + 1e-4 * s.prefill_tokens
        assert pr(s) == pytest.approx(want, rel=1e-12)


def test_exact_points_keep_the_tokens():
    p = exact_point(Shape("m", 5, 300.4, 1, 3, 1000))
    assert p == Point("m", 5, 300, 1, (334, 333, 333))
    assert exact_point(Shape("m", 0, 0.0, 1, 1, 7)) == Point("m", 0, 0, 1, (7,))


def test_each_point_is_solved_once():
    calls: list[Point] = []

    def solve(p: Point) -> float:
        calls.append(p)
        return 1.0 + p.batch

    pr = IterationPricer(solve)
    for _ in range(3):
        pr(Shape("m", 12, 512.0, 1, 0, 0))
        pr(Shape("m", 13, 512.0, 1, 0, 0))
    assert len(calls) == len(set(calls)) == 2
    st = pr.stats
    assert (st.calls, st.points) == (6, 2)
    assert pr.decode("m", 13, 700.0, 1) == pytest.approx(pr(Shape("m", 13, 700.0, 1, 0, 0)), rel=1e-12)
    ex = IterationPricer(solve, exact=True)
    assert ex(Shape("m", 12, 512.0, 1, 0, 0)) == 13.0
