"""The CP-SAT model of a mapc scheduling problem (ortools.sat.python.cp_model), built in named steps.

`build` runs the steps in order, each a function whose docstring states the constraint family it adds, in the
style of OR-Tools' scheduling examples: `add_variables` (option literals, start times, optional intervals),
`add_assignment` (one option per task), `add_resources` (chiplets: no-overlap, cumulative), `add_precedence`
(edges with transfer delays, NoP energy), `add_memory` (SRAM capacity), `add_objective_terms` (makespan, load
bounds, energy) and `add_symmetry_breaking`. The candidate options come from `mapc.solvers.cpsat_options`.

Decision per task: one *option* = (placement, resident?) with a finite latency, chosen by a presence literal
of an optional fixed-size interval; all of a task's intervals share its start variable.

Integer time. One tick = `tick` seconds, chosen from the hint's makespan (about `TICKS` ticks over it) and made
an exact divisor of the NoP hop latency, so hop delays are exact multiples. Task durations and the
serialisation part of transfers are rounded UP to whole ticks, so a tick schedule is feasible at float
durations; the float schedule returned is rebuilt from the tick schedule's order (`retime`, a semi-active
left shift at exact float durations), which starts every task no later than the tick schedule did.
Bounds are converted down: any float schedule, re-timed on the rounded problem with the same order, is at most
`slack = 2n` ticks longer (< 1 tick per task duration and < 1 per transfer on its critical path), so
`true optimum >= (CP-SAT bound - slack) * tick`.

Constraints:
- exactly one option per task; per chiplet a no-overlap over every option interval using it (a group occupies
  all members); a redundant cumulative (demand = group size, capacity = chiplets) strengthens the bound.
- precedence u -> v: start_v >= end_u + hop_ticks * hops(lead_u, lead_v) + ser_ticks(bytes) * [leads differ].
  hops is an integer variable per edge: on a mesh, |x_u - x_v| + |y_u - y_v| of the lead coordinates (linear
  in the option literals; one-sided inequalities suffice because larger hops only hurt); elsewhere an
  `AddElement` over the table of hops between the leads. Edges whose endpoints have one possible lead each
  become constants. O(options + edges) constraints, no per-pair products.
- SRAM: only on chiplets where the resident options could over-fill it (elsewhere residency is free).
  held[key, chiplet] >= share * literal of every resident option of that key on that chiplet (a key is counted
  once, at its largest share, as `compiler/check.py` counts it); per chiplet sum(held) <= capacity (shares
  rounded up, capacity down).
- DRAM: per channel a cumulative of the options' draws (bytes there / latency), `mapc.solvers.cpsat_dram`.
- energy (integer units `eunit` J, option and transfer energies rounded down, static power x makespan exact
  per tick): sum of chosen option energies + bits x NoP J/bit x hops per edge + static power x makespan.
- per chiplet, makespan >= total duration of the chosen options using it (redundant with the no-overlaps but
  visible to the LP relaxation; without it the bound on 8-task chain instances stalls at the work bound).
- symmetry: interchangeable identical components (e.g. micro-batch chains with the same options, weights and
  edge bytes) are sorted by their first task's option index; otherwise, a reflection of the grid that maps every placement to a placement with the same lead image and
  identical cost columns, and preserves capacities, is a symmetry of the whole problem; for each such
  reflection the first task with several leads gets its lead coordinate on the low half (valid: reflecting any
  schedule fixes it, and the two axes commute).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from mapc.hw.cost import CostModel
from mapc.solvers.channels import ChannelTimeline, channel_rates, task_draws
from mapc.solvers.cpsat_dram import add_dram_channels
from mapc.solvers.cpsat_options import Options, identical_components, reflections, sram_demand

TICKS = 1 << 18          # ticks over the hint makespan (time resolution ~ 4e-6 of it)
ENERGY_UNITS = 1 << 22   # energy units over the hint energy


# (constant lead chiplet or None, x, y, lead index): ints when the lead is fixed, else linear expressions in the
# option literals
LeadInfo = tuple[int | None, Any, Any, Any]


class Fixed(TypedDict):
    """The tasks outside an LNS window, fixed at their current decisions (arrays over all tasks)."""

    pi: np.ndarray               # placement index
    res: np.ndarray              # resident
    start_ticks: np.ndarray
    end_ticks: np.ndarray
    tasks: np.ndarray            # every task outside the window: holds its SRAM
    sched: set[int]              # those whose intervals and precedences are constants


WINDOW_LOAD = False      # per-chiplet load bound also in the decomposition's windows (fixed intervals counted).
                         # Off: measured at 10 s it makes windows prove optimal sooner but the search settles in
                         # worse local optima (llama2_7b_chat +0.90 % vs greedy instead of +2.05 %; datacenter_mix
                         # +0.55 vs +0.53, pd_fused_vs_disagg +0.46 vs +0.48)


def choose_tick(cost: CostModel, makespan_hint: float) -> float:
    """Seconds per tick: about makespan_hint / TICKS, made an exact divisor of the hop latency."""
    want = max(makespan_hint, 1e-12) / TICKS
    hop = float(cost.hw.nop.hop_latency)
    if hop > 0:
        return hop / math.ceil(hop / want)
    return want


def retime(cost: CostModel, pi: npt.ArrayLike, res: npt.ArrayLike, order_key: npt.ArrayLike,
           dur: list[int] | None = None, delay: list[int] | None = None) -> np.ndarray:
    """Semi-active schedule: tasks in order of `order_key` (ties by id), each at the earliest time its inputs
    have arrived, all its chiplets are free and its DRAM channels have room for its draws over its run
    (`mapc.solvers.channels`; the draws are bytes / exact latency, so in ticks they are reserved over the rounded-up
    duration). With `dur`/`delay` (per task / per edge) in ticks, integer arithmetic; else exact float latencies
    and transfer times. Without DRAM traffic, never later than any schedule with that order."""
    g = cost.graph
    n = g.n
    pi = np.asarray(pi, np.int64)
    durs: list[float]             # ints (ticks) when given, so the arithmetic below is exact
    delays: list[float]
    zero: float
    if dur is None:
        durs = cost.task_latency(pi, res).tolist()
        delays = (cost.transfer_time(g.edge_bytes, cost.lead[pi[g.edge_src]], cost.lead[pi[g.edge_dst]]).tolist()
                  if g.edges else [])
        zero = 0.0
    else:
        durs, delays, zero = list(dur), list(delay or []), 0
    order = np.lexsort((np.arange(n), np.asarray(order_key)))
    ins: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for k, e in enumerate(g.edges):
        ins[e.dst].append((e.src, k))
    free = [zero] * cost.hw.n
    start = [zero] * n
    end = [zero] * n
    placements = cost.placements
    chans = ChannelTimeline.of(cost)
    draws = task_draws(channel_rates(cost, pi, res))
    for i in order.tolist():
        t = zero
        for s, k in ins[i]:
            a = end[s] + delays[k]
            if a > t:
                t = a
        mem = placements[pi[i]]
        for c in mem:
            if free[c] > t:
                t = free[c]
        if draws[i]:
            t2 = chans.earliest(float(t), float(durs[i]), draws[i])
            t = int(t2) if dur is not None else t2
            chans.book(float(t), float(durs[i]), draws[i])
        start[i] = t
        end[i] = t + durs[i]
        for c in mem:
            free[c] = end[i]
    return np.array(start)


@dataclass
class Built:
    """A built model and the handles the driver needs."""

    model: cp_model.CpModel
    opts: Options
    tick: float
    eunit: float
    lits: list[Any]                # cp_model.IntVar (booleans), one per option
    start: list[Any]               # cp_model.IntVar per task in opts order (index = position in opts.first)
    makespan: Any                  # cp_model.IntVar
    energy: Any                    # integer linear expression (units of eunit)
    dur: np.ndarray                # [O] ticks
    slack: int                     # ticks: rounding allowance for bounds
    ks: int                        # energy units per tick of static power
    horizon: int
    sym: list[tuple[str, np.ndarray, int]] = field(default_factory=list)   # (axis, placement permutation, task)
    stats: dict[str, Any] = field(default_factory=dict)
    ends: list[Any] = field(default_factory=list)


@dataclass
class _Builder:
    """The model under construction and what the steps share (ticks, durations, variables per task)."""

    cost: CostModel
    opts: Options
    tick: float
    eunit: float
    ks: int
    fixed: Fixed | None
    window_lo: int
    window_hi: int | None
    m: cp_model.CpModel = field(default_factory=cp_model.CpModel)
    free_tasks: list[int | None] = field(default_factory=list)   # task id per opts block (None: empty block)
    pos: dict[int, int] = field(default_factory=dict)             # task id -> its block
    dur: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))   # [O] ticks
    hop_ticks: int = 0
    ser: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))   # [edges] serialisation ticks
    horizon: int = 0
    hi: int = 0
    lits: list[Any] = field(default_factory=list)
    start: list[Any] = field(default_factory=list)
    end: list[Any] = field(default_factory=list)
    intervals: list[tuple[Any, int]] = field(default_factory=list)   # (interval, group size) of every option
    per_chip: list[list[Any]] = field(default_factory=list)          # intervals using each chiplet
    busy: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # ticks held by fixed intervals
    lead_info: dict[int, LeadInfo] = field(default_factory=dict)   # task -> its lead chiplet
    e_const: int = 0
    e_terms: list[Any] = field(default_factory=list)
    makespan: Any = None
    energy: Any = None
    sym: list[tuple[str, np.ndarray, int]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def add_variables(b: _Builder) -> None:
    """Variables. Per option o (task i, placement p, residency r): a presence literal x_o and an optional
    fixed-size interval [s_i, s_i + dur_o) present iff x_o, all of task i's intervals sharing its start s_i.
    Durations are the option latencies rounded UP to ticks; s_i lies in [window_lo, hi] where hi is the
    window's end or a horizon (serial execution of the slowest options and transfers)."""
    cost, opts, m = b.cost, b.opts, b.m
    g, hw, nop = cost.graph, cost.hw, cost.hw.nop
    b.free_tasks = [int(opts.task[opts.first[j]]) if opts.first[j] < opts.first[j + 1] else None
                    for j in range(len(opts.first) - 1)]
    b.pos = {t: j for j, t in enumerate(b.free_tasks) if t is not None}
    O = opts.size
    b.dur = np.maximum(np.ceil(opts.lat / b.tick - 1e-9).astype(np.int64), 0)
    b.hop_ticks = int(math.ceil(nop.hop_latency / b.tick - 1e-9)) if nop.hop_latency > 0 else 0
    D = int(hw.hops.max()) if hw.n > 1 else 0
    max_dur = np.zeros(len(b.free_tasks), np.int64)
    np.maximum.at(max_dur, np.searchsorted(opts.first, np.arange(O), side="right") - 1, b.dur)
    b.ser = (np.ceil(g.edge_bytes / nop.link_bw / b.tick - 1e-9).astype(np.int64) if g.edges
             else np.zeros(0, np.int64))
    b.horizon = int(max_dur.sum() + (b.ser.sum() + len(g.edges) * b.hop_ticks * D if g.edges else 0)) + 1
    if b.fixed is not None:
        b.horizon = max(b.horizon, int(b.window_hi or 0), int(max(b.fixed["end_ticks"], default=0)) + 1)
    b.hi = b.horizon if b.window_hi is None else int(b.window_hi)
    b.lits = [m.new_bool_var(f"x{o}") for o in range(O)]
    b.start = [m.new_int_var(b.window_lo, b.hi, f"s{t}") for t in b.free_tasks]
    b.per_chip = [[] for _ in range(hw.n)]
    for j in range(len(b.free_tasks)):
        r = opts.of(j)
        for o in r:
            iv = m.new_optional_fixed_size_interval_var(b.start[j], int(b.dur[o]), b.lits[o], f"i{o}")
            b.intervals.append((iv, int(cost.group_size[opts.place[o]])))
            for c in cost.placements[opts.place[o]]:
                b.per_chip[c].append(iv)
        e = b.start[j] + sum(int(b.dur[o]) * b.lits[o] for o in r)
        b.end.append(e)
        m.add(e <= b.hi)


