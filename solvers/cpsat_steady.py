"""The steady-state (modulo) model of `cpsat`: one micro-batch's stages pinned to placements, the period proven.

Why: a serving iteration repeats the same layer chain for every micro-batch of a (model, phase, length) group.
Pipelining them is a modulo-scheduling problem: pick each stage's placement (chiplet group, residency) once and
keep it for every micro-batch; then a new micro-batch can enter every period II (the initiation interval), II
at least every chiplet's and every DRAM resource's load per micro-batch, and the group ends after about
(K - 1) x II + one micro-batch's latency (fill and drain). With R replicas (data-parallel copies of the
pipeline, micro-batch m on replica m mod R, each replica's stages pinned), every chiplet has R periods for R
micro-batches. The model is one micro-batch's (R copies of it), whatever K: 128 micro-batches cost no more to
solve than one.

Groups: the interchangeable components of the graph (`cpsat_options.identical_components`: same options, weight
keys and edges, matched task by task), at least MIN_CHAINS of them; position j of a group is the j-th task of
its components in id order. Every other task keeps its placement from the best heuristic schedule (`base`).

The CP-SAT model (`_build`), in named steps (integer ticks, durations rounded UP, so loads are never
under-stated):
  1. assignment: one option (placement, residency) per replica and position, from the dominance-pruned ones;
  2. period: per chiplet c, the durations the group's replicas put on c <= R x II_g; per DRAM resource h
     (channels, the NoP links DRAM traffic crosses, PIM; `mapc.hw.dram_resources`), bytes / bandwidth likewise;
  3. SRAM: a resident stage holds its weight share on every member chiplet for the whole run: per chiplet the
     resident shares <= its weight capacity;
  4. chain latency per replica: end_j >= end_u + transfer(u, j) + dur_j over the component's edges; on a mesh the
     transfer is hop latency x (|dx| + |dy|) between the lead chiplets plus the serialisation time when they
     differ;
  5. objectives, per R: (a) each group alone, minimise II_g: the proven least period of any schedule that pins
     the group's stages in R replicas (`period_bound_s` = CP-SAT's bound less the rounding, so it holds in
     seconds; `period_alone_s` the period reached); (b) all groups together, minimise T >= (last micro-batch's
     entry) x II_g + its chain for every replica and T >= every chiplet's and DRAM resource's whole-run load
     (the fixed tasks included).
Every call starts from a complete hint (`_solve`: the base plan's options, the rest completed by a short call)
and falls back to it when the search finds nothing within its deterministic limit.
Unrolling (fill and drain, `_apply`): every micro-batch of a replica takes its stages' placements, residency is
chosen again over the whole plan (`choose_residency`), and a list schedule orders the tasks by intended start
(micro-batch m's stage j at m x II + its start within the chain; other tasks at their base start), another by
upward rank. All valid schedules of both assignments and every R join the LNS's starts (`decompose`), which
refines the best of all starts, so `cpsat` is never worse for them. Budget: `CpsatOptions.steady_share` of
`cpsat`'s, deterministic (`Driver.configure`); PROOF_SHARE of it for the R = 1 period proof.

Measured (`bench/steady.md`, mcm6x6, 6 s = a 60 s run's share): the unrolled schedules equal the best heuristic
start on hf_model, long_prompt_prefill and datacenter_mix and are longer on llama2_7b_chat (1.701 s against the
tile split's 1.448 s) and on its copies with 16 and 128 micro-batches (+2.4 %, +8.8 % against heft-k9's 4
data-parallel 9-chiplet replicas): the heuristics choose per micro-batch and so balance the unequal prefill
chains around the decode chains, which pinning gives up. So on the examples the LNS still starts from a
heuristic, and the model's value is the period: optimal for two datacenter_mix groups, within 0.1 % of its
bound on long_prompt_prefill and 1.4 % on llama2_7b_chat; on 128 micro-batches 55.2 ms against a proven 53.7 ms
(proven optimal at 53.7 ms with 90 s), written to schedule.json (`solver.stats.steady_state`) and the solver's
message (`summary`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from mapc.core.errors import MapcError
from mapc.hw.cost import CostModel
from mapc.hw.dram_resources import dram_resources, option_amounts
from mapc.solvers.base import Named
from mapc.solvers.cpsat_options import Options, identical_components
from mapc.solvers.cpsat_run import Driver
from mapc.solvers.listsched import choose_residency, list_schedule, task_latency

MIN_CHAINS = 4        # a group is worth pipelining from this many identical micro-batch chains
REPLICAS_MAX = 4      # pipeline replicas tried (1, 2, 4): data-parallel copies of the pinned pipeline
HINT_SHARE = 0.2      # of a call's budget, for completing its hint (`_solve`)
PROOF_SHARE = 0.4     # of the steady-state budget, for proving the period of the unreplicated pipeline (R = 1)
TICKS = 1 << 15       # ticks over the largest group's one-micro-batch work (durations rounded up)


@dataclass(frozen=True)
class Group:
    """K interchangeable components: `members[m]` = the task ids of micro-batch m, position j = members[m][j]."""

    members: np.ndarray           # [K, L] task ids

    @property
    def k(self) -> int:
        return int(self.members.shape[0])

    @property
    def rep(self) -> np.ndarray:
        return self.members[0]


def groups(cost: CostModel, opts: Options) -> list[Group]:
    """The repeated groups (>= MIN_CHAINS identical components), largest first."""
    comp = cost.graph.component
    out = []
    for firsts in identical_components(cost, opts, list(range(cost.graph.n))):
        if len(firsts) < MIN_CHAINS:
            continue
        out.append(Group(np.array([np.nonzero(comp == comp[t])[0] for t in firsts], dtype=np.int64)))
    return sorted(out, key=lambda gr: -gr.members.size)


@dataclass
class _Model:
    """The CP-SAT model of steps 1-4 (module docstring) over the groups' lanes (group, replica)."""

    m: cp_model.CpModel
    lanes: list[tuple[int, int]]          # (group index, replica) per lane
    x: list[list[list[tuple[int, Any]]]]  # per lane and position: [(option index, literal)]
    period: list[Any]                     # II_g: a micro-batch of group g enters every II_g
    chain: list[Any]                      # per lane: one micro-batch's latency
    ends: list[list[Any]]                 # per lane and position: the stage's end within the chain
    durs: list[list[Any]]                 # per lane and position: its duration expression (ticks)
    loads: list[Any]                      # per chiplet and DRAM resource: the whole run's load (ticks)
    hint: list[tuple[Any, bool]] = field(default_factory=list)   # the plan's options, completed by `_solve`
    dur_of: list[list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=list)  # (ticks, literal index)


