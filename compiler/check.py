"""Independent schedule checker: re-derives every constraint from the cost model, trusts nothing a solver says.

`check(schedule, cost)` returns a list of `Violation`s (empty = valid); `assert_valid` raises a `MapcError`
listing them. Rules (times in seconds, tolerance `TOL` relative to the schedule's time scale):

- missing:        every task id 0..n-1 appears exactly once, in order
- placement:      a task's chiplet tuple is one of `cost.placements`
- negative_start: no start time below zero (or NaN)
- duration:       end - start >= the cost model's latency for the placement and residency (and that is finite)
- dependency:     consumer start >= producer end + transfer time between the two placements' lead chiplets
- overlap:        no two tasks overlap in time on any chiplet (a group occupies every member)
- transfer:       every edge between different lead chiplets has a transfer, which starts after its producer
                  ends, ends before its consumer starts, lasts at least the transfer latency, joins the right
                  chiplets, follows a shortest path of NoP links and carries the edge's bytes
- sram:           per chiplet, the sum over DISTINCT weight keys resident on it of the per-member share
                  `cost.weight_share[task, p]` (max over the key's tasks) is <= `cost.weight_capacity[chiplet]`
- dram:           DRAM channels are shared: a task draws (its DRAM bytes on channel h, `cost.channel_bytes`) /
                  (end - start) from h for its whole run; at every instant the draws on each channel sum to at
                  most its bandwidth, and all draws to at most the aggregate (a sweep over start/end events, ends
                  before starts at equal times; relative tolerance `BW_TOL`)
- link:           the same for every directed NoP link on a DRAM route (`mapc.hw.dram_resources`): the tasks'
                  DRAM bytes crossing it / their durations sum to at most `link_bw` at every instant
- pim:            the package's PIM units are shared (`mapc.hw.pim`: weights and KV interleaved over all stacks,
                  so every task's PIM kernels spread over all units): at every instant the tasks' PIM internal
                  bytes / durations sum to at most the units' total internal bandwidth, and their PIM FLOPs /
                  durations to at most the units' total FLOP/s
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mapc.core.errors import MapcError
from mapc.core.schedule import Schedule
from mapc.hw.cost import CostModel
from mapc.hw.dram_resources import all_links

TOL = 1e-12          # relative tolerance on times and bytes
MAX_LISTED = 20      # violations spelled out by `assert_valid`
BW_TOL = 1e-9        # relative tolerance on a channel's bandwidth (float sums of bytes / duration)


@dataclass(frozen=True)
class Violation:
    kind: str                    # missing | placement | negative_start | duration | dependency | overlap | transfer | sram
                                 # | dram | link | pim
    message: str
    tasks: tuple[int, ...] = ()


def check(schedule: Schedule, cost: CostModel) -> list[Violation]:
    """All violations of `schedule` (a `mapc.compiler.schedule.Schedule`) against `cost` (a `CostModel`)."""
    g = cost.graph
    n = g.n
    out: list[Violation] = []
    tasks = schedule.tasks
    ids = [t.task for t in tasks]
    if ids != list(range(n)):
        have = set(ids)
        missing = sorted(set(range(n)) - have)
        extra = sorted(i for i in have if not 0 <= i < n)
        dup = sorted(i for i, c in Counter(ids).items() if c > 1)
        msg = (f"schedule must list tasks 0..{n - 1} once each in order: missing {missing[:10]}, "
               f"unknown {extra[:10]}, duplicated {dup[:10]}")
        return [Violation("missing", msg, tuple(missing[:10]))]
    if n == 0:
        return out

    pindex = {p: i for i, p in enumerate(cost.placements)}
    pi = np.full(n, -1, dtype=np.int64)
    for t in tasks:
        p = pindex.get(tuple(t.placement))
        if p is None:
            out.append(Violation("placement", f"task {t.task}: chiplets {tuple(t.placement)} are not a placement "
                                              f"of the cost model", (t.task,)))
        else:
            pi[t.task] = p
    if out:
        return out
    st = np.array([t.start for t in tasks], dtype=np.float64)
    en = np.array([t.end for t in tasks], dtype=np.float64)
    res = np.array([t.resident for t in tasks], dtype=bool)
    scale = max(1e-30, float(np.nanmax(np.abs(np.concatenate([st, en]))[np.isfinite(np.concatenate([st, en]))],
                                       initial=0.0)))
    tol = TOL * scale

    # negative start
    for i in np.nonzero(~(st >= 0.0))[0]:
        out.append(Violation("negative_start", f"task {i} starts at {st[i]:.6g} s (< 0)", (int(i),)))

    # duration
    lat = cost.task_latency(pi, res)
    bad = ~np.isfinite(lat) | ~np.isfinite(en) | (en - st < lat * (1 - TOL) - tol)
    for i in np.nonzero(bad)[0]:
        mode = "resident" if res[i] else "streamed"
        out.append(Violation("duration", f"task {i} on {cost.placements[pi[i]]} ({mode}) lasts "
                                         f"{en[i] - st[i]:.6g} s but the cost model needs {lat[i]:.6g} s", (int(i),)))

    # dependencies
    if g.edges:
        s, d, b = g.edge_src, g.edge_dst, g.edge_bytes
        ls, ld = cost.lead[pi[s]], cost.lead[pi[d]]
        tt = cost.transfer_time(b, ls, ld)
        late = st[d] < en[s] + tt - tol
        for k in np.nonzero(late)[0]:
            out.append(Violation("dependency", f"task {d[k]} starts at {st[d[k]]:.6g} s before the data of task "
                                               f"{s[k]} arrives at {en[s[k]] + tt[k]:.6g} s (end {en[s[k]]:.6g} s + "
                                               f"transfer {tt[k]:.6g} s)", (int(s[k]), int(d[k]))))

    out.extend(_overlaps(cost, pi, st, en, tol))
    out.extend(_transfers(schedule, cost, pi, st, en, tol))
    out.extend(_sram(cost, pi, res))
    out.extend(_dram(cost, pi, res, st, en))
    out.extend(_links(cost, pi, res, st, en))
    out.extend(_pim(cost, pi, res, st, en))
    return out


def dram_draws(cost: CostModel, placement_index: npt.ArrayLike, resident: npt.ArrayLike, start: npt.ArrayLike,
               end: npt.ArrayLike) -> np.ndarray:
    """[n, channels] B/s each task draws from each DRAM channel over its run: bytes there / (end - start)."""
    by = cost.channel_bytes(placement_index, resident)
    d = np.asarray(end, dtype=np.float64) - np.asarray(start, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(by > 0, by / np.where(d > 0, d, np.nan)[:, None], 0.0)


def _dram(cost: CostModel, pi: np.ndarray, res: np.ndarray, st: np.ndarray, en: np.ndarray) -> list[Violation]:
    """Per channel and for the package: the largest sum of draws over any instant, by an event sweep."""
    hw = cost.hw
    if not hw.dram:
        return []
    rate = dram_draws(cost, pi, res, st, en)
    out: list[Violation] = []
    for i in np.nonzero(np.isnan(rate).any(axis=1))[0]:
        out.append(Violation("dram", f"task {i} moves DRAM bytes in zero time", (int(i),)))
    rate = np.nan_to_num(rate)
    cols = [(f"DRAM {ch.name}", ch.bandwidth, rate[:, h]) for h, ch in enumerate(hw.dram)]
    cols.append(("DRAM all channels", hw.dram_bandwidth, rate.sum(axis=1)))
    for name, cap, r in cols:
        out.extend(_sweep("dram", name, cap, r, st, en))
    return out


def _links(cost: CostModel, pi: np.ndarray, res: np.ndarray, st: np.ndarray, en: np.ndarray) -> list[Violation]:
    """Per NoP link on a DRAM route: the largest sum of the tasks' DRAM draws through it over any instant."""
    links, frac = all_links(cost)                # every link, not only those the schedulers track
    if not links:
        return []
    by = cost.part_at("dram_bytes", res, pi)[:, None] * frac[pi]
    d = en - st
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(by > 0, by / np.where(d > 0, d, np.inf)[:, None], 0.0)    # zero-time: rule dram says it
    out: list[Violation] = []
    for j, (u, v) in enumerate(links):
        out.extend(_sweep("link", f"NoP link {u}->{v} (DRAM traffic)", cost.hw.nop.link_bw, rate[:, j], st, en))
    return out


