"""The cost backend: latency and energy of a task on a placement, and of a transfer on a route (SI units).

v0 (to be refined by the dataflow tiling model): per operator, compute cycles from tiling the GEMM onto the PE
array by dataflow (weight-stationary: K x N tiles, M streamed; output-stationary: M x N tiles, K streamed;
row-stationary: in between), with fill and drain; memory time from DRAM bytes at the placement's share of DRAM
bandwidth; roofline overlap `max(compute, memory)` plus the tensor-parallel collective.

DRAM model: the aggregate DRAM bandwidth is statically shared, each chiplet streaming at most
`hw.dram_bandwidth / hw.n` (capped by one NoP link). That keeps the sum of all chiplets' DRAM traffic within the
package's bandwidth at every instant, so no schedule priced here over-uses DRAM, and the DRAM lower bound
(total bytes / aggregate bandwidth) is proven under this model.

Weights are either resident (kept in the placement's SRAM, each member holding 1/k of them, loaded once before
the scheduled window as in steady-state serving) or streamed from DRAM on every execution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from mapc.compiler.ceg import ExecutionGraph
from mapc.hw.hardware import Hardware

WEIGHT_FRACTION = 0.75   # share of SRAM usable for resident weights; the rest double-buffers activations/KV tiles


@dataclass(frozen=True)
class TaskCost:
    latency: float
    energy: float
    breakdown: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TransferCost:
    latency: float
    energy: float
    route: tuple[int, ...]


def group_tiles(hw: Hardware, k: int, policy: str = "block") -> list[tuple[int, ...]]:
    """Disjoint groups of k chiplets that tile the grid under a core-placement policy (row, column, block, snake)."""
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
            return [tuple(grid[y0 + dy][x0 + dx] for dy in range(a) for dx in range(b))
                    for y0 in range(0, R, a) for x0 in range(0, C, b)]
    if policy == "row" and C % k == 0:
        return [tuple(grid[y][x0:x0 + k]) for y in range(R) for x0 in range(0, C, k)]
    if policy == "column" and R % k == 0:
        return [tuple(grid[y][x] for y in range(y0, y0 + k)) for x in range(C) for y0 in range(0, R, k)]
    order = [grid[y][x] for y in range(R) for x in (range(C) if y % 2 == 0 else range(C - 1, -1, -1))]
    return [tuple(order[i:i + k]) for i in range(0, len(order) - k + 1, k)]


class CostModel:
    """Prices every task of `graph` on every candidate placement of `hw`, as NumPy tables.

    Tables (shape [n_tasks, n_placements], np.inf where a choice is impossible):
      lat_resident, energy_resident: weights kept in SRAM (inf when the per-chiplet share exceeds capacity)
      lat_stream, energy_stream:     weights streamed from DRAM (inf when streaming is disabled)
    Per placement: `placements[p]` (chiplet ids), `lead[p]`, `group_size[p]`, `members[p, c]`.
    """

    def __init__(self, hw: Hardware, graph: ExecutionGraph, *, group_sizes: tuple[int, ...] = (1, 2, 4),
                 placement_policy: str = "block", allow_streaming: bool = True,
                 weight_fraction: float = WEIGHT_FRACTION):
        self.hw = hw
        self.graph = graph
        self.allow_streaming = allow_streaming
        pls: list[tuple[int, ...]] = []
        for k in sorted(set(group_sizes)):
            if 1 <= k <= hw.n:
                pls.extend(group_tiles(hw, k, placement_policy))
        self.placements: tuple[tuple[int, ...], ...] = tuple(pls)
        P = len(pls)
        self.lead = np.array([p[0] for p in pls], dtype=np.int64)
        self.group_size = np.array([len(p) for p in pls], dtype=np.int64)
        self.members = np.zeros((P, hw.n), dtype=bool)
        for i, p in enumerate(pls):
            self.members[i, list(p)] = True
        self.weight_capacity = np.array([c.type.sram * weight_fraction for c in hw.chiplets])
        self.static_power = float(sum(c.type.static_power for c in hw.chiplets))
        self._price()

    # ---- transfers -------------------------------------------------------------------------------------
    def transfer_cost(self, nbytes: float, src: int, dst: int) -> TransferCost:
        """XY route, per-hop latency and energy, serialisation at link bandwidth."""
        if src == dst or nbytes <= 0:
            return TransferCost(0.0, 0.0, (src,))
        route = self.hw.route(src, dst)
        hops = len(route) - 1
        nop = self.hw.nop
        return TransferCost(hops * nop.hop_latency + nbytes / nop.link_bw,
                            nbytes * 8 * nop.energy_per_bit * hops, route)

    def transfer_time(self, nbytes, src, dst) -> np.ndarray:
        """Vectorised transfer latency between chiplet arrays src and dst (0 where equal)."""
        nbytes = np.asarray(nbytes, dtype=np.float64)
        h = self.hw.hops[np.asarray(src), np.asarray(dst)]
        nop = self.hw.nop
        return np.where(h > 0, h * nop.hop_latency + nbytes / nop.link_bw, 0.0)

    def transfer_energy(self, nbytes, src, dst) -> np.ndarray:
        h = self.hw.hops[np.asarray(src), np.asarray(dst)]
        return np.asarray(nbytes, dtype=np.float64) * 8 * self.hw.nop.energy_per_bit * h

    # ---- tasks -----------------------------------------------------------------------------------------
    def task_cost(self, task: int, p: int, resident: bool) -> TaskCost:
        lat = (self.lat_resident if resident else self.lat_stream)[task, p]
        en = (self.energy_resident if resident else self.energy_stream)[task, p]
        bd = {k: float(v[task, p]) for k, v in self.breakdown(resident).items()}
        return TaskCost(float(lat), float(en), bd)

    def breakdown(self, resident: bool) -> dict[str, np.ndarray]:
        return self._bd_res if resident else self._bd_str

    @cached_property
    def weight_share(self) -> np.ndarray:
        """[n_tasks, P] bytes of weights each member chiplet holds when the task is resident there."""
        return self.graph.weight_bytes[:, None] / self.group_size[None, :]

    @cached_property
    def min_latency(self) -> np.ndarray:
        """[n_tasks] the fastest any placement and residency can run each task."""
        return np.minimum(self.lat_resident, self.lat_stream).min(axis=1)

    def _price(self) -> None:
        g, hw = self.graph, self.hw
        n, P = g.n, len(self.placements)
        types = sorted({c.type for c in hw.chiplets}, key=lambda t: t.name)
        tix = {t: i for i, t in enumerate(types)}
        ptype = np.array([tix[hw.chiplets[p[0]].type] for p in self.placements])
        # Per task: ops as flat arrays, deduplicated by the task's op tuple.
        uniq: dict[tuple, int] = {}
        task_u = np.empty(n, dtype=np.int64)
        for t in g.tasks:
            task_u[t.id] = uniq.setdefault(t.ops, len(uniq))
        uops = list(uniq)
        owner = np.repeat(np.arange(len(uops)), [len(o) for o in uops])
        flat = [op for ops in uops for op in ops]
        f = lambda a: np.array([getattr(o, a) for o in flat], dtype=np.float64)
        M, K, N, cnt, flops = f("M"), f("K"), f("N"), f("count"), f("flops")
        wb, kvr, kvw, ib, ob = f("weight_bytes"), f("kv_read_bytes"), f("kv_write_bytes"), f("in_bytes"), f("out_bytes")
        is_gemm = np.array([o.kind in ("gemm", "attn_score", "attn_value", "conv", "moe_gemm") for o in flat])
        U = len(uops)
        sizes = sorted(set(self.group_size.tolist()))
        lat_r = np.empty((U, P)); lat_s = np.empty((U, P)); en_r = np.empty((U, P)); en_s = np.empty((U, P))
        bd_keys = ("compute", "memory", "collective", "dram_bytes", "e_mac", "e_sram", "e_dram", "e_nop")
        bd_r = {k: np.empty((U, P)) for k in bd_keys}
        bd_s = {k: np.empty((U, P)) for k in bd_keys}
        nop = hw.nop
        dram_e_bit = (sum(ch.energy_per_bit * ch.bandwidth for ch in hw.dram) / hw.dram_bandwidth) if hw.dram else 0.0
        per_chiplet_dram_bw = min(hw.dram_bandwidth / hw.n, nop.link_bw) if hw.dram else 1e-30
        for ti, ct in enumerate(types):
            for k in sizes:
                cols = np.nonzero((ptype == ti) & (self.group_size == k))[0]
                if cols.size == 0:
                    continue
                # Split each GEMM k ways along N (column-parallel); non-GEMM work splits evenly.
                Nk = np.ceil(N / k)
                R, Cc = ct.pe_rows, ct.pe_cols
                if ct.dataflow == "ws":
                    cyc = np.ceil(K / R) * np.ceil(Nk / Cc) * (M + R + Cc) * cnt
                elif ct.dataflow == "os":
                    cyc = np.ceil(M / R) * np.ceil(Nk / Cc) * (K + R + Cc) * cnt
                else:  # rs: rows of the filter stay, a compromise between ws and os
                    cyc = 0.5 * (np.ceil(K / R) * np.ceil(Nk / Cc) * (M + R + Cc)
                                 + np.ceil(M / R) * np.ceil(Nk / Cc) * (K + R + Cc)) * cnt
                cyc = np.where(is_gemm, cyc, np.ceil(flops / k / Cc))
                comp = np.bincount(owner, weights=cyc / ct.freq, minlength=U)
                macs = np.bincount(owner, weights=flops / 2.0, minlength=U)
                kv = np.bincount(owner, weights=kvr + kvw, minlength=U)
                w = np.bincount(owner, weights=wb, minlength=U)
                act = np.bincount(owner, weights=ib + ob, minlength=U)
                outb = np.bincount(owner, weights=np.where(is_gemm, ob, 0.0), minlength=U)
                # ring all-reduce of GEMM outputs within the group (1-D tensor parallelism)
                if k > 1:
                    coll_bytes = 2.0 * (k - 1) / k * outb
                    coll = coll_bytes / nop.link_bw + 2 * (k - 1) * nop.hop_latency
                    coll_e = coll_bytes * k * 8 * nop.energy_per_bit
                else:
                    coll = np.zeros(U); coll_e = np.zeros(U)
                bw = per_chiplet_dram_bw * k
                dram_hops = float(np.mean(hw.dram_hops)) if hw.dram else 0.0
                for resident, lat, en, bd in ((True, lat_r, en_r, bd_r), (False, lat_s, en_s, bd_s)):
                    dram = kv + (0.0 if resident else w)
                    mem = dram / bw
                    e_mac = macs * ct.mac_energy
                    e_sram = (w + act + kv) * ct.sram_energy
                    e_dram = dram * 8 * dram_e_bit
                    e_nop = dram * 8 * nop.energy_per_bit * dram_hops + coll_e
                    l = np.maximum(comp, mem) + coll
                    e = e_mac + e_sram + e_dram + e_nop
                    lat[:, cols] = l[:, None]; en[:, cols] = e[:, None]
                    for key, val in zip(bd_keys, (comp, mem, coll, dram, e_mac, e_sram, e_dram, e_nop)):
                        bd[key][:, cols] = val[:, None]
        self.lat_resident = lat_r[task_u]
        self.energy_resident = en_r[task_u]
        self.lat_stream = lat_s[task_u]
        self.energy_stream = en_s[task_u]
        self._bd_res = {k: v[task_u] for k, v in bd_r.items()}
        self._bd_str = {k: v[task_u] for k, v in bd_s.items()}
        # Resident only where each member's share fits its weight capacity.
        cap = np.array([self.weight_capacity[list(p)].min() for p in self.placements])
        fits = self.weight_share <= cap[None, :]
        self.lat_resident = np.where(fits, self.lat_resident, np.inf)
        self.energy_resident = np.where(fits, self.energy_resident, np.inf)
        if not self.allow_streaming:
            self.lat_stream = np.full_like(self.lat_stream, np.inf)
            self.energy_stream = np.full_like(self.energy_stream, np.inf)
