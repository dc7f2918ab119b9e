"""The compile pipeline as pure functions: source file -> Spec -> Hardware -> Problem -> SolveResult -> outputs.

`compile_file` is what `mapc compile` runs. Each step is its own function so that tests, benchmarks and other
commands (`mapc check`, `mapc compare`) can stop or start anywhere:

    spec = load_spec(path)                      # parse + resolve (mapc.dsl)
    hw = hardware_for(spec, arg)                # preset name | file with a hardware block | the spec's own block,
                                                # validated with the spec (load_inputs does both steps)
    problem = build_problem(spec, hw, objective="edp")   # lower + price
    result = solve(problem, "greedy", Budget(...))       # any registered solver, then `check`ed and evaluated

Every user mistake raises a `mapc.core.errors.MapcError` subclass; a schedule that fails the independent checker
raises `InvalidScheduleError` (exit 70: that is a solver bug, not a user error) and is never written.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from mapc.core.errors import HardwareError, InfeasibleError, MapcError, NoSolutionError
from mapc.solvers.base import Budget, Objective, Problem, SolveResult

OBJECTIVES = ("latency", "energy", "edp")
DEFAULT_SOLVER = "greedy"          # the coordinator switches this to cpsat once it lands


class InvalidScheduleError(MapcError):
    """A solver returned a schedule that the independent checker rejects (a bug; nothing is written)."""

    exit_code = 70


@dataclass(frozen=True)
class CompileResult:
    """Everything one compile produced; `write_outputs` turns it into files.

    `input_path`/`input_sha256` identify the source; `spec` may be None when the problem was built by hand
    (tests, benchmarks). `timings` holds wall seconds per stage (load, lower, cost, solve, check, evaluate).
    """

    input_path: str
    input_sha256: str
    hw: object                       # mapc.core.hardware.Hardware
    problem: Problem
    result: SolveResult
    metrics: object                  # mapc.compiler.evaluate.Metrics
    budget: Budget
    spec: object | None = None       # mapc.core.spec.Spec
    timings: dict = field(default_factory=dict)
    out_dir: str | None = None       # where the files went (set by compile_file after writing)
    files: tuple[str, ...] = ()      # paths written
    notes: tuple[str, ...] = ()      # e.g. "gantt.png skipped: 30000 tasks"

    @property
    def graph(self):
        return self.problem.graph

    @property
    def cost(self):
        return self.problem.cost


Progress = Callable[[str], None]


def _noop(_: str) -> None:
    return None


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _require_file(path: str | os.PathLike) -> Path:
    if str(path).strip() == "":
        raise MapcError("no source file given (an empty path)",
                        hint="give the path of a mapc source file (e.g. examples/llama2_7b_chat.dsl)")
    p = Path(path)
    if not p.exists():
        raise MapcError(f"no such file: {path}", hint="give the path of a mapc source file (e.g. examples/*.dsl)")
    if not p.is_file():
        raise MapcError(f"not a file: {path}", hint="give the path of a mapc source file, not a directory")
    return p


def load_spec(path: str | os.PathLike):
    """Parse and resolve a source file (any name or extension) into a `Spec`."""
    p = _require_file(path)
    from mapc.dsl import load
    return load(str(p))


def resolve_hardware(arg: str | None, spec=None):
    """The hardware to compile for.

    `arg` is a preset name (`mcm6x6`), a path to a file holding a hardware block, or the name of a hardware
    block of `spec`; None means the spec's own hardware block. Anything else raises `HardwareError` with a
    hint listing the presets.
    """
    from mapc.hw import presets

    known = ", ".join(presets.PRESETS)
    if arg is None:
        hw = getattr(spec, "hardware", None) if spec is not None else None
        if hw is None:
            raise HardwareError("no hardware given: the file has no hardware block and no --hw was passed",
                                hint=f"pass --hw PRESET (one of: {known}) or --hw FILE with a hardware block")
        return hw
    if arg in presets.PRESETS:
        return presets.get(arg)
    blocks = getattr(spec, "hardware_blocks", None) or {}
    if arg in blocks:
        return blocks[arg]
    p = Path(arg)
    if p.is_file():
        from mapc.dsl import load_hardware
        return load_hardware(str(p))
    if p.exists():
        raise HardwareError(f"--hw {arg}: is a directory, not a preset or a file",
                            hint=f"known presets: {known}")
    looks_like_path = os.sep in arg or "." in Path(arg).name
    if looks_like_path:
        raise HardwareError(f"hardware file not found: {arg}", hint=f"or use a preset: {known}")
    return presets.get(arg)          # raises HardwareError with a close-match hint


def hardware_for(spec, hw_arg: str | None, *, required: bool = True):
    """`resolve_hardware(hw_arg, spec)` cross-checked against the spec (`mapc.dsl.validate`: stages <= chiplets,
    ...). With `required=False`, None when neither `hw_arg` nor the spec names any hardware."""
    if not required and hw_arg is None and getattr(spec, "hardware", None) is None:
        return None
    hw = resolve_hardware(hw_arg, spec)
    validate = _validator()
    if validate is not None:
        validate(spec, hw)
    return hw


def load_inputs(path: str | os.PathLike, hw_arg: str | None, *, required: bool = True):
    """(spec, hardware) of a source file: parse + resolve, pick the hardware, validate them together. The one
    place `mapc compile`, `check`, `compare` and `bench` load their inputs."""
    spec = load_spec(path)
    return spec, hardware_for(spec, hw_arg, required=required)


def group_sizes_for(spec, hw) -> tuple[int, ...]:
    """Candidate tensor-parallel group sizes.

    (1, tensor) when the spec fixes tensor > 1. Otherwise (1, 2, 4, n/4, n): small groups for pipelining plus a
    quarter of the package and the whole package, so that one layer can be spread over every chiplet (a big
    GEMM, or a decode step that needs all of the package's DRAM bandwidth) when that is what pays.
    """
    tensor = getattr(getattr(spec, "parallel", None), "tensor", 1) or 1
    sizes = (1, tensor) if tensor > 1 else tuple(sorted({1, 2, 4, hw.n // 4, hw.n} - {0}))
    if tensor > hw.n:
        raise HardwareError(f"tensor {tensor} needs more chiplets than {hw.name} has ({hw.n})",
                            loc=getattr(spec.parallel, "loc", None))
    return tuple(k for k in sizes if k <= hw.n)


MAX_TASKS = 200_000   # beyond this the cost tables alone take gigabytes; refuse before lowering


def estimated_tasks(spec, segment: int | None = None) -> int:
    """Tasks the lowering would create: segments x micro-batches x decode steps, per served phase."""
    from mapc.core.spec import CNNModel
    seg = segment or getattr(spec.parallel, "segment", 1) or 1
    total = 0
    for sv in (spec.workload.serves if spec.workload else ()):
        m = spec.models.get(sv.model)
        layers = len(m.layers) if isinstance(m, CNNModel) else getattr(m, "layers", 1)
        for ph in sv.phases:
            total += (-(-layers // seg) + 1) * min(sv.microbatches, ph.batch) * max(1, ph.steps)
    return total


def check_size(spec, segment: int | None = None) -> None:
    """Refuse, with the numbers, a workload whose execution graph would be too large to schedule here."""
    n = estimated_tasks(spec, segment)
    if n > MAX_TASKS:
        from mapc.dsl.parser import source_line
        loc = getattr(spec.workload, "loc", None)
        raise MapcError(f"the workload lowers to about {n:,} tasks, more than the {MAX_TASKS:,} mapc schedules",
                        loc=loc, source_line=source_line(loc.file, loc.line) if loc else None,
                        hint="raise `segment` (layers per task) or lower `microbatches` / decode `steps`")


def build_problem(spec, hw, *, objective: Objective = "edp", segment: int | None = None,
                  group_sizes: tuple[int, ...] | None = None, progress: Progress = _noop) -> Problem:
    """Lower `spec` to its execution graph and price it on `hw`.

    Group sizes default to `group_sizes_for(spec, hw)`; placement policies, the tensor-parallel scheme and the
    PD regions come from `spec.parallel` (`mapc.compiler.serving`). Weights plus the peak KV cache must fit in
    the package's DRAM/HBM (`mapc.compiler.memory.check_memory`, InfeasibleError with the numbers otherwise).
    """
    if objective not in OBJECTIVES:
        raise MapcError(f"unknown objective {objective!r}", hint="use one of: " + ", ".join(OBJECTIVES))
    if segment is not None and (not isinstance(segment, int) or segment < 1):
        raise MapcError(f"--segment must be a positive integer, got {segment!r}")
    from mapc.compiler import serving
    from mapc.compiler.lower import lower
    from mapc.compiler.memory import check_memory
    from mapc.dsl import zoo
    from mapc.hw.cost import CostModel

    check_size(spec, segment)
    progress("lowering")
    graph = lower(spec, segment=segment)
    if graph.n == 0:
        raise MapcError(f"{spec.file}: the workload lowers to no tasks")
    weights = sum(zoo.weight_bytes(spec.models[m]) for m in graph.models if m in spec.models)
    check_memory(weights, graph, hw)
    sizes = group_sizes if group_sizes is not None else group_sizes_for(spec, hw)
    par = spec.parallel
    progress(f"pricing {graph.n} tasks")
    cost = CostModel(hw, graph, group_sizes=sizes, placement_policy=serving.placement_policies(par),
                     tp_scheme=serving.tp_scheme(par), regions=serving.regions_for(par, hw))
    return Problem(graph=graph, hw=hw, cost=cost, objective=objective, parallel=spec.parallel)


def solver_names() -> tuple[str, ...]:
    from mapc.solvers import registry
    names = getattr(registry, "SOLVERS", None)
    return tuple(names) if names is not None else ()


def solve(problem: Problem, solver: str, budget: Budget, progress: Progress = _noop) -> SolveResult:
    """Run a registered solver; no schedule raises `InfeasibleError` (proven) or `NoSolutionError`."""
    from mapc.solvers import registry

    names = solver_names()
    if names and solver not in names:
        import difflib
        folded = {n.lower(): n for n in names}
        close = ([folded[solver.strip().lower()]] if solver.strip().lower() in folded
                 else difflib.get_close_matches(solver.lower(), names, n=1))
        raise MapcError(f"unknown solver {solver!r}",
                        hint=(f"did you mean {close[0]!r}? " if close else "") + "solvers: " + ", ".join(names))
    progress(f"solving with {solver} ({budget.time_limit:g} s budget)")
    t0 = time.perf_counter()
    res = registry.run(solver, problem, budget)
    if not res.wall_time:
        res = replace(res, wall_time=time.perf_counter() - t0)
    if res.schedule is None:
        if res.status == "infeasible":
            raise InfeasibleError(f"{solver}: no schedule exists" + (f": {res.message}" if res.message else ""))
        raise NoSolutionError(f"{solver} found no schedule within {budget.time_limit:g} s"
                              + (f": {res.message}" if res.message else ""),
                              hint="raise --time-limit or try --solver greedy")
    return res


def verify(schedule, cost) -> None:
    """Raise `InvalidScheduleError` when the independent checker finds any violation."""
    from mapc.compiler.check import check, report

    v = check(schedule, cost)
    if v:
        raise InvalidScheduleError(f"the solver's schedule fails the checker ({len(v)} violation(s)); "
                                   "nothing was written\n" + report(v),
                                   hint="this is a solver bug: please report it with the input file")


def compile_problem(problem: Problem, solver: str, budget: Budget, *, input_path: str = "",
                    input_sha256: str = "", spec=None, progress: Progress = _noop,
                    timings: dict | None = None) -> CompileResult:
    """Solve, check and evaluate a built problem (no files)."""
    from mapc.compiler.evaluate import evaluate

    tm = dict(timings or {})
    t = time.perf_counter()
    res = solve(problem, solver, budget, progress)
    tm["solve"] = time.perf_counter() - t
    progress("checking the schedule")
    t = time.perf_counter()
    verify(res.schedule, problem.cost)
    tm["check"] = time.perf_counter() - t
    t = time.perf_counter()
    metrics = evaluate(res.schedule, problem.cost, problem.graph)
    tm["evaluate"] = time.perf_counter() - t
    return CompileResult(input_path=input_path, input_sha256=input_sha256, hw=problem.hw, problem=problem,
                         result=res, metrics=metrics, budget=budget, spec=spec, timings=tm)


def compile_spec(spec, hw, solver: str, budget: Budget, objective: Objective = "edp", *,
                 segment: int | None = None, input_path: str = "", input_sha256: str = "",
                 progress: Progress = _noop, timings: dict | None = None) -> CompileResult:
    """Build, solve, check and evaluate `spec` on `hw`. Under `pd auto` every candidate of
    `serving.pd_candidates` is compiled with an equal share of the budget and the best objective is kept
    (the others are listed in `notes`)."""
    from mapc.compiler import serving

    tm = dict(timings or {})
    par = spec.parallel
    cands = serving.pd_candidates(par, hw) if getattr(par, "pd", "fused") == "auto" else [(None, par)]
    sub = replace(budget, time_limit=budget.time_limit / len(cands)) if len(cands) > 1 else budget
    best, notes = None, []
    for label, p in cands:
        sp = replace(spec, parallel=p)
        t = time.perf_counter()
        problem = build_problem(sp, hw, objective=objective, segment=segment, progress=progress)
        tm["lower_and_cost"] = tm.get("lower_and_cost", 0.0) + time.perf_counter() - t
        cr = compile_problem(problem, solver, sub, input_path=input_path, input_sha256=input_sha256, spec=sp,
                             progress=progress, timings=tm)
        tm = dict(cr.timings)
        if label is not None:
            notes.append(f"pd auto: {label}: {objective} {cr.result.objective:.4g}")
        if best is None or cr.result.objective < best.result.objective:
            best = cr
    if len(cands) > 1:
        chosen = next(lbl for lbl, p in cands if p == best.spec.parallel)
        notes.append(f"pd auto chose {chosen}")
    return replace(best, timings=tm, notes=tuple(notes) + tuple(best.notes))


def default_out_dir(path: str | os.PathLike) -> Path:
    """`<input stem>.schedule` in the current directory (the input's folder may be read-only, e.g. examples
    shipped with an installed package); `model.dsl` -> `./model.schedule/`."""
    return Path.cwd() / f"{Path(path).stem}.schedule"


def compile_file(path: str | os.PathLike, hw_arg: str | None, solver: str = DEFAULT_SOLVER,
                 budget: Budget | None = None, objective: Objective = "edp",
                 out_dir: str | os.PathLike | None = None, *, segment: int | None = None,
                 write: bool = True, progress: Progress = _noop) -> CompileResult:
    """Compile a source file end to end and (with `write`) write the output files atomically into `out_dir`
    (default `default_out_dir(path)`). Nothing is written when any step fails."""
    from mapc.compiler.emit import write_outputs

    budget = budget or Budget()
    if objective not in OBJECTIVES:
        raise MapcError(f"unknown objective {objective!r}", hint="use one of: " + ", ".join(OBJECTIVES))
    tm: dict[str, float] = {}
    t0 = time.perf_counter()
    progress(f"reading {path}")
    spec, hw = load_inputs(path, hw_arg)
    sha = file_sha256(path)
    tm["load"] = time.perf_counter() - t0
    cr = compile_spec(spec, hw, solver, budget, objective, segment=segment, input_path=str(path),
                      input_sha256=sha, progress=progress, timings=tm)
    if not write:
        return cr
    target = Path(out_dir) if out_dir is not None else default_out_dir(path)
    progress(f"writing {target}")
    t = time.perf_counter()
    files, notes = write_outputs(target, cr)      # also writes cpsat's pareto.csv / pareto.png atomically
    tm = dict(cr.timings, write=time.perf_counter() - t, total=time.perf_counter() - t0)
    return replace(cr, timings=tm, out_dir=str(target), files=tuple(files), notes=tuple(cr.notes) + tuple(notes))


def _validator():
    """`mapc.dsl.validate` when the DSL provides it (spec/hardware cross-checks such as stages <= chiplets)."""
    try:
        from mapc.dsl import validate
    except ImportError:
        return None
    return validate