def _pim(cost: CostModel, pi: np.ndarray, res: np.ndarray, st: np.ndarray, en: np.ndarray) -> list[Violation]:
    """The pooled PIM internal bandwidth and compute: the largest sum of the tasks' draws over any instant."""
    units = cost.hw.pim
    if not units:
        return []
    d = en - st
    out: list[Violation] = []
    for key, name, cap, unit in (("pim_bytes", "PIM internal bandwidth", sum(u.bandwidth for u in units), "B/s"),
                                 ("pim_flops", "PIM compute", sum(u.peak_flops for u in units), "FLOP/s")):
        amt = cost.part_at(key, res, pi)
        if not (amt > 0).any():
            continue
        for i in np.nonzero((amt > 0) & ~(d > 0))[0]:
            out.append(Violation("pim", f"task {i} runs PIM kernels in zero time", (int(i),)))
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(amt > 0, amt / np.where(d > 0, d, np.inf), 0.0)
        out.extend(_sweep("pim", f"{name} (all {len(units)} PIM units)", cap, rate, st, en, unit))
    return out


def _sweep(kind: str, name: str, cap: float, r: np.ndarray, st: np.ndarray, en: np.ndarray, unit: str = "B/s"
           ) -> list[Violation]:
    """A violation when the draws `r` (B/s over [st, en)) sum above `cap` at some instant (event sweep)."""
    idx = np.nonzero(r > 0)[0]
    if idx.size < 2 and (idx.size == 0 or r[idx[0]] <= cap * (1 + BW_TOL)):
        return []
    t = np.concatenate([st[idx], en[idx]])
    dr = np.concatenate([r[idx], -r[idx]])
    o = np.lexsort((dr, t))                  # at equal times the ends (negative) come first
    run = np.cumsum(dr[o])
    k = int(np.argmax(run))
    if run[k] <= cap * (1 + BW_TOL):
        return []
    at = float(t[o][k])
    on = tuple(int(i) for i in idx[(st[idx] <= at) & (en[idx] > at)][:10])
    return [Violation(kind, f"{name} is asked for {run[k]:.6g} {unit} at {at:.6g} s but delivers "
                            f"{cap:.6g} {unit} (tasks {list(on)} stream from it at once)", on)]


