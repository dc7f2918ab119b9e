"""List scheduling and weight residency: the decoder every heuristic solver (greedy, baseline, GA, SCAR) shares.

A solver decides WHERE each task runs (`placement_index[i]` into `cost.placements`); this module decides
whether its weights stay in SRAM (`choose_residency`) and WHEN it runs (`list_schedule`), so that every
solver's decisions are turned into a valid schedule the same way. `upward_rank` is the HEFT priority.

Conventions: arrays are indexed by task id; a larger priority is scheduled earlier; times are seconds.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right

import numpy as np
import numpy.typing as npt

from mapc.compiler.slo import slo_value
from mapc.core.errors import InfeasibleError
from mapc.core.graph import ExecutionGraph
from mapc.core.options import Objective
from mapc.hw.bandwidth import StretchParts, stretch_parts
from mapc.hw.cost import CostModel
from mapc.solvers.channels import ChannelTimeline, channel_rates, task_draws


MAX_STRETCH_CANDIDATES = 64    # start instants a stretching task tries (the earliest ones; keeps a pass linear)


# ---- priorities --------------------------------------------------------------------------------------------
def task_latency(cost: CostModel, placement_index: npt.ArrayLike, resident: npt.ArrayLike) -> np.ndarray:
    """[n] latency of each task on its placement with its residency (s)."""
    return cost.task_latency(placement_index, resident)


def fit_tables(cost: CostModel) -> tuple[np.ndarray, np.ndarray]:
    """([n, P] latency s, [n, P] dynamic energy J) of every task on every placement: resident where its weights
    fit the placement's SRAM share (finite resident latency), else streamed."""
    fin = np.isfinite(cost.lat_resident)
    return (np.where(fin, cost.lat_resident, cost.lat_stream),
            np.where(fin, cost.energy_resident, cost.energy_stream))


def edge_delay(cost: CostModel, placement_index: npt.ArrayLike) -> np.ndarray:
    """[n_edges] transfer latency of every edge between its endpoints' lead chiplets (0 when co-located)."""
    g = cost.graph
    if not g.edges:
        return np.zeros(0)
    pi = np.asarray(placement_index, dtype=np.int64)
    return cost.transfer_time(g.edge_bytes, cost.lead[pi[g.edge_src]], cost.lead[pi[g.edge_dst]])


def upward_rank(cost: CostModel, placement_index: npt.ArrayLike | None = None, resident: npt.ArrayLike | None = None,
                mode: str = "mean") -> np.ndarray:
    """HEFT upward rank: rank(i) = w(i) + max over successors j of (c(i, j) + rank(j)).

    With `placement_index`, w is the latency on that placement (resident if `resident` says so, else the
    faster of resident/streamed) and c the transfer time between the leads. Without it, w is the mean
    (`mode="mean"`, classic HEFT) or the minimum (`mode="min"`, an optimistic critical path) of the task's
    finite latency over all placements, and c the mean transfer time over lead pairs (0 for "min").
    """
    g = cost.graph
    n = g.n
    best = np.minimum(cost.lat_resident, cost.lat_stream)
    if placement_index is not None:
        pi = np.asarray(placement_index, dtype=np.int64)
        w = (task_latency(cost, pi, resident) if resident is not None else best[np.arange(n), pi])
        c = edge_delay(cost, pi)
    else:
        fin = np.isfinite(best)
        if mode == "min":
            w = np.where(fin, best, np.inf).min(axis=1) if best.size else np.zeros(n)
            c = np.zeros(len(g.edges))
        elif mode == "mean":
            cnt = fin.sum(axis=1)
            w = np.where(fin, best, 0.0).sum(axis=1) / np.maximum(cnt, 1)
            leads = np.unique(cost.lead)
            h = cost.hw.hops[np.ix_(leads, leads)]
            nop = cost.hw.nop
            c = float((h > 0).mean()) * g.edge_bytes / nop.link_bw + float(h.mean()) * nop.hop_latency
        else:
            raise ValueError(f"mode must be 'mean' or 'min', not {mode!r}")
    w = np.where(np.isfinite(w), w, 0.0)
    rank = np.zeros(n)
    tail = np.zeros(n)                       # max over successors of c + rank
    in_edges = _in_edges(g)
    for i in range(n - 1, -1, -1):           # ids are topological: successors have larger ids
        r = w[i] + tail[i]
        rank[i] = r
        for k in in_edges[i]:
            v = c[k] + r
            s = g.edges[k].src
            if v > tail[s]:
                tail[s] = v
    return rank


def _in_edges(g: ExecutionGraph) -> list[list[int]]:
    cached: list[list[int]] | None = g.__dict__.get("_mapc_in_edges")
    if cached is None:
        cached = [[] for _ in range(g.n)]
        for k, e in enumerate(g.edges):
            cached[e.dst].append(k)
        g.__dict__["_mapc_in_edges"] = cached    # frozen dataclass: cache beside the cached_properties
    return cached