def _build(cost: CostModel, opts: Options, grs: list[Group], reps: list[int], fixed_pi: np.ndarray,
           fixed_res: np.ndarray, tick: float) -> _Model:
    """Steps 1-4 over `grs`, group g in `reps[g]` replicas (micro-batch m on replica m mod R, each replica's
    stages pinned), the tasks outside the groups fixed at `fixed_pi`/`fixed_res`. Replica r is hinted with the
    options micro-batch r has in that plan (where they are candidates)."""
    g, hw = cost.graph, cost.hw
    m = cp_model.CpModel()
    rs = dram_resources(cost)
    H = rs.capacity.size
    lat_all = task_latency(cost, fixed_pi, fixed_res)
    in_group = np.zeros(g.n, bool)
    for gr in grs:
        in_group[gr.members.ravel()] = True
    others = np.nonzero(~in_group)[0]
    # the fixed tasks' loads per chiplet and DRAM resource (ticks): constants of the run's totals
    fix_chip = np.zeros(hw.n)
    np.add.at(fix_chip, np.nonzero(cost.members[fixed_pi[others]])[1],
              np.repeat(lat_all[others], cost.group_size[fixed_pi[others]]))
    fix_dram = (option_amounts(cost, others, fixed_pi[others], fixed_res[others]) / rs.capacity[None, :]).sum(0) \
        if H and others.size else np.zeros(H)
    horizon = int(min(sum(gr.k * float(sum(opts.lat[opts.of(int(t))].max() for t in gr.rep)) / tick
                          for gr in grs) + 1, 1 << 40))
    mod = _Model(m, [], [], [], [], [], [], [])
    tot_chip: list[list[Any]] = [[] for _ in range(hw.n)]
    tot_dram: list[list[Any]] = [[] for _ in range(H)]
    sram: list[list[Any]] = [[] for _ in range(hw.n)]
    for gi, gr in enumerate(grs):
        R = reps[gi]
        ii = m.new_int_var(0, horizon, f"II{gi}")
        mod.period.append(ii)
        chip: list[list[Any]] = [[] for _ in range(hw.n)]
        dram: list[list[Any]] = [[] for _ in range(H)]
        for r in range(R):
            lane = len(mod.lanes)
            mod.lanes.append((gi, r))
            per_lane = int(np.sum(np.arange(gr.k) % R == r))      # micro-batches on this replica
            xs, durs, dur_of = [], [], []
            for j, t in enumerate(gr.rep):
                span = opts.of(int(t))
                lits = [(o, m.new_bool_var(f"x{lane}_{j}_{o}")) for o in range(span.start, span.stop)]
                m.add_exactly_one(lit for _, lit in lits)                                # step 1
                mt = int(gr.members[r, j])
                h = opts.index(int(t), int(fixed_pi[mt]), bool(fixed_res[mt]))
                for o, lit in lits:
                    mod.hint.append((lit, o == h))
                os_ = np.array([o for o, _ in lits], dtype=np.int64)
                d = np.ceil(opts.lat[os_] / tick - 1e-9).astype(np.int64)
                durs.append(sum(int(dd) * lit for dd, (_, lit) in zip(d, lits)))
                dur_of.append((d, np.array([lit.index for _, lit in lits], dtype=np.int64)))
                amt = option_amounts(cost, opts.task[os_], opts.place[os_], opts.resident[os_]) if H else None
                for oi, (o, lit) in enumerate(lits):
                    p = int(opts.place[o])
                    for c in cost.placements[p]:
                        chip[c].append(int(d[oi]) * lit)
                        tot_chip[c].append(per_lane * int(d[oi]) * lit)
                        if opts.resident[o]:
                            sram[c].append((float(cost.weight_share[int(t), p]), lit))
                    if amt is not None:
                        for hn in np.nonzero(amt[oi] > 0)[0].tolist():
                            q = int(math.ceil(amt[oi, hn] / rs.capacity[hn] / tick - 1e-9))
                            dram[hn].append(q * lit)
                            tot_dram[hn].append(per_lane * q * lit)
                xs.append(lits)
            mod.x.append(xs)
            mod.durs.append(durs)
            mod.dur_of.append(dur_of)
            span_v, ends = _chain(cost, opts, m, gr.rep, xs, durs, tick, horizon, lane)  # step 4
            mod.chain.append(span_v)
            mod.ends.append(ends)
        for c in range(hw.n):               # step 2: per R micro-batches every chiplet has R periods
            if chip[c]:
                m.add(sum(chip[c]) <= R * ii)
        for hh in range(H):
            if dram[hh]:
                m.add(sum(dram[hh]) <= R * ii)
    for c in range(hw.n):                                                                # step 3
        if sram[c]:
            scale = 1e6 / max(float(cost.weight_capacity[c]), 1.0)
            m.add(sum(int(math.ceil(sh * scale)) * lit for sh, lit in sram[c]) <= int(1e6))
    mod.loads = [sum(tot_chip[c]) + int(math.ceil(fix_chip[c] / tick)) for c in range(hw.n) if tot_chip[c]]
    mod.loads += [sum(tot_dram[h]) + int(math.ceil(fix_dram[h] / tick)) for h in range(H) if tot_dram[h]]
    return mod


