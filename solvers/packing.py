"""Component packing: a warm start for `cpsat` on graphs of independent chains (micro-batches, requests).

Why: `greedy` (HEFT) places task by task at the earliest finish, so on a large grid every layer of the first
chains takes the largest group that finishes first and the other chains queue behind them; on wsc8x8
llama2_7b_chat (12 chains of 32 layers, groups of 1-64 chiplets) its makespan is 1.6x the LP bound, and the
LNS, which moves 48 tasks at a time with the rest fixed, cannot undo that global choice. Here each
weakly connected component (a chain) gets ONE group for its whole run (no transfers inside it), chosen so that
the groups' loads balance:

1. `allot(T)`: components by decreasing least work (chiplet-seconds), each on the placement of least work
   (then earliest finish) among those where it finishes by T after the chiplets' current loads (its length
   on a placement = the sum of its tasks' least latencies there); T is found by bisection between the larger
   of the longest component's shortest length and work / chiplets, and the serial sum.
2. The allotment is made real: `choose_residency` and `list_schedule` on the cost model (transfers, DRAM
   channels, SRAM), for the bisected T and a few looser ones (the estimate ignores transfers and DRAM); the
   best makespan is kept.
3. Whole-machine prefix: a component longer than the others can only be sped up by a larger group, and a
   group that spans every chiplet (or the largest group) stalls everything else while it runs. Its first
   layers are moved there one at a time (those tasks scheduled first, at top priority), for every component
   that ends within `TIE` of the makespan, while the real makespan improves (with `LOOKAHEAD` steps).
   On wsc8x8 llama2_7b_chat this gives 0.0453 s where greedy gives 0.0695 s and the LNS from it 0.0563 s.

`pack` returns the schedules as (name, placement_index, resident, start) hints; none when the graph has a
single component, or more than `MAX_TASKS` tasks (each real evaluation is a list schedule).
"""

from __future__ import annotations

import numpy as np

from mapc.core.errors import MapcError
from mapc.hw.cost import CostModel
from mapc.solvers.base import Named
from mapc.solvers.listsched import choose_residency, list_schedule, makespan_of, upward_rank

MAX_TASKS = 2_000        # larger graphs: no packing (each evaluation is a full list schedule)
LOOSER = (1.0, 1.02, 1.05, 1.1)   # targets tried for real, x the bisected one
TIE = 0.005              # components ending within this fraction of the makespan are moved together
LOOKAHEAD = 3            # prefix steps tried past one that does not improve


def _lengths(cost: CostModel, comps: list[np.ndarray]) -> np.ndarray:
    """[components, P] the sum of the tasks' least latencies (resident or streamed) on each placement."""
    lat = np.minimum(cost.lat_resident, cost.lat_stream)
    return np.array([lat[c].sum(axis=0) for c in comps])


def _channel_time(cost: CostModel, comps: list[np.ndarray]) -> np.ndarray:
    """[components, P, channels] seconds each DRAM channel is busy with a component's bytes on a placement
    (its tasks streamed where they cannot stay resident: the least bytes over both, as a lower estimate)."""
    H = len(cost.hw.dram)
    if H == 0 or cost.dram_frac.shape[1] == 0:
        return np.zeros((len(comps), len(cost.placements), 0))
    by = np.minimum(np.where(np.isfinite(cost.lat_resident), cost.dram_bytes(True), np.inf), cost.dram_bytes(False))
    bw = np.array([ch.bandwidth for ch in cost.hw.dram], np.float64)
    tot = np.array([by[c].sum(axis=0) for c in comps])                      # [components, P]
    return tot[:, :, None] * cost.dram_frac[None, :, :] / bw[None, None, :]