# ---- residency ---------------------------------------------------------------------------------------------
def choose_residency(cost: CostModel, placement_index: npt.ArrayLike, order: npt.ArrayLike | None = None
                     ) -> np.ndarray:
    """[n] bool: which tasks keep their weights in SRAM, within every chiplet's weight capacity.

    Tasks are grouped by (weight key, placement): one group is made resident as a whole, costing each member
    chiplet the per-member share `cost.weight_share` (a key already held on a chiplet costs only the
    difference, as the checker counts distinct keys). Groups whose streamed latency is inf must be resident
    and go first; the rest go greedily by latency saved per byte (then energy saved per byte), or, when
    `order` (a sequence of task ids) is given, in the order their first task appears in it. A group saving
    neither time nor energy stays streamed. Raises `InfeasibleError` when a must-be-resident group does not fit.
    """
    g = cost.graph
    n = g.n
    pi = np.asarray(placement_index, dtype=np.int64)
    rows = np.arange(n)
    res = np.zeros(n, dtype=bool)
    if n == 0:
        return res
    lr, ls = cost.lat_resident[rows, pi], cost.lat_stream[rows, pi]
    er, es = cost.energy_resident[rows, pi], cost.energy_stream[rows, pi]
    share = cost.weight_share[rows, pi]
    key = g.weight_index
    gid_of: dict[tuple[int, int], int] = {}
    gidx = np.empty(n, dtype=np.int64)
    for i in range(n):
        gidx[i] = gid_of.setdefault((int(key[i]), int(pi[i])), len(gid_of))
    G = len(gid_of)
    gkey = np.empty(G, dtype=np.int64); gp = np.empty(G, dtype=np.int64)
    for (k, p), j in gid_of.items():
        gkey[j], gp[j] = k, p
    fin_r = np.isfinite(lr)
    must = np.zeros(G, dtype=bool); np.logical_or.at(must, gidx, ~np.isfinite(ls))
    can = np.ones(G, dtype=bool); np.logical_and.at(can, gidx, fin_r)
    for grp in np.nonzero(must & ~can)[0]:
        i = int(np.nonzero((gidx == grp) & ~fin_r)[0][0])
        raise _infeasible(cost, i, int(pi[i]))
    gshare = np.zeros(G); np.maximum.at(gshare, gidx, share)
    dt = np.where(fin_r & np.isfinite(ls), ls - lr, 0.0)
    de = np.where(np.isfinite(er) & np.isfinite(es), es - er, 0.0)
    save_t = np.zeros(G); np.add.at(save_t, gidx, dt)
    save_e = np.zeros(G); np.add.at(save_e, gidx, de)
    if order is not None:
        first = np.full(G, np.iinfo(np.int64).max, dtype=np.int64)
        o = np.asarray(order, dtype=np.int64)
        np.minimum.at(first, gidx[o], np.arange(o.size))
        seq = np.lexsort((np.arange(G), first, ~must))
    else:
        b = np.maximum(gshare, 1.0)
        seq = np.lexsort((np.arange(G), -save_e / b, -save_t / b, ~must))
    C = cost.members.shape[1]
    cap = cost.weight_capacity * (1 + 1e-12)
    used = np.zeros(C)
    held: dict[tuple[int, int], float] = {}
    take = np.zeros(G, dtype=bool)
    for j in seq:
        if not can[j] or not (must[j] or save_t[j] > 0 or save_e[j] > 0):
            continue
        mem = cost.placements[gp[j]]
        s = gshare[j]
        extra = [max(0.0, s - held.get((c, gkey[j]), 0.0)) for c in mem]
        if all(used[c] + x <= cap[c] for c, x in zip(mem, extra)):
            for c, x in zip(mem, extra):
                if x > 0:
                    used[c] += x
                    held[(c, gkey[j])] = s
            take[j] = True
        elif must[j]:
            i = int(np.nonzero(gidx == j)[0][0])
            raise _infeasible(cost, i, int(gp[j]), used)
    return take[gidx]


def _infeasible(cost: CostModel, i: int, p: int, used: np.ndarray | None = None) -> InfeasibleError:
    t = cost.graph.tasks[i]
    mem = cost.placements[p]
    cap = cost.weight_capacity[list(mem)]
    why = "" if used is None else f" ({used[list(mem)].max():.4g} B already taken by other resident weights)"
    return InfeasibleError(
        f"task {t.name} (id {i}) cannot stream its weights and needs them resident: "
        f"{cost.weight_share[i, p]:.4g} B per chiplet on chiplets {mem}, whose weight capacity is "
        f"{cap.min():.4g} B{why}",
        hint="use larger tensor-parallel groups, chiplets with more SRAM, or allow streaming from DRAM")