def _chain(cost: CostModel, opts: Options, m: cp_model.CpModel, rep: np.ndarray, xs: list[list[tuple[int, Any]]],
           durs: list[Any], tick: float, horizon: int, gi: int) -> tuple[Any, list[Any]]:
    """Step 4: the latency of one micro-batch's component (ends over its edges, mesh transfers linearised)."""
    g, hw = cost.graph, cost.hw
    pos = {int(t): j for j, t in enumerate(rep)}
    chips = hw.chiplets
    mesh = hw.nop.topology == "mesh" and len(chips) == hw.rows * hw.cols
    hop_t = int(math.ceil(hw.nop.hop_latency / tick - 1e-9)) if hw.nop.hop_latency > 0 else 0
    ends = [m.new_int_var(0, horizon, f"e{gi}_{j}") for j in range(len(rep))]
    lead = [[(int(cost.lead[int(opts.place[o])]), lit) for o, lit in lits] for lits in xs]
    lead_x = [sum(int(chips[c].x) * lit for c, lit in ls) for ls in lead] if mesh else []
    lead_y = [sum(int(chips[c].y) * lit for c, lit in ls) for ls in lead] if mesh else []
    for j in range(len(rep)):
        m.add(ends[j] >= durs[j])
    D = int(hw.hops.max()) if hw.n > 1 else 0
    for e in g.edges:
        if int(e.src) not in pos or int(e.dst) not in pos:
            continue
        u, v = pos[int(e.src)], pos[int(e.dst)]
        delay: Any = 0
        if mesh and D > 0 and (hop_t > 0 or e.bytes > 0):
            dx = m.new_int_var(0, hw.cols, f"dx{gi}_{u}_{v}")
            dy = m.new_int_var(0, hw.rows, f"dy{gi}_{u}_{v}")
            m.add(dx >= lead_x[u] - lead_x[v])
            m.add(dx >= lead_x[v] - lead_x[u])
            m.add(dy >= lead_y[u] - lead_y[v])
            m.add(dy >= lead_y[v] - lead_y[u])
            moved = m.new_bool_var(f"mv{gi}_{u}_{v}")
            m.add(D * moved >= dx + dy)
            ser = int(math.ceil(float(e.bytes) / hw.nop.link_bw / tick - 1e-9)) if hw.nop.link_bw > 0 else 0
            delay = hop_t * (dx + dy) + ser * moved
        m.add(ends[v] >= ends[u] + delay + durs[v])
    span = m.new_int_var(0, horizon, f"chain{gi}")
    m.add_max_equality(span, ends)
    return span, ends


