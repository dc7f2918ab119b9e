"""Placements on the package: the chiplet groups a tensor-parallel task may occupy (`group_tiles`, by placement
policy), the cost of a ring collective over a group's real routes (`ring_stats`, `ring_allgather`), and how much
of its DRAM share each chiplet gets once the NoP routes from the channels are loaded (`dram_link_factors`), and
which DRAM channels serve a placement and how fast it can stream from them alone (`dram_channel_split`; see the
"DRAM model" section of `mapc.hw.cost`), and which NoP links its DRAM traffic crosses (`dram_link_split`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

import numpy as np

from mapc.core.errors import MapcError
from mapc.core.hardware import Hardware


Feeds = defaultdict[tuple[int, int], set[int]]      # directed link -> channels whose DRAM traffic crosses it


def group_tiles(hw: Hardware, k: int, policy: str = "block") -> list[tuple[int, ...]]:
    """Disjoint groups of k chiplets that tile the grid under a core-placement policy (row, column, block, snake).

    Members are listed in ring order: a block is walked boustrophedon (row 0 left to right, row 1 right to left,
    ...), so consecutive members are neighbours; the first member (the lead) is the block's top-left chiplet.
    """
    R, C = hw.rows, hw.cols
    grid = [[y * C + x for x in range(C)] for y in range(R)]
    if k == 1:
        return [(c.id,) for c in hw.chiplets]
    if policy == "block":
        best = None
        for a in range(1, k + 1):
            if k % a == 0:
                b = k // a
                if a <= R and b <= C and R % a == 0 and C % b == 0:
                    if best is None or abs(a - b) < abs(best[0] - best[1]):
                        best = (a, b)
        if best is None:
            policy = "snake"
        else:
            a, b = best
            return [tuple(grid[y0 + dy][x0 + dx] for dy in range(a)
                          for dx in (range(b) if dy % 2 == 0 else range(b - 1, -1, -1)))
                    for y0 in range(0, R, a) for x0 in range(0, C, b)]
    if policy == "row" and C % k == 0:
        return [tuple(grid[y][x0:x0 + k]) for y in range(R) for x0 in range(0, C, k)]
    if policy == "column" and R % k == 0:
        return [tuple(grid[y][x] for y in range(y0, y0 + k)) for x in range(C) for y0 in range(0, R, k)]
    order = [grid[y][x] for y in range(R) for x in (range(C) if y % 2 == 0 else range(C - 1, -1, -1))]
    return [tuple(order[i:i + k]) for i in range(0, len(order) - k + 1, k)]


def ring_stats(hw: Hardware, members: tuple[int, ...]) -> tuple[int, int, int]:
    """(longest ring hop count, total ring hop count, largest number of ring routes on one directed link)
    for a ring over `members` in the given order, each step on the hardware's route (XY on meshes)."""
    k = len(members)
    if k <= 1:
        return 0, 0, 0
    load: Counter[tuple[int, int]] = Counter()
    hmax = hsum = 0
    for i in range(k):
        a, b = members[i], members[(i + 1) % k]
        r = hw.route(a, b)
        h = len(r) - 1
        hmax, hsum = max(hmax, h), hsum + h
        load.update(zip(r[:-1], r[1:]))
    return hmax, hsum, max(load.values()) if load else 0


def ring_allgather(hw: Hardware, members: tuple[int, ...], nbytes: float) -> tuple[float, float]:
    """(time s, energy J) of a ring all-gather of `nbytes` (the full gathered size) over `members`."""
    k = len(members)
    if k <= 1 or nbytes <= 0:
        return 0.0, 0.0
    hmax, hsum, load = ring_stats(hw, members)
    nop = hw.nop
    chunk = nbytes / k
    return ((k - 1) * (hmax * nop.hop_latency + chunk * load / nop.link_bw),
            (k - 1) * chunk * 8 * hsum * nop.energy_per_bit)


def dram_link_factors(hw: Hardware) -> np.ndarray:
    """[n] fraction (<= 1) of its static DRAM share each chiplet gets when every chiplet streams its share at
    once from its nearest attach chiplet(s) over XY routes (module docstring, "DRAM model")."""
    n = hw.n
    f = np.ones(n)
    if not hw.dram or hw.dram_bandwidth <= 0:
        return f
    s = min(hw.dram_bandwidth / n, hw.nop.link_bw)
    chans = [ch for ch in hw.dram if ch.attach]
    if not chans:
        return f
    dist = np.array([[hw.hops[c, list(ch.attach)].min() for ch in chans] for c in range(n)])
    draws: list[tuple[int, int, float, tuple[int, ...]]] = []   # (chiplet, channel index, bytes/s, route)
    for c in range(n):
        near = np.nonzero(dist[c] == dist[c].min())[0]
        for j in near:
            srcs = [a for a in chans[j].attach if hw.hops[c, a] == dist[c, j]]
            for a in srcs:
                draws.append((c, int(j), s / len(near) / len(srcs), hw.route(int(a), c)))
    port_cap = {j: ch.bandwidth for j, ch in enumerate(chans)}
    port_load: dict[int, float] = defaultdict(float)
    link_load: dict[tuple[int, int], float] = defaultdict(float)
    for c, a, r, route in draws:
        port_load[a] += r
        for l in zip(route[:-1], route[1:]):
            link_load[l] += r

    def fac(load: float, cap: float) -> float:
        return cap / load if load > cap * (1 + 1e-9) else 1.0      # float sums: no spurious < 1

    for c, a, r, route in draws:
        x = fac(port_load[a], port_cap[a])
        for l in zip(route[:-1], route[1:]):
            x = min(x, fac(link_load[l], hw.nop.link_bw))
        f[c] = min(f[c], x)
    return f


