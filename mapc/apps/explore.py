"""`mapc explore`: hardware design-space exploration (the Theseus / Gemini side of mapc), on Optuna and Dask.

From a base hardware (preset or file), `--vary` spans a space of design parameters (`mapc.hw.space`: value lists
and ranges over grid, pes, sram, dataflow, link, dram, memory, freq, hop, pim). An Optuna study samples it
(`--sampler grid|random|tpe|nsga2`) and minimises `--objectives` (latency, energy, edp, area; two or more give a
Pareto front); each trial is a variant scheduled by the fast path (`--solver`, greedy by default, and the lower
bound) on a Dask pool (`mapc.apps.explore_study`: `--workers N` local processes, `--scheduler` a cluster), pruned
before scheduling when it breaks `--max-area` or `--max-power`; `--refine K` re-scores the K best front points
with cpsat. The study lives in the output folder (`study.journal`) and `--resume` continues it after a kill.

Outputs (written atomically at the end; the journal is written as the study goes): `explore.csv`, `explore.json`
(every trial, fast and refined scores, the fronts), `pareto.png` (the front of the first two objectives, or EDP
vs area with one) and the best designs as hardware blocks of the language: `best1.dsl` .. `bestN.dsl` (one block
each: `mapc compile FILE --hw OUT/best1.dsl`) and `best_designs.dsl` (all of them, named best1 ..: import it and
pass `--hw best2`). Variants the workload cannot run on are rows with a status and a reason, not errors.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mapc import api
from mapc.apps.common import console, nonempty, positive_float, positive_int, print_json, seed_int
from mapc.apps.explore_study import (DEFAULT_BATCH, JOURNAL, MAX_GRID, OBJECTIVES, SAMPLERS, Search, StudyRun,
                                     best_points, rank, run_study)
from mapc.apps.explore_trial import HW_KEYS, OBJECTIVE_KEYS, SCORE_KEYS, Point, pareto_mask
from mapc.compiler import plots
from mapc.compiler.files import check_output_dir, jsonable, write_dir_atomic
from mapc.compiler.report import fmt_si
from mapc.core.errors import InfeasibleError, MapcError
from mapc.core.hardware import Hardware
from mapc.core.options import DEFAULT_SOLVER, OBJECTIVES as SOLVER_OBJECTIVES, SolveOptions
from mapc.core.spec import Spec
from mapc.dsl.writer import hardware_text
from mapc.hw.space import Space, grid_size, parse_space
from mapc.hw.variants import AREA_SOURCES, DEFAULT_MAX_POINTS, derive, keys_hint

MAX_BEST = 20
OUTPUT_FILES = ("explore.csv", "explore.json", "pareto.png", "best_designs.dsl",
                *(f"best{i}.dsl" for i in range(1, MAX_BEST + 1)), "explore.png")   # explore.png: older runs'
__all__ = ["explore", "Exploration", "Search", "pareto_mask", "check_space", "write_explore", "OUTPUT_FILES"]


@dataclass(frozen=True)
class Exploration:
    """A finished exploration: the points ranked (`explore_study.rank`), the run's facts, notes and metadata."""

    base: Hardware
    search: Search
    run: StudyRun
    points: tuple[Point, ...]
    notes: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    @property
    def front(self) -> list[Point]:
        return [p for p in self.points if p.pareto]


def check_space(base: Hardware, space: Space) -> None:
    """Raise `MapcError` (exit 2) when a value of the space cannot apply to `base` (e.g. `dram` on hardware
    without DRAM): each axis's first and last value is derived once, before any trial runs."""
    for d in space:
        g = d.grid()
        for raw in dict.fromkeys((g[0], g[-1])):
            try:
                derive(base, {d.key: d.value(raw)})
            except MapcError as e:
                raise MapcError(f"--vary {d.key}={d.text}: {e.message}", hint=e.hint) from None