@dataclass(frozen=True)
class SteadyState:
    """What the steady-state model found: per group (K, L, period s of the unrolled assignment, proven period
    bound s, status of the period proof), the hints unrolled from it, and notes."""

    groups: tuple[dict[str, Any], ...]
    hints: tuple[Named, ...]


def solve(cost: CostModel, opts: Options, drv: Driver, base: Named, budget: float) -> SteadyState:
    """Steps 1-5 and the unrolling (module docstring) within `budget` seconds of `cpsat`'s budget; `base` is the
    heuristic schedule whose placements the tasks outside the groups keep. Replica counts R = 1, 2, 4 (up to
    each group's K and REPLICAS_MAX) are tried in turn; both assignments of each R, (a)'s period-optimal one
    and (b)'s, are unrolled, and every valid schedule is returned."""
    grs = groups(cost, opts)
    if not grs:
        return SteadyState((), ())
    _, bpi, bres, bst = base
    bpi, bres, bst = np.asarray(bpi, np.int64), np.asarray(bres, bool), np.asarray(bst, float)
    one = max(float(sum(opts.lat[opts.of(int(t))].min() for t in gr.rep)) for gr in grs)
    tick = max(one, 1e-15) / TICKS
    ladder = [r for r in (1, 2, 4, 8) if r <= REPLICAS_MAX]
    # R = 1's period proof (the headline: the best pipeline period) gets PROOF_SHARE, the other calls the rest
    rest = budget * (1 - PROOF_SHARE) / max(1, 2 * len(ladder) - 1)
    info: list[dict[str, Any]] = []
    hints: list[Named] = []
    for R in ladder:
        reps = [min(R, gr.k) for gr in grs]
        # (a) each group alone: its proven optimal period with R pinned replicas
        periods: list[dict[str, Any]] = []
        pa, ka = bpi.copy(), bst.copy()
        for gi, gr in enumerate(grs):
            a = _build(cost, opts, [gr], [reps[gi]], bpi, bres, tick)
            a.m.minimize(a.period[0])
            name, vals, bnd = _solve(drv, a, (budget * PROOF_SHARE if R == 1 else rest) / len(grs),
                                     "steady-period")
            # proven in seconds: durations were rounded up by < 1 tick each, at most L per chiplet and period
            periods.append({"chains": gr.k, "stages": int(gr.rep.size), "replicas": reps[gi],
                            "period_bound_s": max(0.0, (bnd - gr.rep.size) * tick, _work_bound(cost, opts, gr)),
                            "period_status": name})
            if vals is not None:
                periods[gi]["period_alone_s"] = _apply(a, vals, tick, [gr], [reps[gi]], opts, pa, ka)[0]
        # (b) all groups together: the assignment to unroll
        b = _build(cost, opts, grs, reps, bpi, bres, tick)
        T = b.m.new_int_var(0, 1 << 50, "T")
        for lane, (gi, r) in enumerate(b.lanes):
            last = max(mm for mm in range(grs[gi].k) if mm % reps[gi] == r)
            b.m.add(T >= last * b.period[gi] + b.chain[lane])
        for ld in b.loads:
            b.m.add(T >= ld)
        b.m.minimize(T)
        _, vals, _ = _solve(drv, b, rest, "steady-unroll")
        plans = [(f"steady-period-r{R}", pa, ka)]
        if vals is not None:
            pb, kb = bpi.copy(), bst.copy()
            for gi, period in enumerate(_apply(b, vals, tick, grs, reps, opts, pb, kb)):
                periods[gi]["period_s"] = period
            plans.append((f"steady-state-r{R}", pb, kb))
        info += periods
        for label, pi, key in plans:
            try:
                res = choose_residency(cost, pi)
                hints.append((label, pi, res, list_schedule(cost, pi, res, priority=-key)))
                hints.append((label + "-rank", pi, res, list_schedule(cost, pi, res)))
            except MapcError:
                continue
    return SteadyState(tuple(info), tuple(hints))


