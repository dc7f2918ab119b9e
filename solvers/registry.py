"""Solvers by command-line name, and the one way to run them (`run`).

`cpsat` is imported on first use only: OR-Tools (with pandas) takes about 0.4 s to import, which every other
command would pay for nothing.
"""

from __future__ import annotations

import difflib
import time
from dataclasses import replace
from typing import Callable

from mapc.compiler.objective import score
from mapc.compiler.problem import Problem
from mapc.core.errors import MapcError
from mapc.core.options import SOLVER_NAMES, SolveOptions
from mapc.solvers import baseline, ga, greedy, scar
from mapc.solvers.base import SolveResult

SolveFn = Callable[[Problem, SolveOptions], SolveResult]


def _cpsat(problem: Problem, options: SolveOptions) -> SolveResult:
    from mapc.solvers import cpsat      # heavy optional dependency (OR-Tools), see the module doc
    return cpsat.solve(problem, options)


SOLVERS: dict[str, SolveFn] = {"baseline": baseline.solve, "greedy": greedy.solve, "scar": scar.solve,
                               "ga": ga.solve, "cpsat": _cpsat}
assert tuple(SOLVERS) == SOLVER_NAMES


def names() -> list[str]:
    """Registered solver names, in the order reports show them."""
    return list(SOLVERS)


def get(name: str) -> SolveFn:
    """The solve function registered under `name`; `MapcError` with a did-you-mean hint if there is none."""
    try:
        return SOLVERS[name]
    except KeyError:
        folded = {n.lower(): n for n in SOLVERS}
        key = str(name).strip().lower()
        close = [folded[key]] if key in folded else difflib.get_close_matches(key, list(SOLVERS), n=1)
        raise MapcError(f"unknown solver {name!r}",
                        hint=(f"did you mean {close[0]!r}? " if close else "") + "solvers: " + ", ".join(SOLVERS)
                        ) from None


def run(problem: Problem, options: SolveOptions) -> SolveResult:
    """Run `options.solver` on `problem` with the objective resolved (`options.goal`), filling the result's
    `solver`, `wall_time` and, if the solver left it out, `objective`."""
    fn = get(options.solver)
    opts = options if options.objective is not None else replace(options, objective=options.goal)
    t0 = time.perf_counter()
    r = fn(problem, opts)
    wall = time.perf_counter() - t0
    obj = r.objective
    if obj is None and r.schedule is not None:
        obj = score(r.schedule, problem.cost, opts.goal)
    return replace(r, solver=options.solver, wall_time=wall, objective=obj)