def allot(cost: CostModel, L: np.ndarray, D: np.ndarray, T: float) -> np.ndarray | None:
    """[components] one placement each, every component finishing by `T` on the chiplet loads before it, and
    every DRAM channel's busy time (`D`, `_channel_time`) summed over the components within T (module doc,
    step 1); None when some component fits nowhere."""
    k = cost.group_size.astype(np.float64)
    work = L * k[None, :]
    order = np.lexsort((np.arange(L.shape[0]), -np.min(work, axis=1)))
    mem = cost.members.astype(bool)
    ready = np.zeros(mem.shape[1])
    chan = np.zeros(D.shape[2])
    out = np.full(L.shape[0], -1, np.int64)
    for c in order:
        start = np.where(mem, ready[None, :], -np.inf).max(axis=1)          # [P]
        fin = start + L[c]
        dram = (chan[None, :] + D[c]).max(axis=1) if D.shape[2] else np.zeros(fin.size)
        ok = np.isfinite(fin) & (fin <= T * (1 + 1e-12)) & (dram <= T * (1 + 1e-12))
        if not ok.any():
            return None
        cand = np.nonzero(ok)[0]
        p = int(cand[np.lexsort((cand, fin[cand], dram[cand], work[c, cand]))[0]])
        out[c] = p
        ready[mem[p]] = fin[p]
        if D.shape[2]:
            chan += D[c, p]
    return out


def _real(cost: CostModel, pi: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(resident, start, makespan) of placements `pi`, tasks marked in `first` list-scheduled ahead of all."""
    res = choose_residency(cost, pi)
    prio = upward_rank(cost, pi, res)
    prio = np.where(first, prio + 2.0 * (float(prio.max()) + 1.0), prio)
    st = list_schedule(cost, pi, res, priority=prio)
    return res, st, makespan_of(cost, pi, res, st)


def pack(cost: CostModel) -> list[Named]:
    """The packed schedule and its whole-machine-prefix refinement as warm starts (module doc)."""
    g = cost.graph
    if g.n == 0 or g.n > MAX_TASKS:
        return []
    comp = g.component
    comps = [np.nonzero(comp == c)[0] for c in range(int(comp.max()) + 1)]
    if len(comps) < 2:
        return []
    L = _lengths(cost, comps)
    D = _channel_time(cost, comps)
    k = cost.group_size.astype(np.float64)
    lo = max(float(np.min(L, axis=1).max()), float(np.min(L * k[None, :], axis=1).sum()) / cost.hw.n)
    hi = float(np.min(L, axis=1).sum()) * 1.001
    if not np.isfinite(hi) or allot(cost, L, D, hi) is None:
        return []
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if allot(cost, L, D, mid) is None:
            lo = mid
        else:
            hi = mid
    none = np.zeros(g.n, bool)
    best: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None
    for f in LOOSER:
        a = allot(cost, L, D, hi * f)
        if a is None:
            continue
        pi = np.empty(g.n, np.int64)
        for c, mem in enumerate(comps):
            pi[mem] = a[c]
        try:
            res, st, ms = _real(cost, pi, none)
        except MapcError:
            continue
        if best is None or ms < best[0]:
            best = (ms, pi, res, st)
    if best is None:
        return []
    out: list[Named] = [("pack", best[1], best[2], best[3])]
    refined = _prefix(cost, comps, best)
    if refined is not None:
        out.append(("pack+prefix", *refined))
    return out


def _prefix(cost: CostModel, comps: list[np.ndarray], start: tuple[float, np.ndarray, np.ndarray, np.ndarray]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Step 3 of the module doc from the packed schedule `start` = (makespan, pi, res, st); None when no move
    improves it."""
    full = cost.members.all(axis=1)
    big = np.nonzero(full)[0] if full.any() else np.nonzero(cost.group_size == cost.group_size.max())[0]
    lat = np.minimum(cost.lat_resident, cost.lat_stream)
    ms0, pi0, res0, st0 = start
    best = (ms0, pi0, res0, st0)
    pi, first = pi0.copy(), np.zeros(cost.graph.n, bool)
    moved = [0] * len(comps)
    end = st0 + np.array([lat[i, pi0[i]] for i in range(cost.graph.n)])
    misses = 0
    while misses <= LOOKAHEAD:
        ms = float(end.max())
        late = [c for c, mem in enumerate(comps) if end[mem].max() >= ms * (1 - TIE) and moved[c] < mem.size]
        if not late:
            break
        for c in late:
            t = int(comps[c][moved[c]])
            pi[t] = int(big[np.argmin(lat[t, big])])
            first[t] = True
            moved[c] += 1
        try:
            res, st, ms2 = _real(cost, pi, first)
        except MapcError:
            break
        end = st + np.array([lat[i, pi[i]] for i in range(cost.graph.n)])
        if ms2 < best[0] * (1 - 1e-9):
            best, misses = (ms2, pi.copy(), res, st), 0
        else:
            misses += 1
    return None if best[0] >= ms0 else (best[1], best[2], best[3])
