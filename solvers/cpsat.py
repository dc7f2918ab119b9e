"""`cpsat`: OR-Tools CP-SAT scheduling with inter-chiplet pipelining, proven bounds and the Pareto front.

The model is in `cpsat_model.py` (options, no-overlap per chiplet, precedence with transfer delays, SRAM,
energy; integer ticks with conservative rounding). This module drives it:

Strategy, by size (after dominance pruning of options):
- at bound: objective latency and a heuristic schedule already meets `evaluate.lower_bound`: returned as
  optimal, no search.
- whole model (<= `CpsatOptions.small_tasks` = 40 tasks and <= `small_options` = 2500 option literals; bounds
  from CP-SAT):
    latency: minimise makespan.            energy: minimise energy.
    edp:     epsilon-constraint sweep: (1) min makespan T_A, (2) min energy E_B (its makespan T_B), then
             min energy s.t. makespan <= T for a ladder of `CpsatOptions.rungs` values from T_B down to T_A (constraints only
             tighten, so one model serves the sweep); every solution found is a Pareto candidate, the best
             product wins. Budget: 25% / 25% / 50% split over the rungs (unused time carries over).
    Symmetry: identical micro-batch chains sorted by their first task's option (the hint's chains are
    permuted into that order by `sort_chains`, so the hint stays feasible), else one grid reflection.
- larger: `decompose.solve_structured`: LNS (up to 48 tasks re-optimised by CP-SAT with the rest of the
  schedule fixed, on integer ticks; accepted only when the true objective improves), one neighbourhood family
  per pass in rotation (micro-batch chains, the tail by end time, stages = weight keys, grid quadrants),
  restarted from the next distinct heuristic schedule when every family is at a proven local optimum. The
  `threads` workers solve disjoint windows of a pass concurrently (one CP-SAT worker each), merged in window
  order, so the result is the same for a given thread count. Never worse than the best heuristic; bound =
  `evaluate.lower_bound`.
  Before it, with repeated micro-batch chains (>= 4 identical), the steady-state model of `cpsat_steady.py`
  (`CpsatOptions.steady_share` of the budget): each stage of one micro-batch pinned to a placement in R = 1, 2, 4
  replicas, the period proven or bounded whatever the micro-batch count, its unrolled schedules added to the
  LNS's starts (measured equal to the best heuristic start or up to 17 % longer on the mcm6x6 examples,
  bench/steady.md, so the search still starts from a heuristic there; the period proof is reported). (A placement-level model, one placement per (weight
  set, phase) class then list scheduling, was measured and dropped: fixing all micro-batches of a layer to one
  place serialises them; on llama2_7b_chat its schedules had 3-7x greedy's EDP.)
Warm start: the best by the objective of `greedy`, `baseline`, HEFT restricted to each tensor-group size
(`heft-k<k>`, with its own and with `choose_residency` residency), a fastest-placement list schedule and the
component packing of `packing.py` (one group per chain, loads balanced, long chains' first layers on the
whole machine: wsc8x8 long_prompt_prefill 0.231 s where greedy gives 0.292 s) and the tile split of
`split.py` (the longest chain's first layers on one tile while the other chains start on the others, the rest
on the whole machine: wsc8x8 hf_model 0.05906 s where every other heuristic gives 0.06367 s), as a complete `AddHint`
(re-timed on ticks so it is feasible); the result is never worse than that hint.
Determinism: with `options.deterministic` (the default), every CP-SAT call runs ONE worker without
interleaving (deterministic and, measured on the examples, as good at equal wall time as a 2-worker interleaved
search, which advances 2-3x slower) under a deterministic time limit (`max_deterministic_time` = DET_PER_S x the
call's budget share; DET_PER_S_LNS for the LNS windows, whose deterministic clock runs ~3x slower; the
heuristics are charged HINT_S_PER_OPTION per task x placement), and the LNS counts its budget in those
deterministic seconds: the same input, seed and budget give the same schedule whatever the machine's load. The
wall clock is only a safety cap at DET_WALL_CAP x the budget (a run that hits it says so:
`CpsatStats.deterministic` False). With `wall_clock`, `threads` workers and wall limits.
Bounds (`SolveResult.bound`): latency/energy from CP-SAT's best bound minus the rounding allowance, max'd
with `evaluate.lower_bound` (which includes `compiler/bounds.py`: transfer-aware critical path, the GLOP LP
relaxation and its energy-per-makespan EDP bound); edp = max(energy bound x makespan bound, the LP's EDP bound).
The makespan bound is also a constraint of the whole model (it helps CP-SAT prove optimality).
Infeasibility is diagnosed before solving (`diagnose`) and after an INFEASIBLE answer or when no heuristic
finds a schedule (`cpsat_explain.explain`: the CP-SAT assumption core over the assignment and SRAM constraints,
named with their numbers).
"""