def _work_bound(cost: CostModel, opts: Options, gr: Group) -> float:
    """A period no pipeline can beat (s): one micro-batch's least chiplet-seconds over all chiplets, and its least
    DRAM-channel bytes over the channels' total bandwidth (each stage at its cheapest option for that resource).
    Holds for any R, pinned or not; it stands when CP-SAT's own bound is weaker (e.g. a short budget)."""
    rs = dram_resources(cost)
    work = dram = 0.0
    for t in gr.rep:
        r = opts.of(int(t))
        work += float((opts.lat[r] * cost.group_size[opts.place[r]]).min())
        if rs.channels:
            amt = option_amounts(cost, opts.task[r], opts.place[r], opts.resident[r])[:, :rs.channels]
            dram += float(amt.sum(1).min())
    bw = float(rs.capacity[:rs.channels].sum()) if rs.channels else 0.0
    return max(work / cost.hw.n, dram / bw if bw > 0 else 0.0)


def summary(groups: tuple[dict[str, Any], ...]) -> str:
    """One line per repeated group for the solver's message: the R = 1 pinned period reached and proven."""
    out = []
    for x in groups:
        if x["replicas"] == 1 and "period_alone_s" in x:
            tight = x["period_alone_s"] <= x["period_bound_s"] * (1 + 1e-3)
            proof = ("optimal" if x["period_status"] == "OPTIMAL" else "within 0.1 % of optimal" if tight
                     else "not proven optimal within the budget")
            out.append(f"steady state of {x['chains']} micro-batches x {x['stages']} stages: a pinned pipeline "
                       f"takes one every {x['period_alone_s'] * 1e3:.4g} ms (no pipeline under "
                       f"{x['period_bound_s'] * 1e3:.4g} ms; {proof})")
    return "; ".join(out)


