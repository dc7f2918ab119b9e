"""CP-SAT step `add_dram_channels`: DRAM channels as cumulative resources (issue 13), called from
`mapc.solvers.cpsat_model.build` after the chiplet resources.

Per channel h with bandwidth B_h: a cumulative over the option intervals whose task moves bytes through h, with
capacity `SCALE` and demand ceil(b_h / lat_o / B_h x SCALE), b_h the option's bytes on h (`CostModel.
channel_bytes`) and lat_o its exact latency in seconds (the interval is the latency rounded up to ticks, so the
tick schedule reserves at least the exact draw over at least the exact run; demands are rounded up, so any tick
schedule CP-SAT accepts is valid under `compiler.check`'s `dram` rule once re-timed). In an LNS window the fixed
tasks scheduled before it hold their draws as fixed intervals. A channel whose largest possible total demand
fits its capacity gets no constraint (it can never bind). The NoP links DRAM traffic crosses are resources too
(`mapc.hw.dram_resources`): a cumulative per link of capacity `link_bw`, built the same way, and so are the pooled
PIM internal bandwidth and PIM compute (demand: PIM bytes or FLOPs / latency). Intervals keep their fixed size at
the peak rate:
stretching a task into free bandwidth (`mapc.solvers.stretch`, used by the list-scheduling heuristics) would make
a demand bytes / variable duration, which a cumulative cannot state linearly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from mapc.hw.cost import CostModel
from mapc.hw.dram_resources import dram_resources, option_amounts
from mapc.solvers.cpsat_options import Options

SCALE = 1 << 20          # integer units of a channel's bandwidth


def _demand(cost: CostModel, task: np.ndarray, place: np.ndarray, resident: np.ndarray, lat: np.ndarray
            ) -> np.ndarray:
    """[len(task), resources] integer demand per DRAM-path resource (channels, then links; module docstring)."""
    rs = dram_resources(cost)
    H = rs.capacity.size
    if task.size == 0 or H == 0:
        return np.zeros((task.size, H), np.int64)
    by = option_amounts(cost, task, place, resident)
    bw = rs.capacity
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where((by > 0) & (lat[:, None] > 0), by / np.where(lat > 0, lat, 1.0)[:, None], 0.0)
    return np.ceil(rate / bw[None, :] * SCALE - 1e-9).astype(np.int64)


def add_dram_channels(m: cp_model.CpModel, cost: CostModel, opts: Options, intervals: list[Any],
                      fixed: Mapping[str, Any] | None, window_lo: int, hi: int, stats: dict[str, Any]) -> None:
    """DRAM channels: per channel, sum of the draws of the intervals running at any tick <= its bandwidth
    (module docstring). `intervals[o]` is option o's interval."""
    dem = _demand(cost, opts.task, opts.place, opts.resident, opts.lat)
    fx_iv: list[Any] = []
    fx_dem = np.zeros((0, dem.shape[1]), np.int64)
    if fixed is not None and dem.size:
        ts = np.array(sorted(fixed["sched"]), dtype=np.int64)
        if ts.size:
            s, f = fixed["start_ticks"][ts].astype(np.int64), fixed["end_ticks"][ts].astype(np.int64)
            keep = (f > s) & (f > window_lo) & (s < hi)
            ts, s, f = ts[keep], s[keep], f[keep]
            pi, res = np.asarray(fixed["pi"])[ts], np.asarray(fixed["res"], dtype=bool)[ts]
            fx_dem = _demand(cost, ts, pi, res, cost.task_latency(np.asarray(fixed["pi"]),
                                                                     np.asarray(fixed["res"], dtype=bool))[ts])
            fx_iv = [m.new_fixed_size_interval_var(int(a), int(b - a), f"fd{t}") for t, a, b in zip(ts, s, f)]
    n_cum = 0
    for h in range(dem.shape[1]):
        col, fcol = dem[:, h], fx_dem[:, h]
        per_task = np.zeros(len(opts.first) - 1, np.int64)
        if col.size:
            np.maximum.at(per_task, np.searchsorted(opts.first, np.arange(opts.size), side="right") - 1, col)
        if int(per_task.sum()) + int(fcol.sum()) <= SCALE:
            continue
        ivs = [intervals[o] for o in np.nonzero(col > 0)[0]] + [fx_iv[j] for j in np.nonzero(fcol > 0)[0]]
        ds = [int(col[o]) for o in np.nonzero(col > 0)[0]] + [int(fcol[j]) for j in np.nonzero(fcol > 0)[0]]
        m.add_cumulative(ivs, ds, SCALE)
        n_cum += 1
    stats["dram_cumulatives"] = n_cum
