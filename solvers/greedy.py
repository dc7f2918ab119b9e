"""`greedy`: HEFT-style list scheduling with transfer costs and SRAM-aware residency.

Tasks are taken in upward-rank order among ready ones (classic HEFT, mean latency over placements). Each
is put on the placement (any of `cost.placements`, single chiplets or tensor-parallel groups) with the
earliest finish time, given when its inputs arrive there (producer end + transfer between lead chiplets),
when all the placement's chiplets are free, and whether its weights can be resident there (same weight key
already held, or room left in every member's SRAM; SRAM use is tracked as tasks are placed). Ties within
1e-9 relative go to the lower task energy. The EFT of all placements is one vectorised NumPy pass per task;
DRAM channels are shared resources (`mapc.solvers.channels`): the `CHANNEL_CANDIDATES` placements with the best
EFT are then priced for real (their start delayed until their channels have room for the task's draws) and the
best real finish wins, so a chain lands on a placement whose channels are free.
Because micro-batches are separate tasks, they spread over chiplets and pipeline.

HEFT's per-task choice is myopic about tensor-parallel groups (a group finishes one task sooner but blocks
all its members), so it runs twice: over all placements and over single chiplets only. Each run's
placements are decoded three ways: the greedy's own times, a re-run of `list_schedule` with gap insertion,
and `choose_residency` + `list_schedule`.

EDP-aware sweep (objective edp or energy): HEFT minimises time only, and most of its EDP headroom is energy
(cheaper placements exist but are a little slower). So, on the better placement set, HEFT is re-run with each
task taking the placement that minimises `energy + w * finish time` for w = lam * E / T (E, T of the best HEFT
schedule; lam = 1 values a finish-time delay as a makespan delay, smaller lam spends slack on energy), for up
to five lam in `GreedyOptions.lambdas` (fewer on large graphs, `sweep_size`), each decoded the three ways. The best of all
candidates by `options.goal` is kept; `candidates(problem, options)` returns them all (GA and SCAR seed from it).
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mapc.compiler.schedule import materialize
from mapc.core.errors import InfeasibleError
from mapc.compiler.objective import score
from mapc.compiler.problem import Problem
from mapc.core.options import Objective, SolveOptions
from mapc.hw.cost import CostModel
from mapc.hw.dram_resources import AMOUNTS, dram_resources
from mapc.solvers.base import Decisions, SolveResult, SolverStats
from mapc.solvers.channels import ChannelTimeline
from mapc.solvers.listsched import (_in_edges, choose_residency, list_schedule, makespan_of, objective_of,
                                   upward_rank)
from mapc.solvers.stretch import finish

REL_TIE = 1e-9
CHANNEL_CANDIDATES = 8   # placements (best by floor finish time) whose channel-aware finish HEFT computes per task
Candidate = tuple[str, np.ndarray, np.ndarray, np.ndarray, float]   # (label, placement, resident, start, objective)



@dataclass(frozen=True)
class GreedyStats(SolverStats):
    decoding: str = ""            # which candidate won (e.g. "heft+residency", "heft-energy(lam=0.1)")
    placements: int = 0           # candidate placements offered by the cost model
    candidates: int = 0           # schedules built and compared
    resident_tasks: int = 0
    stretched_tasks: int = 0      # tasks the final re-timing streams below their peak DRAM rate (solvers.stretch)


def member_index(cost: CostModel) -> np.ndarray:
    """[P, kmax] chiplet ids of each placement, padded with its lead (so max/all over a row is exact)."""
    kmax = int(cost.group_size.max())
    out = np.empty((len(cost.placements), kmax), dtype=np.int64)
    for p, mem in enumerate(cost.placements):
        out[p] = list(mem) + [mem[0]] * (kmax - len(mem))
    return out


def heft(cost: CostModel, priority: npt.ArrayLike | None = None, energy_tiebreak: bool = True,
         allowed: np.ndarray | None = None, energy_weight: float | None = None) -> Decisions:
    """Place and time every task by earliest finish time over the placements where `allowed` ([P] bool,
    default all) is true. Returns (placement_index, resident, start).

    With `energy_weight` w (J/s), each task instead takes the placement minimising `energy + w * finish`, where
    energy is the task's dynamic energy there (resident if its weights can stay, else streamed) plus the NoP
    energy of its inputs' transfers: a finish-time / energy trade-off (w -> inf is HEFT)."""
    g = cost.graph
    n, P = g.n, len(cost.placements)
    prio = upward_rank(cost) if priority is None else np.asarray(priority, dtype=np.float64)
    midx = member_index(cost)
    lead = cost.lead
    hops = cost.hw.hops[:, lead]                       # [C, P] hops from a chiplet to each placement's lead
    nop = cost.hw.nop
    hop_t = hops * nop.hop_latency
    cap = cost.weight_capacity * (1 + 1e-12)
    C = cost.members.shape[1]
    held = np.zeros((C, len(g.weight_keys)))
    used = np.zeros(C)
    free = np.zeros(C)
    lr, ls, er, es = cost.lat_resident, cost.lat_stream, cost.energy_resident, cost.energy_stream
    chans = ChannelTimeline.of(cost)
    rs = dram_resources(cost)                              # channels, the NoP links on the DRAM routes, PIM
    has_dram = rs.frac.shape[1] > 0
    kind = rs.kind.tolist()
    nzf = [[(h, f, kind[h]) for h, f in enumerate(row) if f > 0] for row in rs.frac.tolist()]
    amt = [(cost.table(AMOUNTS[k], True), cost.table(AMOUNTS[k], False)) if k in kind else (lr, ls)
           for k in range(len(AMOUNTS))]                   # [n, P] DRAM bytes, PIM bytes, PIM FLOPs
    wshare, wkey = cost.weight_share, g.weight_index
    in_edges = _in_edges(g)
    src, ebytes = g.edge_src, g.edge_bytes
    bit_e = 8 * nop.energy_per_bit
    pi = np.zeros(n, dtype=np.int64)
    res = np.zeros(n, dtype=bool)
    start = np.zeros(n)
    end = np.zeros(n)
    indeg = [len(x) for x in in_edges]
    heap = [(-prio[i], i) for i in range(n) if indeg[i] == 0]
    heapq.heapify(heap)
    while heap:
        _, i = heapq.heappop(heap)
        arrive = np.zeros(P)
        e_in = 0.0
        for k in in_edges[i]:
            s = src[k]
            h = hops[lead[pi[s]]]
            arrive = np.maximum(arrive, end[s] + np.where(h > 0, hop_t[lead[pi[s]]] + ebytes[k] / nop.link_bw, 0.0))
            if energy_weight is not None:
                e_in = e_in + ebytes[k] * bit_e * h
        avail = free[midx].max(axis=1)
        t0 = np.maximum(arrive, avail)
        key = wkey[i]
        sh = wshare[i][:, None]
        hk = held[midx, key]
        fits = ((hk >= sh * (1 - 1e-12)) | (used[midx] - hk + sh <= cap[midx])).all(axis=1)
        can_res = fits & np.isfinite(lr[i])
        dur = np.where(can_res, lr[i], ls[i])
        eft = t0 + dur
        if allowed is not None:
            eft = np.where(allowed, eft, np.inf)
        best = int(np.argmin(eft))
        if not np.isfinite(eft[best]):
            t = g.tasks[i]
            raise InfeasibleError(
                f"task {t.name} (id {i}) fits no placement: its weights ({t.weight_bytes:.4g} B) cannot be "
                f"streamed and no chiplet group has room left to keep them resident "
                f"(weight capacity per chiplet {cost.weight_capacity.max():.4g} B)",
                hint="use larger tensor-parallel groups, chiplets with more SRAM, or allow streaming from DRAM")
        en = np.where(can_res, er[i], es[i]) + e_in
        if has_dram:        # the channels' free bandwidth may delay a placement: price the best few for real
            sc0 = np.where(np.isfinite(eft), en + energy_weight * eft, np.inf) if energy_weight is not None else eft
            cand = np.argsort(sc0, kind="stable")[:CHANNEL_CANDIDATES]
            cand = cand[np.isfinite(sc0[cand])]
            db = [np.where(can_res, r_[i], s_[i]) for r_, s_ in amt]
            draws = {int(p): [(h, float(db[k][p] * f / dur[p])) for h, f, k in nzf[p] if db[k][p] > 0 and dur[p] > 0]
                     for p in cand}                                  # (resource, rate) of each candidate
            t0 = t0.copy()
            eft = np.full(P, np.inf)
            top = np.inf          # best real score so far: a real score is never below the floor one (sc0)
            for p in cand:
                if sc0[p] > top * (1 + REL_TIE):
                    break
                t0[p] = chans.earliest(float(t0[p]), float(dur[p]), draws[int(p)])
                eft[p] = t0[p] + dur[p]
                top = min(top, float(eft[p] if energy_weight is None else en[p] + energy_weight * eft[p]))
            best = int(np.argmin(eft))
        if energy_weight is not None:
            sc = np.where(np.isfinite(eft), en + energy_weight * eft, np.inf)
            best = int(np.argmin(sc))
        elif energy_tiebreak:
            near = np.nonzero(eft <= eft[best] * (1 + REL_TIE))[0]
            if near.size > 1:
                best = int(near[np.argmin(en[near])])
        pi[i] = best
        res[i] = bool(can_res[best])
        start[i] = t0[best]
        end[i] = eft[best]
        if has_dram:
            chans.book(start[i], float(dur[best]), draws[best])
        mem = list(cost.placements[best])
        free[mem] = end[i]
        if res[i]:
            s = wshare[i, best]
            grow = np.maximum(0.0, s - held[mem, key])
            used[mem] += grow
            held[mem, key] = np.maximum(held[mem, key], s)
        for j in g.succs[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                heapq.heappush(heap, (-prio[j], j))
    return pi, res, start


def _decodings(cost: CostModel, obj: Objective, label: str, pi: np.ndarray, res: np.ndarray, st: np.ndarray
               ) -> list[Candidate]:
    """The three decodings of one HEFT placement: (label, pi, resident, start, objective) each."""
    out = [(label, res, st)]
    out.append((label + "+insertion", res, list_schedule(cost, pi, res, upward_rank(cost, pi, res))))
    res2 = choose_residency(cost, pi)
    out.append((label + "+residency", res2, list_schedule(cost, pi, res2, upward_rank(cost, pi, res2))))
    return [(name, pi, r, s, objective_of(cost, pi, r, s, obj)) for name, r, s in out]


def sweep_size(n: int, options: SolveOptions = SolveOptions()) -> int:
    """How many energy weights of `options.greedy.lambdas` the sweep runs on n tasks (each is one more HEFT
    pass, so the sweep places at most about `options.greedy.sweep_tasks` tasks)."""
    g = options.greedy
    return int(min(len(g.lambdas), max(1, g.sweep_tasks // max(n, 1))))


def slo_priorities(cost: CostModel, rank: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """HEFT priorities that aim at TTFT targets: every prefill task ahead of the rest ("prefill-first"), and
    prefill micro-batches in order of their work, shortest first ("shortest-prefill-first": with one deadline
    for all, finishing the short ones first meets the most). Upward rank breaks ties inside each class."""
    g = cost.graph
    if cost.graph.meta.get("ttft_slo") is None or not any(t.phase == "prefill" for t in g.tasks):
        return []
    big = float(rank.max()) + 1.0 if rank.size else 1.0
    pre = np.array([t.phase == "prefill" for t in g.tasks])
    work: dict[tuple[str, int], float] = {}
    fast = cost.min_latency
    for t in g.tasks:
        if t.phase == "prefill":
            work[(t.model, t.microbatch)] = work.get((t.model, t.microbatch), 0.0) + float(fast[t.id])
    order = {k: i for i, k in enumerate(sorted(work, key=lambda k: (work[k], k)))}
    R = max(len(order), 1)
    sjf = np.array([(R - order[(t.model, t.microbatch)]) if t.phase == "prefill" else 0 for t in g.tasks],
                   dtype=np.float64)
    return [("prefill-first heft", rank + big * pre), ("shortest-prefill-first heft", rank + big * sjf)]


def candidates(problem: Problem, options: SolveOptions = SolveOptions()) -> list[Candidate]:
    """Every schedule the greedy builds, best first: (label, placement_index, resident, start, objective).

    1. HEFT (earliest finish time) over all placements and over single chiplets only, each decoded three ways.
    2. For the EDP or energy objective, an energy-aware sweep on the better of the two placement sets: HEFT
       with each task minimising `energy + w * finish` for w = lam * E / T, E and T the energy and makespan of
       the best HEFT schedule (lam = 1 prices a finish-time delay as if it delayed the makespan; smaller lam
       trades time for energy on tasks with slack). `sweep_size(n)` weights of `options.greedy.lambdas`, so the cost stays
       linear in the graph size.
    """
    cost, obj = problem.cost, options.goal
    rank = upward_rank(cost)
    masks: list[tuple[str, np.ndarray | None]] = [("", None)]
    single = cost.group_size == 1
    usable = np.isfinite(np.minimum(cost.lat_resident, cost.lat_stream))    # what the directives leave each task
    if single.any() and not single.all() and bool(usable[:, single].any(axis=1).all()):
        masks.append(("single-chiplet ", single))
    out: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, float, np.ndarray | None]] = []   # + the mask
    for label, allowed in masks:
        pi, res, st = heft(cost, rank, allowed=allowed)
        out += [c + (allowed,) for c in _decodings(cost, obj, label + "heft", pi, res, st)]
    if obj == "slo":
        for label, prio in slo_priorities(cost, rank):
            pi, res, st = heft(cost, prio)
            out += [c + (None,) for c in _decodings(cost, obj, label, pi, res, st)]
    out.sort(key=lambda c: c[4])
    if obj != "latency":
        _, pi, res, st, _, allowed = out[0]
        T = makespan_of(cost, pi, res, st)
        E = objective_of(cost, pi, res, st, "energy")
        label = "single-chiplet " if allowed is not None else ""
        lams = options.greedy.lambdas
        for lam in lams[:sweep_size(cost.graph.n, options)]:
            if T <= 0:
                break
            p2, r2, s2 = heft(cost, rank, allowed=allowed, energy_weight=lam * E / T)
            out += [c + (allowed,) for c in _decodings(cost, obj, f"{label}heft-energy(lam={lam:g})", p2, r2, s2)]
        out.sort(key=lambda c: c[4])
    return [c[:5] for c in out]


def solve(problem: Problem, options: SolveOptions = SolveOptions()) -> SolveResult:
    t_begin = time.perf_counter()
    cost, obj = problem.cost, options.goal
    if problem.graph.n == 0:
        sched = materialize(cost, [], [], [])
        return SolveResult(sched, "heuristic", 0.0, solver="greedy", message="empty graph")
    cands = candidates(problem, options)
    name, pi, r, s, v = cands[0]
    trace = [(time.perf_counter() - t_begin, float(v))]
    sched, k = finish(cost, pi, r, s, obj)
    name += "+stretch" if k else ""
    return SolveResult(sched, "heuristic", score(sched, cost, obj), trace=tuple(trace),
                       stats=GreedyStats(name, len(cost.placements), len(cands), int(np.sum(r)), k),
                       message=f"HEFT list schedule ({name})", solver="greedy",
                       wall_time=time.perf_counter() - t_begin)