def explore(spec: Spec, base: Hardware, search: Search, out: Path | None = None, *, resume: bool = False,
            workers: int = 1, scheduler: str | None = None, progress: Any = None) -> Exploration:
    """Run (or resume) the exploration (module doc); `out` None keeps the study in memory."""
    for o in (search.options, search.refine_options):
        api.check_options(o)
    if search.sampler not in SAMPLERS:
        raise MapcError(f"unknown sampler {search.sampler!r}", hint="samplers: " + ", ".join(SAMPLERS))
    bad = [o for o in search.objectives if o not in OBJECTIVES]
    if bad or not search.objectives or len(set(search.objectives)) < len(search.objectives):
        raise MapcError(f"--objectives {','.join(search.objectives)}: expected distinct names among "
                        f"{', '.join(OBJECTIVES)}", hint="e.g. --objectives latency,energy")
    size = grid_size(search.space)
    if search.sampler == "grid" and size > MAX_GRID:
        raise MapcError(f"the grid has {size:,} points (more than {MAX_GRID:,})",
                        hint="fewer values or range points (:N), or --sampler tpe|nsga2|random")
    check_space(base, search.space)
    run = run_study(spec, base, search, out, resume=resume, workers=workers, scheduler=scheduler, progress=progress)
    notes = []
    if search.sampler == "grid" and size > search.budget:
        notes.append(f"the grid has {size} points; --trials {search.trials} runs {search.budget} of them "
                     f"(a seeded shuffle; raise --trials to run them all)")
    if any(d.is_range for d in search.space) and search.sampler == "grid":
        notes.append("ranges are visited at their :N grid points (default 4) by the grid sampler")
    bad_pts = [p for p in run.points if not p.ok]
    if bad_pts:
        notes.append(f"{len(bad_pts)} of {len(run.points)} trial(s) not scheduled (see status/reason)")
    if run.interrupted:
        notes.append(f"{run.interrupted} trial(s) were killed before their parameters were drawn (status "
                     f"interrupted, not counted)")
    if run.resumed:
        notes.append(f"{run.resumed} trial(s) left running by an earlier run were scored again")
    for e in run.errors[:3]:
        notes.append(f"evaluation error: {e}")
    return Exploration(base, search, run, tuple(rank(list(run.points), search.objectives)), tuple(notes))


# ---- output ------------------------------------------------------------------------------------------------
REFINED_KEYS = ("solver", "status", "latency_s", "energy_j", "edp_js", "bound_s")


def to_csv(ex: Exploration) -> str:
    """One row per trial, ranked: the parameters, the fast scores, the refined scores, the cost summary."""
    keys = [d.key for d in ex.search.space]
    head = (["trial", "hardware", *keys, "status", *SCORE_KEYS, *(f"refined_{k}" for k in REFINED_KEYS), *HW_KEYS,
             "pareto", "pareto_latency_energy", "pareto_edp_area", "cached_from", "wall_s", "reason"])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    cell = lambda x: "" if x is None else (int(x) if isinstance(x, bool) else (repr(float(x)) if isinstance(x, float)
                                                                                 else x))
    for p in ex.points:
        par = dict(p.params)
        w.writerow([p.trial, p.hardware, *(par.get(k, "") for k in keys), p.status,
                    *(cell(p.fast.get(k)) for k in SCORE_KEYS), *(cell(p.refined.get(k)) for k in REFINED_KEYS),
                    *(cell(p.hw.get(k)) for k in HW_KEYS), int(p.pareto), int(p.pareto_latency_energy),
                    int(p.pareto_edp_area), cell(p.cached_from), cell(p.fast.get("wall_s")), p.reason])
    return buf.getvalue()


def to_doc(ex: Exploration) -> dict:
    s, r = ex.search, ex.run
    return {"base": ex.base.name, "solver": s.options.solver, "sampler": s.sampler, "objectives": list(s.objectives),
            "space": {d.key: d.text for d in s.space}, "grid_size": grid_size(s.space), "budget": r.budget,
            "trials": len(ex.points), "evaluations": r.evaluations, "engine": r.engine, "refine": s.refine,
            "refine_solver": s.refine_options.solver, "front": [p.trial for p in ex.front],
            "constraints": {"max_area_m2": s.max_area, "max_power_w": s.max_power}, "notes": list(ex.notes),
            "meta": ex.meta, "area_sources": list(AREA_SOURCES),
            "power_proxy": "sum over chiplets of MACs x MAC energy x clock + static power (SRAM, NoP, DRAM, PIM "
                           "not counted)", "points": [p.record() for p in ex.points]}


