"""The parallel plan: how the `tensor`, `pipeline` and `data` directives (each N or `auto`) constrain placements.

Three cases, decided once in `mapc.compiler.problem.build_problem`:

* nothing given (all `auto`): no restriction; the solvers choose every task's chiplet group freely and the
  `parallel` block of schedule.json describes what they chose (`describe`, derived from the placements).
* only `tensor T`: every task runs on exactly T chiplets (a [task x placement] mask `tensor T`); stages and
  replicas are the solver's choice, described afterwards the same way.
* `pipeline P` and/or `data D` given: a static plan. Each model's layer segments are split into P contiguous
  stages balanced by their fastest latency (`split_layers`, a linear-partition DP); D replicas each run the P
  stages on their own chiplet groups of T chiplets, so a replica holds a full copy of the weights; micro-batch m
  of every phase runs on replica m mod D (a request's prefill and decode on the same replica, by its KV cache).
  Groups are disjoint, taken in snake order over the grid (`snake_groups`), so consecutive stages are
  neighbours: replica r, stage s -> group r*P + s. Several models share the same groups (model m's stage s on
  group s). Under PD disaggregation each phase's region gets its own plan inside the region. Every task then has
  exactly one allowed placement (a mask named after the given directives, e.g. `pipeline 2`), whatever solver runs.
  `auto` dimensions of a static plan are chosen by `choose`: every (T, P, D) that fits (T divides the heads of
  every transformer, T x P x D groups inside the region, P <= layer segments, D copies of the weights in
  memory) is estimated by the pipeline formula sum_s t_s + (m - 1) max_s t_s per replica (t_s a stage's time per
  micro-batch at its fastest residency, m the replica's micro-batches), bounded below by the busiest group's
  total; the smallest estimate wins (ties: fewer chiplets). The estimate only ranks plans; the solvers
  schedule the chosen one.

D replicas need D copies of the weights: when they do not fit with the KV cache, `InfeasibleError` (exit 3)
names the memory; impossible counts (more groups than chiplets, more stages than segments) are `DslError`s
(exit 2) at the directive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mapc.core.errors import DslError, InfeasibleError, Loc
from mapc.core.graph import ExecutionGraph
from mapc.core.spec import ParallelSpec, Spec, TransformerModel
from mapc.dsl.parser import error_at
from mapc.hw.cost import CostModel

GiB = 2.0 ** 30


@dataclass(frozen=True)
class Stage:
    """One pipeline stage of one replica: a model's contiguous layers on one chiplet group."""

    model: str
    replica: int
    index: int                       # position in the replica's pipeline (0 = first)
    layers: tuple[int, int]          # first and last layer (inclusive)
    placement: int                   # index into `cost.placements`
    chiplets: tuple[int, ...]
    phases: tuple[str, ...] = ()     # the phases whose tasks it runs (PD disaggregation splits them)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "replica": self.replica, "stage": self.index, "layers": list(self.layers),
                "chiplets": list(self.chiplets), "phases": list(self.phases)}


@dataclass(frozen=True)
class ParallelPlan:
    """The directives as resolved: `tensor`/`pipeline`/`data` are the given or chosen degrees (None where the
    solver stays free), `given` names the ones the file set, `stages` the static plan (empty unless pipeline or
    data was given), `masks` the placement restrictions it imposes (name -> [n_tasks, P] bool)."""

    tensor: int | None = None
    pipeline: int | None = None
    data: int | None = None
    given: tuple[str, ...] = ()
    stages: tuple[Stage, ...] = ()
    masks: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)
    estimate_s: float | None = None
    notes: tuple[str, ...] = ()

    @property
    def static(self) -> bool:
        return bool(self.stages)

    def to_dict(self) -> dict[str, Any]:
        return {"tensor": self.tensor, "pipeline": self.pipeline, "data": self.data, "given": list(self.given),
                "source": "plan", "stages": [s.to_dict() for s in self.stages]}