from __future__ import annotations

import math
import time

import numpy as np

from mapc.compiler.evaluate import Bound, lower_bound
from mapc.compiler.objective import score
from mapc.compiler.problem import Problem
from mapc.compiler.schedule import materialize
from mapc.core.errors import InfeasibleError, MapcError
from mapc.core.graph import ExecutionGraph
from mapc.core.options import SolveOptions
from mapc.core.solution import Status
from mapc.hw.cost import CostModel
from mapc.solvers import baseline, cpsat_steady, decompose, greedy, packing, split
from mapc.solvers.base import Decisions, Named, SolveResult
from mapc.solvers.cpsat_explain import explain
from mapc.solvers.cpsat_model import ENERGY_UNITS, Built, build, choose_tick, retime
from mapc.solvers.cpsat_options import Options, candidates, identical_components
from mapc.solvers.cpsat_run import DET_PER_S, HINT_S_PER_OPTION, CpsatStats, Driver, TickSolution, point
from mapc.solvers.listsched import choose_residency, list_schedule, objective_of, upward_rank
from mapc.solvers.pareto import front
from mapc.solvers.stretch import best_finish

def slo_makespan_ticks(g: ExecutionGraph, tick: float) -> int | None:
    """The TPOT target as a makespan cap in ticks (TPOT = makespan / (steps x width), `mapc.compiler.slo`);
    None without a TPOT target or decode."""
    tpot = g.meta.get("tpot_slo")
    div = g.requests.tpot_div
    if tpot is None or not (div > 0).any():
        return None
    return int(math.floor(tpot * float(div[div > 0].min()) / tick))


# ---- diagnosis ---------------------------------------------------------------------------------------------
def diagnose(problem: Problem) -> None:
    """Raise `InfeasibleError` naming the constraint and the numbers when no schedule can exist."""
    cost = problem.cost
    hw = cost.hw
    sizes = sorted(set(int(k) for k in cost.group_size))
    tp = int(getattr(problem.parallel, "tensor", 1) or 1) if problem.parallel is not None else 1
    if tp > 1 and tp not in sizes:
        raise InfeasibleError(
            f"tensor-parallel degree {tp} matches no chiplet group: the cost model offers groups of {sizes} "
            f"chiplets on the {hw.rows}x{hw.cols} grid ({hw.n} chiplets)",
            hint="choose a tensor degree among the group sizes (and no larger than the chiplet count)")
    best = np.minimum(cost.lat_resident, cost.lat_stream).min(axis=1) if cost.graph.n else np.zeros(0)
    bad = np.nonzero(~np.isfinite(best))[0]
    if bad.size:
        i = int(bad[0])
        t = cost.graph.tasks[i]
        kmax = int(cost.group_size.max())
        why = ("streaming weights from DRAM is disabled" if not getattr(cost, "allow_streaming", True)
               else "streaming is priced infinite")
        raise InfeasibleError(
            f"task {t.name} (id {i}) fits no placement: its weights are {t.weight_bytes:.6g} B, "
            f"{t.weight_bytes / kmax:.6g} B per chiplet on the largest group ({kmax} chiplets), but the largest "
            f"weight capacity of a chiplet is {cost.weight_capacity.max():.6g} B, and {why}"
            + (f" ({bad.size} tasks in all)" if bad.size > 1 else ""),
            hint="allow streaming, use larger tensor-parallel groups or chiplets with more SRAM")