def add_assignment(b: _Builder) -> None:
    """Assignment: exactly one option per task, sum_o x_o = 1 over the task's options."""
    for j in range(len(b.free_tasks)):
        b.m.add_exactly_one(b.lits[o] for o in b.opts.of(j))


def add_resources(b: _Builder) -> None:
    """Chiplets: per chiplet, no two intervals using it overlap (a tensor-parallel group occupies every member;
    in an LNS window, the fixed tasks' intervals block their chiplets too). Whole models add the redundant
    cumulative: the chosen intervals' group sizes never exceed the chiplet count at any instant (it strengthens
    the LP bound)."""
    m, hw, fixed, cost = b.m, b.cost.hw, b.fixed, b.cost
    b.busy = np.zeros(hw.n, np.int64)
    if fixed is not None:
        for t in fixed["sched"]:
            s, f = int(fixed["start_ticks"][t]), int(fixed["end_ticks"][t])
            if f <= b.window_lo or s >= b.hi or f == s:
                continue
            iv = m.new_fixed_size_interval_var(s, f - s, f"f{t}")
            for c in cost.placements[int(fixed["pi"][t])]:
                b.per_chip[c].append(iv)
                b.busy[c] += f - s
    for c in range(hw.n):
        if len(b.per_chip[c]) > 1:
            m.add_no_overlap(b.per_chip[c])
    if fixed is None and b.intervals:
        m.add_cumulative([iv for iv, _ in b.intervals], [k for _, k in b.intervals], hw.n)