# ---- groups and layer splits -----------------------------------------------------------------------------
def snake_groups(cost: CostModel, k: int) -> list[int]:
    """Indices of disjoint placements of k chiplets in snake order over the grid (even group rows left to right,
    odd ones right to left); a placement overlapping an earlier one is skipped."""
    hw = cost.hw
    idx = [p for p, mem in enumerate(cost.placements) if len(mem) == k]
    gy = {p: min(hw.chiplets[c].y for c in cost.placements[p]) for p in idx}
    rows = {y: r for r, y in enumerate(sorted(set(gy.values())))}

    def key(p: int) -> tuple[int, float, int]:
        r = rows[gy[p]]
        x = float(np.mean([hw.chiplets[c].x for c in cost.placements[p]]))
        return (r, x if r % 2 == 0 else -x, p)

    out: list[int] = []
    used: set[int] = set()
    for p in sorted(idx, key=key):
        if used.isdisjoint(cost.placements[p]):
            out.append(p)
            used.update(cost.placements[p])
    return out


def split_layers(weights: list[float], parts: int) -> list[int]:
    """Contiguous split of items with these weights into `parts` non-empty runs minimising the heaviest run
    (linear partition by dynamic programming); returns the run index of each item."""
    n = len(weights)
    parts = max(1, min(parts, n))
    pre = np.concatenate([[0.0], np.cumsum(weights)])
    best = np.full((parts + 1, n + 1), np.inf)
    cut = np.zeros((parts + 1, n + 1), dtype=np.int64)
    best[0, 0] = 0.0
    for k in range(1, parts + 1):
        for j in range(k, n + 1):
            v = np.maximum(best[k - 1, k - 1:j], pre[j] - pre[k - 1:j])
            i = int(np.argmin(v))
            best[k, j], cut[k, j] = v[i], i + k - 1
    run = [0] * n
    j = n
    for k in range(parts, 0, -1):
        i = int(cut[k, j])
        for x in range(i, j):
            run[x] = k - 1
        j = i
    return run


# ---- the plan -------------------------------------------------------------------------------------------------
def _classes(cost: CostModel) -> list[list[int]]:
    """Tasks grouped by the placements the PD regions leave them (one class without disaggregation)."""
    ok = cost.allowed()
    cls: dict[bytes, list[int]] = {}
    for t in cost.graph.tasks:
        cls.setdefault(ok[t.id].tobytes(), []).append(t.id)
    return list(cls.values())


def _segments(g: ExecutionGraph, ids: list[int]) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, set[tuple[int, int]]] = {}
    for i in ids:
        out.setdefault(g.tasks[i].model, set()).add(g.tasks[i].layers)
    return {m: sorted(s) for m, s in out.items()}


class _Class:
    """One class of tasks (a PD region) as arrays, with the layer split per pipeline depth cached."""

    def __init__(self, cost: CostModel, ids: list[int], best: np.ndarray, T: int):
        g = cost.graph
        self.cost, self.best = cost, best
        fast = np.where(cost.group_size[None, :] == T, best, np.inf).min(axis=1)   # fastest on T chiplets
        self.ids = np.asarray(ids, dtype=np.int64)
        self.segs = _segments(g, ids)
        self.models = list(self.segs)
        mcode = {m: j for j, m in enumerate(self.models)}
        scode = {(m, s): j for m in self.models for j, s in enumerate(self.segs[m])}
        self.model = np.array([mcode[g.tasks[i].model] for i in ids], dtype=np.int64)
        self.seg = np.array([scode[(g.tasks[i].model, g.tasks[i].layers)] for i in ids], dtype=np.int64)
        self.mb = np.array([g.tasks[i].microbatch for i in ids], dtype=np.int64)
        self.w = fast[self.ids]
        self.units = {m: sorted({(g.tasks[i].phase, g.tasks[i].microbatch) for i in ids if g.tasks[i].model == m})
                      for m in self.models}            # micro-batches of each model, over its phases
        self.phases = tuple(sorted({g.tasks[i].phase for i in ids}))
        self.nseg = min(len(v) for v in self.segs.values())
        self._split: dict[int, np.ndarray] = {}

    def stage_of(self, P: int) -> np.ndarray:
        """[tasks of the class] pipeline stage of each task's layer segment under P stages."""
        if P not in self._split:
            st = np.zeros(len(self.ids), dtype=np.int64)
            for j, m in enumerate(self.models):
                rows = self.model == j
                w = np.bincount(self.seg[rows], weights=self.w[rows], minlength=len(self.segs[m]))
                run = np.array(split_layers(w.tolist(), P), dtype=np.int64)
                st[rows] = run[self.seg[rows]]
            self._split[P] = st
        return self._split[P]

    def assign(self, groups: list[int], P: int, D: int) -> tuple[np.ndarray, float]:
        """[tasks of the class] placement under (P, D) on `groups` and the plan's estimate (module doc)."""
        s = self.stage_of(P)
        r = self.mb % D
        gi = r * P + s
        where = np.asarray(groups, dtype=np.int64)[gi]
        w = self.best[self.ids, where]                     # each task at its fastest residency on its group
        est = float(np.bincount(gi, weights=w).max()) if len(gi) else 0.0
        M = len(self.models)
        per = np.bincount((self.model * D + r) * P + s, weights=w, minlength=M * D * P).reshape(M, D, P)
        for j, m in enumerate(self.models):
            for rr in range(D):
                k = sum(1 for _, mb in self.units[m] if mb % D == rr)
                if k:
                    ts = per[j, rr] / k
                    est = max(est, float(ts.sum() + (k - 1) * ts.max()))
        return where, est

    def stages(self, groups: list[int], P: int, D: int) -> list[Stage]:
        st = self.stage_of(P)
        out = []
        for j, m in enumerate(self.models):
            rows = self.model == j
            for r in range(D):
                for s in range(P):
                    segs = sorted({int(x) for x in self.seg[rows & (st == s)]})
                    if segs:
                        p = groups[r * P + s]
                        out.append(Stage(m, r, s, (self.segs[m][segs[0]][0], self.segs[m][segs[-1]][1]), p,
                                         self.cost.placements[p], self.phases))
        return out


