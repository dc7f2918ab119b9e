"""`mapc compare`: several solvers on one problem with the same budget and seed, measured the same way.

`compare(problem, solvers, options)` runs each solver through `mapc.api.solve`, which checks its schedule with
the independent checker (a schedule that fails is never reported: its row says `rejected` and carries no
numbers) and evaluates it, and returns one `Row` per solver. `write_compare(out_dir, rows, meta)` writes `compare.csv`, `compare.json` and `anytime.png` (best
objective vs wall time, one line per solver) atomically: into a temporary directory first, then moved.

EDP vs baseline is `100 * (edp / edp_baseline - 1)` (negative = less EDP than the even layer pipeline); the
baseline is always computed for it (it takes milliseconds), even when not listed among the solvers.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from rich.table import Table

from mapc import api
from mapc.apps.common import add_budget_arguments, console, nonempty, options_from, positive_int, print_json, progress
from mapc.compiler import plots
from mapc.compiler.files import check_output_dir, jsonable, write_dir_atomic
from mapc.compiler.problem import Problem
from mapc.compiler.report import fmt_gap, fmt_si
from mapc.core.errors import InvalidScheduleError, MapcError
from mapc.core.options import SOLVER_NAMES, SolveOptions

OUTPUT_FILES = ("compare.csv", "compare.json", "anytime.png")
CSV_FIELDS = ("solver", "status", "latency_s", "energy_j", "edp_js", "objective", "edp_vs_baseline_pct",
              "makespan_over_bound", "gap", "wall_s", "evals_per_s", "slo_attainment", "message")


@dataclass(frozen=True)
class Row:
    """One solver's result. Numbers are None when the solver produced no valid schedule."""

    solver: str
    status: str                          # optimal | feasible | heuristic | no_solution | infeasible | error | rejected
    latency_s: float | None = None
    energy_j: float | None = None
    edp_js: float | None = None
    objective: float | None = None       # value of the objective minimised
    edp_vs_baseline_pct: float | None = None
    makespan_over_bound: float | None = None
    gap: float | None = None             # solver's proven gap (CP-SAT), else None
    wall_s: float = 0.0
    evals_per_s: float | None = None
    message: str = ""
    slo_attainment: float | None = None  # fraction of requests meeting every SLO target (workloads with targets)
    trace: tuple[tuple[float, float], ...] = field(default=(), repr=False)   # (wall s, best objective)

    def record(self) -> dict[str, Any]:
        d = asdict(self)
        d["trace"] = [list(x) for x in self.trace]
        return d


def parse_solvers(text: str) -> list[str]:
    """`"cpsat,ga"` -> ["cpsat", "ga"]; unknown names raise `MapcError` listing the known ones."""
    names = [s.strip() for s in str(text).split(",") if s.strip()]
    if not names:
        raise MapcError("--solvers needs at least one solver name", hint="e.g. --solvers greedy,ga,scar")
    known = list(api.solver_names())
    bad = [s for s in names if s not in known]
    if bad:
        folded = {k.lower(): k for k in known}
        fix = [f"{b!r} -> {folded[b.lower()]!r}" for b in bad if b.lower() in folded]
        raise MapcError(f"unknown solver(s): {', '.join(bad)}",
                        hint=(f"did you mean {', '.join(fix)}? (solver names are lower case) " if fix else "")
                        + "available solvers: " + ", ".join(known))
    return list(dict.fromkeys(names))


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def run_one(problem: Problem, options: SolveOptions, edp_base: float | None = None) -> tuple[Row, api.Result | None]:
    """(Row, Result or None) for `options.solver`; every failure becomes a row, never an exception."""
    name = options.solver
    t0 = time.perf_counter()
    try:
        r = api.solve(problem, options)
    except InvalidScheduleError as e:
        first = e.message.splitlines()[1] if "\n" in e.message else e.message
        return Row(name, "rejected", wall_s=time.perf_counter() - t0,
                   message=f"schedule fails the checker ({first.strip()})"), None
    except MapcError as e:
        return Row(name, "error", wall_s=time.perf_counter() - t0, message=e.message), None
    except Exception as e:                   # a solver bug must not cost the other solvers' results
        return Row(name, "error", wall_s=time.perf_counter() - t0,
                   message=f"internal error in {name}: {type(e).__name__}: {e}"), None
    m, res = r.metrics, r.solution
    vs = 100.0 * (m.edp / edp_base - 1.0) if edp_base and edp_base > 0 else None
    eps = getattr(res.stats, "evals_per_s", None)
    return Row(name, res.status, m.makespan, m.energy, m.edp, res.objective, _finite(vs),
               _finite(m.bound_ratio), _finite(res.gap), res.wall_time, _finite(eps), res.message,
               m.slo_attainment, tuple(res.trace)), r


def compare(problem: Problem, solvers: list[str], options: SolveOptions = SolveOptions(),
            progress: Callable[[str], None] | None = None) -> list[Row]:
    """Run `solvers` in order on `problem` with the same options (budget, seed, objective); one `Row` each."""
    say = progress or (lambda _m: None)
    say("baseline reference")
    base = api.solve(problem, replace(options, solver="baseline"))
    edp_base = base.metrics.edp
    rows: list[Row] = []
    for k, name in enumerate(solvers):
        say(f"[{k + 1}/{len(solvers)}] {name} ({options.time_limit:g} s budget)")
        row, _ = run_one(problem, replace(options, solver=name), edp_base)
        rows.append(row)
    return rows