def explain_infeasible(cost: CostModel, seed: int = 0) -> InfeasibleError:
    """After CP-SAT proved infeasibility: the conflicting constraints with their numbers (`cpsat_explain`), else
    the summary that the weights that must stay resident do not fit the SRAM together."""
    named = explain(cost, seed)
    if named is not None:
        return named
    g = cost.graph
    must = ~np.isfinite(cost.lat_stream).any(axis=1) if g.n else np.zeros(0, bool)
    need: dict[int, float] = {}
    for i in np.nonzero(must)[0]:
        k = int(g.weight_index[i])
        need[k] = max(need.get(k, 0.0), float(g.weight_bytes[i]))
    total, cap = sum(need.values()), float(cost.weight_capacity.sum())
    return InfeasibleError(
        f"no schedule exists: {len(need)} weight sets cannot be streamed and must stay resident, "
        f"{total:.4g} B in all, but they cannot be packed into the chiplets' weight capacity "
        f"({cap:.4g} B in total, at most {cost.weight_capacity.max():.4g} B per chiplet)",
        hint="allow streaming from DRAM, or use hardware with more SRAM")


# ---- warm start --------------------------------------------------------------------------------------------
def heuristic_hints(problem: Problem, options: SolveOptions) -> list[Named]:
    """(name, placement_index, resident, start) of every heuristic that succeeds."""
    out: list[Named] = []
    cost = problem.cost
    for name, plan in (("greedy", lambda: greedy.candidates(problem, options)[0][1:4]),
                       ("baseline", lambda: baseline.plan(problem))):
        try:                          # their plans before the final stretching (`solvers.stretch`): peak rates
            pi, res, st = plan()
        except MapcError:
            continue
        out.append((name, np.asarray(pi), np.asarray(res, bool), np.asarray(st, float)))
    out += _sized_hints(cost)
    out += packing.pack(cost)
    out += split.split(cost)
    try:
        pi = np.argmin(np.minimum(cost.lat_resident, cost.lat_stream), axis=1)
        res = choose_residency(cost, pi)
        out.append(("fastest", pi, res, list_schedule(cost, pi, res)))
    except MapcError:
        pass
    return out


def _sized_hints(cost: CostModel) -> list[Named]:
    """HEFT restricted to one group size at a time (data-parallel replicas of one width), each decoded with its
    own residency and with `choose_residency`: `greedy` mixes sizes task by task, and on decode_pim the 9-chiplet
    replicas alone give a 1.8 % lower EDP than it does (measured), a better start for the decomposition."""
    sizes = sorted(set(int(k) for k in cost.group_size))
    if len(sizes) < 2:
        return []
    rank = upward_rank(cost)
    out: list[Named] = []
    for k in sizes:
        try:
            pi, res, st = greedy.heft(cost, rank, allowed=cost.group_size == k)
            out.append((f"heft-k{k}", pi, res, st))
            r2 = choose_residency(cost, pi)
            out.append((f"heft-k{k}+residency", pi, r2, list_schedule(cost, pi, r2)))
        except MapcError:
            continue
    return out


def _tick_hint(cost: CostModel, opts: Options, bm: Built, pi: np.ndarray, res: np.ndarray, st: np.ndarray
               ) -> TickSolution:
    """The heuristic schedule as (option indices, start ticks), re-timed on ticks in its own order."""
    g = cost.graph
    chosen = np.array([opts.index_of(i, int(pi[i]), bool(res[i])) for i in range(g.n)], dtype=np.int64)
    dur = bm.dur[chosen]
    hops = cost.hw.hops[cost.lead[pi[g.edge_src]], cost.lead[pi[g.edge_dst]]] if g.edges else np.zeros(0)
    hop_t = int(math.ceil(cost.hw.nop.hop_latency / bm.tick - 1e-9)) if cost.hw.nop.hop_latency > 0 else 0
    ser = np.ceil(g.edge_bytes / cost.hw.nop.link_bw / bm.tick - 1e-9).astype(np.int64) if g.edges else hops
    delay = np.where(hops > 0, hops * hop_t + ser, 0).astype(np.int64)
    sticks = retime(cost, pi, res, st, dur=dur.tolist(), delay=delay.tolist())
    return chosen, np.asarray(sticks, dtype=np.int64)