def _lead_expr(b: _Builder, t: int, xs: np.ndarray, ys: np.ndarray, lix: dict[int, int]) -> LeadInfo:
    """(constant lead or None, x, y, lead index) of task t's lead chiplet, linear in its option literals."""
    lead, opts = b.cost.lead, b.opts
    if t in b.pos:
        r = opts.of(b.pos[t])
        ls = {int(lead[opts.place[o]]) for o in r}
        if len(ls) == 1:
            c = ls.pop()
            return c, int(xs[c]), int(ys[c]), lix[c]
        return (None, sum(int(xs[lead[opts.place[o]]]) * b.lits[o] for o in r),
                sum(int(ys[lead[opts.place[o]]]) * b.lits[o] for o in r),
                sum(lix[int(lead[opts.place[o]])] * b.lits[o] for o in r))
    assert b.fixed is not None
    c = int(lead[int(b.fixed["pi"][t])])
    return c, int(xs[c]), int(ys[c]), lix[c]


def add_precedence(b: _Builder) -> None:
    """Precedence with transfer delay, per edge u -> v: s_v >= e_u + hop_ticks x hops(lead_u, lead_v)
    + ser_ticks(bytes) x [leads differ]. hops is a constant when both leads are, else an integer variable: on a
    mesh |x_u - x_v| + |y_u - y_v| of the lead coordinates (linear in the literals; one-sided inequalities
    suffice because larger hops only hurt), elsewhere an element constraint over the hop table. Edges to fixed
    tasks (LNS windows) become constant bounds. Each edge also adds bits x NoP J/bit x hops to the energy."""
    cost, m, fixed = b.cost, b.m, b.fixed
    g, hw = cost.graph, cost.hw
    lead, opts = cost.lead, b.opts
    D = int(hw.hops.max()) if hw.n > 1 else 0
    ebit = 8.0 * hw.nop.energy_per_bit / b.eunit
    xs = np.array([c.x for c in hw.chiplets])
    ys = np.array([c.y for c in hw.chiplets])
    mesh = hw.nop.topology == "mesh" and len(hw.chiplets) == hw.rows * hw.cols and np.array_equal(
        hw.hops, np.abs(np.subtract.outer(xs, xs)) + np.abs(np.subtract.outer(ys, ys)))
    leads_used = sorted(set(lead[opts.place].tolist()) | (set(lead[np.asarray(fixed["pi"])].tolist())
                                                             if fixed is not None else set()))
    lix = {c: i for i, c in enumerate(leads_used)}
    hop_table = [int(hw.hops[a, c]) for a in leads_used for c in leads_used]
    n_hopvars = 0
    for k, ed in enumerate(g.edges):
        u, v = ed.src, ed.dst
        if u not in b.pos and v not in b.pos:
            continue
        if fixed is not None and ((u not in b.pos and u not in fixed["sched"])
                                  or (v not in b.pos and v not in fixed["sched"])):
            continue       # LNS: the other end is re-timed after the window, not fixed
        for t in (u, v):
            if t not in b.lead_info:
                b.lead_info[t] = _lead_expr(b, t, xs, ys, lix)
        cu, xu, yu, iu = b.lead_info[u]
        cv, xv, yv, iv_ = b.lead_info[v]
        eb = int(math.floor(ed.bytes * ebit)) if ed.bytes > 0 else 0
        if cu is not None and cv is not None:
            h = int(hw.hops[cu, cv])
            delay: Any = (h * b.hop_ticks + int(b.ser[k])) if h > 0 else 0
            b.e_const += eb * h
        else:
            hv = m.new_int_var(0, D, f"h{k}")
            n_hopvars += 1
            if mesh:
                dx = m.new_int_var(0, hw.cols - 1, f"dx{k}")
                dy = m.new_int_var(0, hw.rows - 1, f"dy{k}")
                m.add(dx >= xu - xv)
                m.add(dx >= xv - xu)
                m.add(dy >= yu - yv)
                m.add(dy >= yv - yu)
                m.add(hv == dx + dy)
            else:
                m.add_element(iu * len(leads_used) + iv_, hop_table, hv)
            if b.ser[k] > 0:
                d = m.new_bool_var(f"d{k}")
                m.add(hv <= D * d)
                delay = b.hop_ticks * hv + int(b.ser[k]) * d
            else:
                delay = b.hop_ticks * hv
            if eb:
                b.e_terms.append(eb * hv)
        if u in b.pos and v in b.pos:
            m.add(b.start[b.pos[v]] >= b.end[b.pos[u]] + delay)
        elif u in b.pos:     # fixed consumer
            assert fixed is not None
            m.add(b.end[b.pos[u]] + delay <= int(fixed["start_ticks"][v]))
        else:                # fixed producer
            assert fixed is not None
            m.add(b.start[b.pos[v]] >= int(fixed["end_ticks"][u]) + delay)
    b.stats["hop_vars"] = n_hopvars