def _overlaps(cost: CostModel, pi: np.ndarray, st: np.ndarray, en: np.ndarray, tol: float) -> list[Violation]:
    """Per chiplet, intervals sorted by start; an interval overlaps an earlier one iff it starts before the
    running maximum of earlier ends (positive-measure intersection only, so zero-length tasks never clash)."""
    out: list[Violation] = []
    mem = cost.members[pi]                       # [n, C]
    for c in range(mem.shape[1]):
        idx = np.nonzero(mem[:, c])[0]
        if idx.size < 2:
            continue
        o = idx[np.lexsort((idx, st[idx]))]
        s, e = st[o], en[o]
        prev_max = np.maximum.accumulate(e)[:-1]
        clash = np.minimum(prev_max, e[1:]) - s[1:] > tol
        for k in np.nonzero(clash)[0]:
            a, b = int(o[int(np.argmax(e[:k + 1]))]), int(o[k + 1])
            out.append(Violation("overlap", f"tasks {a} [{st[a]:.6g}, {en[a]:.6g}] s and {b} [{st[b]:.6g}, "
                                            f"{en[b]:.6g}] s overlap on chiplet {c}", (a, b)))
    return out


def _transfers(schedule: Schedule, cost: CostModel, pi: np.ndarray, st: np.ndarray, en: np.ndarray,
               tol: float) -> list[Violation]:
    out: list[Violation] = []
    g, hw = cost.graph, cost.hw
    need: dict[tuple[int, int], float] = {}
    for e in g.edges:
        if cost.lead[pi[e.src]] != cost.lead[pi[e.dst]] and e.bytes > 0:
            need[(e.src, e.dst)] = need.get((e.src, e.dst), 0.0) + e.bytes
    seen: set[tuple[int, int]] = set()
    got: dict[tuple[int, int], float] = {}
    nbr = hw.graph
    for x in schedule.transfers:
        key = (x.src_task, x.dst_task)
        tk = key
        if key not in need:
            out.append(Violation("transfer", f"transfer {key[0]}->{key[1]} does not correspond to an edge between "
                                             f"tasks on different lead chiplets", tk))
            continue
        seen.add(key)
        got[key] = got.get(key, 0.0) + x.bytes
        a, b = int(cost.lead[pi[x.src_task]]), int(cost.lead[pi[x.dst_task]])
        if (x.src_chiplet, x.dst_chiplet) != (a, b):
            out.append(Violation("transfer", f"transfer {key[0]}->{key[1]} goes {x.src_chiplet}->{x.dst_chiplet} "
                                             f"but the tasks' lead chiplets are {a}->{b}", tk))
            continue
        r = tuple(x.route)
        ok = (len(r) >= 1 and r[0] == a and r[-1] == b and len(r) - 1 == int(hw.hops[a, b])
              and all(nbr.has_edge(u, v) for u, v in zip(r, r[1:])))
        if not ok:
            out.append(Violation("transfer", f"transfer {key[0]}->{key[1]} has route {r}, not a shortest path of "
                                             f"NoP links from {a} to {b}", tk))
        if x.start < en[x.src_task] - tol:
            out.append(Violation("transfer", f"transfer {key[0]}->{key[1]} starts at {x.start:.6g} s before its "
                                             f"producer ends at {en[x.src_task]:.6g} s", tk))
        if x.end > st[x.dst_task] + tol:
            out.append(Violation("transfer", f"transfer {key[0]}->{key[1]} ends at {x.end:.6g} s after its "
                                             f"consumer starts at {st[x.dst_task]:.6g} s", tk))
        need_lat = float(cost.transfer_time(x.bytes, a, b))
        if x.end - x.start < need_lat * (1 - TOL) - tol:
            out.append(Violation("transfer", f"transfer {key[0]}->{key[1]} lasts {x.end - x.start:.6g} s but "
                                             f"{x.bytes:.6g} B over {a}->{b} needs {need_lat:.6g} s", tk))
    for key, nbytes in need.items():
        if key not in seen:
            out.append(Violation("transfer", f"edge {key[0]}->{key[1]} crosses chiplets "
                                             f"{int(cost.lead[pi[key[0]]])}->{int(cost.lead[pi[key[1]]])} "
                                             f"but has no transfer", key))
        elif got[key] < nbytes * (1 - TOL):
            out.append(Violation("transfer", f"transfers {key[0]}->{key[1]} carry {got[key]:.6g} B but the "
                                             f"edges need {nbytes:.6g} B", key))
    return out