def _tensor_options(spec: Spec, cost: CostModel) -> list[int]:
    """Group sizes the cost model offers that divide the heads of every served transformer."""
    heads = [m.heads for m in spec.models.values() if isinstance(m, TransformerModel)
             and spec.workload is not None and m.name in {sv.model for sv in spec.workload.serves}]
    return sorted(k for k in {int(x) for x in cost.group_size} if all(h % k == 0 for h in heads))


def _loc(par: ParallelSpec, key: str) -> Loc | None:
    return par.locs.get(key, par.loc)


def plan(spec: Spec, cost: CostModel, weights: float, kv_peak: float, capacity: float) -> ParallelPlan:
    """Resolve the parallel block on the priced graph (module doc). `weights`, `kv_peak` and `capacity` are the
    memory check's bytes: D replicas need D x weights + kv_peak <= capacity."""
    par = spec.parallel
    given = tuple(k for k in ("tensor", "pipeline", "data") if getattr(par, k) is not None)
    T0, P0, D0 = par.tensor, par.pipeline, par.data
    if P0 is None and D0 is None:
        if T0 is None:
            return ParallelPlan(given=given)
        return ParallelPlan(tensor=T0, given=given,
                            masks={f"tensor {T0}": np.broadcast_to(cost.group_size[None, :] == T0,
                                                                  (cost.graph.n, len(cost.placements))).copy()})
    if D0 is not None and D0 * weights + kv_peak > capacity:
        raise InfeasibleError(
            f"data {D0} keeps {D0} copies of the weights: {D0} x {weights / GiB:.2f} GiB + {kv_peak / GiB:.2f} GiB "
            f"of KV cache = {(D0 * weights + kv_peak) / GiB:.2f} GiB, more than the {capacity / GiB:.2f} GiB of "
            f"DRAM/HBM on `{cost.hw.name}`", hint="lower `data` (or use `data auto`)")
    g = cost.graph
    ok = cost.allowed()
    best_lat = np.minimum(cost.lat_resident, cost.lat_stream)
    class_ids = _classes(cost)
    Ts = [T0] if T0 is not None else _tensor_options(spec, cost)
    best: tuple[float, int, int, int, int] | None = None
    why: list[str] = []
    for T in Ts:
        groups_all = snake_groups(cost, T)
        classes = [_Class(cost, ids, best_lat, T) for ids in class_ids]
        regions = [[p for p in groups_all if ok[c.ids[0], p]] for c in classes]
        for P in ([P0] if P0 is not None else range(1, len(groups_all) + 1)):
            for D in ([D0] if D0 is not None else range(1, len(groups_all) // P + 1)):
                if D0 is None and D * weights + kv_peak > capacity:
                    continue
                bad = [(c, grp) for c, grp in zip(classes, regions) if P * D > len(grp) or P > c.nseg]
                if bad:
                    c, grp = bad[0]
                    why.append(f"tensor {T} x pipeline {P} x data {D} needs {P * D} groups of {T} chiplet(s), "
                               f"{len(grp)} available{' in the ' + '/'.join(c.phases) + ' region' if len(classes) > 1 else ''}; "
                               f"{c.nseg} layer segments")
                    continue
                est = max(c.assign(grp, P, D)[1] for c, grp in zip(classes, regions))
                if best is None or (est, T * P * D) < (best[0], best[1]):
                    best = (est, T * P * D, T, P, D)
    if best is None:
        raise _no_plan(par, cost, why, P0, D0, T0)
    est, _, T, P, D = best
    groups_all = snake_groups(cost, T)
    classes = [_Class(cost, ids, best_lat, T) for ids in class_ids]
    mask = np.zeros((g.n, len(cost.placements)), dtype=bool)
    stages: list[Stage] = []
    for c in classes:
        grp = [p for p in groups_all if ok[c.ids[0], p]]
        where, _ = c.assign(grp, P, D)
        mask[c.ids, where] = True
        stages += c.stages(grp, P, D)
    name = " x ".join(f"{k} {v}" for k, v in (("tensor", T0), ("pipeline", P0), ("data", D0)) if v is not None)
    return ParallelPlan(tensor=T, pipeline=P, data=D, given=given, stages=tuple(stages), masks={name: mask},
                        estimate_s=est)


def _no_plan(par: ParallelSpec, cost: CostModel, why: list[str], P0: int | None, D0: int | None,
             T0: int | None) -> DslError:
    key = "data" if D0 is not None else "pipeline"
    detail = why[-1] if why else "no group size offered divides the heads of every model"
    return error_at(f"no parallel plan fits the directives on `{cost.hw.name}` ({detail})", _loc(par, key),
                    hint="a stage runs on `tensor` chiplets and needs at least one layer segment; lower `pipeline` or "
                         "`data`, lower `segment`, or use `auto`")


def check_placeable(cost: CostModel, plan_: ParallelPlan) -> None:
    """`InfeasibleError` naming the directives when some task is left no placement it can run on."""
    ok = cost.allowed()
    bad = np.nonzero(~ok.any(axis=1))[0]
    if bad.size:
        t = cost.graph.tasks[int(bad[0])]
        names = ", ".join(cost.restrictions)
        raise InfeasibleError(f"the directives ({names}) leave task {t.name} no chiplet group to run on "
                              f"({bad.size} task(s) in all): no group of {plan_.tensor or 'the allowed'} chiplet(s) "
                              f"lies inside its {t.phase} region" if cost.regions else
                              f"the directives ({names}) leave task {t.name} no chiplet group to run on",
                              hint="make the PD split hold whole tensor-parallel groups, or use `auto`")


# ---- what a schedule did -------------------------------------------------------------------------------------
def describe(plan_: ParallelPlan, cost: CostModel, placement_index: np.ndarray) -> dict[str, Any]:
    """schedule.json's `parallel` block: the static plan when there is one, else what the solver chose, derived
    from the placements (tensor: the group size when every task used the same one, else null; one stage per
    model and chiplet group with the layers it ran; replica 0; pipeline: the most groups any model used)."""
    if plan_.static:
        return plan_.to_dict()
    g = cost.graph
    pi = np.asarray(placement_index, dtype=np.int64)
    sizes = sorted({int(cost.group_size[p]) for p in pi.tolist()})
    spans: dict[tuple[str, int], list[int]] = {}
    phases: dict[tuple[str, int], set[str]] = {}
    for t in g.tasks:
        key = (t.model, int(pi[t.id]))
        lo, hi = spans.get(key, [t.layers[0], t.layers[1]])
        spans[key] = [min(lo, t.layers[0]), max(hi, t.layers[1])]
        phases.setdefault(key, set()).add(t.phase)
    order = sorted(spans, key=lambda k: (k[0], spans[k][0], k[1]))
    per_model: dict[str, int] = {}
    stages = []
    for m, p in order:
        idx = per_model.get(m, 0)
        per_model[m] = idx + 1
        stages.append({"model": m, "replica": 0, "stage": idx, "layers": spans[(m, p)],
                       "chiplets": list(cost.placements[p]), "phases": sorted(phases[(m, p)])})
    return {"tensor": sizes[0] if len(sizes) == 1 else None, "pipeline": max(per_model.values(), default=0),
            "data": None, "given": list(plan_.given), "source": "solver", "stages": stages,
            "group_sizes": sizes}