def add_memory(b: _Builder) -> None:
    """SRAM capacity, only on chiplets where the resident options could over-fill it (elsewhere residency is
    free): held[key, chiplet] >= share x x_o for every resident option of that weight key on that chiplet (a key
    is counted once, at its largest share, as `compiler/check.py` counts it); per chiplet sum(held) <= capacity
    (shares rounded up, capacity down). In a window, the fixed tasks' resident weights are held already."""
    cost, m, fixed, opts = b.cost, b.m, b.fixed, b.opts
    g, hw = cost.graph, cost.hw
    tight = sram_demand(cost) > cost.weight_capacity
    wkey = g.weight_index
    n_sram = 0
    if tight.any():
        pre = np.zeros((hw.n, len(g.weight_keys)))
        if fixed is not None:
            for t in fixed["tasks"]:
                if fixed["res"][t]:
                    p = int(fixed["pi"][t])
                    for c in cost.placements[p]:
                        pre[c, wkey[t]] = max(pre[c, wkey[t]], cost.weight_share[t, p])
        held: dict[tuple[int, int], dict[int, list[Any]]] = {}
        for o in np.nonzero(opts.resident)[0]:
            t, p = int(opts.task[o]), int(opts.place[o])
            lvl = int(math.ceil(cost.weight_share[t, p]))
            for c in cost.placements[p]:
                if tight[c]:
                    held.setdefault((c, int(wkey[t])), {}).setdefault(lvl, []).append(b.lits[o])
        per_c: dict[int, list[Any]] = {}
        for (c, k), lv in held.items():
            base = int(math.ceil(pre[c, k]))
            lv = {L: ls for L, ls in lv.items() if L > base}
            if not lv:
                continue
            if len(lv) == 1 and base == 0:
                (L, ls), = lv.items()
                r = m.new_bool_var(f"r{c}_{k}")
                for x in ls:
                    m.add_implication(x, r)
                per_c.setdefault(c, []).append(L * r)
            else:
                hk = m.new_int_var(base, max(lv), f"hk{c}_{k}")
                for L, ls in lv.items():
                    r = m.new_bool_var(f"r{c}_{k}_{L}")
                    for x in ls:
                        m.add_implication(x, r)
                    m.add(hk >= L * r)
                per_c.setdefault(c, []).append(hk - base)
            n_sram += 1
        for c, terms in per_c.items():
            capc = int(math.floor(cost.weight_capacity[c] - pre[c].sum()))
            m.add(sum(terms) <= capc)
    b.stats["sram_keys"] = n_sram


