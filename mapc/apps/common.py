"""What every command shares: argparse value types, the JSON printer, the rich console and the progress
spinner. Commands print through these so that `--json` always prints exactly one JSON document."""

from __future__ import annotations

import argparse
import json
import math
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from rich.console import Console

from mapc.compiler.files import jsonable
from mapc.core.options import MAX_SEED, MAX_THREADS, OBJECTIVES, SolveOptions

Progress = Callable[[str], None]


def print_json(doc: Any) -> None:
    """One JSON document on stdout (NumPy values made plain, non-finite numbers as null)."""
    sys.stdout.write(json.dumps(jsonable(doc), indent=1, allow_nan=False) + "\n")


def console(stderr: bool = False) -> Console:
    """A rich console; when piped (no TTY) it is wide enough that tables are never cut to 80 columns."""
    stream = sys.stderr if stderr else sys.stdout
    tty = hasattr(stream, "isatty") and stream.isatty()
    return Console(file=stream, highlight=False, width=None if tty else 160)


@contextmanager
def progress(enabled: bool, first: str) -> Iterator[Progress]:
    """A rich status spinner on stderr (only on a TTY); yields a callback that updates its text."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _msg: None
        return
    with console(stderr=True).status(first) as st:
        yield lambda msg: st.update(msg)


def _positive(kind: type) -> Callable[[str], Any]:
    """argparse type: a finite number > 0 of `kind` (float or int); `inf`, `nan` and 1e400 are refused."""
    def parse(s: str) -> Any:
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {'number' if kind is float else 'whole number'}, got {s!r}")
        if not (v > 0 and math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {s}")
        return v
    return parse


positive_float, positive_int = _positive(float), _positive(int)


def nonempty(s: str) -> str:
    """argparse type for paths and names: refuses "" (an unset shell variable, `-o $OUT`), which would
    otherwise mean the current directory."""
    if not s.strip():
        raise argparse.ArgumentTypeError("expected a path or name, got an empty string")
    return s


def _bounded_int(lo: int, hi: int, what: str) -> Callable[[str], int]:
    """argparse type: a whole number in [lo, hi]."""
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}")
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be between {lo} and {hi}, got {s}")
        return v
    return parse


seed_int = _bounded_int(0, MAX_SEED, "a seed")
threads_int = _bounded_int(1, MAX_THREADS, "the thread count")


def add_budget_arguments(p: argparse.ArgumentParser, time_limit: float = 10.0) -> None:
    """--objective, --time-limit, --threads, --seed, --wall-clock: the `SolveOptions` every solving command
    takes (`options_from`)."""
    p.add_argument("--objective", choices=OBJECTIVES, default=None,
                   help="what to minimise: latency, energy, edp or slo (default: slo when the workload sets SLO targets, else edp)")
    p.add_argument("--time-limit", type=positive_float, default=time_limit, metavar="S",
                   help=f"solver budget in seconds (default {time_limit:g})")
    p.add_argument("--threads", type=threads_int, default=2, metavar="N",
                   help="solver threads (default 2; cpsat uses them with --wall-clock)")
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--wall-clock", action="store_true",
                   help="stop solvers on wall time and let cpsat run --threads parallel workers: often better "
                        "within the budget, but the schedule may differ between runs (default: deterministic)")


def options_from(args: argparse.Namespace, solver: str | None = None) -> SolveOptions:
    """The `SolveOptions` of parsed budget arguments (`add_budget_arguments`) and a solver name."""
    return SolveOptions(solver=solver or getattr(args, "solver", None) or SolveOptions().solver,
                        objective=args.objective, time_limit=args.time_limit, threads=args.threads, seed=args.seed,
                        wall_clock=args.wall_clock)
