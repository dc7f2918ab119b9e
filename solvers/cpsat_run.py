"""Running CP-SAT calls for `cpsat` and its decomposition: limits, seeds, hints, the anytime trace.

`Driver` owns the budget of one `cpsat` solve: every CP-SAT call it runs gets threads, seed and time limits
from the `SolveOptions` (deterministic time in the default mode, wall time with `wall_clock`), and every
schedule found (heuristic or CP-SAT) is kept with the anytime trace of the best objective.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from mapc.compiler.problem import Problem
from mapc.core.options import SolveOptions
from mapc.hw.cost import CostModel
from mapc.solvers.base import Named, SolverStats
from mapc.solvers.cpsat_model import Built
from mapc.solvers.listsched import objective_of


@dataclass(frozen=True)
class CpsatStats(SolverStats):
    """What one `cpsat` solve did. `strategy`: "at-bound" (a heuristic met the lower bound), "whole" (one
    CP-SAT model) or "decompose" (chain LNS); the fields of the other strategies keep their defaults."""

    strategy: str = ""
    variables: int = 0                    # of the (largest) CP-SAT model
    constraints: int = 0
    hints: tuple[str, ...] = ()           # heuristic schedules the search started from
    pareto: tuple[tuple[float, float], ...] = ()   # (makespan s, energy J) front of every schedule found
    chosen: str = ""                      # where the returned schedule came from
    calls: tuple[dict[str, Any], ...] = ()  # per CP-SAT call: kind, status, wall/deterministic seconds
    solutions: int = 0
    deterministic: bool = True            # reproducible: default mode and the wall safety cap never bound
    bound_tightest: str = ""              # which proven lower bound was the largest (`compiler/bounds.py`)
    # whole model
    booleans: int = 0
    candidates: int = 0                   # option literals after pruning
    pruned_options: int = 0
    cut_options: int = 0
    exact_options: bool = True            # only provably safe pruning: CP-SAT's bound holds for the full problem
    tick_s: float = 0.0
    energy_unit_j: float = 0.0
    build_s: float = 0.0
    bound_makespan_s: float = 0.0
    bound_energy_j: float = 0.0
    intervals: int = 0
    tasks_free: int = 0
    hop_vars: int = 0
    sram_keys: int = 0
    chain_symmetry: int = 0
    symmetry: tuple[str, ...] = ()
    # decomposition
    neighbourhoods: int = 0
    passes: int = 0
    windows: int = 0                      # CP-SAT calls on neighbourhoods
    accepted: int = 0                     # improvements kept
    accepted_by_family: dict[str, int] | None = None   # improvements per neighbourhood family
    restarts: int = 0
    window_statuses: dict[str, int] | None = None
    window_model_max: tuple[int, int] | None = None
    start: str = ""
    lns_workers: int = 0                  # LNS windows solved concurrently (one CP-SAT worker each)
    lns_det_s: float = 0.0                # deterministic seconds of all LNS window calls, summed over workers
    # steady-state model (`cpsat_steady`), per repeated group and replica count: chains, stages, replicas,
    # period_bound_s (proven for that pinned class), period_status, period_alone_s, period_s, chain_s
    steady_state: tuple[dict[str, Any], ...] = ()

TickSolution = tuple[np.ndarray, np.ndarray]   # (chosen option per task, start ticks)

WALL_CAP = 1.0     # x options.time_limit: the wall cap of every CP-SAT call with `--wall-clock`
DET_WALL_CAP = 3.0  # x options.time_limit (+ DET_WALL_SLACK s): the wall safety cap of a deterministic run. The
                    # budget is spent in deterministic time (DET_PER_S per budget second) and counted passes, so
                    # the same input, seed and budget give the same schedule whatever the machine's load; only a
                    # machine 3x slower than DET_PER_S and DET_PER_S_LNS assume hits this cap, and then the run says so
                    # (`CpsatStats.deterministic` False, a note in the message) instead of running unbounded.
                    # (At 5x, a wsc8x8 spec_decode_sweep whole model whose deterministic clock crawls after
                    # ~1 det s ran 302 s on a 60 s budget: 3x bounds such a run at 182 s.)
DET_WALL_SLACK = 2.0
HINT_S_PER_OPTION = 2e-5   # budget seconds charged per (task x placement) for the heuristic hints in
                           # deterministic mode (measured: greedy, baseline and the per-size HEFT runs on
                           # 384 tasks x 68 placements 0.54 s, on 256 x 68 0.31 s)
DET_PER_S = 0.05   # deterministic seconds per budget second of a whole-model call (single worker). Measured on
                   # the 2-core machine: one CP-SAT worker advances 0.05-0.12 deterministic s per wall s on whole
                   # models, so those runs use ~50-90 % of the budget
DET_PER_S_LNS = 0.015  # the same for LNS windows (`run_batch`): small models with hundreds of FIXED intervals on
                   # every chiplet's no-overlap and DRAM cumulative, where CP-SAT's disjunctive propagators (edge
                   # finding, ~30 % of the samples under `perf`) run far more than its deterministic clock counts.
                   # Measured (`bench/det_rate.py`, 2 windows side by side on the idle 2-core machine): 0.005-0.11
                   # det s per wall s per window; summed over a run 0.009-0.019 on llama2_7b_chat and hf_model
                   # (mcm6x6), 0.02-0.05 on decode_pim (wsc8x8), 0.01-0.2 on long_prompt_prefill. 60 s budgets:
                   # at 0.05 the two mcm6x6 runs hit the wall cap and lost determinism; at 0.01 every bench run
                   # stays deterministic but wsc8x8 decode_pim's windows find nothing (0.03259 s in 31 s); at 0.015
                   # it gets 0.03247 s in 41 s, hf_model (mcm6x6, the slowest clock) takes 122 s, under the cap



def point(cost: CostModel, pi: np.ndarray, res: np.ndarray, st: np.ndarray) -> tuple[float, float]:
    """(makespan, energy) of a schedule given by its decision arrays."""
    return (objective_of(cost, pi, res, st, "latency"), objective_of(cost, pi, res, st, "energy"))


class _Trace(cp_model.CpSolverSolutionCallback):
    def __init__(self, t0: float, scale: float, sink: list[tuple[float, float]]) -> None:
        super().__init__()
        self.t0, self.scale, self.sink = t0, scale, sink

    def on_solution_callback(self) -> None:
        self.sink.append((time.perf_counter() - self.t0, float(self.objective_value) * self.scale))


class Driver:
    """Runs CP-SAT calls on one built model, keeps every schedule found, and the anytime trace."""

    def __init__(self, problem: Problem, options: SolveOptions, t0: float) -> None:
        self.p, self.b, self.t0 = problem, options, t0
        tl = float(options.time_limit)
        # wall safety cap over every call: the budget itself with --wall-clock, far beyond it when deterministic
        self.deadline = t0 + (DET_WALL_CAP * tl + DET_WALL_SLACK if options.deterministic else WALL_CAP * tl)
        self.cut = False              # the wall safety cap stopped something (deterministic mode: not reproducible)
        self.cost = problem.cost
        self.found: list[Named] = []
        self.hints = 0                # found[:hints] are the heuristics' plans (CP-SAT's warm start)
        self.trace: list[tuple[float, float]] = []
        self.calls: list[dict[str, Any]] = []
        self.best_val = math.inf
        # LNS windows solved concurrently: `threads` single-worker calls in deterministic mode; with
        # `wall_clock` one call at a time with `threads` CP-SAT workers (its own portfolio uses them)
        self.lns_workers = max(1, int(options.threads)) if options.deterministic else 1
        self.pool: ThreadPoolExecutor | None = None
        self.det_s = 0.0               # deterministic seconds of every LNS window call (all workers)

    def add(self, name: str, pi: np.ndarray, res: np.ndarray, st: np.ndarray) -> None:
        """Keep a schedule found; the anytime trace gets (seconds since the start, objective) only when it beats
        every schedule found before (best so far: monotone non-increasing, also across LNS restarts)."""
        self.found.append((name, pi, res, st))
        v = objective_of(self.cost, pi, res, st, self.b.goal)
        if v < self.best_val:
            self.best_val = v
            self.trace.append((time.perf_counter() - self.t0, float(v)))

    def past_deadline(self) -> bool:
        """The wall safety cap is (nearly) reached; in deterministic mode that loss of determinism is recorded."""
        late = time.perf_counter() >= self.deadline - 0.05
        if late and self.b.deterministic:
            self.cut = True
        return late

    def cut_note(self) -> str:
        """The message suffix saying the wall safety cap bound (empty when it did not)."""
        return ("; the wall safety cap stopped the search before its deterministic budget (machine too slow or "
                "loaded): this result may not be reproducible") if self.b.deterministic and self.cut else ""

    @property
    def deterministic(self) -> bool:
        """The run was deterministic (default mode) and no call or loop was stopped by the wall safety cap."""
        return self.b.deterministic and not self.cut

    def configure(self, solver: cp_model.CpSolver, limit: float, probing: int = 2, rate: float = DET_PER_S
                  ) -> None:
        """Threads, seed, probing and the time limits of one CP-SAT call of `limit` budget seconds (`rate`
        deterministic seconds per budget second in deterministic mode)."""
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
            prm.max_deterministic_time = limit * rate
            prm.max_time_in_seconds = wall_left
        else:
            prm.max_time_in_seconds = min(limit, wall_left)

    def record(self, solver: cp_model.CpSolver, status: Any, kind: str, cap: int | None,
               sink: list[tuple[float, float]]) -> tuple[str, float]:
        """Log one finished call (`status` = what `solve` returned) in `calls`; returns (status name,
        budget seconds it used)."""
        resp = solver.response_proto
        name = solver.status_name(status)
        self.calls.append({"kind": kind, "cap_ticks": cap, "status": name, "wall_s": round(resp.wall_time, 3),
                           "deterministic_s": round(resp.deterministic_time, 3), "solutions": len(sink)})
        used = resp.deterministic_time / DET_PER_S if self.b.deterministic else resp.wall_time
        if (self.b.deterministic and name not in ("OPTIMAL", "INFEASIBLE")
                and resp.deterministic_time < solver.parameters.max_deterministic_time * 0.99
                and resp.wall_time >= solver.parameters.max_time_in_seconds * 0.99):
            self.cut = True           # stopped by the wall cap before its deterministic limit
        return name, used

    def _prepare(self, bm: Built, kind: str, hint: TickSolution | None, cap: int | None, objective: Any) -> None:
        """Objective, makespan cap and hint of one call set on `bm.model`."""
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

    def _collect(self, bm: Built, solver: cp_model.CpSolver, st: Any, kind: str, cap: int | None,
                 sink: list[tuple[float, float]]) -> tuple[str, TickSolution | None, float | None, float]:
        """Record a finished call and read its solution back as (option indices, start ticks)."""
        name, _ = self.record(solver, st, kind, cap, sink)
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

    def run(self, bm: Built, kind: str, limit: float, hint: TickSolution | None, cap: int | None = None,
            objective: Any = None, probing: int = 2) -> tuple[str, TickSolution | None, float | None, float]:
        """One CP-SAT call minimising `kind` ('latency' | 'energy' | 'compact' | 'expr' = `objective`),
        optionally with makespan <= cap ticks. `limit` is budget seconds: the deterministic limit is
        DET_PER_S x limit (deterministic mode), the wall limit what is left before the safety deadline.
        `hint` = (option indices, start ticks). Returns (status name, solution or None, bound, det time)."""
        self._prepare(bm, kind, hint, cap, objective)
        solver = cp_model.CpSolver()
        self.configure(solver, limit, probing)
        scale = bm.eunit if kind == "energy" else bm.tick
        cb = _Trace(self.t0, scale, [])
        st = solver.solve(bm.model, cb)
        return self._collect(bm, solver, st, kind, cap, cb.sink)

    def run_batch(self, jobs: list[tuple[Built, TickSolution | None, Any]], limit: float, probing: int = 0
                  ) -> list[tuple[str, TickSolution | None, float | None, float]]:
        """Several independent CP-SAT calls (model, hint, objective expression) of `limit` budget seconds each,
        solved concurrently on `lns_workers` threads (CP-SAT releases the GIL while it searches). Each call is
        single-worker with its own deterministic limit (`DET_PER_S_LNS` x `limit`), so its answer does not
        depend on the others or on which finishes first; the calls are recorded and returned in `jobs` order."""
        solvers = []
        for bm, hint, expr in jobs:
            self._prepare(bm, "expr", hint, None, expr)
            solver = cp_model.CpSolver()
            self.configure(solver, limit, probing, DET_PER_S_LNS)
            solvers.append(solver)
        if len(jobs) == 1:
            sts = [solvers[0].solve(jobs[0][0].model)]
        else:
            if self.pool is None:
                self.pool = ThreadPoolExecutor(max_workers=self.lns_workers)
            futs = [self.pool.submit(sv.solve, bm.model) for sv, (bm, _, _) in zip(solvers, jobs)]
            sts = [f.result() for f in futs]
        out = [self._collect(bm, sv, st, "expr", None, []) for sv, st, (bm, _, _) in zip(solvers, sts, jobs)]
        self.det_s += sum(o[3] for o in out)
        return out

    def close(self) -> None:
        """Stop the window thread pool (if one was started)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None