def add_objective_terms(b: _Builder) -> None:
    """Makespan and energy, the two quantities objectives are built from. makespan >= the end of every task
    without a successor in the model; per chiplet, makespan >= the total duration of the chosen options using
    it (redundant with the no-overlaps but visible to the LP relaxation: without it the bound on 8-task chain
    instances stalls at the work bound). Energy, in integer units of `eunit` J: chosen option energies (rounded
    down) + the precedence step's NoP terms + static power x makespan (`ks` units per tick, exact).
    DRAM channels are constrained by `add_dram_channels` (`mapc.solvers.cpsat_dram`)."""
    cost, m, fixed, opts = b.cost, b.m, b.fixed, b.opts
    g, hw = cost.graph, cost.hw
    ms = m.new_int_var(b.window_lo, b.hi, "makespan")
    has_succ = np.zeros(g.n, bool)
    for ed in g.edges:
        if ed.src in b.pos and ed.dst in b.pos:
            has_succ[ed.src] = True
    for j, t in enumerate(b.free_tasks):
        if t is not None and not has_succ[t]:
            m.add(ms >= b.end[j])
    if fixed is None or (WINDOW_LOAD and b.window_lo == 0):
        if fixed is not None and b.busy.any():   # every fixed interval counted ends by the makespan
            m.add(ms >= max(int(fixed["end_ticks"][t]) for t in fixed["sched"]
                            if int(fixed["end_ticks"][t]) > int(fixed["start_ticks"][t])))
        for c in range(hw.n):
            terms = [int(b.dur[o]) * b.lits[o] for o in range(opts.size)
                     if b.dur[o] and c in cost.placements[opts.place[o]]]
            if terms:
                m.add(ms >= sum(terms) + b.window_lo + int(b.busy[c]))
    eopt = np.floor(opts.energy / b.eunit).astype(np.int64)
    b.makespan = ms
    b.energy = (sum(int(eopt[o]) * b.lits[o] for o in range(opts.size) if eopt[o]) + sum(b.e_terms) + b.e_const
                + b.ks * ms)


