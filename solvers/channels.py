"""DRAM channels (and the NoP links DRAM traffic crosses) as shared resources of a schedule: per-resource
bandwidth-occupancy timelines (issue 13). Resources are `mapc.hw.dram_resources`'s: the channels, then the
directed links on the routes from the channels' attach chiplets to the members, then the pooled PIM internal
bandwidth and PIM compute (FLOP/s: a PIM task's FLOPs / duration); "channel" below means any of them.


The cost model prices a task at its placement's peak DRAM rate (`CostModel.group_dram_bw`: what its chiplets and
NoP routes can take with its channels to itself) and says which channels serve it (`CostModel.dram_frac`). A
task of duration d that moves b_h bytes through channel h draws b_h / d from h for its whole run (its traffic
spread evenly over the task, the convention `compiler.check` verifies and `mapc simulate` replays). A schedule is
valid only if, at every instant, the draws on each channel sum to at most its bandwidth.

`ChannelTimeline` keeps, per channel, the booked draw as a piecewise-constant function of time (sorted
breakpoints; the last segment runs to infinity). The list scheduler asks `earliest(t, d, rates)` for the first
start >= t at which a task's draws fit on every one of its channels over [start, start + d) (gaps left between
earlier bookings are reused, like chiplet gaps), then `book`s it. By default a task
runs at its priced (peak-rate) latency and waits for its channels when they are busy (CP-SAT's fixed-size
intervals with a cumulative per channel model the same thing). The stretching list scheduler
(`mapc.solvers.listsched.list_schedule_timed(stretch=True)`) may instead start it at a release instant
(`releases`) or now, at the rate its channels have free over its run (`free_over`), and let it take longer
(`mapc.hw.bandwidth`): whichever finishes first. Either way a booking is a constant draw over the task's run.
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np
import numpy.typing as npt

from mapc.hw.cost import CostModel
from mapc.hw.dram_resources import dram_resources, resource_bytes

FIT_TOL = 1e-12      # relative headroom on a channel's bandwidth when fitting a draw (float sums of rates)


def channel_rates(cost: CostModel, placement_index: npt.ArrayLike, resident: npt.ArrayLike) -> np.ndarray:
    """[n, resources] B/s each task draws from each DRAM-path resource (channels, then the NoP links its DRAM
    traffic crosses, `mapc.hw.dram_resources`) over its run: bytes through the resource / its latency."""
    pi = np.asarray(placement_index, dtype=np.int64)
    res = np.asarray(resident, dtype=bool)
    lat = cost.task_latency(pi, res)
    by = resource_bytes(cost, pi, res)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((by > 0) & (lat[:, None] > 0), by / np.where(lat > 0, lat, 1.0)[:, None], 0.0)


class ChannelTimeline:
    """Booked draw per channel over time (module docstring). `capacity[h]` in B/s."""

    def __init__(self, capacity: npt.ArrayLike) -> None:
        self.cap = [float(c) for c in np.asarray(capacity, dtype=np.float64)]
        self.ts: list[list[float]] = [[0.0] for _ in self.cap]     # segment k is [ts[k], ts[k + 1])
        self.use: list[list[float]] = [[0.0] for _ in self.cap]

    @classmethod
    def of(cls, cost: CostModel) -> "ChannelTimeline":
        """One timeline per DRAM-path resource of `cost` (channels, then links: `dram_resources`)."""
        return cls(dram_resources(cost).capacity)

    def _first_fit(self, h: int, t: float, d: float, rate: float) -> float:
        """The first start >= t at which `rate` fits on channel h over [start, start + d): one forward pass over
        the segments (a clashing segment moves the candidate start to its end)."""
        ts, use = self.ts[h], self.use[h]
        lim = self.cap[h] * (1 + FIT_TOL) - rate
        k = bisect_right(ts, t) - 1
        n = len(ts)
        cand = t
        while True:
            if use[k] > lim:
                if k + 1 >= n:
                    raise ValueError(f"a draw of {rate:.6g} B/s never fits channel {h} ({self.cap[h]:.6g} B/s)")
                cand = ts[k + 1]
            k += 1
            if k >= n or ts[k] >= cand + d:
                return cand

    def earliest(self, t: float, d: float, rates: list[tuple[int, float]]) -> float:
        """The first start >= t at which every (channel, rate) of `rates` fits over [start, start + d)."""
        if d <= 0 or not rates:
            return t
        while True:
            t0 = t
            for h, r in rates:
                t = self._first_fit(h, t, d, r)
            if t == t0:
                return t

    def free_over(self, h: int, t: float, d: float) -> float:
        """The minimum free bandwidth (B/s, >= 0) of channel h over [t, t + d): what a task starting at t and
        lasting d can draw from it throughout (`fits` and the stretching list scheduler)."""
        ts, use = self.ts[h], self.use[h]
        k = bisect_right(ts, t) - 1
        top = use[k]
        k += 1
        while k < len(ts) and ts[k] < t + d:
            top = max(top, use[k])
            k += 1
        return max(self.cap[h] - top, 0.0)

    def fits(self, t: float, d: float, rates: list[tuple[int, float]]) -> bool:
        """Whether every (channel, rate) of `rates` fits over [t, t + d) (the tolerance of `earliest`)."""
        return all(r <= self.free_over(h, t, d) + self.cap[h] * FIT_TOL for h, r in rates)

    def releases(self, h: int, t0: float, t1: float) -> list[float]:
        """The instants in (t0, t1) at which channel h's booked draw drops: where a task waiting for it could
        start at a higher rate."""
        ts, use = self.ts[h], self.use[h]
        k = bisect_right(ts, t0)
        out = []
        while k < len(ts) and ts[k] < t1:
            if use[k] < use[k - 1]:
                out.append(ts[k])
            k += 1
        return out

    def _split(self, h: int, t: float) -> int:
        """Index of the segment starting at t (inserting a breakpoint there if needed)."""
        ts, use = self.ts[h], self.use[h]
        k = bisect_right(ts, t) - 1
        if ts[k] == t:
            return k
        ts.insert(k + 1, t)
        use.insert(k + 1, use[k])
        return k + 1

    def book(self, t: float, d: float, rates: list[tuple[int, float]]) -> None:
        """Add each draw over [t, t + d)."""
        if d <= 0:
            return
        for h, r in rates:
            if r <= 0:
                continue
            a = self._split(h, t)
            b = self._split(h, t + d)
            ts, use = self.ts[h], self.use[h]
            for k in range(a, b):
                use[k] += r
            for k in (b, a):            # merge equal neighbours (back-to-back bookings of one rate)
                if 0 < k < len(ts) and use[k] == use[k - 1]:
                    del ts[k], use[k]


def task_draws(rates: np.ndarray) -> list[list[tuple[int, float]]]:
    """Per task, its (resource, B/s) pairs with a positive draw (rows of `channel_rates`)."""
    out: list[list[tuple[int, float]]] = [[] for _ in range(rates.shape[0])]
    rows, cols = np.nonzero(rates > 0)
    for i, h, r in zip(rows.tolist(), cols.tolist(), rates[rows, cols].tolist()):
        out[i].append((h, r))
    return out
