"""`mapc bench`: the fixed suite, every example x every preset it fits x every available solver.

An (example, preset) pair is in the suite when the example loads, has a workload, passes the spec/hardware
validation and lowers and prices on the preset (an example whose weights need resident SRAM it cannot get, or
whose tensor degree exceeds the preset, is skipped with its reason). Each pair runs `compare.compare` with the
same budget, so every row is checked by the independent checker. Writes `results.csv` (one row per example x
preset x solver) and `results.md` (a markdown table naming the machine and the command) into the out dir.
`quick` runs the smallest examples on `mcm6x6` only, with the fast solvers, for tests; its default output folder
is `./bench-quick/`, never the repository's committed `bench/results.*`.

The examples are the ones shipped inside the package (`mapc.examples`, package data), so `mapc bench` works from
an installed wheel as from a checkout.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import platform
import time
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from mapc import api
from mapc.apps import compare
from mapc.apps.common import nonempty, positive_float, print_json, progress, seed_int
from mapc.compiler.evaluate import lower_bound
from mapc.compiler.files import check_output_dir, write_dir_atomic
from mapc.compiler.report import fmt_si
from mapc.core.errors import EXIT_OK, MapcError
from mapc.core.options import SolveOptions
from mapc.hw import presets

QUICK_EXAMPLES = ("arvr_mix.dsl",)
QUICK_PRESETS = ("mcm6x6",)
QUICK_SOLVERS = ("baseline", "greedy", "scar", "ga")
FIELDS = ("example", "preset", "tasks", "solver", "status", "latency_s", "energy_j", "edp_js",
          "edp_vs_baseline_pct", "makespan_over_bound", "gap", "wall_s", "evals_per_s")


DEFAULT_OUT, QUICK_OUT = "bench", "bench-quick"


def examples_dir() -> Path:
    """The folder of the example source files shipped with the package."""
    return Path(str(resources.files("mapc.examples")))


def machine() -> str:
    """CPU model and core count, for the results' header."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu or platform.machine()}, {os.cpu_count()} logical cores, Python {platform.python_version()}"


def suite(quick: bool = False, examples: Path | None = None) -> list[tuple[Path, str]]:
    """[(example path, preset name)] of the suite."""
    ex = Path(examples) if examples else examples_dir()
    files = sorted(p for p in ex.glob("*.dsl") if not quick or p.name in QUICK_EXAMPLES)
    names = [n for n in presets.PRESETS if not quick or n in QUICK_PRESETS]
    return [(f, n) for f in files for n in names]


def run(time_limit: float = 5.0, out: str | os.PathLike[str] = DEFAULT_OUT, quick: bool = False, seed: int = 0,
        solvers: list[str] | None = None, progress: Callable[[str], None] | None = None,
        examples: Path | None = None) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]], list[str]]:
    """Run the suite; returns (rows, skipped, files written)."""
    say = progress or (lambda _m: None)
    avail = list(api.solver_names())
    names = [s for s in (solvers or (QUICK_SOLVERS if quick else compare.order_default(avail))) if s in avail]
    options = SolveOptions(time_limit=time_limit, seed=seed)
    rows: list[dict[str, Any]] = []
    skipped: list[tuple[str, str, str]] = []            # (example, preset, reason)
    t0 = time.perf_counter()
    for path, preset in suite(quick, examples):
        say(f"{path.name} on {preset}")
        try:
            spec = api.load(path)
            if spec.workload is None:
                skipped.append((path.name, preset, "no workload"))
                continue
            problem = api.lower(spec, preset)
            lower_bound(problem.cost)                  # raises InfeasibleError when some task fits nowhere
        except MapcError as e:
            skipped.append((path.name, preset, e.message.splitlines()[0]))
            continue
        for r in compare.compare(problem, names, options, progress=say):
            d = r.record()
            rows.append({"example": path.name, "preset": preset, "tasks": problem.graph.n,
                         **{k: d[k] for k in FIELDS if k in d}})
    files = write(out, rows, skipped, time_limit, quick, seed, time.perf_counter() - t0)
    return rows, skipped, files


