"""`cpsat`: OR-Tools CP-SAT scheduling with inter-chiplet pipelining, proven bounds and the Pareto front.

The model is in `cpsat_model.py` (options, no-overlap per chiplet, precedence with transfer delays, SRAM,
energy; integer ticks with conservative rounding). This module drives it:

Strategy, by size (after dominance pruning of options):
- at bound: objective latency and a heuristic schedule already meets `evaluate.lower_bound`: returned as
  optimal, no search.
- whole model (<= SMALL_TASKS = 40 tasks and <= SMALL_OPTIONS = 2500 option literals; bounds from CP-SAT):
    latency: minimise makespan.            energy: minimise energy.
    edp:     epsilon-constraint sweep: (1) min makespan T_A, (2) min energy E_B (its makespan T_B), then
             min energy s.t. makespan <= T for a ladder of RUNGS values from T_B down to T_A (constraints only
             tighten, so one model serves the sweep); every solution found is a Pareto candidate, the best
             product wins. Budget: 25% / 25% / 50% split over the rungs (unused time carries over).
    Symmetry: identical micro-batch chains sorted by their first task's option (the hint's chains are
    permuted into that order by `sort_chains`, so the hint stays feasible), else one grid reflection.
- larger: `decompose.solve_structured`: chain LNS (each micro-batch chain, or a few short ones, up to 48
  tasks, re-optimised by CP-SAT with the rest of the schedule fixed, on integer ticks; accepted only when the
  true objective improves), restarted from the next distinct heuristic schedule whenever a pass is a proven
  local optimum. Never worse than the best heuristic; bound = `evaluate.lower_bound`.
  (A placement-level model, one placement per (weight set, phase) class then list scheduling, was measured
  and dropped: fixing all micro-batches of a layer to one place serialises them; on llama2_7b_chat its
  schedules had 3-7x greedy's EDP and CP-SAT needed ~6 s for a first solution of its 4352 options.)
Warm start: the best by the objective of `greedy`, `baseline`, HEFT restricted to each tensor-group size
(`heft-k<k>`, with its own and with `choose_residency` residency) and a fastest-placement list schedule, as a
complete `AddHint` (re-timed on ticks so it is feasible); the result is never worse than that hint.
Determinism: with `budget.deterministic`, every CP-SAT call runs ONE worker without interleaving (deterministic
and, measured on the examples, as good at equal wall time as a 2-worker interleaved search, which advances
2-3x slower) under a deterministic time limit (`max_deterministic_time` = DET_PER_S x the call's budget share;
the heuristics are charged HINT_S_PER_OPTION per task x placement); the wall budget stays a hard cap. Same
input + seed -> same schedule as long as the deterministic limit binds first (stats "calls" show both times; on
a heavily loaded machine the wall cap may bind and break this). Without it, `threads` workers, wall limits.
Bounds (`SolveResult.bound`): latency/energy from CP-SAT's best bound minus the rounding allowance, max'd
with `evaluate.lower_bound`; edp = energy bound x makespan bound (both lower bounds of positive factors).
Infeasibility is diagnosed before solving (`diagnose`) and after an INFEASIBLE answer (`explain_infeasible`).
"""

from __future__ import annotations

import importlib
import math
import time

import numpy as np
from ortools.sat.python import cp_model

from mapc.compiler.schedule import materialize
from mapc.core.errors import InfeasibleError, MapcError
from mapc.solvers.base import Budget, Problem, SolveResult, score
from mapc.solvers.cpsat_model import ENERGY_UNITS, build, candidates, choose_tick, retime
from mapc.solvers.listsched import choose_residency, list_schedule, objective_of
from mapc.solvers.pareto import front

RUNGS = 4
WALL_CAP = 1.0     # x budget.time_limit: wall safety cap on every CP-SAT call (binds only when the machine is slower than DET_PER_S assumes; then determinism is lost, the budget kept)
SMALL_TASKS = 40   # whole model up to here (and SMALL_OPTIONS); the chain decomposition beyond
SMALL_OPTIONS = 2_500
HINT_S_PER_OPTION = 2e-5   # budget seconds charged per (task x placement) for the heuristic hints in
                           # deterministic mode (measured: greedy, baseline and the per-size HEFT runs on
                           # 384 tasks x 68 placements 0.54 s, on 256 x 68 0.31 s)