def sort_chains(cost: CostModel, opts: Options, pi: np.ndarray, res: np.ndarray, st: np.ndarray) -> Decisions:
    """The schedule with the assignments of interchangeable identical chains permuted into the order the
    model's symmetry break demands (first task's option index non-decreasing in chain id order), so the hint
    is feasible. Swapping whole chains (placements, residencies, start times) keeps the schedule valid."""
    g = cost.graph
    pi, res, st = np.array(pi, np.int64), np.array(res, bool), np.array(st, float)
    comps = {int(c[0]): c for c in decompose.components(g)}
    for grp in identical_components(cost, opts, list(range(g.n))):
        mem = [comps[t] for t in grp]
        key = [opts.index_of(t, int(pi[t]), bool(res[t])) - int(opts.first[t]) for t in grp]
        order = np.argsort(key, kind="stable")
        old = [(pi[c].copy(), res[c].copy(), st[c].copy()) for c in mem]
        for i, j in enumerate(order):
            pi[mem[i]], res[mem[i]], st[mem[i]] = old[j]
    return pi, res, st


def _decode(bm: Built, sol: TickSolution) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    chosen, sticks = sol
    o = bm.opts
    return o.place[chosen].astype(np.int64), o.resident[chosen].astype(bool), sticks


def _at_bound(problem: Problem, drv: Driver, lb: Bound, hints: list[Named], t0: float) -> SolveResult:
    """The best heuristic schedule already meets the makespan lower bound: it is optimal, no search needed."""
    cost = problem.cost
    label, pi, res, st = min(hints, key=lambda h: objective_of(cost, h[1], h[2], h[3], "latency"))
    sched = materialize(cost, pi, res, st)
    val = score(sched, cost, "latency")
    pts = front(point(cost, f[1], f[2], f[3]) for f in drv.found)
    stats = CpsatStats(strategy="at-bound", hints=tuple(h[0] for h in hints), pareto=tuple(pts), chosen=label,
                       deterministic=drv.deterministic, bound_tightest=lb.tightest)
    return SolveResult(sched, "optimal", val, min(val, float(lb.value)), tuple(drv.trace), stats,
                       f"the {label} schedule meets the makespan lower bound (critical path / work): optimal",
                       "cpsat", time.perf_counter() - t0)