def _fmt(x: float | str | None, kind: str) -> str:
    if x is None or x == "":
        return "n/a"
    if kind == "pct":
        return f"{x:+.1f}%"
    if kind == "ratio":
        return f"{x:.3f}"
    return fmt_si(float(x), kind)


def markdown(rows: list[dict[str, Any]], skipped: list[tuple[str, str, str]], time_limit: float, quick: bool,
             seed: int, wall: float) -> str:
    cmd = "mapc bench" + (" --quick" if quick else "") + f" --time-limit {time_limit:g}" + (f" --seed {seed}" if seed else "")
    out = [f"Command: `{cmd}` (seed {seed}; {wall:.0f} s in all)  ",
           f"Machine: {machine()}", "",
           "| example | preset | tasks | solver | status | latency | energy | EDP | EDP vs baseline | "
           "makespan / bound | gap | wall |",
           "| --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        out.append(f"| {r['example']} | {r['preset']} | {r['tasks']} | {r['solver']} | {r['status']} | "
                   f"{_fmt(r['latency_s'], 's')} | {_fmt(r['energy_j'], 'J')} | {_fmt(r['edp_js'], 'J*s')} | "
                   f"{_fmt(r['edp_vs_baseline_pct'], 'pct')} | {_fmt(r['makespan_over_bound'], 'ratio')} | "
                   f"{'n/a' if r['gap'] is None else format(r['gap'], '.1%')} | {_fmt(r['wall_s'], 's')} |")
    if skipped:
        out += ["", "Skipped (no workload, or the example does not fit the preset):", ""]
        out += [f"- {e} on {p}: {why}" for e, p, why in skipped]
    return "\n".join(out) + "\n"


def write(out: str | os.PathLike[str], rows: list[dict[str, Any]], skipped: list[tuple[str, str, str]],
          time_limit: float, quick: bool, seed: int, wall: float) -> list[str]:
    """Write results.csv and results.md into `out` atomically (other files there are left alone)."""
    def build(tmp: Path) -> None:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=("example", "preset", "tasks") + FIELDS[3:], lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
        (tmp / "results.csv").write_text(buf.getvalue(), encoding="utf-8")
        (tmp / "results.md").write_text(markdown(rows, skipped, time_limit, quick, seed, wall), encoding="utf-8")

    return write_dir_atomic(out, build, ("results.csv", "results.md"))


# ---- command line ------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-limit", type=positive_float, default=5.0, metavar="S",
                   help="seconds per solver run (default 5)")
    p.add_argument("--out", "-o", type=nonempty, default=None, metavar="DIR",
                   help=f"output directory (default {DEFAULT_OUT}/, with --quick {QUICK_OUT}/)")
    p.add_argument("--quick", action="store_true", help="a small suite (arvr_mix on mcm6x6, fast solvers)")
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--solvers", default=None, metavar="LIST", help="comma-separated solvers (default: all available)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def cli_main(args: argparse.Namespace) -> int:
    solvers = compare.parse_solvers(args.solvers) if args.solvers else None
    out = args.out or (QUICK_OUT if args.quick else DEFAULT_OUT)
    check_output_dir(out)                      # before the suite runs, not after
    with progress(not args.json, "benchmark") as step:
        rows, skipped, files = run(args.time_limit, out, args.quick, args.seed, solvers, step)
    if not rows:
        raise MapcError(f"the benchmark ran nothing: no example of {examples_dir()} fits a preset",
                        hint="check the installation: the examples ship inside the package")
    if args.json:
        print_json({"ok": True, "command": "bench", "files": files, "rows": rows,
                     "skipped": [list(s) for s in skipped], "machine": machine()})
    else:
        print(Path(files[1]).read_text(encoding="utf-8"))
        print(f"wrote {', '.join(files)}")
    return EXIT_OK
