"""The mapc pipeline: the one place the stages are strung together. Every command and script goes through it.

    spec    = load("model.dsl")                       # text -> Spec: what runs (models, workload, parallel)
    problem = lower(spec, hw="mcm6x6")                # Spec + Hardware -> Problem (validated, guarded, priced)
    result  = solve(problem, SolveOptions(solver="greedy", time_limit=5))   # -> Result (checked, evaluated)
    write(result, "out/", formats=("json", "trace"))  # -> schedule.json, trace.json, ...

What the values are:

* A **spec** (`mapc.core.spec.Spec`) is what a source file says, resolved and in SI units: the models, the
  serving workload (phases, lengths, micro-batches, SLOs), the parallel directives and any hardware blocks.
  Nothing downstream reads text again.
* A **problem** (`mapc.compiler.problem.Problem`) is the workload lowered to its computation execution graph
  (tasks = layer segment x micro-batch x phase x decode step, edges carrying bytes) and priced on a hardware by
  the cost model (latency and energy of every task on every candidate placement), with the directives it was
  built under. `lower` is where validation, defaults, `auto` choices and every guard (task count, memory
  capacity, parallel degrees) happen, once: the same input gets the same verdict from every command.
* A **schedule** (`mapc.core.schedule.Schedule`) says where (a chiplet or a tensor-parallel group) and when
  every task runs and every transfer between chiplets. `solve` returns it inside a **result**
  (`mapc.compiler.result.Result`): the schedule checked by the independent checker, the solver's status,
  objective, proven bound and anytime curve, and the metrics (latency, energy, EDP, throughput, TTFT/TPOT,
  utilisation, lower bounds).

Errors are `mapc.core.errors.MapcError` subclasses with their exit codes: input 2, infeasible 3, no schedule
within the budget 4, a solver bug caught by the checker 70 (`InvalidScheduleError`, nothing is written).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from mapc.compiler.check import check as check_schedule
from mapc.compiler.check import report as check_report
from mapc.compiler.chakra import require_chakra
from mapc.compiler.emit import DEFAULT_FORMATS, FORMATS, parse_formats, write_outputs
from mapc.compiler.evaluate import Bound, Metrics, lower_bound
from mapc.compiler.slo import has_slo
from mapc.compiler.evaluate import evaluate as evaluate_metrics
from mapc.compiler.files import check_output_dir
from mapc.compiler.opcosts import OpCost, cost_document, operator_costs
from mapc.compiler.plots import GANTT_MAX_TASKS
from mapc.compiler.problem import PimDispatch, Problem, build_problem, lower_graph
from mapc.compiler.result import Result
from mapc.core.errors import InfeasibleError, InvalidScheduleError, MapcError, NoSolutionError
from mapc.core.graph import ExecutionGraph
from mapc.core.hardware import Hardware
from mapc.core.options import MAX_SEED, MAX_THREADS, OBJECTIVES, SolveOptions
from mapc.core.schedule import Schedule
from mapc.core.spec import Spec
from mapc.dsl import loads, resolve_hardware, validate
from mapc.dsl.parser import read_source
from mapc.solvers import registry

__all__ = ["load", "hardware", "lower", "lower_graph", "check", "solve", "evaluate", "verify", "write", "compile",
           "Spec", "Hardware", "Problem", "Result", "Metrics", "Bound", "Schedule", "SolveOptions", "CheckReport",
           "DEFAULT_FORMATS", "FORMATS", "solver_names", "default_out_dir", "costs", "cost_document", "OpCost"]

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


# ---- load ----------------------------------------------------------------------------------------------------
def load(source: str | os.PathLike) -> Spec:
    """A source file (a path) or source text (a string holding a newline) parsed and resolved to a `Spec`.

    Imports in text are relative to the working directory. A missing path, a folder, or bad text raise
    `MapcError` (exit 2) with file:line:col where there is one."""
    if isinstance(source, str) and "\n" in source:
        return loads(source, "<string>")
    path = os.fspath(source)
    if not str(path).strip():
        raise MapcError("no source file given (an empty path)",
                        hint="give the path of a mapc source file (e.g. examples/llama2_7b_chat.dsl)")
    p = Path(path)
    if not p.exists():
        raise MapcError(f"no such file: {path}", hint="give the path of a mapc source file (e.g. examples/*.dsl)")
    if not p.is_file():
        raise MapcError(f"not a file: {path}", hint="give the path of a mapc source file, not a directory")
    return loads(read_source(str(p)), str(p))


def hardware(arg: str | Hardware | None = None, spec: Spec | None = None) -> Hardware:
    """The hardware `arg` names (preset, file with a hardware block, block of `spec`), or the spec's own."""
    return resolve_hardware(arg, spec)