def nearest_channels(hw: Hardware) -> list[tuple[int, ...]]:
    """Per chiplet, the indices of the DRAM channels nearest to it (hops to the channel's nearest attach chiplet;
    ties kept). A channel without attach chiplets is at distance 0 from everyone (it serves the package evenly)."""
    dist = np.array([[hw.hops[c, list(ch.attach)].min() if ch.attach else 0 for ch in hw.dram]
                     for c in range(hw.n)]).reshape(hw.n, len(hw.dram))
    return [tuple(int(j) for j in np.nonzero(row == row.min())[0]) if row.size else () for row in dist]


def _member_routes(hw: Hardware, mem: tuple[int, ...], near: list[tuple[int, ...]], feeds: Feeds | None = None
                   ) -> tuple[dict[int, float], dict[tuple[int, int], float]]:
    """({channel: fraction of the placement's DRAM bytes}, {directed NoP link: fraction}) for one placement under
    the default channel choice (`dram_channel_split`); `feeds` (if given) collects which channels' traffic
    crosses each link."""
    k = len(mem)
    chan: dict[int, float] = defaultdict(float)
    link: dict[tuple[int, int], float] = defaultdict(float)
    for c in mem:
        for j in near[c]:
            share = 1.0 / k / len(near[c])
            chan[j] += share
            att = hw.dram[j].attach
            if not att or hw.n == 1:
                continue
            d = min(int(hw.hops[c, a]) for a in att)
            srcs = [a for a in att if hw.hops[c, a] == d]
            for a in srcs:
                r = hw.route(int(a), c)
                for l in zip(r[:-1], r[1:]):
                    link[(int(l[0]), int(l[1]))] += share / len(srcs)
                    if feeds is not None:
                        feeds[(int(l[0]), int(l[1]))].add(j)
    return chan, link


def dram_channel_split(hw: Hardware, placements: Iterable[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """([P, channels] fraction of a placement's DRAM bytes each channel serves, [P] peak bytes/s it can stream).

    Channel choice (the default the schedule records in `dram_channels`): each of the k members moves 1/k of the
    task's bytes, split evenly over its nearest channels (`nearest_channels`), entering the mesh at that channel's
    attach chiplet(s) nearest to the member and travelling its XY route. Peak: the largest total rate r at which,
    with every member drawing its part, no channel delivers more than its `bandwidth` and no directed NoP link on
    the members' routes carries more than `link_bw` (a member at an attach chiplet takes its part straight from
    the PHY). This is what the placement's chiplets and NoP path can take with the channels to itself; how much
    of it a task gets while others stream is the schedule's business (`mapc.solvers.channels`)."""
    pls = list(placements)
    H = len(hw.dram)
    frac = np.zeros((len(pls), H))
    peak = np.full(len(pls), np.inf)
    if not H or hw.dram_bandwidth <= 0:
        return frac, np.zeros(len(pls))
    near = nearest_channels(hw)
    for p, mem in enumerate(pls):
        chan, link = _member_routes(hw, mem, near)
        for j, f in chan.items():
            frac[p, j] = f
        caps = [hw.dram[j].bandwidth / frac[p, j] for j in range(H) if frac[p, j] > 0]
        caps += [hw.nop.link_bw / f for f in link.values() if f > 0]
        peak[p] = min(caps)
    return frac, peak


def dram_link_split(hw: Hardware, placements: Iterable[tuple[int, ...]], may_bind: bool = False
                    ) -> tuple[list[tuple[int, int]], np.ndarray]:
    """(directed NoP links, [P, links] fraction of a placement's DRAM bytes crossing each link): the links on the
    X-Y routes from the channels' attach chiplets to the members (`dram_channel_split`'s channel choice), in a
    fixed sorted order; only links some placement's DRAM traffic crosses. A task of D DRAM bytes and duration d
    draws D x fraction / d from each of them for its whole run (issue 13: the NoP distance costs link bandwidth).

    With `may_bind`, only the links that can ever be over-subscribed: a link's DRAM load is part of the load of
    the channels whose traffic crosses it, so a link whose feeding channels' bandwidths sum to at most `link_bw`
    never binds in a schedule that keeps every channel within bandwidth (true of every link on mcm6x6 and
    npu4x4, where each link carries one channel's traffic); the schedulers skip those."""
    pls = list(placements)
    if not hw.dram or hw.dram_bandwidth <= 0:
        return [], np.zeros((len(pls), 0))
    near = nearest_channels(hw)
    feeds: Feeds = defaultdict(set)
    per = [_member_routes(hw, mem, near, feeds)[1] for mem in pls]
    links = sorted({l for d in per for l in d})
    if may_bind:
        cap = hw.nop.link_bw * (1 + 1e-9)
        links = [l for l in links if sum(hw.dram[j].bandwidth for j in feeds[l]) > cap]
    col = {l: j for j, l in enumerate(links)}
    frac = np.zeros((len(pls), len(links)))
    for p, d in enumerate(per):
        for l, f in d.items():
            if l in col:
                frac[p, col[l]] = f
    return links, frac


def check_regions(hw: Hardware, regions: Mapping[str, Iterable[int]] | None) -> dict[str, frozenset[int]] | None:
    """{phase: frozenset of chiplet ids} or None; ids must exist on `hw`."""
    if not regions:
        return None
    out: dict[str, frozenset[int]] = {}
    for phase, chips in regions.items():
        cs = frozenset(int(c) for c in chips)
        bad = sorted(c for c in cs if not 0 <= c < hw.n)
        if bad or not cs:
            raise MapcError(f"region of {phase} names chiplets {bad or '(none)'} that {hw.name} (0..{hw.n - 1}) lacks")
        out[phase] = cs
    return out