# ---- output ------------------------------------------------------------------------------------------------
def _num(x: float | None) -> str:
    return "" if x is None else repr(float(x))


def rows_csv(rows: list[Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for r in rows:
        d = r.record()
        w.writerow([d[k] if isinstance(d[k], str) else _num(d[k]) for k in CSV_FIELDS])
    return buf.getvalue()


def plot_anytime(rows: list[Row], path: str | os.PathLike[str], objective: str = "edp", title: str = "") -> bool:
    """Best objective vs wall time, one step line per solver (`mapc.compiler.plots.render_anytime`). False when no
    solver has a trace."""
    return plots.render_anytime([(r.solver, r.trace, r.wall_s) for r in rows if r.trace and r.status != "rejected"],
                                path, objective, title)


def write_compare(out_dir: str | os.PathLike[str], rows: list[Row], meta: dict[str, Any] | None = None,
                  objective: str = "edp") -> list[str]:
    """Write compare.csv, compare.json, anytime.png into `out_dir` atomically; returns the paths written."""
    def build(tmp: Path) -> None:
        (tmp / "compare.csv").write_text(rows_csv(rows), encoding="utf-8")
        doc = {"meta": meta or {}, "rows": [r.record() for r in rows]}
        (tmp / "compare.json").write_text(json.dumps(jsonable(doc), indent=1, allow_nan=False) + "\n",
                                          encoding="utf-8")
        plot_anytime(rows, tmp / "anytime.png", objective, (meta or {}).get("title", ""))

    return write_dir_atomic(out_dir, build, OUTPUT_FILES)


def table(rows: list[Row], title: str = "") -> Table:
    """A rich Table of the rows, in human units."""
    t = Table(title=title or None)
    slo = any(r.slo_attainment is not None for r in rows)    # a workload with SLO targets: attainment column
    cols = ("solver", "status", "latency", "energy", "EDP", "EDP vs baseline", "makespan/bound", "gap", "wall")
    for c in cols[:-1] + (("SLO met",) if slo else ()) + cols[-1:]:
        t.add_column(c, justify="left" if c in ("solver", "status") else "right")
    pct = lambda x: "n/a" if x is None else f"{x:+.1f}%"
    for r in rows:
        cells = [r.solver, r.status, fmt_si(r.latency_s, "s"), fmt_si(r.energy_j, "J"), fmt_si(r.edp_js, "J*s"),
                 pct(r.edp_vs_baseline_pct),
                 "n/a" if r.makespan_over_bound is None else f"{r.makespan_over_bound:.3f}x",
                 "n/a" if r.gap is None else fmt_gap(r.gap)]
        if slo:
            cells.append("n/a" if r.slo_attainment is None else f"{100 * r.slo_attainment:.1f}%")
        t.add_row(*cells, fmt_si(r.wall_s, "s"))
    return t


# ---- command line ------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of `mapc compare` (the same budget arguments as `mapc compile`, per solver)."""
    p.add_argument("file", type=nonempty, help="mapc source file")
    p.add_argument("--hw", type=nonempty, default=None, metavar="HW", help="hardware preset or file (default: the file's own)")
    p.add_argument("--solvers", default=None, metavar="LIST",
                   help="comma-separated solvers (default: every available one: cpsat,ga,scar,greedy,baseline)")
    add_budget_arguments(p)
    p.add_argument("--segment", type=positive_int, default=None, metavar="N",
                   help="layers per task (default: the file's)")
    p.add_argument("-o", "--out", type=nonempty, default=None, metavar="DIR",
                   help="output directory (default ./<stem>.compare/)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def cli_main(args: argparse.Namespace) -> int:
    """`mapc compare`: build the problem, run the solvers, print the table (or JSON), write the files."""
    solvers = parse_solvers(args.solvers) if args.solvers else order_default(list(api.solver_names()))
    options = options_from(args, solvers[0])
    api.check_options(options)
    out = Path(args.out) if args.out else Path.cwd() / f"{Path(args.file).stem}.compare"
    check_output_dir(out)                      # before the solvers run, not after
    with progress(not args.json, f"reading {args.file}") as step:
        spec = api.load(args.file)
        problem = api.lower(spec, args.hw, segment=args.segment, progress=step)
        rows = compare(problem, solvers, options, progress=step)
    hw = problem.hw
    meta = {"input": str(args.file), "input_sha256": spec.sha256, "hardware": hw.name,
            "tasks": problem.graph.n, "objective": options.goal, "time_limit_s": args.time_limit,
            "seed": args.seed, "threads": args.threads, "title": f"{Path(args.file).name} on {hw.name}"}
    files = write_compare(out, rows, meta, options.goal)
    if args.json:
        print_json({"ok": True, "command": "compare", "output_dir": str(out), "files": files, "meta": meta,
                     "rows": [r.record() for r in rows]})
    else:
        console().print(table(rows, meta["title"]))
        print(f"wrote {out}{os.sep} ({', '.join(Path(f).name for f in files)})")
    return 0


def order_default(names: list[str]) -> list[str]:
    """The issue's order: cpsat, ga, scar, greedy, baseline (those available)."""
    pref = list(reversed(SOLVER_NAMES))
    return [n for n in pref if n in names] + [n for n in names if n not in pref]
