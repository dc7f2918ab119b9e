"""Solvers by command-line name. Each entry imports its module only when called, so a solver under
construction (or one whose dependency is missing) never breaks the others."""

from __future__ import annotations

import importlib
import importlib.util
import time
from dataclasses import replace
from typing import Callable

from mapc.core.errors import MapcError
from mapc.solvers.base import Budget, Problem, SolveResult, score

# name -> module under mapc.solvers exposing `solve(problem, budget)`; in the order `mapc compare` shows them
KNOWN = {"baseline": "baseline", "greedy": "greedy", "scar": "scar", "ga": "ga", "cpsat": "cpsat"}


def _lazy(name: str, module: str) -> Callable[[Problem, Budget], SolveResult]:
    def solve(problem: Problem, budget: Budget = Budget()) -> SolveResult:
        try:
            mod = importlib.import_module(f"mapc.solvers.{module}")
        except ImportError as e:
            raise MapcError(f"solver {name!r} cannot be loaded: {e}") from e
        return mod.solve(problem, budget)

    solve.__name__ = f"solve_{name}"
    solve.__doc__ = f"Run mapc.solvers.{module}.solve (imported on first call)."
    return solve


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(f"mapc.solvers.{module}") is not None
    except (ImportError, ValueError):
        return False


SOLVERS: dict[str, Callable[[Problem, Budget], SolveResult]] = {
    name: _lazy(name, mod) for name, mod in KNOWN.items() if _exists(mod)
}


def names() -> list[str]:
    return list(SOLVERS)


def get(name: str) -> Callable[[Problem, Budget], SolveResult]:
    """The solve function registered under `name`; `MapcError` listing the names if there is none."""
    try:
        return SOLVERS[name]
    except KeyError:
        raise MapcError(f"unknown solver {name!r}", hint="available solvers: " + ", ".join(SOLVERS)) from None


def run(name: str, problem: Problem, budget: Budget = Budget()) -> SolveResult:
    """Run solver `name`, filling `solver`, `wall_time` and, if the solver left it out, `objective`."""
    fn = get(name)
    t0 = time.perf_counter()
    r = fn(problem, budget)
    wall = time.perf_counter() - t0
    obj = r.objective
    if obj is None and r.schedule is not None:
        obj = score(r.schedule, problem.cost, problem.objective)
    return replace(r, solver=name, wall_time=wall, objective=obj)