# ---- lower ---------------------------------------------------------------------------------------------------
def lower(spec: Spec, hw: str | Hardware | None = None, *, segment: int | None = None,
          group_sizes: tuple[int, ...] | None = None, progress: Progress = _quiet,
          pim: PimDispatch = "auto") -> Problem:
    """The spec validated against the hardware and lowered to a priced `Problem`.

    `hw`: a `Hardware`, a preset name, a hardware file, a block name of the spec, or None for the spec's own
    block. Validation (`mapc.dsl.validate`: parallel degrees against chiplets, heads and layers), the task-count
    guard, the memory check and the `auto` choices all happen here (`mapc.compiler.problem.build_problem`).
    `pim`: the cost model's PIM dispatch on hardware with PIM units (default "auto"; "off", "all", a set of
    kernel classes, or a callable task -> classes, e.g. `mapc serve`'s per-step policy)."""
    machine = resolve_hardware(hw, spec)
    validate(spec, machine)
    return build_problem(spec, machine, segment=segment, group_sizes=group_sizes, progress=progress, pim=pim)


@dataclass(frozen=True)
class CheckReport:
    """What `check` found: the models, the workload's graph size (None without a workload), the hardware
    (None when neither the file nor the caller names one; then the hardware checks were skipped)."""

    file: str
    models: tuple[str, ...]
    workload: str | None
    tasks: int | None
    edges: int | None
    total_flops: float | None
    hardware: Hardware | None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "models": list(self.models), "workload": self.workload, "tasks": self.tasks,
                "edges": self.edges, "total_flops": self.total_flops,
                "hardware": None if self.hardware is None else {"name": self.hardware.name,
                                                                "chiplets": self.hardware.n}}


def check(spec: Spec, hw: str | Hardware | None = None, *, segment: int | None = None) -> CheckReport:
    """Every check `lower` makes, without solving: with hardware (given, or the file's own block) the full
    `lower` (so `mapc check` and `mapc compile` agree on every input); without, the size guard and the lowering."""
    machine = None if hw is None and spec.hardware is None else resolve_hardware(hw, spec)
    graph: ExecutionGraph | None = None
    if machine is not None:
        validate(spec, machine)
        if spec.workload is not None:
            graph = build_problem(spec, machine, segment=segment).graph
    elif spec.workload is not None:
        graph = lower_graph(spec, segment=segment)
    return CheckReport(spec.file, tuple(sorted(spec.models)), spec.workload.name if spec.workload else None,
                       graph.n if graph else None, len(graph.edges) if graph else None,
                       float(graph.flops.sum()) if graph and graph.n else (0.0 if graph else None), machine)


def costs(spec: Spec, hw: str | Hardware | None = None, *, segment: int | None = None) -> list[OpCost]:
    """Every distinct operator of the spec's workload priced alone on one core of each chiplet type, operands in
    DRAM (`mapc cost`; `mapc.compiler.opcosts`). The spec goes through `lower` first (same checks); each core
    gets the DRAM bandwidth it streams at alone (its nearest channels and NoP route to itself; the best core of
    each type)."""
    problem = lower(spec, hw, segment=segment)
    bw: dict[str, float] = {}
    for c, b in zip(problem.hw.chiplets, problem.cost.chiplet_dram_bw):
        bw[c.type.name] = max(bw.get(c.type.name, 0.0), float(b))
    return operator_costs(problem.graph, problem.hw, bw)


