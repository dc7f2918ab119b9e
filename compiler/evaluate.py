"""Metrics of a schedule and a lower bound no schedule priced by the cost model can beat (SI units).

Lower bound on the makespan (`lower_bound`), the larger of:

(a) work: a task on placement p occupies `group_size[p]` chiplets for its latency, and no chiplet runs two
    tasks at once, so `sum_i min_p(lat[i, p] * group_size[p]) <= n_chiplets * makespan`. The minimum is over
    every placement and both residency choices (resident or streamed), so it holds whatever a solver picks.
(b) DRAM: every task moves at least `dram_min[i]` bytes from DRAM (the smaller of the cost tables'
    `dram_bytes` over the choices it can take: KV traffic, plus its weights where it cannot be resident on any
    placement). Under the cost backend's DRAM model each chiplet streams at most its fair share `B / n` of the
    bandwidth B, so `lat[i, p] * group_size[p] * B / n >= dram_bytes[i, p]`; summing over tasks and using (a)'s
    argument gives `sum_i dram_min[i] <= B * makespan`. This relies on that invariant, so `lower_bound` checks
    it on the cost tables entry by entry and leaves (b) out (reports 0, `dram_valid=False`) where a cost model
    breaks it. Where the invariant holds, (b) can never exceed (a): it is reported for the reader, not for
    tightness.
(c) critical path: the longest dependency chain with every task at its minimum latency and transfers free.

Energy bound: each task's minimum dynamic energy over its choices, plus static power x makespan bound
(transfer energies are >= 0 and left out). EDP bound: energy bound x makespan bound (both factors are lower
bounds of positive quantities; energy grows with makespan through static power).

`compiler/bounds.py` (`strengthen`) then raises all three: the critical path with minimum transfer times, an
LP relaxation (OR-Tools GLOP) coupling per-class chiplet load with the dependency chains, and the energy / EDP
bound from the LP's least energy at each makespan. `Bound.tightest` names the largest makespan bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mapc.core.graph import ExecutionGraph
from mapc.compiler.bounds import strengthen
from mapc.compiler.schedule import Schedule
from mapc.core.errors import InfeasibleError
from mapc.compiler.objective import energy_of
from mapc.hw.cost import CostModel

_REL_TOL = 1e-9
MbKey = tuple[str, int]      # (model, micro-batch)


@dataclass(frozen=True)
class Bound:
    """Lower bounds: makespan `value` = max(work, dram, critical_path) in s; energy in J; edp in J*s."""

    value: float
    work: float
    dram: float
    critical_path: float
    energy: float = 0.0
    edp: float = 0.0
    dram_valid: bool = True       # the DRAM invariant held on the cost tables, so `dram` was taken into account
    transfer_path: float = 0.0    # critical path with minimum transfer times (s), `bounds.strengthen`
    lp: float = 0.0               # LP relaxation's makespan bound (s; 0 when none was solved)
    tightest: str = ""            # the largest makespan bound: work, dram, critical_path, critical_path_transfers, lp

    def to_dict(self) -> dict[str, Any]:
        return {"makespan_s": self.value, "work_s": self.work, "dram_s": self.dram,
                "critical_path_s": self.critical_path, "energy_j": self.energy, "edp_js": self.edp,
                "dram_valid": self.dram_valid, "critical_path_transfers_s": self.transfer_path,
                "lp_s": self.lp, "tightest": self.tightest}


def _finite_min(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.minimum(a, b).min(axis=1)


def lower_bound(cost: CostModel) -> Bound:
    """A proven lower bound on makespan, energy and EDP of any schedule of `cost.graph` priced by `cost`.

    Raises `InfeasibleError` when some task has no placement it can run on (every table entry infinite).
    """
    g: ExecutionGraph = cost.graph
    n_chip = cost.hw.n
    if g.n == 0:
        return Bound(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, True)
    lr, ls = cost.lat_resident, cost.lat_stream
    k = cost.group_size[None, :].astype(np.float64)
    min_lat = _finite_min(lr, ls)
    bad = np.nonzero(~np.isfinite(min_lat))[0]
    if bad.size:
        t = g.tasks[int(bad[0])]
        raise InfeasibleError(f"task {t.name} fits no placement: its weights ({t.weight_bytes:.3g} B) exceed "
                              f"every placement's SRAM and streaming from DRAM is disabled")
    # (a) work
    work = float(_finite_min(lr * k, ls * k).sum() / n_chip)
    # (b) DRAM
    dr, ds = cost.dram_bytes(True), cost.dram_bytes(False)
    dram_min = np.minimum(np.where(np.isfinite(lr), dr, np.inf), np.where(np.isfinite(ls), ds, np.inf)).min(axis=1)
    B = float(cost.hw.dram_bandwidth)
    total_dram = float(dram_min.sum())
    dram_valid = True
    if B > 0:
        share = B / n_chip
        for lat, d in ((lr, dr), (ls, ds)):
            fin = np.isfinite(lat)
            if np.any((lat * k * share)[fin] < d[fin] * (1 - _REL_TOL)):
                dram_valid = False
        dram = total_dram / B if dram_valid else 0.0
    else:
        dram = 0.0          # no DRAM: every finite entry moves no DRAM bytes
    # (c) critical path, ids are a topological order
    finish = min_lat.copy()
    preds = g.preds
    for i in range(g.n):
        p = preds[i]
        if p:
            finish[i] = min_lat[i] + max(finish[j] for j in p)
    crit = float(finish.max())
    e_dyn = float(_finite_min(np.where(np.isfinite(lr), cost.energy_resident, np.inf),
                              np.where(np.isfinite(ls), cost.energy_stream, np.inf)).sum())
    sb = strengthen(cost, work, dram, crit, e_dyn)
    return Bound(sb.makespan, work, dram, crit, sb.energy, sb.edp, dram_valid,
                 sb.parts.get("critical_path_transfers", crit), sb.parts.get("lp", 0.0), sb.tightest)


@dataclass(frozen=True)
class Metrics:
    """What a schedule achieves. Times in s, energies in J, EDP in J*s, throughput in tokens/s.

    Serving metrics (None where the workload has no such phase):
      ttft_mean / ttft_max: end of each prefill micro-batch's last task (its first token), mean weighted by
        requests, and max.
      tpot: time per output token in steady state, the largest over models. The graph is one serving
        iteration repeated back to back (the next iteration's decode steps need this one's tokens), so in
        steady state a request of a decode micro-batch gets `steps * width` tokens every makespan:
        tpot = makespan / (steps * width), averaged over the model's decode micro-batches. Prefill work in the
        iteration counts in full (it lengthens the period every decoding request waits through), whether it
        is scheduled between the decode steps or before them.
      decode_step_time: mean over decode micro-batches of (end of last step - start of first step) / steps,
        the latency of one step as scheduled.
      requests_per_s: requests admitted per second in steady state: prefill and forward requests / makespan.
      SLO (when the workload sets `slo ttft .. tpot ..`; `serving_slo`): a request's TTFT is the end of its
        prefill micro-batch, its TPOT its decode micro-batch's scheduled step time / width; `ttft_attainment`
        and `tpot_attainment` are the fractions of requests meeting each target, `slo_attainment` the fraction
        meeting every target that applies to them (in a request mix a request has both).
    """

    makespan: float
    energy: float
    edp: float
    throughput: float
    throughput_by_phase: dict[str, float]
    utilisation: float
    busy: tuple[float, ...]
    energy_breakdown: dict[str, float]
    bound: Bound
    bound_ratio: float
    ttft_mean: float | None = None
    ttft_max: float | None = None
    tpot: float | None = None
    decode_step_time: float | None = None
    requests_per_s: float | None = None
    tokens: int = 0
    per_model: dict[str, dict[str, float]] = field(default_factory=dict)
    ttft_slo: float | None = None
    tpot_slo: float | None = None
    ttft_attainment: float | None = None
    tpot_attainment: float | None = None
    slo_attainment: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "makespan_s": self.makespan, "energy_j": self.energy, "edp_js": self.edp,
            "throughput_tokens_per_s": self.throughput,
            "throughput_by_phase_tokens_per_s": dict(self.throughput_by_phase),
            "tokens": self.tokens,
            "utilisation": self.utilisation, "busy_s": list(self.busy),
            "energy_breakdown_j": dict(self.energy_breakdown),
            "lower_bound": self.bound.to_dict(), "makespan_over_bound": self.bound_ratio,
            "ttft_mean_s": self.ttft_mean, "ttft_max_s": self.ttft_max, "tpot_s": self.tpot,
            "decode_step_time_s": self.decode_step_time, "requests_per_s": self.requests_per_s,
            "per_model": {k: dict(v) for k, v in self.per_model.items()},
            "ttft_slo_s": self.ttft_slo, "tpot_slo_s": self.tpot_slo, "ttft_attainment": self.ttft_attainment,
            "tpot_attainment": self.tpot_attainment, "slo_attainment": self.slo_attainment,
        }


def placement_indices(schedule: Schedule, cost: CostModel) -> np.ndarray:
    """Index into `cost.placements` of every scheduled task (from the schedule's arrays, else by chiplets)."""
    if schedule.placement_index is not None:
        return np.asarray(schedule.placement_index, dtype=np.int64)
    idx = {p: i for i, p in enumerate(cost.placements)}
    try:
        return np.array([idx[tuple(t.placement)] for t in schedule.tasks], dtype=np.int64)
    except KeyError as e:
        raise InfeasibleError(f"schedule uses placement {e.args[0]} that the cost model does not offer") from None


def evaluate(schedule: Schedule, cost: CostModel, graph: ExecutionGraph | None = None, bound: Bound | None = None) -> Metrics:
    """Metrics of `schedule` (priced by `cost`) of `graph` (default `cost.graph`). Pass `bound` to reuse one."""
    g = cost.graph if graph is None else graph
    if len(schedule.tasks) != g.n:
        raise InfeasibleError(f"schedule has {len(schedule.tasks)} tasks, the graph {g.n}")
    n_chip = cost.hw.n
    T = float(schedule.makespan)
    E = energy_of(schedule, cost)
    bnd = lower_bound(cost) if bound is None else bound
    start = np.array([t.start for t in schedule.tasks], dtype=np.float64)
    end = np.array([t.end for t in schedule.tasks], dtype=np.float64)
    dur = end - start
    busy = np.zeros(n_chip)
    for st, d in zip(schedule.tasks, dur):
        busy[list(st.placement)] += d
    util = float(busy.sum() / (n_chip * T)) if T > 0 else 0.0
    # energy breakdown from the cost tables at each task's choice
    pi = placement_indices(schedule, cost)
    res = np.array([t.resident for t in schedule.tasks], dtype=bool)
    parts = {"compute": "e_mac", "rf": "e_rf", "sram": "e_sram", "dram": "e_dram", "nop": "e_nop", "pim": "e_pim"}
    eb = {name: float(cost.part_at(part, res, pi).sum()) if g.n else 0.0 for name, part in parts.items()}
    task_e = float(sum(t.energy for t in schedule.tasks))
    eb["other"] = task_e - sum(eb.values())          # whatever a cost model prices beyond the named parts
    eb["static"] = float(cost.static_power) * T
    eb["transfers"] = float(sum(x.energy for x in schedule.transfers))
    # throughput and serving metrics
    tok = np.array([t.tokens for t in g.tasks], dtype=np.float64)
    total_tokens = int(tok.sum())
    by_phase: dict[str, float] = {}
    for t in g.tasks:
        if t.tokens:
            by_phase[t.phase] = by_phase.get(t.phase, 0.0) + t.tokens
    by_phase = {k: (v / T if T > 0 else 0.0) for k, v in by_phase.items()}
    per_model: dict[str, dict[str, float]] = {}
    ttft_v: list[float] = []
    ttft_w: list[int] = []
    steps_t: list[float] = []
    requests = 0
    last_layer: dict[str, int] = {}
    for t in g.tasks:
        last_layer[t.model] = max(last_layer.get(t.model, 0), t.layers[1])
    mb_first: dict[MbKey, float] = {}
    mb_last: dict[MbKey, float] = {}
    mb_steps: dict[MbKey, int] = {}
    mb_width: dict[MbKey, int] = {}
    for t in g.tasks:
        pm = per_model.setdefault(t.model, {"tokens": 0, "requests": 0})
        pm["tokens"] += t.tokens
        is_last = t.layers[1] == last_layer[t.model]
        if t.phase in ("prefill", "forward") and is_last:
            requests += t.batch
            pm["requests"] += t.batch
            if t.phase == "prefill":
                ttft_v.append(end[t.id]); ttft_w.append(t.batch)
        if t.phase == "decode":
            key = (t.model, t.microbatch)
            mb_first[key] = min(mb_first.get(key, np.inf), start[t.id])
            if is_last:
                mb_last[key] = max(mb_last.get(key, 0.0), end[t.id])
            mb_steps[key] = max(mb_steps.get(key, 0), t.step + 1)
            if is_last and t.step == 0:
                mb_width[key] = max(t.seq, 1)
    per_tpot: dict[str, list[float]] = {}
    for key, f in mb_first.items():
        if key in mb_last:
            steps_t.append((mb_last[key] - f) / mb_steps[key])
            per_tpot.setdefault(key[0], []).append(T / (mb_steps[key] * mb_width.get(key, 1)) if T > 0 else 0.0)
    tpots = [float(np.mean(v)) for v in per_tpot.values()]
    ttft_mean = float(np.average(ttft_v, weights=ttft_w)) if ttft_v else None
    slo = serving_slo(g, end, mb_first, mb_last, mb_steps, T)
    for name, pm in per_model.items():
        pm["throughput_tokens_per_s"] = pm["tokens"] / T if T > 0 else 0.0
    return Metrics(
        makespan=T, energy=E, edp=E * T,
        throughput=total_tokens / T if T > 0 else 0.0, throughput_by_phase=by_phase,
        utilisation=util, busy=tuple(float(b) for b in busy), energy_breakdown=eb,
        bound=bnd, bound_ratio=T / bnd.value if bnd.value > 0 else float("inf"),
        ttft_mean=ttft_mean, ttft_max=float(max(ttft_v)) if ttft_v else None,
        tpot=float(max(tpots)) if tpots else None,
        decode_step_time=float(np.mean(steps_t)) if steps_t else None,
        requests_per_s=(requests / T if T > 0 else 0.0) if requests else None,
        tokens=total_tokens, per_model=per_model, **slo,
    )


def serving_slo(g: ExecutionGraph, end: np.ndarray, mb_first: dict[MbKey, float], mb_last: dict[MbKey, float],
                mb_steps: dict[MbKey, int], makespan: float) -> dict[str, float | None]:
    """SLO targets and attainment (see `Metrics`); empty when the workload sets no target."""
    ttft_t, tpot_t = g.meta.get("ttft_slo"), g.meta.get("tpot_slo")
    if ttft_t is None and tpot_t is None:
        return {}
    last_layer: dict[str, int] = {}
    for t in g.tasks:
        last_layer[t.model] = max(last_layer.get(t.model, 0), t.layers[1])
    linked = {s["model"] for s in g.meta.get("serves", []) for p in s.get("phases", []) if p.get("linked")}
    pre: dict[MbKey, tuple[float, int]] = {}          # (model, mb) -> (TTFT, requests)
    dec: dict[MbKey, tuple[float, int]] = {}          # (model, mb) -> (TPOT, requests at step 0)
    for t in g.tasks:
        key = (t.model, t.microbatch)
        if t.phase == "prefill" and t.layers[1] == last_layer[t.model]:
            pre[key] = (float(end[t.id]), t.batch)
        if t.phase == "decode" and t.step == 0 and t.layers[1] == last_layer[t.model] and key in mb_last:
            dec[key] = (makespan / mb_steps[key] / max(t.seq, 1), t.batch)     # steady-state TPOT (see Metrics)

    def ok_t(v: float) -> bool:
        return ttft_t is None or v <= ttft_t

    def ok_p(v: float) -> bool:
        return tpot_t is None or v <= tpot_t

    n_t = sum(b for _, b in pre.values())
    n_p = sum(b for _, b in dec.values())
    met_t = sum(b for v, b in pre.values() if ok_t(v))
    met_p = sum(b for v, b in dec.values() if ok_p(v))
    met = total = 0
    for key, (v, b) in pre.items():
        if key[0] in linked:                          # the same requests decode in micro-batch key
            both = ok_t(v) and (key not in dec or ok_p(dec[key][0]))
            met, total = met + (b if both else 0), total + b
        else:
            met, total = met + (b if ok_t(v) else 0), total + b
    for key, (v, b) in dec.items():
        if key[0] not in linked:
            met, total = met + (b if ok_p(v) else 0), total + b
    return {"ttft_slo": ttft_t, "tpot_slo": tpot_t,
            "ttft_attainment": (met_t / n_t) if (n_t and ttft_t is not None) else None,
            "tpot_attainment": (met_p / n_p) if (n_p and tpot_t is not None) else None,
            "slo_attainment": (met / total) if total else None}
