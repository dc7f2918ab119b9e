"""Metrics of a schedule and a lower bound no schedule priced by the cost model can beat (SI units).

Lower bound on the makespan (`lower_bound`), the larger of:

(a) work: a task on placement p occupies `group_size[p]` chiplets for its latency, and no chiplet runs two
    tasks at once, so `sum_i min_p(lat[i, p] * group_size[p]) <= n_chiplets * makespan`. The minimum is over
    every placement and both residency choices (resident or streamed), so it holds whatever a solver picks.
(b) DRAM: every task moves at least `dram_min[i]` bytes from DRAM (the smaller of the cost tables'
    `dram_bytes` over the choices it can take: KV traffic, plus its weights where it cannot be resident on any
    placement). DRAM channels are shared resources of the schedule: a task draws bytes / duration from each of
    its channels over its run and at every instant the draws sum to at most each channel's bandwidth and the
    aggregate B (`compiler.check`'s `dram` rule, which every emitted schedule passes). Integrating over the
    schedule, `sum_i dram_min[i] <= B * makespan`; per channel h, every task puts at least
    `min over its choices of bytes x dram_frac[p, h]` on h, so that sum / B_h is a bound too (it bites where
    the placements force traffic onto one channel). The package's PIM units are shared the same way
    (`compiler.check`'s `pim` rule): every task's least PIM internal bytes (FLOPs) over its choices, summed,
    over the units' total internal bandwidth (FLOP/s) bounds the makespan too (`pim`, the larger of the two).
    `dram` is the largest of the DRAM terms; `dram_valid` is always True (kept for readers of older reports).
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
from mapc.compiler.slo import outcome as slo_outcome, targets, to_dict as slo_dict
from mapc.hw.cost import CostModel

_REL_TOL = 1e-9
DIRECTIVE_NOTE = 1.5       # a directive whose bound passes this multiple of the hardware's is named
MbKey = tuple[str, int]      # (model, micro-batch)


@dataclass(frozen=True)
class Bound:
    """Lower bounds: makespan `value` = max(work, dram, pim, critical_path, ...) in s; energy in J; edp in J*s."""

    value: float
    work: float
    dram: float
    critical_path: float
    energy: float = 0.0
    edp: float = 0.0
    dram_valid: bool = True       # the DRAM invariant held on the cost tables, so `dram` was taken into account
    transfer_path: float = 0.0    # critical path with minimum transfer times (s), `bounds.strengthen`
    lp: float = 0.0               # LP relaxation's makespan bound (s; 0 when none was solved)
    tightest: str = ""            # the largest makespan bound: work, dram, pim, critical_path, critical_path_transfers, lp
    pim: float = 0.0              # PIM work / the PIM units' capacity (s; 0 without PIM)

    def to_dict(self) -> dict[str, Any]:
        return {"makespan_s": self.value, "work_s": self.work, "dram_s": self.dram,
                "critical_path_s": self.critical_path, "energy_j": self.energy, "edp_js": self.edp,
                "dram_valid": self.dram_valid, "critical_path_transfers_s": self.transfer_path,
                "lp_s": self.lp, "tightest": self.tightest, "pim_s": self.pim}


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
    dram = total_dram / B if B > 0 else 0.0      # no DRAM: every finite entry moves no DRAM bytes
    frac = cost.dram_frac
    for h, ch in enumerate(cost.hw.dram):
        if ch.bandwidth > 0 and frac[:, h].any():
            on_h = np.minimum(np.where(np.isfinite(lr), dr * frac[None, :, h], np.inf),
                              np.where(np.isfinite(ls), ds * frac[None, :, h], np.inf)).min(axis=1)
            dram = max(dram, float(on_h.sum()) / ch.bandwidth)
    pim = 0.0
    units = cost.hw.pim                          # the pooled PIM units: the same argument (`compiler.check`'s `pim`)
    for key, cap in (("pim_bytes", sum(u.bandwidth for u in units)), ("pim_flops", sum(u.peak_flops for u in units))):
        if cap > 0:
            least = np.minimum(np.where(np.isfinite(lr), cost.table(key, True), np.inf),
                               np.where(np.isfinite(ls), cost.table(key, False), np.inf)).min(axis=1)
            pim = max(pim, float(least.sum()) / cap)
    # (c) critical path
    crit = float(earliest_finish(g, min_lat).max())
    e_dyn = float(_finite_min(np.where(np.isfinite(lr), cost.energy_resident, np.inf),
                              np.where(np.isfinite(ls), cost.energy_stream, np.inf)).sum())
    sb = strengthen(cost, work, dram, crit, e_dyn, pim)
    return Bound(sb.makespan, work, dram, crit, sb.energy, sb.edp, dram_valid,
                 sb.parts.get("critical_path_transfers", crit), sb.parts.get("lp", 0.0), sb.tightest, pim)


def earliest_finish(g: ExecutionGraph, min_lat: np.ndarray) -> np.ndarray:
    """[n] the earliest each task can end: its minimum latency after its predecessors', transfers free (task
    ids are a topological order)."""
    finish = np.asarray(min_lat, dtype=np.float64).copy()
    preds = g.preds
    for i in range(g.n):
        p = preds[i]
        if p:
            finish[i] = min_lat[i] + max(finish[j] for j in p)
    return finish


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
      SLO (when the workload sets `slo ttft .. tpot ..`; `mapc.compiler.slo`): a request's TTFT is the end of
        its prefill micro-batch, its TPOT the steady-state period above; `ttft_attainment` and
        `tpot_attainment` are the fractions of requests meeting each target, `slo_attainment` the fraction
        meeting every target that applies to them (in a request mix a request has both); `slo` holds the
        goodput (tokens/s of requests meeting every target), per-model attainment and the worst misses.

    Bounds: `bound` is the hardware's lower bound (the cost model without any directive: `CostModel.free`),
    `bound_ratio` = makespan / it; `bound_directives` the bound under the user's directives (tensor, pipeline,
    data, PD regions) and `directive_costs` each directive's own bound over the hardware's (only computed
    when the directives' bound is more than `DIRECTIVE_NOTE` x the hardware's).
    """

    makespan: float
    energy: float
    edp: float
    throughput: float
    throughput_by_phase: dict[str, float]
    utilisation: float                  # busy chiplet-seconds / (chiplets x makespan)
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
    bound_directives: Bound | None = None
    compute_utilisation: float = 0.0    # FLOPs / (peak FLOP/s of chiplets and PIM units x makespan)
    dram_utilisation: float = 0.0       # DRAM bytes at the chosen options / (aggregate DRAM bandwidth x makespan)
    directive_costs: dict[str, float] = field(default_factory=dict)
    slo: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "makespan_s": self.makespan, "energy_j": self.energy, "edp_js": self.edp,
            "throughput_tokens_per_s": self.throughput,
            "throughput_by_phase_tokens_per_s": dict(self.throughput_by_phase),
            "tokens": self.tokens,
            "utilisation": self.utilisation, "compute_utilisation": self.compute_utilisation,
            "dram_utilisation": self.dram_utilisation, "busy_s": list(self.busy),
            "energy_breakdown_j": dict(self.energy_breakdown),
            "lower_bound": self.bound.to_dict(), "makespan_over_bound": self.bound_ratio,
            "lower_bound_directives": (self.bound_directives or self.bound).to_dict(),
            "directive_costs": dict(self.directive_costs),
            "ttft_mean_s": self.ttft_mean, "ttft_max_s": self.ttft_max, "tpot_s": self.tpot,
            "decode_step_time_s": self.decode_step_time, "requests_per_s": self.requests_per_s,
            "per_model": {k: dict(v) for k, v in self.per_model.items()},
            "ttft_slo_s": self.ttft_slo, "tpot_slo_s": self.tpot_slo, "ttft_attainment": self.ttft_attainment,
            "tpot_attainment": self.tpot_attainment, "slo_attainment": self.slo_attainment,
            "goodput_tokens_per_s": self.slo.get("goodput_tokens_per_s"),
            "slo_by_model": self.slo.get("slo_by_model", {}), "slo_worst_s": self.slo.get("slo_worst_s", {}),
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