DET_PER_S = 0.05   # deterministic seconds granted per budget second (single worker). Measured on the shared 2-core
                   # machine: one CP-SAT worker advances 0.03-0.12 deterministic s per wall s (0.03 on the
                   # presolve-heavy 48-task windows of llama2_7b_chat under load 3.5, 0.05-0.12 on whole models
                   # and idle), so runs use ~50-90 % of the budget; where a worker is slower than 0.05 (those llama2
                   # windows under load) the wall cap binds first and determinism is lost (stats "calls" show it)


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


def explain_infeasible(cost) -> InfeasibleError:
    """After CP-SAT proved infeasibility: the weights that must stay resident do not fit the SRAM together."""
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
def heuristic_hints(problem: Problem, budget: Budget) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, placement_index, resident, start) of every heuristic that succeeds."""
    out = []
    for name in ("greedy", "baseline"):
        try:
            mod = importlib.import_module(f"mapc.solvers.{name}")
            r = mod.solve(problem, budget)
        except (ImportError, MapcError):
            continue
        s = r.schedule
        if s is not None and s.placement_index is not None:
            out.append((name, np.asarray(s.placement_index), np.asarray(s.resident, bool), s.start))
    cost = problem.cost
    out += _sized_hints(cost)
    try:
        pi = np.argmin(np.minimum(cost.lat_resident, cost.lat_stream), axis=1)
        res = choose_residency(cost, pi)
        out.append(("fastest", pi, res, list_schedule(cost, pi, res)))
    except MapcError:
        pass
    return out


def _sized_hints(cost) -> list:
    """HEFT restricted to one group size at a time (data-parallel replicas of one width), each decoded with its
    own residency and with `choose_residency`: `greedy` mixes sizes task by task, and on decode_pim the 9-chiplet
    replicas alone give a 1.8 % lower EDP than it does (measured), a better start for the decomposition."""
    from mapc.solvers.greedy import heft
    from mapc.solvers.listsched import upward_rank
    sizes = sorted(set(int(k) for k in cost.group_size))
    if len(sizes) < 2:
        return []
    rank = upward_rank(cost)
    out = []
    for k in sizes:
        try:
            pi, res, st = heft(cost, rank, allowed=cost.group_size == k)
            out.append((f"heft-k{k}", pi, res, st))
            r2 = choose_residency(cost, pi)
            out.append((f"heft-k{k}+residency", pi, r2, list_schedule(cost, pi, r2)))
        except MapcError:
            continue
    return out


def _point(cost, pi, res, st) -> tuple[float, float]:
    return (objective_of(cost, pi, res, st, "latency"), objective_of(cost, pi, res, st, "energy"))


class _Trace(cp_model.CpSolverSolutionCallback):
    def __init__(self, t0, scale, sink):
        super().__init__()
        self.t0, self.scale, self.sink = t0, scale, sink

    def on_solution_callback(self):
        self.sink.append((time.perf_counter() - self.t0, float(self.objective_value) * self.scale))


class Driver:
    """Runs CP-SAT calls on one built model, keeps every schedule found, and the anytime trace."""

    def __init__(self, problem: Problem, budget: Budget, t0: float):
        self.p, self.b, self.t0 = problem, budget, t0
        self.deadline = t0 + WALL_CAP * float(budget.time_limit)   # wall safety cap over every call
        self.cost = problem.cost
        self.found: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []
        self.trace: list[tuple[float, float]] = []
        self.calls: list[dict] = []
        self.best_val = math.inf

    def add(self, name, pi, res, st):
        self.found.append((name, pi, res, st))
        v = objective_of(self.cost, pi, res, st, self.p.objective)
        if v < self.best_val:
            self.best_val = v
            self.trace.append((time.perf_counter() - self.t0, float(v)))

    def past_deadline(self) -> bool:
        return time.perf_counter() >= self.deadline - 0.05

    def configure(self, solver, limit: float, probing: int = 2) -> None:
        """Threads, seed, probing and the time limits of one CP-SAT call of `limit` budget seconds."""
        prm = solver.parameters
        prm.num_workers = max(1, int(self.b.threads))
        prm.random_seed = int(self.b.seed) & 0x7FFFFFFF   # CP-SAT takes a 32-bit signed seed
        prm.cp_model_probing_level = int(probing)   # 0 for small fixed-context windows: probing their long
                                                    # time domains costs seconds of wall time for nothing
        limit = max(0.05, float(limit))
        wall_left = max(0.05, self.deadline - time.perf_counter())
        if self.b.deterministic:
            # one worker, no interleaving: deterministic, and measured as good as a 2-worker interleaved
            # search at equal wall time on the examples (which advances 2-3x slower in deterministic time)
            prm.num_workers = 1
            prm.max_deterministic_time = limit * DET_PER_S
            prm.max_time_in_seconds = wall_left
        else:
            prm.max_time_in_seconds = min(limit, wall_left)

    def record(self, solver, status, kind: str, cap, sink) -> tuple[str, float]:
        """Log one finished call (`status` = what `solve` returned) in `calls`; returns (status name,
        budget seconds it used)."""
        resp = solver.response_proto
        name = solver.status_name(status)
        self.calls.append({"kind": kind, "cap_ticks": cap, "status": name, "wall_s": round(resp.wall_time, 3),
                           "deterministic_s": round(resp.deterministic_time, 3), "solutions": len(sink)})
        used = resp.deterministic_time / DET_PER_S if self.b.deterministic else resp.wall_time
        return name, used

    def run(self, bm, kind: str, limit: float, hint, cap: int | None = None, objective=None, probing: int = 2):
        """One CP-SAT call minimising `kind` ('latency' | 'energy' | 'compact' | 'expr' = `objective`),
        optionally with makespan <= cap ticks. `limit` is budget seconds: the deterministic limit is
        DET_PER_S x limit (deterministic mode), the wall limit what is left before the safety deadline.
        `hint` = (option indices, start ticks). Returns (status name, solution or None, bound, det time)."""
        m = bm.model
        if cap is not None:
            m.add(bm.makespan <= int(cap))
        if objective is not None:
            m.minimize(objective)
        elif kind == "compact":     # LNS windows: finish early, then every task early
            m.minimize(len(bm.start) * bm.makespan + sum(bm.ends))
        else:
            m.minimize(bm.makespan if kind == "latency" else bm.energy)
        m.clear_hints()
        if hint is not None:
            chosen, sticks = hint
            on = np.zeros(bm.opts.size, bool)
            on[chosen] = True
            for o, x in enumerate(bm.lits):
                m.add_hint(x, bool(on[o]))
            for j, s in enumerate(bm.start):
                m.add_hint(s, int(sticks[j]))
            m.add_hint(bm.makespan, int(max((sticks[j] + bm.dur[chosen[j]] for j in range(len(chosen))),
                                            default=0)))
        solver = cp_model.CpSolver()
        self.configure(solver, limit, probing)
        scale = bm.eunit if kind == "energy" else bm.tick
        cb = _Trace(self.t0, scale, [])
        st = solver.solve(m, cb)
        name, _ = self.record(solver, st, kind, cap, cb.sink)
        resp = solver.response_proto
        if st not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return name, None, None, resp.deterministic_time
        vals = np.asarray(resp.solution, dtype=np.int64)
        lit_idx = np.array([x.index for x in bm.lits], dtype=np.int64)
        on = vals[lit_idx] > 0
        chosen = np.empty(len(bm.start), np.int64)
        for j in range(len(bm.start)):
            r = bm.opts.of(j)
            chosen[j] = r.start + int(np.argmax(on[r.start:r.stop]))
        sticks = vals[np.array([s.index for s in bm.start], dtype=np.int64)]
        bound = float(solver.best_objective_bound)
        return name, (chosen, sticks), bound, resp.deterministic_time


def _tick_hint(cost, opts, bm, pi, res, st):
    """The heuristic schedule as (option indices, start ticks), re-timed on ticks in its own order."""
    g = cost.graph
    chosen = np.array([opts.index(i, int(pi[i]), bool(res[i])) for i in range(g.n)], dtype=np.int64)
    dur = bm.dur[chosen]
    hops = cost.hw.hops[cost.lead[pi[g.edge_src]], cost.lead[pi[g.edge_dst]]] if g.edges else np.zeros(0)
    hop_t = int(math.ceil(cost.hw.nop.hop_latency / bm.tick - 1e-9)) if cost.hw.nop.hop_latency > 0 else 0
    ser = np.ceil(g.edge_bytes / cost.hw.nop.link_bw / bm.tick - 1e-9).astype(np.int64) if g.edges else hops
    delay = np.where(hops > 0, hops * hop_t + ser, 0).astype(np.int64)
    sticks = retime(cost, pi, res, st, dur=dur.tolist(), delay=delay.tolist())
    return chosen, np.asarray(sticks, dtype=np.int64)


def sort_chains(cost, opts, pi, res, st):
    """The schedule with the assignments of interchangeable identical chains permuted into the order the
    model's symmetry break demands (first task's option index non-decreasing in chain id order), so the hint
    is feasible. Swapping whole chains (placements, residencies, start times) keeps the schedule valid."""
    from mapc.solvers.cpsat_model import identical_components
    from mapc.solvers.decompose import components
    g = cost.graph
    pi, res, st = np.array(pi, np.int64), np.array(res, bool), np.array(st, float)
    comps = {int(c[0]): c for c in components(g)}
    for grp in identical_components(cost, opts, list(range(g.n))):
        mem = [comps[t] for t in grp]
        key = [opts.index(t, int(pi[t]), bool(res[t])) - int(opts.first[t]) for t in grp]
        order = np.argsort(key, kind="stable")
        old = [(pi[c].copy(), res[c].copy(), st[c].copy()) for c in mem]
        for i, j in enumerate(order):
            pi[mem[i]], res[mem[i]], st[mem[i]] = old[j]
    return pi, res, st


def _decode(bm, sol):
    chosen, sticks = sol
    o = bm.opts
    return o.place[chosen].astype(np.int64), o.resident[chosen].astype(bool), sticks


def _at_bound(problem, drv, lb, hints, t0) -> SolveResult:
    """The best heuristic schedule already meets the makespan lower bound: it is optimal, no search needed."""
    cost = problem.cost
    label, pi, res, st = min(hints, key=lambda h: objective_of(cost, *h[1:], "latency"))
    sched = materialize(cost, pi, res, st)
    val = score(sched, cost, "latency")
    pts = front(_point(cost, f[1], f[2], f[3]) for f in drv.found)
    stats = {"strategy": "at-bound", "variables": 0, "constraints": 0, "hints": [h[0] for h in hints],
             "pareto": pts, "chosen": label, "calls": [], "solutions": 0}
    return SolveResult(sched, "optimal", val, min(val, float(lb.value)), tuple(drv.trace), stats,
                       f"the {label} schedule meets the makespan lower bound (critical path / work): optimal",
                       "cpsat", time.perf_counter() - t0)


def solve(problem: Problem, budget: Budget = Budget()) -> SolveResult:
    t0 = time.perf_counter()
    cost, obj = problem.cost, problem.objective
    g = cost.graph
    if g.n == 0:
        return SolveResult(materialize(cost, [], [], []), "optimal", 0.0, 0.0, solver="cpsat",
                           message="empty graph")
    diagnose(problem)
    hints = heuristic_hints(problem, budget)
    drv = Driver(problem, budget, t0)
    for h in hints:
        drv.add(*h)
    from mapc.compiler.evaluate import lower_bound
    lb = lower_bound(cost)
    keep = None
    if hints:
        _, hp, hr, hs = min(hints, key=lambda h: objective_of(cost, h[1], h[2], h[3], obj))
        keep = (hp, hr)
    elapsed = time.perf_counter() - t0
    # the heuristics' time counts against the budget: measured, or (deterministic mode) a fixed estimate
    spent = HINT_S_PER_OPTION * g.n * len(cost.placements) if budget.deterministic else elapsed
    total = max(0.5, budget.time_limit - spent)
    if obj == "latency" and hints:
        v = objective_of(cost, *min(hints, key=lambda h: objective_of(cost, *h[1:], obj))[1:], obj)
        if v <= float(lb.value) * (1 + 1e-12):      # a heuristic met the critical-path / work bound
            return _at_bound(problem, drv, lb, hints, t0)
    opts = candidates(cost, keep=keep)
    if g.n > SMALL_TASKS or opts.size > SMALL_OPTIONS:
        from mapc.solvers import decompose
        return decompose.solve_structured(problem, budget, drv, lb, t0, total)
    ms_hint = min((objective_of(cost, *h[1:], "latency") for h in hints), default=float(lb.value) * 4 or 1.0)
    e_hint = min((objective_of(cost, *h[1:], "energy") for h in hints), default=float(lb.energy) * 4 or 1.0)
    tick = choose_tick(cost, ms_hint)
    if cost.static_power > 0:
        ks = max(1, round(cost.static_power * tick * ENERGY_UNITS / max(e_hint, 1e-300)))
        eunit = cost.static_power * tick / ks
    else:
        ks, eunit = 0, max(e_hint, 1e-300) / ENERGY_UNITS
    tb = time.perf_counter()
    bm = build(cost, opts, tick, eunit, ks)
    build_s = time.perf_counter() - tb
    hint = None
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

    def finish(sol, label):
        pi, res, sticks = _decode(bm, sol)
        st = retime(cost, pi, res, sticks)
        drv.add(label, pi, res, st)
        return pi, res, st

    def tick_ms(sol):
        chosen, sticks = sol
        return int((sticks + bm.dur[chosen]).max())

    left = total
    bounds = {}
    statuses = {}
    sols = {}
    plan = {"latency": [("latency", 1.0)], "energy": [("energy", 1.0)],
            "edp": [("latency", 0.25), ("energy", 0.25)]}[obj]
    done = 0.0
    for kind, share in plan:
        done += share
        lim = left - (total * (1 - done) if obj == "edp" else 0.0)    # unused time carries over
        name, sol, bd, used = drv.run(bm, kind, lim, hint)
        left -= used / DET_PER_S if budget.deterministic else drv.calls[-1]["wall_s"]
        statuses[kind] = name
        if name == "INFEASIBLE":
            if hints:
                break
            raise explain_infeasible(cost)
        if sol is not None:
            sols[kind] = sol
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
        caps = {int(round(ta + (tbm - ta) * f)) for f in np.linspace(0, 1, RUNGS + 1)[:-1]}
        if statuses.get("latency") != "OPTIMAL":     # T_A not proven minimal: also try below it
            caps |= {int(ta * (1 - 0.02 * i)) for i in (1, 3)}
        caps = sorted(caps, reverse=True)
        for r, cap in enumerate(caps):
            if left <= 0.05:
                break
            lim = left / (len(caps) - r)
            name, sol, bd, used = drv.run(bm, "energy", lim, anchor, cap)
            left -= used / DET_PER_S if budget.deterministic else drv.calls[-1]["wall_s"]
            if sol is not None:
                finish(sol, f"cpsat-energy<= {cap}")
    # choose the best schedule found (heuristics included) by the objective
    label, pi, res, st = min(drv.found, key=lambda f: objective_of(cost, f[1], f[2], f[3], obj))
    sched = materialize(cost, pi, res, st)
    val = score(sched, cost, obj)
    tb_ = (bounds.get("latency", -math.inf) - bm.slack) * tick if "latency" in bounds else -math.inf
    eb_ = (bounds.get("energy", -math.inf) - ks * bm.slack) * eunit if "energy" in bounds else -math.inf
    if not opts.exact:
        tb_, eb_ = -math.inf, -math.inf
    t_bound = max(tb_, float(lb.value))
    e_bound = max(eb_, float(lb.energy), float(cost.static_power) * t_bound)
    bound = {"latency": t_bound, "energy": e_bound, "edp": max(e_bound * t_bound, float(lb.edp))}[obj]
    bound = min(bound, val)
    solved = statuses.get(obj) == "OPTIMAL" and opts.exact     # the chosen schedule is no worse than CP-SAT's
    if obj == "edp":
        solved = bound >= val * (1 - 1e-9)
    if any(s is not None for s in sols.values()):
        status = "optimal" if solved else "feasible"
        msg = f"CP-SAT ({', '.join(c['status'] for c in drv.calls)}); best schedule from {label}"
    else:
        status = "feasible"
        msg = f"CP-SAT found no solution within the budget ({statuses}); returning the heuristic {label}"
    pts = front(_point(cost, f[1], f[2], f[3]) for f in drv.found)
    proto = bm.model.proto
    stats = dict(bm.stats)
    stats.update({
        "variables": len(proto.variables), "constraints": len(proto.constraints),
        "booleans": sum(1 for v in proto.variables if list(v.domain) == [0, 1]),
        "candidates": opts.size, "pruned_options": opts.pruned, "cut_options": opts.cut,
        "exact_options": opts.exact, "tick_s": tick, "energy_unit_j": eunit, "build_s": round(build_s, 3),
        "calls": drv.calls, "solutions": sum(c["solutions"] for c in drv.calls), "strategy": "whole",
        "hints": [h[0] for h in hints], "pareto": pts, "chosen": label,
        "bound_makespan_s": t_bound, "bound_energy_j": e_bound,
    })
    return SolveResult(sched, status, val, bound, tuple(drv.trace), stats, msg, "cpsat",
                       time.perf_counter() - t0)