def _apply(mod: _Model, vals: np.ndarray, tick: float, grs: list[Group], reps: list[int], opts: Options,
           pi: np.ndarray, key: np.ndarray) -> list[float]:
    """Unroll `mod`'s solution `vals` (over groups `grs` in `reps` replicas) into `pi` (every micro-batch of a
    replica takes its stages' placements) and `key` (intended start: micro-batch m's stage j at m x II + the
    stage's start in its chain); returns each group's period in s."""
    for lane, (gi, r) in enumerate(mod.lanes):
        gr = grs[gi]
        chosen = np.array([next(o for o, lit in lits if vals[lit.index] > 0) for lits in mod.x[lane]],
                          dtype=np.int64)
        mbs = np.arange(gr.k)[np.arange(gr.k) % reps[gi] == r]
        pi[gr.members[mbs]] = opts.place[chosen][None, :]
        period = float(vals[mod.period[gi].index]) * tick
        dur = np.array([mod.dur_of[lane][j][0][vals[mod.dur_of[lane][j][1]] > 0].sum()
                        for j in range(gr.rep.size)], float)
        est = (np.array([vals[e.index] for e in mod.ends[lane]], float) - dur) * tick
        key[gr.members[mbs]] = mbs[:, None] * period + est[None, :]
    return [float(vals[ii.index]) * tick for ii in mod.period]


def _solve(drv: Driver, mod: _Model, limit: float, kind: str) -> tuple[str, np.ndarray | None, float]:
    """Solve `mod` (objective set) from a complete hint: its options fixed to the plan's (`mod.hint`), a short
    CP-SAT call completes the rest (periods, ends, transfers, T). Returns (status, every variable's value or
    None, proven objective bound); the completed hint stands in when the search finds nothing better within
    its limit (presolve alone can use a small one up). When the plan's options break the model (e.g. its
    residencies overfill SRAM held for the whole run), only the options are hinted."""
    m = mod.m
    fix = m.clone()
    for lit, val in mod.hint:
        fix.add(fix.get_bool_var_from_proto_index(lit.index) == int(val))
    st, solver = _run(drv, fix, HINT_SHARE * limit, "steady-hint")
    m.clear_hints()
    start: np.ndarray | None = None
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        start = np.asarray(solver.response_proto.solution, dtype=np.int64)
        for i, v in enumerate(start):
            m.add_hint(m.get_int_var_from_proto_index(i), int(v))
    else:
        for lit, val in mod.hint:
            m.add_hint(lit, val)
    st, solver = _run(drv, m, (1 - HINT_SHARE) * limit, kind)
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return solver.status_name(st), np.asarray(solver.response_proto.solution, dtype=np.int64), \
            float(solver.best_objective_bound)
    return ("HINT" if start is not None else solver.status_name(st)), start, \
        float(solver.best_objective_bound) if st != cp_model.UNKNOWN else 0.0


def _run(drv: Driver, m: cp_model.CpModel, limit: float, kind: str) -> tuple[Any, cp_model.CpSolver]:
    """One CP-SAT call under the driver's limits (no probing: these models are all assignment), logged in its
    calls."""
    solver = cp_model.CpSolver()
    drv.configure(solver, limit, probing=0)
    st = solver.solve(m)
    drv.record(solver, st, kind, None, [])
    return st, solver