AXES = {"latency": ("latency (ms)", 1e3), "energy": ("energy (J)", 1.0), "edp": ("EDP (J*s)", 1.0),
        "area": ("area proxy (mm^2)", 1e6)}


def plot(ex: Exploration, path: Path) -> bool:
    """The front of the first two objectives (with one objective: EDP vs area, its EDP-area front), one dot per
    scheduled trial labelled by its number. False (nothing drawn) when no trial was scheduled."""
    objs = ex.search.objectives
    xo, yo = (objs[0], objs[1]) if len(objs) >= 2 else ("area", "edp")
    (xl, xf), (yl, yf) = AXES[xo], AXES[yo]
    flag = (lambda p: p.pareto) if len(objs) >= 2 else (lambda p: p.pareto_edp_area)
    pts = [(str(p.trial), float(p.get(OBJECTIVE_KEYS[xo])) * xf, float(p.get(OBJECTIVE_KEYS[yo])) * yf, flag(p))
           for p in ex.points if p.ok]
    return plots.render_front(pts, path, xl, yl, ex.meta.get("title", f"mapc explore: {ex.base.name}"))


def designs(ex: Exploration, n: int) -> tuple[list[tuple[str, str]], list[str]]:
    """([(file name, text)], notes): the `n` best points (`best_points`) as hardware blocks best1 .. bestN."""
    dims = {d.key: d for d in ex.search.space}
    out, notes = [], []
    for i, p in enumerate(best_points(list(ex.points), ex.search.objectives, min(n, MAX_BEST)), start=1):
        hw = derive(ex.base, {k: dims[k].value(v) for k, v in p.raw}, p.hardware)
        f, r = p.fast, p.refined
        lines = [f"mapc explore design best{i}: trial {p.trial}, a variant of {ex.base.name}",
                 "parameters: " + (", ".join(f"{k}={v}" for k, v in p.params) or "(the base)"),
                 f"fast path ({f.get('solver')}): latency {fmt_si(f.get('latency_s'), 's')}, energy "
                 f"{fmt_si(f.get('energy_j'), 'J')}, EDP {fmt_si(f.get('edp_js'), 'J*s')}, bound "
                 f"{fmt_si(f.get('bound_s'), 's')}"]
        if r.get("status") == "ok":
            lines.append(f"refined ({r.get('solver')}): latency {fmt_si(r.get('latency_s'), 's')}, energy "
                         f"{fmt_si(r.get('energy_j'), 'J')}, EDP {fmt_si(r.get('edp_js'), 'J*s')}")
        lines.append(f"area proxy {p.hw.get('area_m2', 0) * 1e6:,.1f} mm^2, peak power proxy "
                     f"{p.hw.get('peak_power_w', 0):,.1f} W")
        try:
            out.append((f"best{i}.dsl", hardware_text(hw, f"best{i}", "\n".join(lines))))
        except MapcError as e:
            notes.append(f"best{i} (trial {p.trial}) not written as a hardware block: {e.message}")
    return out, notes


def write_explore(out_dir: str | os.PathLike, ex: Exploration, best: int = 3) -> tuple[list[str], list[str]]:
    """Write the outputs (module doc) into `out_dir` atomically; (the paths written, notes on designs that could
    not be written as hardware blocks)."""
    blocks, notes = designs(ex, best)

    def build(tmp: Path) -> None:
        (tmp / "explore.csv").write_text(to_csv(ex), encoding="utf-8")
        doc = to_doc(ex)
        doc["designs"] = [name for name, _ in blocks]
        doc["notes"] = doc["notes"] + notes
        (tmp / "explore.json").write_text(json.dumps(jsonable(doc), indent=1, allow_nan=False) + "\n",
                                          encoding="utf-8")
        plot(ex, tmp / "pareto.png")
        for name, text in blocks:
            (tmp / name).write_text(text, encoding="utf-8")
        if blocks:
            head = ("# The best designs of a mapc explore run, one hardware block each (best1 first).\n"
                    "# Use one: mapc compile FILE --hw best1.dsl, or import this file and pass --hw best2.\n\n")
            (tmp / "best_designs.dsl").write_text(head + "\n".join(t for _, t in blocks), encoding="utf-8")

    return write_dir_atomic(out_dir, build, OUTPUT_FILES), notes