# ---- solve ---------------------------------------------------------------------------------------------------
def solver_names() -> tuple[str, ...]:
    """The solvers `SolveOptions.solver` may name, in the order reports show them."""
    return tuple(registry.names())


def check_options(options: SolveOptions) -> None:
    """`MapcError` (exit 2) naming the first bad option: unknown solver or objective, a non-positive or
    non-finite time limit, threads outside 1..64, a seed outside 0..2^31-1."""
    registry.get(options.solver)
    if options.objective is not None and options.objective not in OBJECTIVES:
        raise MapcError(f"unknown objective {options.objective!r}", hint="use one of: " + ", ".join(OBJECTIVES))
    if not (isinstance(options.time_limit, (int, float)) and math.isfinite(options.time_limit)
            and options.time_limit > 0):
        raise MapcError(f"the time limit must be a finite number of seconds > 0, got {options.time_limit!r}")
    if not (isinstance(options.threads, int) and 1 <= options.threads <= MAX_THREADS):
        raise MapcError(f"threads must be between 1 and {MAX_THREADS}, got {options.threads!r}")
    if not (isinstance(options.seed, int) and 0 <= options.seed <= MAX_SEED):
        raise MapcError(f"the seed must be between 0 and {MAX_SEED}, got {options.seed!r}")


def verify(problem: Problem, schedule: Schedule) -> None:
    """`InvalidScheduleError` (exit 70) when the independent checker finds any violation."""
    v = check_schedule(schedule, problem.cost)
    if v:
        raise InvalidScheduleError(f"the solver's schedule fails the checker ({len(v)} violation(s)); "
                                   "nothing was written\n" + check_report(v),
                                   hint="this is a solver bug: please report it with the input file")


def evaluate(problem: Problem, schedule: Schedule) -> Metrics:
    """The metrics of a schedule of `problem` (latency, energy, EDP, serving metrics, SLOs, the hardware's bound
    and the bound under the directives)."""
    return evaluate_metrics(schedule, problem.cost, problem.graph)


def solve(problem: Problem, options: SolveOptions = SolveOptions(), *, progress: Progress = _quiet) -> Result:
    """Schedule `problem` with `options.solver`, check the schedule and evaluate it.

    Under `pd auto` (the problem has alternatives) every candidate gets an equal share of the time limit and
    the best objective is kept; the others are listed in `Result.notes`. No schedule raises `InfeasibleError`
    (proven) or `NoSolutionError` (none found within the budget)."""
    check_options(options)
    options = resolve_objective(problem, options)
    cands = problem.candidates
    sub = replace(options, time_limit=options.time_limit / len(cands)) if len(cands) > 1 else options
    best: Result | None = None
    notes: list[str] = []
    timings = {"solve": 0.0, "check": 0.0, "evaluate": 0.0}
    for cand in cands:
        r = _solve_one(cand, sub, progress, timings)
        if cand.label:
            att = r.metrics.slo_attainment
            notes.append(f"pd auto: {cand.label}: " + (f"SLO attainment {att:.1%}, energy {r.metrics.energy:.4g} J"
                                                       if options.goal == "slo" and att is not None else
                                                       f"{options.goal} {r.solution.objective:.4g}"))
        if best is None or (r.solution.objective or math.inf) < (best.solution.objective or math.inf):
            best = r
    assert best is not None
    if len(cands) > 1:
        notes.append(f"pd auto chose {best.problem.label}")
    served = problem.spec.models.values() if problem.spec is not None else ()
    notes = [n for m in served for n in getattr(m, "notes", ())] + list(problem.hw.notes) + list(problem.notes) \
        + notes  # importers, left-out pd candidates
    return replace(best, options=options, notes=tuple(notes), timings=timings)


