"""`mapc compare`: several solvers on one problem with the same budget and seed, measured the same way.

`compare(problem, solvers, budget)` runs each solver through the registry, checks its schedule with the
independent checker (a schedule that fails is never reported: its row says `rejected` and carries no
numbers), evaluates it with `compiler.evaluate` against one shared lower bound, and returns one `Row` per
solver. `write_compare(out_dir, rows, meta)` writes `compare.csv`, `compare.json` and `anytime.png` (best
objective vs wall time, one line per solver) atomically: into a temporary directory first, then moved.

EDP vs baseline is `100 * (edp / edp_baseline - 1)` (negative = less EDP than the even layer pipeline); the
baseline is always computed for it (it takes milliseconds), even when not listed among the solvers.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from mapc.core.errors import MapcError
from mapc.solvers.base import Budget, Problem

OUTPUT_FILES = ("compare.csv", "compare.json", "anytime.png")
CSV_FIELDS = ("solver", "status", "latency_s", "energy_j", "edp_js", "objective", "edp_vs_baseline_pct",
              "makespan_over_bound", "gap", "wall_s", "evals_per_s", "message")


@dataclass(frozen=True)
class Row:
    """One solver's result. Numbers are None when the solver produced no valid schedule."""

    solver: str
    status: str                          # optimal | feasible | heuristic | no_solution | infeasible | error | rejected
    latency_s: float | None = None
    energy_j: float | None = None
    edp_js: float | None = None
    objective: float | None = None       # value of problem.objective
    edp_vs_baseline_pct: float | None = None
    makespan_over_bound: float | None = None
    gap: float | None = None             # solver's proven gap (CP-SAT), else None
    wall_s: float = 0.0
    evals_per_s: float | None = None
    message: str = ""
    trace: tuple = field(default=(), repr=False)   # (wall s, best objective)

    def record(self) -> dict:
        d = asdict(self)
        d["trace"] = [list(x) for x in self.trace]
        return d


def parse_solvers(text: str) -> list[str]:
    """`"cpsat,ga"` -> ["cpsat", "ga"]; unknown names raise `MapcError` listing the known ones."""
    from mapc.solvers import registry
    names = [s.strip() for s in str(text).split(",") if s.strip()]
    if not names:
        raise MapcError("--solvers needs at least one solver name", hint="e.g. --solvers greedy,ga,scar")
    known = registry.names()
    bad = [s for s in names if s not in known]
    if bad:
        folded = {k.lower(): k for k in known}
        fix = [f"{b!r} -> {folded[b.lower()]!r}" for b in bad if b.lower() in folded]
        raise MapcError(f"unknown solver(s): {', '.join(bad)}",
                        hint=(f"did you mean {', '.join(fix)}? (solver names are lower case) " if fix else "")
                        + "available solvers: " + ", ".join(known))
    return list(dict.fromkeys(names))


def available_solvers() -> list[str]:
    """Registered solvers whose module imports (cpsat only once it lands)."""
    import importlib
    from mapc.solvers import registry
    out = []
    for name in registry.names():
        try:
            importlib.import_module(f"mapc.solvers.{registry.KNOWN[name]}")
        except ImportError:
            continue
        out.append(name)
    return out


def _finite(x):
    return float(x) if x is not None and math.isfinite(x) else None


def run_one(problem: Problem, name: str, budget: Budget, bound=None, edp_base: float | None = None):
    """(Row, SolveResult or None) for one solver; every failure becomes a row, never an exception."""
    from mapc.compiler.check import check
    from mapc.compiler.evaluate import evaluate
    from mapc.solvers import registry

    t0 = time.perf_counter()
    try:
        res = registry.run(name, problem, budget)
    except MapcError as e:
        return Row(name, "error", wall_s=time.perf_counter() - t0, message=e.message), None
    except Exception as e:                   # a solver bug must not cost the other solvers' results
        return Row(name, "error", wall_s=time.perf_counter() - t0,
                   message=f"internal error in {name}: {type(e).__name__}: {e}"), None
    if res.schedule is None:
        return Row(name, res.status, wall_s=res.wall_time, message=res.message, trace=tuple(res.trace)), res
    bad = check(res.schedule, problem.cost)
    if bad:
        return Row(name, "rejected", wall_s=res.wall_time, trace=tuple(res.trace),
                   message=f"schedule fails the checker ({len(bad)} violation(s), first: "
                           f"[{bad[0].kind}] {bad[0].message})"), None
    m = evaluate(res.schedule, problem.cost, problem.graph, bound=bound)
    vs = 100.0 * (m.edp / edp_base - 1.0) if edp_base and edp_base > 0 else None
    eps = res.stats.get("evals_per_s") if isinstance(res.stats, dict) else None
    return Row(name, res.status, m.makespan, m.energy, m.edp, res.objective, _finite(vs),
               _finite(m.bound_ratio), _finite(res.gap), res.wall_time, _finite(eps), res.message,
               tuple(res.trace)), res