# ---- list scheduling ---------------------------------------------------------------------------------------
def list_schedule(cost: CostModel, placement_index: npt.ArrayLike, resident: np.ndarray,
                  priority: npt.ArrayLike | None = None, insertion: bool = True) -> np.ndarray:
    """[n] start times (s) of a list schedule of fixed placements and residencies, every task at its priced
    latency (`list_schedule_timed` without stretching)."""
    return list_schedule_timed(cost, placement_index, resident, priority, insertion)[0]


def list_schedule_timed(cost: CostModel, placement_index: npt.ArrayLike, resident: np.ndarray,
                        priority: npt.ArrayLike | None = None, insertion: bool = True, stretch: bool = False
                        ) -> tuple[np.ndarray, np.ndarray]:
    """([n] start times, [n] durations) (s) of a list schedule of fixed placements and residencies.

    Algorithm: a ready set (tasks whose predecessors are all scheduled) is kept in a heap ordered by
    priority (largest first; default `upward_rank` on these placements), ties by id. The popped task's data
    arrives at max over in-edges of (producer end + transfer time between the lead chiplets). Its start is the
    earliest t >= arrival at which every chiplet of its placement is idle over [t, t + latency): with
    `insertion`, each chiplet keeps sorted disjoint busy intervals and the search jumps past any conflicting
    interval until all members agree (idle gaps are reused); without it, t = max(arrival, members' free time).
    DRAM channels are shared resources: t is also delayed until the task's draws (bytes / latency on each of its
    channels, `mapc.solvers.channels`) fit under every channel's bandwidth over [t, t + latency), gaps reused.
    With `stretch`, a DRAM-streaming task may instead start earlier at the rate its channels have free and take
    longer (`mapc.hw.bandwidth`): the candidates are the first instant its chiplets are free and the instants
    before the peak-rate start at which one of its channels or chiplets frees; the earliest finish wins (ties:
    the peak rate). Durations are then the latencies or the stretched ones; without `stretch` the latencies.
    Any priority gives a valid schedule, since only ready tasks are placed. O((n + e) log n) per pass.
    """
    g = cost.graph
    n = g.n
    pi = np.asarray(placement_index, dtype=np.int64)
    lat = task_latency(cost, pi, resident)
    bad = np.nonzero(~np.isfinite(lat))[0]
    if bad.size:
        i = int(bad[0])
        mode = "resident" if resident[i] else "streamed"
        raise InfeasibleError(f"task {g.tasks[i].name} (id {i}) cannot run {mode} on chiplets "
                              f"{cost.placements[pi[i]]}: the cost model gives it infinite latency")
    prio = upward_rank(cost, pi, resident) if priority is None else np.asarray(priority, dtype=np.float64)
    delay = edge_delay(cost, pi).tolist()
    src = g.edge_src.tolist()
    in_edges = _in_edges(g)
    members = [cost.placements[p] for p in pi.tolist()]
    latl = lat.tolist()
    prl = prio.tolist()
    indeg = [len(x) for x in in_edges]
    succs = g.succs
    C = cost.members.shape[1]
    starts: list[list[float]] = [[] for _ in range(C)]
    ends: list[list[float]] = [[] for _ in range(C)]
    free = [0.0] * C
    start = [0.0] * n
    end = [0.0] * n
    dur = list(latl)
    chans = ChannelTimeline.of(cost)
    draws = task_draws(channel_rates(cost, pi, resident))
    parts = stretch_parts(cost, pi, resident) if stretch else None
    n_chan = len(cost.hw.dram)                 # resources [0, n_chan) are the channels, then links

    def chips_idle(mem: tuple[int, ...], t: float, d: float) -> bool:
        for c in mem:
            k = bisect_right(ends[c], t)
            if k < len(ends[c]) and starts[c][k] < t + d:
                return False
        return True

    heap = [(-prl[i], i) for i in range(n) if indeg[i] == 0]
    heapq.heapify(heap)
    while heap:
        _, i = heapq.heappop(heap)
        t = 0.0
        for k in in_edges[i]:
            a = end[src[k]] + delay[k]
            if a > t:
                t = a
        d = latl[i]
        mem = members[i]
        dr = draws[i]
        if insertion:
            t0 = -1.0
            if d > 0:
                moved = True
                while moved:
                    moved = False
                    for c in mem:
                        e_c = ends[c]
                        k = bisect_right(e_c, t)             # first busy interval ending after t
                        if k < len(e_c) and starts[c][k] < t + d:
                            t = e_c[k]
                            moved = True
                    if t0 < 0 and not moved:
                        t0 = t                               # chiplets free, channels not asked yet
                    if dr and not moved:
                        t2 = chans.earliest(t, d, dr)
                        moved = t2 != t
                        t = t2
        else:
            for c in mem:
                if free[c] > t:
                    t = free[c]
            t0 = t
            t = chans.earliest(t, d, dr)
        if parts is not None and dr and d > 0 and t > t0 >= 0:
            cands = {t0}
            for h, _ in dr:
                cands.update(chans.releases(h, t0, t))
            if insertion:
                for c in mem:
                    lo = bisect_right(ends[c], t0)
                    cands.update(x for x in ends[c][lo:bisect_right(ends[c], t)] if x < t)
            best = (t + d, d, t)
            for c0 in sorted(cands)[:MAX_STRETCH_CANDIDATES]:
                d2 = stretched_duration(chans, parts, i, dr, d, c0, n_chan)
                if d2 is None or c0 + d2 >= best[0] or (insertion and not chips_idle(mem, c0, d2)):
                    continue
                best = (c0 + d2, d2, c0)
            t, d = best[2], best[1]
            if d != latl[i]:
                dr = [(h, r * latl[i] / d) for h, r in dr]
        f = t + d
        if insertion:
            if d > 0:
                for c in mem:
                    k = bisect_right(starts[c], t)
                    starts[c].insert(k, t)
                    ends[c].insert(k, f)
        else:
            for c in mem:
                free[c] = f
        start[i] = t
        end[i] = f
        dur[i] = d
        chans.book(t, d, dr)
        for j in succs[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                heapq.heappush(heap, (-prl[j], j))
    return np.array(start, dtype=np.float64), np.array(dur, dtype=np.float64)


def stretched_duration(chans: ChannelTimeline, parts: StretchParts, i: int, draws: list[tuple[int, float]],
                       lat: float, t: float, n_chan: int) -> float | None:
    """The shortest duration D >= `lat` with which task i, started at t, fits the bandwidth its channels have
    free over [t, t + D) (None when some channel has none). `draws` are its (resource, B/s) at latency `lat`:
    channels (index < `n_chan`, their draws sum to its aggregate DRAM rate), the links its traffic crosses and
    the pooled PIM units (`mapc.hw.dram_resources`). Every draw is scaled by the same factor r / aggregate, and
    D >= all DRAM bytes / r (`latency_at`), so each draw at duration D (rate x `lat` / D) fits its free
    bandwidth; for PIM this is conservative (its kernels are treated as if slowed by the DRAM factor).

    A fixed point: the aggregate rate r that fits every channel's free bandwidth over the window gives
    D = `parts.latency_at(r)`; a longer window can only have less free, so D grows monotonically and stops at
    the first D whose window lets it run (finitely many segments, so finitely many steps)."""
    tot = sum(r for h, r in draws if h < n_chan)
    D = lat
    for _ in range(4 * MAX_STRETCH_CANDIDATES):
        r = min(chans.free_over(h, t, D) * tot / rh for h, rh in draws)
        if r <= 0:
            return None
        D2 = lat if r >= tot else parts.latency_at(i, r)
        if not np.isfinite(D2):
            return None
        if D2 <= D:
            return D
        D = D2
    return None


def makespan_of(cost: CostModel, placement_index: npt.ArrayLike, resident: npt.ArrayLike, start: npt.ArrayLike,
                duration: npt.ArrayLike | None = None) -> float:
    """Makespan (s) of decision arrays, without building a `Schedule` (durations: the latencies unless given)."""
    lat = task_latency(cost, placement_index, resident) if duration is None else np.asarray(duration)
    return float((np.asarray(start) + lat).max()) if lat.size else 0.0


def objective_of(cost: CostModel, placement_index: npt.ArrayLike, resident: npt.ArrayLike, start: npt.ArrayLike,
                 objective: Objective = "edp", duration: npt.ArrayLike | None = None) -> float:
    """`base.score` of the decision arrays without building a `Schedule` (vectorised; for inner loops).

    Energy = dynamic task energy + transfer energy between lead chiplets + static power x makespan, the same
    sum `materialize` + `base.energy_of` compute. `duration` (s): stretched durations, default the latencies
    (a task's energy does not depend on its DRAM rate, `mapc.hw.bandwidth`).
    """
    g = cost.graph
    pi = np.asarray(placement_index, dtype=np.int64)
    res = np.asarray(resident, dtype=bool)
    dur = task_latency(cost, pi, res) if duration is None else np.asarray(duration, dtype=np.float64)
    ms = makespan_of(cost, pi, res, start, dur)
    if objective == "latency":
        return ms
    e = float(cost.task_energy(pi, res).sum())
    if g.edges:
        e += float(cost.transfer_energy(g.edge_bytes, cost.lead[pi[g.edge_src]], cost.lead[pi[g.edge_dst]]).sum())
    e += cost.static_power * ms
    if objective == "slo":
        return slo_value(g, np.asarray(start) + dur, ms, e)
    return e if objective == "energy" else e * ms
