"""Tile split: a warm start for `cpsat` when one long chain must run on the whole machine.

Why: when the longest component (a long prompt's prefill) is the critical path only on the whole machine, every
heuristic runs it there, and a whole-machine task stalls everything else while it runs: the makespan is then the
serial sum of every component on the whole machine. Smaller groups are more work-efficient (less collective
overhead per chiplet), so moving the long chain's FIRST j layers to one tile (a block of k chiplets) lengthens
it by a little, while the other tiles run the first parts of the other components side by side; everything
after runs on the whole machine. On wsc8x8 hf_model (a 4096- and a 1024-token prompt, 4 decode micro-batches):
the 4096 chain takes 42.3 ms on the wafer, 3.69 ms per layer on a 16-die block against 1.32 ms, and 7 layers on
a block with the other prompt and the decodes on the other three blocks give 59.8 ms where every heuristic gives
63.7 ms (bound 58.8 ms).

Search (each candidate made real by `choose_residency` and `list_schedule`: transfers, DRAM channels, SRAM): for
each tile size k with 2..MAX_TILES disjoint tiles, the longest component's first j layers on tile 0
(j = 1 .. half its tasks); the other components assigned to the other tiles by longest-processing-time on their
tile latency; each takes a prefix of its tasks on its tile until its tile's load reaches alpha x the long
chain's time on tile 0 (alpha in ALPHAS); the rest of every component on the whole machine (the placement
spanning every chiplet, else none is tried). The best is returned as one hint ("split"); none when the graph has
one component or more than MAX_TASKS tasks, or the machine has no whole-machine placement.
"""

from __future__ import annotations

import numpy as np

from mapc.core.errors import MapcError
from mapc.hw.cost import CostModel
from mapc.solvers.base import Named
from mapc.solvers.decompose import components
from mapc.solvers.listsched import choose_residency, list_schedule, makespan_of

MAX_TASKS = 1_000       # each candidate is a full list schedule
MAX_TILES = 8           # tile sizes with more tiles than this are not tried
J_STEPS = 16            # prefix lengths tried for the long chain (evenly spaced up to half of it)
ALPHAS = (0.6, 0.8, 1.0, 1.2, 1.5)


def _tiles(cost: CostModel) -> dict[int, list[int]]:
    """Placements by group size k, for the sizes whose placements are 2..MAX_TILES disjoint tiles."""
    out: dict[int, list[int]] = {}
    n = cost.hw.n
    for k in sorted(set(int(x) for x in cost.group_size)):
        ps = [int(p) for p in np.nonzero(cost.group_size == k)[0]]
        if not 2 <= len(ps) <= MAX_TILES or k >= n:
            continue
        used = np.zeros(n, int)
        for p in ps:
            used[list(cost.placements[p])] += 1
        if used.max() <= 1:
            out[k] = ps
    return out


def split(cost: CostModel) -> list[Named]:
    """The best tile split found (module doc) as a warm start, or nothing."""
    g = cost.graph
    if g.n == 0 or g.n > MAX_TASKS:
        return []
    comps = components(g)
    whole = np.nonzero(cost.group_size == cost.hw.n)[0]
    if len(comps) < 2 or whole.size == 0:
        return []
    w = int(whole[0])
    lat = np.minimum(cost.lat_resident, cost.lat_stream)      # [n, P] least latency per placement
    if not np.all(np.isfinite(lat[:, w])):
        return []
    order = sorted(range(len(comps)), key=lambda c: -float(lat[comps[c], w].sum()))
    long_c, others = comps[order[0]], [comps[c] for c in order[1:]]
    best: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None
    for k, tiles in _tiles(cost).items():
        t0, rest = tiles[0], tiles[1:]
        if not np.all(np.isfinite(lat[long_c, t0])):
            continue
        # the other components onto the other tiles, longest first onto the least loaded (LPT)
        load = np.zeros(len(rest))
        home: list[int] = []
        for c in others:
            i = int(np.argmin(load))
            home.append(i)
            load[i] += float(lat[c, rest[i]].sum())
        half = max(1, long_c.size // 2)
        for j in sorted(set(np.linspace(1, half, min(J_STEPS, half)).round().astype(int).tolist())):
            window = float(lat[long_c[:j], t0].sum())
            for alpha in ALPHAS:
                pi = np.full(g.n, w, np.int64)
                pi[long_c[:j]] = t0
                filled = np.zeros(len(rest))
                for c, i in zip(others, home):
                    tl = lat[c, rest[i]]
                    # a prefix of c on its tile while the tile's load stays within alpha x the window
                    room = alpha * window - filled[i]
                    n_on = int(np.searchsorted(np.cumsum(tl), room, side="right")) if room > 0 else 0
                    pi[c[:n_on]] = rest[i]
                    filled[i] += float(tl[:n_on].sum())
                try:
                    res = choose_residency(cost, pi)
                    st = list_schedule(cost, pi, res)
                except MapcError:
                    continue
                ms = makespan_of(cost, pi, res, st)
                if best is None or ms < best[0]:
                    best = (ms, pi, res, st)
    return [] if best is None else [("split", best[1], best[2], best[3])]