def compare(problem: Problem, solvers: list[str], budget: Budget,
            progress: Callable[[str], None] | None = None) -> list[Row]:
    """Run `solvers` in order on `problem` with the same `budget`; one `Row` each (see the module doc)."""
    from mapc.compiler.evaluate import lower_bound, evaluate
    from mapc.solvers import baseline

    say = progress or (lambda _m: None)
    bound = lower_bound(problem.cost)
    say("baseline reference")
    base = baseline.solve(problem, budget)
    edp_base = evaluate(base.schedule, problem.cost, problem.graph, bound=bound).edp
    rows = []
    for k, name in enumerate(solvers):
        say(f"[{k + 1}/{len(solvers)}] {name} ({budget.time_limit:g} s budget)")
        row, _ = run_one(problem, name, budget, bound, edp_base)
        rows.append(row)
    return rows


# ---- output ------------------------------------------------------------------------------------------------
def _num(x) -> str:
    return "" if x is None else repr(float(x))


def rows_csv(rows: list[Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for r in rows:
        d = r.record()
        w.writerow([d[k] if isinstance(d[k], str) else _num(d[k]) for k in CSV_FIELDS])
    return buf.getvalue()


def plot_anytime(rows: list[Row], path, objective: str = "edp", title: str = "") -> bool:
    """Best objective vs wall time, one step line per solver (log axes where values span > 10x). False when no
    solver has a trace."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = [(r.solver, r.trace, r.wall_s) for r in rows if r.trace and r.status != "rejected"]
    if not lines:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ts, vs = [], []
    for name, tr, wall in lines:
        t = [max(float(a), 1e-4) for a, _ in tr]
        v = [float(b) for _, b in tr]
        t.append(max(float(wall), t[-1])); v.append(v[-1])
        ax.step(t, v, where="post", label=name, marker="o", markersize=3)
        ts += t; vs += [x for x in v if x > 0]
    if ts and max(ts) / min(ts) > 10:
        ax.set_xscale("log")
    if vs and max(vs) / min(vs) > 10:
        ax.set_yscale("log")
    unit = {"edp": "EDP (J*s)", "energy": "energy (J)", "latency": "makespan (s)"}[objective]
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel(f"best {unit}")
    ax.set_title(title or "anytime: best objective vs time")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_compare(out_dir, rows: list[Row], meta: dict | None = None, objective: str = "edp") -> list[str]:
    """Write compare.csv, compare.json, anytime.png into `out_dir` atomically; returns the paths written."""
    from mapc.compiler.emit import jsonable, write_dir_atomic

    def build(tmp: Path) -> None:
        (tmp / "compare.csv").write_text(rows_csv(rows), encoding="utf-8")
        doc = {"meta": meta or {}, "rows": [r.record() for r in rows]}
        (tmp / "compare.json").write_text(json.dumps(jsonable(doc), indent=1, allow_nan=False) + "\n",
                                          encoding="utf-8")
        plot_anytime(rows, tmp / "anytime.png", objective, (meta or {}).get("title", ""))

    return write_dir_atomic(out_dir, build, OUTPUT_FILES)


def table(rows: list[Row], title: str = ""):
    """A rich Table of the rows, in human units."""
    from rich.table import Table
    from mapc.compiler.emit import fmt_si

    t = Table(title=title or None)
    for c in ("solver", "status", "latency", "energy", "EDP", "EDP vs baseline", "makespan/bound", "gap", "wall"):
        t.add_column(c, justify="left" if c in ("solver", "status") else "right")
    pct = lambda x: "n/a" if x is None else f"{x:+.1f}%"
    for r in rows:
        t.add_row(r.solver, r.status, fmt_si(r.latency_s, "s"), fmt_si(r.energy_j, "J"), fmt_si(r.edp_js, "J*s"),
                  pct(r.edp_vs_baseline_pct),
                  "n/a" if r.makespan_over_bound is None else f"{r.makespan_over_bound:.3f}x",
                  "n/a" if r.gap is None else f"{r.gap:.1%}", fmt_si(r.wall_s, "s"))
    return t


# ---- command line ------------------------------------------------------------------------------------------
def add_arguments(p) -> None:
    """Arguments of `mapc compare` (called by mapc.cli; the same argument types as `mapc compile`)."""
    from mapc.cli import nonempty, seed_int, positive_float, positive_int, threads_int
    from mapc.compiler.driver import OBJECTIVES
    p.add_argument("file", type=nonempty, help="mapc source file")
    p.add_argument("--hw", type=nonempty, default=None, metavar="HW", help="hardware preset or file (default: the file's own)")
    p.add_argument("--solvers", default=None, metavar="LIST",
                   help="comma-separated solvers (default: every available one: cpsat,ga,scar,greedy,baseline)")
    p.add_argument("--time-limit", type=positive_float, default=10.0, metavar="S",
                   help="seconds per solver (default 10)")
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--threads", type=threads_int, default=2, metavar="N",
                   help="solver threads (default 2; cpsat uses them with --wall-clock)")
    p.add_argument("--wall-clock", action="store_true",
                   help="stop solvers on wall time (cpsat: parallel workers); results may differ between runs")
    p.add_argument("--objective", choices=OBJECTIVES, default="edp", help="objective (default edp)")
    p.add_argument("--segment", type=positive_int, default=None, metavar="N",
                   help="layers per task (default: the file's)")
    p.add_argument("-o", "--out", type=nonempty, default=None, metavar="DIR",
                   help="output directory (default ./<stem>.compare/)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def cli_main(args) -> int:
    """`mapc compare`: build the problem, run the solvers, print the table (or JSON), write the files."""
    from mapc.cli import _console, _print_json, _progress
    from mapc.compiler import driver

    from mapc.compiler.emit import check_output_dir

    solvers = parse_solvers(args.solvers) if args.solvers else order_default(available_solvers())
    budget = Budget(time_limit=args.time_limit, seed=args.seed, threads=args.threads,
                    deterministic=not args.wall_clock)
    out = Path(args.out) if args.out else Path.cwd() / f"{Path(args.file).stem}.compare"
    check_output_dir(out)                      # before the solvers run, not after
    with _progress(not args.json, f"reading {args.file}") as progress:
        spec, hw = driver.load_inputs(args.file, args.hw)
        problem = driver.build_problem(spec, hw, objective=args.objective, segment=args.segment,
                                       progress=progress)
        rows = compare(problem, solvers, budget, progress=progress)
    meta = {"input": str(args.file), "input_sha256": driver.file_sha256(args.file), "hardware": hw.name,
            "tasks": problem.graph.n, "objective": args.objective, "time_limit_s": args.time_limit,
            "seed": args.seed, "threads": args.threads, "title": f"{Path(args.file).name} on {hw.name}"}
    files = write_compare(out, rows, meta, args.objective)
    if args.json:
        _print_json({"ok": True, "command": "compare", "output_dir": str(out), "files": files, "meta": meta,
                     "rows": [r.record() for r in rows]})
    else:
        _console().print(table(rows, meta["title"]))
        print(f"wrote {out}{os.sep} ({', '.join(Path(f).name for f in files)})")
    return 0


def order_default(names: list[str]) -> list[str]:
    """The issue's order: cpsat, ga, scar, greedy, baseline (those available)."""
    pref = ["cpsat", "ga", "scar", "greedy", "baseline"]
    return [n for n in pref if n in names] + [n for n in names if n not in pref]
