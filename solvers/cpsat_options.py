"""The candidate options of a CP-SAT model: per task, the (placement, residency) choices it may take, pruned by
dominance (`candidates`), and the symmetries of a problem that a model may break (`reflections` of the grid,
`identical_components` of the graph). See `mapc.solvers.cpsat_model` for the model built over them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt

from mapc.core.graph import Edge
from mapc.hw.cost import CostModel


@dataclass(frozen=True)
class Options:
    """Candidate (placement, residency) choices, sorted by task; options of task i are first[i]:first[i+1]."""

    task: np.ndarray
    place: np.ndarray
    resident: np.ndarray
    lat: np.ndarray          # s
    energy: np.ndarray       # J (dynamic)
    first: np.ndarray
    exact: bool              # only provably safe pruning was applied (bounds hold for the full problem)
    pruned: int = 0          # options dropped by dominance
    cut: int = 0             # options dropped by the per-task limit

    @property
    def size(self) -> int:
        return int(self.task.size)

    def of(self, i: int) -> range:
        return range(int(self.first[i]), int(self.first[i + 1]))

    def index(self, i: int, p: int, res: bool) -> int | None:
        for o in self.of(i):
            if self.place[o] == p and bool(self.resident[o]) == bool(res):
                return o
        return None

    def index_of(self, i: int, p: int, res: bool) -> int:
        """`index` of an option that must be among the candidates (a kept hint's); `KeyError` if it is not."""
        o = self.index(i, p, res)
        if o is None:
            raise KeyError(f"task block {i}: option (placement {p}, resident {bool(res)}) is not a candidate")
        return o


def sram_demand(cost: CostModel) -> npt.NDArray[np.float64]:
    """[C] bytes per chiplet if every weight key were resident there at its largest possible share."""
    g = cost.graph
    K, C = len(g.weight_keys), cost.hw.n
    demand = np.zeros((C, max(K, 1)))
    lr, share = cost.lat_resident, cost.weight_share
    for p, mem in enumerate(cost.placements):
        fin = np.isfinite(lr[:, p])
        if not fin.any():
            continue
        hk = np.zeros(max(K, 1))
        np.maximum.at(hk, g.weight_index[fin], share[fin, p])
        m = list(mem)
        demand[m] = np.maximum(demand[m], hk[None, :])
    return demand.sum(axis=1)


def candidates(cost: CostModel, keep: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
               max_per_task: int | None = None, tasks: npt.ArrayLike | None = None) -> Options:
    """Finite options of each task (of `tasks`, default all), with dominated ones pruned.

    Resident is dropped where streaming on the same placement is at least as fast and as cheap (always safe);
    streaming is dropped where residency is at least as fast and cheap AND no member chiplet's SRAM can be
    over-filled (so residency there never competes for capacity). `keep = (placement_index, resident)` options
    are never dropped; `max_per_task` keeps the best options by normalised latency + energy (then `exact`
    is False: CP-SAT's bound is for the restricted problem only).
    """
    lr, ls, er, es = cost.lat_resident, cost.lat_stream, cost.energy_resident, cost.energy_stream
    n = cost.graph.n
    tasks = np.arange(n) if tasks is None else np.asarray(tasks, dtype=np.int64)
    lr, ls, er, es = lr[tasks], ls[tasks], er[tasks], es[tasks]
    fr = np.isfinite(lr) & np.isfinite(er)
    fs = np.isfinite(ls) & np.isfinite(es)
    tight = sram_demand(cost) > cost.weight_capacity
    # [P] (numpy's stubs type any(axis=...) as array-or-scalar; with an axis of a 2-D array it is an array)
    loose_p = cast(np.ndarray, ~(cost.members & tight[None, :]).any(axis=1))
    drop_r = fr & fs & (ls <= lr) & (es <= er)
    drop_s = fr & fs & (lr <= ls) & (er <= es) & loose_p[None, :] & ~drop_r
    if keep is not None:
        kp, kr = np.asarray(keep[0])[tasks], np.asarray(keep[1], dtype=bool)[tasks]
        rows = np.arange(tasks.size)
        drop_r[rows[kr], kp[kr]] = False
        drop_s[rows[~kr], kp[~kr]] = False
    kr_, ks_ = fr & ~drop_r, fs & ~drop_s
    pruned = int((fr & drop_r).sum() + (fs & drop_s).sum())
    ti_r, p_r = np.nonzero(kr_)
    ti_s, p_s = np.nonzero(ks_)
    ti = np.concatenate([ti_r, ti_s])
    pl = np.concatenate([p_r, p_s])
    rs = np.concatenate([np.ones(ti_r.size, bool), np.zeros(ti_s.size, bool)])
    lat = np.concatenate([lr[ti_r, p_r], ls[ti_s, p_s]])
    en = np.concatenate([er[ti_r, p_r], es[ti_s, p_s]])
    order = np.lexsort((~rs, pl, ti))
    ti, pl, rs, lat, en = ti[order], pl[order], rs[order], lat[order], en[order]
    cut = 0
    if max_per_task is not None:
        cnt = np.bincount(ti, minlength=tasks.size)
        if cnt.max(initial=0) > max_per_task:
            lmin = np.full(tasks.size, np.inf); np.minimum.at(lmin, ti, lat)
            emin = np.full(tasks.size, np.inf); np.minimum.at(emin, ti, en)
            sc = lat / np.maximum(lmin[ti], 1e-30) + en / np.maximum(emin[ti], 1e-30)
            forced = np.zeros(ti.size, bool)
            if keep is not None:
                forced = (pl == kp[ti]) & (rs == kr[ti])
            o2 = np.lexsort((sc, ~forced, ti))
            rank = np.empty(ti.size, np.int64)
            starts = np.searchsorted(ti[o2], np.arange(tasks.size))
            rank[o2] = np.arange(ti.size) - starts[ti[o2]]
            sel = (rank < max_per_task) | forced
            cut = int((~sel).sum())
            ti, pl, rs, lat, en = ti[sel], pl[sel], rs[sel], lat[sel], en[sel]
    first = np.searchsorted(ti, np.arange(tasks.size + 1))
    return Options(tasks[ti], pl, rs, lat, en, first, cut == 0, pruned, cut)


def reflections(cost: CostModel) -> list[tuple[str, np.ndarray]]:
    """Grid reflections ('x' or 'y', placement permutation) that are exact symmetries of the cost model."""
    hw = cost.hw
    if hw.nop.topology != "mesh" or len(hw.chiplets) != hw.rows * hw.cols:
        return []
    out: list[tuple[str, np.ndarray]] = []
    pindex = {tuple(p): i for i, p in enumerate(cost.placements)}
    for axis in ("x", "y"):
        if (hw.cols if axis == "x" else hw.rows) < 2:
            continue
        sig = np.empty(hw.n, np.int64)
        for c in hw.chiplets:
            x, y = (hw.cols - 1 - c.x, c.y) if axis == "x" else (c.x, hw.rows - 1 - c.y)
            sig[c.id] = y * hw.cols + x
        if any(hw.chiplets[sig[c.id]].type != c.type for c in hw.chiplets):
            continue
        if not np.array_equal(cost.weight_capacity[sig], cost.weight_capacity):
            continue
        if not np.array_equal(hw.hops[np.ix_(sig, sig)], hw.hops):
            continue
        if hw.dram and not np.array_equal(hw.dram_hops[sig], hw.dram_hops):
            continue
        perm = np.empty(len(cost.placements), np.int64)
        ok = True
        for p, mem in enumerate(cost.placements):
            img = tuple(int(sig[c]) for c in mem)
            q = pindex.get(img)
            if q is None:   # same members in another ring order with the same lead
                q = next((j for j, m in enumerate(cost.placements)
                          if m[0] == img[0] and sorted(m) == sorted(img)), None)
            if q is None:
                ok = False
                break
            perm[p] = q
        if not ok:
            continue
        same = all(np.array_equal(np.nan_to_num(t[:, perm], posinf=-1), np.nan_to_num(t, posinf=-1))
                   for t in (cost.lat_resident, cost.lat_stream, cost.energy_resident, cost.energy_stream))
        if same:
            out.append((axis, perm))
    return out


# a task's signature: its options (placements, residency, latencies, energies), weight key and weight shares
_Slot = tuple[bytes, bytes, bytes, bytes, int, bytes]


def identical_components(cost: CostModel, opts: Options, tasks: Iterable[int | None]) -> list[list[int]]:
    """Groups of interchangeable weakly connected components of the graph (over `tasks`, all free), each
    group as the list of its components' first tasks, in id order.

    Two components are interchangeable when, matched task by task in id order, the tasks have identical
    options (placements, residency, latencies, energies), weight key and weight shares, and the edges map to
    edges with the same bytes. Swapping them maps any schedule to one with the same makespan, energy and SRAM
    use, so sorting them by their first task's chosen option is a valid symmetry break. (It does not commute
    with the grid reflections, which permute options, so `build` then skips the reflection break: measured
    faster than ordering the chains by start time and keeping the reflections.)"""
    g = cost.graph
    free = [t for t in tasks if t is not None]
    if len(free) != g.n:
        return []
    comp = g.component
    comps: dict[int, list[int]] = {}
    for t in range(g.n):
        comps.setdefault(int(comp[t]), []).append(t)
    ins: dict[int, list[Edge]] = {}
    for e in g.edges:
        ins.setdefault(int(comp[e.src]), []).append(e)
    slot: dict[int, _Slot] = {}
    for t in range(g.n):
        j = t   # opts order is task order when all tasks are free
        r = opts.of(j)
        slot[t] = (opts.place[r.start:r.stop].tobytes(), opts.resident[r.start:r.stop].tobytes(),
                   opts.lat[r.start:r.stop].tobytes(), opts.energy[r.start:r.stop].tobytes(),
                   int(g.weight_index[t]), cost.weight_share[t].tobytes())
    sigs: dict[tuple[tuple[_Slot, ...], tuple[tuple[int, int, float], ...]], list[int]] = {}
    for rt, mem in comps.items():
        idx = {t: i for i, t in enumerate(mem)}
        edges = tuple(sorted((idx[e.src], idx[e.dst], float(e.bytes)) for e in ins.get(rt, [])))
        sig = (tuple(slot[t] for t in mem), edges)
        sigs.setdefault(sig, []).append(mem[0])
    return [sorted(v) for v in sigs.values() if len(v) > 1]