def solve(problem: Problem, options: SolveOptions = SolveOptions()) -> SolveResult:
    t0 = time.perf_counter()
    cost, obj = problem.cost, options.goal
    g = cost.graph
    if g.n == 0:
        return SolveResult(materialize(cost, [], [], []), "optimal", 0.0, 0.0, solver="cpsat",
                           message="empty graph")
    diagnose(problem)
    hints = heuristic_hints(problem, options)
    drv = Driver(problem, options, t0)
    for h in hints:
        drv.add(*h)
    drv.hints = len(hints)
    lb = lower_bound(cost)
    keep: tuple[np.ndarray, np.ndarray] | None = None
    if hints:
        _, hp, hr, hs = min(hints, key=lambda h: objective_of(cost, h[1], h[2], h[3], obj))
        keep = (hp, hr)
    elapsed = time.perf_counter() - t0
    # the heuristics' time counts against the budget: measured, or (deterministic mode) a fixed estimate
    spent = HINT_S_PER_OPTION * g.n * len(cost.placements) if options.deterministic else elapsed
    total = max(0.5, options.time_limit - spent)
    if obj == "latency" and hints:
        _, hp0, hr0, hs0 = min(hints, key=lambda h: objective_of(cost, h[1], h[2], h[3], obj))
        v = objective_of(cost, hp0, hr0, hs0, obj)
        if v <= float(lb.value) * (1 + 1e-12):      # a heuristic met the critical-path / work bound
            return _at_bound(problem, drv, lb, hints, t0)
    opts = candidates(cost, keep=keep)
    if g.n > options.cpsat.small_tasks or opts.size > options.cpsat.small_options:
        # repeated micro-batch chains: the steady-state model's unrolled schedules join the LNS's starts
        ss_budget = options.cpsat.steady_share * total
        ss = cpsat_steady.solve(cost, opts, drv, min(hints, key=lambda h: objective_of(cost, h[1], h[2], h[3], obj)),
                                ss_budget) if hints else cpsat_steady.SteadyState((), ())
        for h in ss.hints:
            drv.add(*h)
        drv.hints = len(drv.found)
        if ss.groups:
            total -= ss_budget
        return decompose.solve_structured(problem, options, drv, lb, t0, total, steady=ss.groups)
    ms_hint = min((objective_of(cost, h[1], h[2], h[3], "latency") for h in hints), default=float(lb.value) * 4 or 1.0)
    e_hint = min((objective_of(cost, h[1], h[2], h[3], "energy") for h in hints), default=float(lb.energy) * 4 or 1.0)
    tick = choose_tick(cost, ms_hint)
    if cost.static_power > 0:
        ks = max(1, round(cost.static_power * tick * ENERGY_UNITS / max(e_hint, 1e-300)))
        eunit = cost.static_power * tick / ks
    else:
        ks, eunit = 0, max(e_hint, 1e-300) / ENERGY_UNITS
    tb = time.perf_counter()
    bm = build(cost, opts, tick, eunit, ks)
    # the proven makespan bound (`compiler/bounds.py`) handed to CP-SAT: any tick schedule read back in seconds
    # is a real schedule no shorter than its real makespan, so makespan_ticks x tick >= lb.value
    bm.model.add(bm.makespan >= int(math.floor(float(lb.value) / tick * (1 - 1e-9))))
    build_s = time.perf_counter() - tb
    hint: TickSolution | None = None
    if keep is not None:
        hp, hr = keep
        hs = next(h[3] for h in hints if h[1] is hp)
        for axis, perm, t in bm.sym:       # reflect the hint into the symmetry-broken half
            cols = cost.hw.cols if axis == "x" else cost.hw.rows
            c = cost.hw.chiplets[int(cost.lead[hp[t]])]
            if 2 * (c.x if axis == "x" else c.y) > cols - 1:
                hp = perm[hp]
        if bm.stats.get("chain_symmetry"):
            hp, hr, hs = sort_chains(cost, opts, hp, hr, hs)
        hint = _tick_hint(cost, opts, bm, hp, hr, hs)

    def finish(sol: TickSolution, label: str) -> Decisions:
        pi, res, sticks = _decode(bm, sol)
        st = retime(cost, pi, res, sticks)
        drv.add(label, pi, res, st)
        return pi, res, st

    def tick_ms(sol: TickSolution) -> int:
        chosen, sticks = sol
        return int((sticks + bm.dur[chosen]).max())

    left = total
    bounds: dict[str, float] = {}
    statuses: dict[str, str] = {}
    sols: dict[str, TickSolution] = {}
    plan: list[tuple[str, float]] = {"latency": [("latency", 1.0)], "energy": [("energy", 1.0)],
            "edp": [("latency", 0.25), ("energy", 0.25)], "slo": [("latency", 0.3), ("energy", 0.7)]}[obj]
    # slo: least energy with the makespan under the TPOT deadline (TTFT is judged on the schedules found)
    slo_cap = slo_makespan_ticks(g, tick) if obj == "slo" else None
    done = 0.0
    for kind, share in plan:
        done += share
        lim = left - (total * (1 - done) if obj == "edp" else 0.0)    # unused time carries over
        cap = slo_cap if kind == "energy" and "latency" in sols and tick_ms(sols["latency"]) <= (slo_cap or 0) \
            else None                    # the TPOT cap only where the min-makespan call showed it can be met
        name, sol, bd, used = drv.run(bm, kind, lim, hint, cap)
        left -= used / DET_PER_S if options.deterministic else drv.calls[-1]["wall_s"]
        statuses[kind] = name
        if name == "INFEASIBLE":
            if hints:
                break
            raise explain_infeasible(cost, options.seed)
        if sol is not None:
            sols[kind] = sol
            if bd is not None:       # CP-SAT's bound comes with every solution
                bounds[kind] = bd
            finish(sol, f"cpsat-{kind}")
            if kind == "latency" and hint is None:
                hint = sol
    anchor = sols.get("latency", hint)   # the hint when the min-makespan call found nothing in its share
    if obj == "edp" and anchor is not None:
        ta = tick_ms(anchor)
        tbm = tick_ms(sols["energy"]) if "energy" in sols else ta * 2
        if tbm <= ta:       # the min-energy call returned nothing slower (e.g. only the hint): look above T_A
            tbm = int(ta * 1.1)
        caps = {int(round(ta + (tbm - ta) * f)) for f in np.linspace(0, 1, options.cpsat.rungs + 1)[:-1]}
        if statuses.get("latency") != "OPTIMAL":     # T_A not proven minimal: also try below it
            caps |= {int(ta * (1 - 0.02 * i)) for i in (1, 3)}
        ladder = sorted(caps, reverse=True)
        for r, cap in enumerate(ladder):
            if left <= 0.05:
                break
            lim = left / (len(ladder) - r)
            name, sol, bd, used = drv.run(bm, "energy", lim, anchor, cap)
            left -= used / DET_PER_S if options.deterministic else drv.calls[-1]["wall_s"]
            if sol is not None:
                finish(sol, f"cpsat-energy<= {cap}")
    # choose the best schedule found (heuristics included) by the objective
    label, sched = best_finish(cost, drv.found, drv.hints, obj)             # the heuristics' final DRAM stretching, never worse
    val = score(sched, cost, obj)
    tb_ = (bounds.get("latency", -math.inf) - bm.slack) * tick if "latency" in bounds else -math.inf
    eb_ = (bounds.get("energy", -math.inf) - ks * bm.slack) * eunit if "energy" in bounds else -math.inf
    # DRAM channel cumulatives round demands up (`cpsat_dram`): CP-SAT's bound and optimality are then for the
    # rounded model only, so the proven bound falls back on `lower_bound`
    exact = opts.exact and not bm.stats.get("dram_cumulatives")
    if not exact:
        tb_, eb_ = -math.inf, -math.inf
    t_bound = max(tb_, float(lb.value))
    e_bound = max(eb_, float(lb.energy), float(cost.static_power) * t_bound)
    bound = {"latency": t_bound, "energy": e_bound, "edp": max(e_bound * t_bound, float(lb.edp)),
             "slo": e_bound}[obj]
    bound = min(bound, val)
    solved = statuses.get(obj) == "OPTIMAL" and exact          # the chosen schedule is no worse than CP-SAT's
    if obj in ("edp", "slo"):
        solved = bound >= val * (1 - 1e-9)
    status: Status
    if any(s is not None for s in sols.values()):
        status = "optimal" if solved else "feasible"
        msg = f"CP-SAT ({', '.join(c['status'] for c in drv.calls)}); best schedule from {label}" + drv.cut_note()
    else:
        status = "feasible"
        msg = f"CP-SAT found no solution within the budget ({statuses}); returning the heuristic {label}"
    pts = front(point(cost, f[1], f[2], f[3]) for f in drv.found)
    proto = bm.model.proto
    ms = bm.stats
    stats = CpsatStats(
        strategy="whole", variables=len(proto.variables), constraints=len(proto.constraints),
        hints=tuple(h[0] for h in hints), pareto=tuple(pts), chosen=label, calls=tuple(drv.calls),
        solutions=sum(c["solutions"] for c in drv.calls), deterministic=drv.deterministic,
        booleans=sum(1 for v in proto.variables if list(v.domain) == [0, 1]),
        candidates=opts.size, pruned_options=opts.pruned, cut_options=opts.cut, exact_options=opts.exact,
        tick_s=tick, energy_unit_j=eunit, build_s=round(build_s, 3), bound_makespan_s=t_bound,
        bound_energy_j=e_bound, intervals=ms["intervals"], tasks_free=ms["tasks_free"], hop_vars=ms["hop_vars"],
        sram_keys=ms["sram_keys"], chain_symmetry=ms["chain_symmetry"], symmetry=tuple(ms["symmetry"]),
        bound_tightest=lb.tightest)
    return SolveResult(sched, status, val, bound, tuple(drv.trace), stats, msg, "cpsat",
                       time.perf_counter() - t0)