def resolve_objective(problem: Problem, options: SolveOptions) -> SolveOptions:
    """The objective made explicit: `slo` by default when the workload sets SLO targets, else `edp`; `slo`
    asked for on a workload without targets is refused (exit 2)."""
    if options.objective is None:
        return replace(options, objective="slo" if has_slo(problem.graph) else "edp")
    if options.objective == "slo" and not has_slo(problem.graph):
        raise MapcError("--objective slo needs SLO targets, and the workload sets none",
                        hint="add `slo ttft 200 ms tpot 50 ms` to the workload, or choose latency, energy or edp")
    return options


def _solve_one(problem: Problem, options: SolveOptions, progress: Progress, timings: dict[str, float]) -> Result:
    progress(f"solving with {options.solver} ({options.time_limit:g} s budget)")
    t = time.perf_counter()
    res = registry.run(problem, options)
    timings["solve"] += time.perf_counter() - t
    if res.schedule is None:
        if res.status == "infeasible":
            raise InfeasibleError(f"{options.solver}: no schedule exists" + (f": {res.message}" if res.message else ""))
        raise NoSolutionError(f"{options.solver} found no schedule within {options.time_limit:g} s"
                              + (f": {res.message}" if res.message else ""),
                              hint="raise --time-limit or try --solver greedy")
    progress("checking the schedule")
    t = time.perf_counter()
    verify(problem, res.schedule)
    timings["check"] += time.perf_counter() - t
    t = time.perf_counter()
    metrics = evaluate(problem, res.schedule)
    timings["evaluate"] += time.perf_counter() - t
    return Result(problem=problem, solution=res, metrics=metrics, options=options)


# ---- write ---------------------------------------------------------------------------------------------------
def default_out_dir(source: str | os.PathLike) -> Path:
    """`<input stem>.schedule` in the current directory (the input's folder may be read-only, e.g. examples
    shipped with an installed package); `model.dsl` -> `./model.schedule/`."""
    return Path.cwd() / f"{Path(source).stem or 'mapc'}.schedule"


def write(result: Result, folder: str | os.PathLike, formats: str | tuple[str, ...] = DEFAULT_FORMATS, *,
          gantt_max_tasks: int = GANTT_MAX_TASKS) -> Result:
    """Write `formats` (json, trace, csv, png, chakra; `FORMATS`) into `folder` atomically: all files or none. Returns
    the result with `out_dir`, `files` and any notes (e.g. a Gantt chart skipped on a huge schedule) set."""
    t = time.perf_counter()
    files, notes = write_outputs(folder, result, parse_formats(formats), gantt_max_tasks=gantt_max_tasks)
    timings = dict(result.timings, write=time.perf_counter() - t)
    return replace(result, out_dir=str(folder), files=tuple(dict.fromkeys(files)),
                   notes=result.notes + tuple(notes), timings=timings)


def compile(source: str | os.PathLike, hw: str | Hardware | None = None, options: SolveOptions = SolveOptions(),
            out: str | os.PathLike | None = None, *, formats: str | tuple[str, ...] = DEFAULT_FORMATS,
            segment: int | None = None, progress: Progress = _quiet) -> Result:
    """`load`, `lower`, `solve` and (unless `out` is None) `write`, timing each stage. The output folder is
    checked before the solve, so a bad one costs nothing."""
    t0 = time.perf_counter()
    if out is not None:
        check_output_dir(out)
        if "chakra" in parse_formats(formats):
            require_chakra()          # before the solve: a missing optional package costs nothing
    check_options(options)
    progress(f"reading {source}")
    spec = load(source)
    t_load = time.perf_counter() - t0
    t = time.perf_counter()
    problem = lower(spec, hw, segment=segment, progress=progress)
    t_lower = time.perf_counter() - t
    result = solve(problem, options, progress=progress)
    result = replace(result, timings={"load": t_load, "lower_and_cost": t_lower, **result.timings})
    if out is not None:
        progress(f"writing {out}")
        result = write(result, out, formats)
    return replace(result, timings=dict(result.timings, total=time.perf_counter() - t0))