def table(ex: Exploration, title: str = "", top: int = 30) -> Table:
    """A rich Table of the `top` ranked points; pareto marks: P = front of the objectives, L = latency-energy,
    A = EDP-area."""
    keys = [d.key for d in ex.search.space]
    t = Table(title=escape(title) if title else None,
              caption=f"pareto: P = front of {','.join(ex.search.objectives)}, L = latency-energy, A = EDP-area"
                      + (f"; {len(ex.points) - top} more rows in explore.csv" if len(ex.points) > top else ""))
    for c in ["trial", *keys, "latency", "energy", "EDP", "refined EDP", "area mm²", "power W", "mk/bound",
              "pareto", "status"]:
        t.add_column(c, justify="left" if c in keys or c == "status" else "right")
    for p in ex.points[:top]:
        par = dict(p.params)
        mark = ("P" if p.pareto else "") + ("L" if p.pareto_latency_energy else "") + ("A" if p.pareto_edp_area else "")
        ratio = p.fast.get("makespan_over_bound")
        status = p.status if p.ok else f"{p.status}: {p.reason}"
        t.add_row(str(p.trial), *(escape(par.get(k, "")) for k in keys), fmt_si(p.fast.get("latency_s"), "s"),
                  fmt_si(p.fast.get("energy_j"), "J"), fmt_si(p.fast.get("edp_js"), "J*s"),
                  fmt_si(p.refined.get("edp_js"), "J*s") if p.refined else "-",
                  f"{p.hw.get('area_m2', 0) * 1e6:,.0f}", f"{p.hw.get('peak_power_w', 0):,.1f}",
                  "n/a" if ratio is None else f"{ratio:.3f}x", mark or "-", escape(status))
    return t


