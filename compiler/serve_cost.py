"""Iteration pricing for `mapc serve`: an iteration's shape, the grid it is bucketed on, and the cache (SI: s).

An iteration of one model is described by its `Shape`: the decode requests in it (count, mean KV length each
attends to, tokens each emits) and the prefill work admitted to it (sequences, tokens). Its time comes from a
compiled schedule: `IterationPricer` hands `Point`s to a `solve` callback (in `mapc serve`: `api.lower` of a
workload holding exactly that iteration, then `api.solve`; the makespan is the time) and caches them by point.

Bucketing (explicit, so that 10,000 requests need a few dozen schedules, not one per iteration):

* decode batch `b` and prefill tokens `p` live on the grid {0, 1, 2, 4, 8, ...} (0 and powers of two);
* mean decode context `c` (tokens) on the powers of two {1, 2, 4, ...};
* prefill sequences `n` are kept exactly up to `exact_seqs` (the app passes the file's micro-batch count: up to
  it, each prompt is a micro-batch of its own and `n` sets the pipeline's shape) and rounded to the nearest power
  of two (in log scale) above it; a grid point's `p` tokens are spread evenly over its `n` prompts (lengths
  differing by at most one).

The time of a shape is the multilinear interpolation, in (b, c, p), of the schedule times at the corners of
its grid cell (2 to 8 points; a coordinate on the grid uses one). Decode time is affine in b and in b x c for a
fixed pipeline shape (weights read once per micro-batch, KV bytes and attention FLOPs proportional to b x c), and
bilinear interpolation is exact for a + x b + y c + z b c, so the error comes from what is not affine: the
micro-batch count min(b, microbatches) changing inside a cell, tiling edges, and which bound (compute, DRAM,
collective) limits a task. `bench/serve_bench.py` measures it against unbucketed pricing (`exact=True`: one
schedule per distinct shape, mean context rounded to a token, prefill lengths kept) and `bench/serve.md`
reports it. A shape exactly on the grid is priced by exactly one schedule (tests rely on it).

Prefill work is lowered as `n` prompts of its tokens; a chunk of a prompt whose earlier chunks are already in
the KV cache (`--chunk`) is priced as a prompt of the chunk's length: its attention over the earlier chunks'
keys is left out (a few per cent of a chunk's FLOPs for Llama-class models at a few thousand tokens).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Shape:
    """One iteration of one model, exactly: `batch` decode requests attending to `context` keys on average
    (the KV cache including the tokens this step appends), `width` tokens each, and `prefill_seqs` prompts (or
    prompt chunks) of `prefill_tokens` tokens in all."""

    model: str
    batch: int
    context: float
    width: int
    prefill_seqs: int
    prefill_tokens: int


@dataclass(frozen=True)
class Point:
    """What is lowered and scheduled: `batch` decode requests at `context` keys emitting `width` tokens each,
    plus prompts of the lengths `prefill_lengths` (one entry per prompt; () without prefill)."""

    model: str
    batch: int
    context: int
    width: int
    prefill_lengths: tuple[int, ...]


def grid_pair(x: float, lo_min: int = 0) -> tuple[int, int, float]:
    """(lo, hi, weight of hi) of x on {lo_min} U powers of two: lo <= x <= hi, neighbours on the grid."""
    if x <= 0:
        return lo_min, lo_min, 0.0
    if x < 1:
        if lo_min >= 1:
            return 1, 1, 0.0
        return 0, 1, float(x)
    hi = 1 << math.ceil(math.log2(x))
    lo = hi >> 1 if hi > x else hi
    if lo == hi:
        return lo, hi, 0.0
    return lo, hi, (x - lo) / (hi - lo)


def round_pow2(n: int) -> int:
    """The power of two nearest to n >= 1 in log scale."""
    return 1 << max(0, round(math.log2(max(1, n))))


def spread(tokens: int, n: int) -> tuple[int, ...]:
    """`tokens` over min(n, tokens) prompts, lengths differing by at most one (longer ones first)."""
    n = max(1, min(n, tokens))
    q, r = divmod(tokens, n)
    return (q + 1,) * r + (q,) * (n - r)


def corners(s: Shape, exact_seqs: int = 1) -> list[tuple[float, Point]]:
    """(weight, grid point) pairs whose weighted sum of times is the interpolated time of `s` (module doc)."""
    n = s.prefill_seqs if s.prefill_seqs <= exact_seqs else round_pow2(s.prefill_seqs)
    bs = _axis(s.batch, 0) if s.batch > 0 else [(1.0, 0)]
    cs = _axis(s.context, 1) if s.batch > 0 else [(1.0, 0)]
    ps = _axis(s.prefill_tokens, 0) if s.prefill_tokens > 0 else [(1.0, 0)]
    out = []
    for wb, b in bs:
        for wc, c in cs:
            for wp, p in ps:
                w = wb * wc * wp
                if w <= 0:
                    continue
                pre = spread(p, n) if p > 0 else ()
                out.append((w, Point(s.model, b, c if b else 0, s.width if b else 1, pre)))
    return out


def _axis(x: float, lo_min: int) -> list[tuple[float, int]]:
    lo, hi, w = grid_pair(x, lo_min)
    if w <= 0 or lo == hi:
        return [(1.0, lo)]
    return [(1.0 - w, lo), (w, hi)]


def exact_point(s: Shape) -> Point:
    """The shape itself as a point: mean context rounded to a token, prefill tokens spread evenly over the
    sequences (lengths differing by at most one)."""
    pre = spread(s.prefill_tokens, s.prefill_seqs) if s.prefill_tokens > 0 else ()
    b = s.batch
    return Point(s.model, b, max(1, int(round(s.context))) if b else 0, s.width if b else 1, pre)


@dataclass(frozen=True)
class PricerStats:
    """How the pricer was used: iterations priced, schedules solved and their wall time."""

    calls: int
    points: int
    solve_s: float

    def to_dict(self) -> dict[str, float]:
        return {"iterations_priced": self.calls, "schedules_solved": self.points, "schedule_wall_s": self.solve_s}


class IterationPricer:
    """Iteration time (s) of a `Shape` from compiled schedules of grid points (or exact points with
    `exact=True`), each point solved once by `solve` and cached; shapes are cached too. `decode` is the fast
    path of a decode-only shape: per grid cell of the context the time is linear in it, so each cell is
    computed once (the same value as the shape's interpolation, up to rounding)."""

    def __init__(self, solve: Callable[[Point], float], *, exact: bool = False, exact_seqs: int = 1) -> None:
        self._solve = solve
        self.exact = exact
        self.exact_seqs = exact_seqs
        self._points: dict[Point, float] = {}
        self._shapes: dict[Shape, float] = {}
        self._cells: dict[tuple[str, int, int, int, int], tuple[float, float]] = {}
        self._calls = 0
        self._solve_s = 0.0

    def point(self, p: Point) -> float:
        """The schedule time of one point (solved on first use)."""
        v = self._points.get(p)
        if v is None:
            t = time.perf_counter()
            v = float(self._solve(p))
            self._solve_s += time.perf_counter() - t
            self._points[p] = v
        return v

    def _price(self, s: Shape) -> float:
        v = self._shapes.get(s)
        if v is None:
            if self.exact:
                v = self.point(exact_point(s))
            else:
                v = sum(w * self.point(p) for w, p in corners(s, self.exact_seqs))
            self._shapes[s] = v
        return v

    def __call__(self, s: Shape) -> float:
        self._calls += 1
        return self._price(s)

    def decode(self, model: str, batch: int, context: float, width: int) -> float:
        """The time of `Shape(model, batch, context, width, 0, 0)` (a decode-only iteration)."""
        self._calls += 1
        if self.exact:
            return self._price(Shape(model, batch, context, width, 0, 0))
        lo, hi, _ = grid_pair(context, 1)
        key = (model, batch, width, lo, hi)
        cell = self._cells.get(key)
        if cell is None:
            t_lo = self._price(Shape(model, batch, float(lo), width, 0, 0))
            t_hi = self._price(Shape(model, batch, float(hi), width, 0, 0))
            cell = self._cells[key] = (t_lo, (t_hi - t_lo) / (hi - lo) if hi > lo else 0.0)
        return cell[0] + (context - lo) * cell[1]

    @property
    def stats(self) -> PricerStats:
        return PricerStats(self._calls, len(self._points), self._solve_s)