def directive_bounds(cost: CostModel) -> tuple[Bound, Bound, dict[str, float]]:
    """(the hardware's bound, the bound under the directives, each directive's bound / the hardware's) for a
    cost model with restrictions (`Metrics`); the last only when the directives cost > DIRECTIVE_NOTE x."""
    hw_bound = lower_bound(cost.free()) if cost.restrictions else lower_bound(cost)
    if not cost.restrictions:
        return hw_bound, hw_bound, {}
    under = lower_bound(cost)
    costs: dict[str, float] = {}
    if hw_bound.value > 0 and under.value > DIRECTIVE_NOTE * hw_bound.value:
        for name, mask in cost.restrictions.items():
            one = lower_bound(cost.restricted({name: mask})) if len(cost.restrictions) > 1 else under
            costs[name] = one.value / hw_bound.value
    return hw_bound, under, costs


def evaluate(schedule: Schedule, cost: CostModel, graph: ExecutionGraph | None = None) -> Metrics:
    """Metrics of `schedule` (priced by `cost`) of `graph` (default `cost.graph`)."""
    g = cost.graph if graph is None else graph
    if len(schedule.tasks) != g.n:
        raise InfeasibleError(f"schedule has {len(schedule.tasks)} tasks, the graph {g.n}")
    n_chip = cost.hw.n
    T = float(schedule.makespan)
    E = energy_of(schedule, cost)
    bnd, bnd_dir, dcosts = directive_bounds(cost)
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
    peak = cost.hw.peak_flops + sum(u.peak_flops for u in cost.hw.pim)
    flops = float(g.flops.sum()) if g.n else 0.0
    dram = float(cost.part_at("dram_bytes", res, pi).sum()) if g.n else 0.0
    util_c = flops / (peak * T) if peak > 0 and T > 0 else 0.0
    util_d = dram / (cost.hw.dram_bandwidth * T) if cost.hw.dram_bandwidth > 0 and T > 0 else 0.0
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
    out = slo_outcome(g, end, T)
    slo = {} if out is None else {"ttft_slo": targets(g)[0], "tpot_slo": targets(g)[1],
                                  "ttft_attainment": out.ttft_attainment, "tpot_attainment": out.tpot_attainment,
                                  "slo_attainment": out.attainment}
    for name, pm in per_model.items():
        pm["throughput_tokens_per_s"] = pm["tokens"] / T if T > 0 else 0.0
    return Metrics(
        makespan=T, energy=E, edp=E * T,
        throughput=total_tokens / T if T > 0 else 0.0, throughput_by_phase=by_phase,
        utilisation=util, busy=tuple(float(b) for b in busy), energy_breakdown=eb,
        compute_utilisation=util_c, dram_utilisation=util_d,
        bound=bnd, bound_ratio=T / bnd.value if bnd.value > 0 else float("inf"),
        ttft_mean=ttft_mean, ttft_max=float(max(ttft_v)) if ttft_v else None,
        tpot=float(max(tpots)) if tpots else None,
        decode_step_time=float(np.mean(steps_t)) if steps_t else None,
        requests_per_s=(requests / T if T > 0 else 0.0) if requests else None,
        tokens=total_tokens, per_model=per_model, **slo,
        bound_directives=bnd_dir, directive_costs=dcosts, slo=slo_dict(out, T),
    )