# ---- command line ------------------------------------------------------------------------------------------
def default_workers() -> int:
    """The machine's cores available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:                   # not on Linux
        return max(1, os.cpu_count() or 1)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of `mapc explore`."""
    p.add_argument("file", type=nonempty, help="mapc source file with a workload")
    p.add_argument("--hw", type=nonempty, default=None, metavar="BASE",
                   help="base hardware: preset or file (default: the file's own hardware block)")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2|LO..HI[:log][:int][:N]",
                   help="a design parameter: a list of values or a range (repeatable). " + keys_hint())
    p.add_argument("--sampler", choices=SAMPLERS, default="grid", help="Optuna sampler (default grid)")
    p.add_argument("--objectives", default="latency,energy", metavar="A,B",
                   help=f"what to minimise, among {', '.join(OBJECTIVES)}; two or more give a Pareto front "
                        f"(default latency,energy)")
    p.add_argument("--trials", "--max-points", dest="trials", type=positive_int, default=DEFAULT_MAX_POINTS,
                   metavar="N", help=f"trials to run (default {DEFAULT_MAX_POINTS}; grid: at most the grid)")
    p.add_argument("--batch", type=positive_int, default=DEFAULT_BATCH, metavar="N",
                   help=f"tpe/nsga2: trials asked together, nsga2's population (default {DEFAULT_BATCH})")
    p.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help=f"Dask worker processes on this machine (default: its cores, {default_workers()}); "
                        f"1 runs the trials in this process")
    p.add_argument("--scheduler", type=nonempty, default=None, metavar="tcp://HOST:8786",
                   help="run the trials on an existing Dask cluster (its workers need mapc installed)")
    p.add_argument("--resume", action="store_true", help="continue the study in the output folder")
    p.add_argument("--refine", type=int, default=0, metavar="K", help="re-score the K best front points with cpsat")
    p.add_argument("--refine-time-limit", type=positive_float, default=10.0, metavar="S",
                   help="cpsat seconds per refined point (default 10)")
    p.add_argument("--max-area", type=positive_float, default=None, metavar="MM2",
                   help="prune designs whose area proxy exceeds this many mm^2")
    p.add_argument("--max-power", type=positive_float, default=None, metavar="W",
                   help="prune designs whose peak power proxy exceeds this many watts")
    p.add_argument("--best", type=positive_int, default=3, metavar="N",
                   help=f"best designs written as hardware blocks (default 3, at most {MAX_BEST})")
    p.add_argument("--solver", default=DEFAULT_SOLVER, help=f"fast-path solver of every trial (default {DEFAULT_SOLVER})")
    p.add_argument("--time-limit", type=positive_float, default=5.0, metavar="S",
                   help="fast-path solver seconds per trial (default 5)")
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--objective", choices=SOLVER_OBJECTIVES, default=None, help="the solvers' objective (default: slo with SLO targets, else edp)")
    p.add_argument("--segment", type=positive_int, default=None, metavar="N", help="layers per task")
    p.add_argument("-o", "--out", type=nonempty, default=None, metavar="DIR",
                   help="output directory, also holding the study (default ./<stem>.explore/)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


@contextmanager
def _bar(enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr (only on a TTY); yields the engine's (done, total, message) callback."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    cols = (TextColumn("exploring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[msg]}"))
    with Progress(*cols, console=console(stderr=True), transient=True) as bar:
        task = bar.add_task("explore", total=None, msg="")
        yield lambda done, total, msg: bar.update(task, completed=done, total=total, msg=escape(msg))


def search_from(args: argparse.Namespace) -> Search:
    """The `Search` of parsed arguments; bad values raise `MapcError` (exit 2)."""
    if args.refine < 0:
        raise MapcError(f"--refine must be >= 0, got {args.refine}")
    objectives = tuple(o.strip().lower() for o in args.objectives.split(",") if o.strip())
    return Search(space=parse_space(args.vary), sampler=args.sampler, objectives=objectives, trials=args.trials,
                  seed=args.seed, batch=args.batch,
                  options=SolveOptions(solver=args.solver, objective=args.objective, time_limit=args.time_limit,
                                       seed=args.seed, threads=1),
                  refine=args.refine, refine_options=SolveOptions(solver="cpsat", objective=args.objective,
                                                                  time_limit=args.refine_time_limit,
                                                                  seed=args.seed, threads=1),
                  max_area=None if args.max_area is None else args.max_area * 1e-6, max_power=args.max_power,
                  segment=args.segment)


def cli_main(args: argparse.Namespace) -> int:
    """`mapc explore`: check everything, run the study, print the table (or JSON), write the files."""
    search = search_from(args)              # a bad space exits 2 before anything runs
    out = Path(args.out) if args.out else Path.cwd() / f"{Path(args.file).stem}.explore"
    check_output_dir(out)
    spec = api.load(args.file)
    if spec.workload is None:
        raise MapcError(f"{args.file}: no workload to schedule", hint="add a `workload` block")
    base = api.hardware(args.hw, spec)
    workers = args.workers or default_workers()
    t0 = time.perf_counter()
    with _bar(not args.json) as step:
        ex = explore(spec, base, search, out, resume=args.resume, workers=workers, scheduler=args.scheduler,
                     progress=step)
    wall = time.perf_counter() - t0
    if not any(p.ok for p in ex.points):
        reasons = "; ".join(dict.fromkeys(f"{p.status}: {p.reason}" for p in ex.points))
        raise InfeasibleError(f"no variant of {base.name} could be scheduled ({reasons})",
                              hint=f"widen the space (e.g. more memory or chiplets); the study stays in {out}")
    title = f"{Path(args.file).name} on variants of {base.name} ({args.sampler}, {args.solver})"
    ex = replace(ex, meta={"input": str(args.file), "input_sha256": spec.sha256, "base": base.name, "solver": args.solver,
                    "time_limit_s": args.time_limit, "seed": args.seed, "workers": None if args.scheduler else workers,
                    "scheduler": args.scheduler, "wall_s": wall, "title": title, "journal": JOURNAL,
                    "machine_cores": default_workers()})
    files, design_notes = write_explore(out, ex, args.best)
    if args.json:
        print_json({"ok": True, "command": "explore", "output_dir": str(out), "files": files, "wall_s": wall,
                    **to_doc(ex)})
        return 0
    for n in ex.notes + tuple(design_notes):
        print(f"note: {n}", file=sys.stderr)
    console().print(table(ex, title))
    print(f"{len(ex.points)} trial(s), {ex.run.evaluations} scheduled, in {wall:.1f} s on {ex.run.engine}; "
          f"wrote {out}{os.sep} ({', '.join(Path(f).name for f in files)}, {JOURNAL})")
    return 0