def add_symmetry_breaking(b: _Builder) -> None:
    """Symmetry breaking (whole models only). Interchangeable identical components (e.g. micro-batch chains
    with the same options, weights and edge bytes) are sorted by their first task's option index; otherwise,
    for each grid reflection that maps the cost model onto itself, the first task with several leads gets its
    lead coordinate in the low half (valid: reflecting any schedule fixes it, and the two axes commute)."""
    cost, m, opts, hw = b.cost, b.m, b.opts, b.cost.hw
    n_chain_sym = 0
    for grp in identical_components(cost, opts, b.free_tasks):
        idx = [sum(k * b.lits[o] for k, o in enumerate(opts.of(b.pos[t]))) for t in grp]
        for x, y in zip(idx, idx[1:]):
            m.add(x <= y)
            n_chain_sym += 1
    if not n_chain_sym:
        xs = np.array([c.x for c in hw.chiplets])
        ys = np.array([c.y for c in hw.chiplets])
        lead = cost.lead
        leads_used = sorted(set(lead[opts.place].tolist()))
        lix = {c: i for i, c in enumerate(leads_used)}
        for axis, perm in reflections(cost):
            for t in b.free_tasks:
                if t is None:
                    continue
                li = b.lead_info.get(t) or _lead_expr(b, t, xs, ys, lix)
                if li[0] is None:
                    coord = li[1] if axis == "x" else li[2]
                    m.add(2 * coord <= (hw.cols if axis == "x" else hw.rows) - 1)
                    b.sym.append((axis, perm, t))
                    break
    b.stats["chain_symmetry"] = n_chain_sym


def build(cost: CostModel, opts: Options, tick: float, eunit: float, ks: int, *, fixed: Fixed | None = None,
          window_lo: int = 0, window_hi: int | None = None, symmetry: bool = True) -> Built:
    """Build the CP-SAT model over `opts` (tasks opts.task) step by step (module doc). With `fixed` (a dict: pi,
    res, start_ticks, end_ticks, tasks, sched), the tasks not in opts are fixed: `tasks` (all of them) hold their
    SRAM, and `sched` (those scheduled before the window) their intervals and precedences as constants; the
    free tasks are confined to [window_lo, window_hi] ticks (LNS windows)."""
    b = _Builder(cost, opts, tick, eunit, ks, fixed, window_lo, window_hi)
    add_variables(b)
    add_assignment(b)
    add_resources(b)
    add_dram_channels(b.m, cost, opts, [iv for iv, _ in b.intervals], fixed, window_lo, b.hi, b.stats)
    add_precedence(b)
    add_memory(b)
    add_objective_terms(b)
    b.stats["chain_symmetry"] = 0
    if symmetry and fixed is None:
        add_symmetry_breaking(b)
    n = len(b.free_tasks)
    proto = b.m.proto
    O = opts.size
    b.stats.update({"variables": len(proto.variables), "constraints": len(proto.constraints), "booleans": O,
                    "intervals": O, "options": O, "tasks_free": n, "symmetry": [a for a, _, _ in b.sym]})
    return Built(b.m, opts, tick, eunit, b.lits, b.start, b.makespan, b.energy, b.dur, 2 * max(n, 1), ks,
                 b.horizon, b.sym, b.stats, b.end)