def sram_use(cost: CostModel, placement_index: npt.ArrayLike, resident: npt.ArrayLike) -> np.ndarray:
    """[C] bytes of resident weights per chiplet: per chiplet, sum over distinct weight keys of the largest
    per-member share among that key's resident tasks placed on it."""
    g = cost.graph
    pi = np.asarray(placement_index, dtype=np.int64)
    res = np.asarray(resident, dtype=bool)
    C = cost.members.shape[1]
    held = np.zeros((C, len(g.weight_keys)))
    idx = np.nonzero(res)[0]
    r, c = np.nonzero(cost.members[pi[idx]])
    np.maximum.at(held, (c, g.weight_index[idx[r]]), cost.weight_share[idx[r], pi[idx[r]]])
    return held.sum(axis=1)


def _sram(cost: CostModel, pi: np.ndarray, res: np.ndarray) -> list[Violation]:
    use = sram_use(cost, pi, res)
    cap = cost.weight_capacity
    out: list[Violation] = []
    for c in np.nonzero(use > cap * (1 + TOL))[0]:
        on = tuple(int(i) for i in np.nonzero(res & cost.members[pi, c])[0][:10])
        out.append(Violation("sram", f"chiplet {c} holds {use[c]:.6g} B of resident weights but its weight "
                                     f"capacity is {cap[c]:.6g} B", on))
    return out


def report(violations: list[Violation]) -> str:
    """The first `MAX_LISTED` violations, one indented `[kind] message` line each, then `... and N more`."""
    lines = [f"  [{x.kind}] {x.message}" for x in violations[:MAX_LISTED]]
    if len(violations) > MAX_LISTED:
        lines.append(f"  ... and {len(violations) - MAX_LISTED} more")
    return "\n".join(lines)


def assert_valid(schedule: Schedule, cost: CostModel) -> None:
    """Raise `MapcError` listing the violations if `schedule` breaks any rule."""
    v = check(schedule, cost)
    if v:
        raise MapcError(f"invalid schedule: {len(v)} violation(s)\n" + report(v),
                        hint="this is a solver bug; please report it with the input file")
