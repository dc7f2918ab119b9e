"""The common solver interface: a `Problem` and `SolveOptions` in, a `SolveResult` out.

Every solver module exposes `solve(problem: Problem, options: SolveOptions) -> SolveResult` and is listed in
`mapc.solvers.registry.SOLVERS` under its command-line name. Solvers read the objective from
`options.goal` and their tuning knobs from their own record (`options.greedy`, `options.ga`, ...); their
statistics are a frozen `SolverStats` subclass, written to schedule.json by `to_dict()`.
"""

from __future__ import annotations

import numpy as np

from mapc.compiler.problem import Problem
from mapc.core.options import Objective, SolveOptions
from mapc.core.solution import SolveResult, SolverStats, Status

__all__ = ["Decisions", "Named", "Objective", "Problem", "SolveOptions", "SolveResult", "SolverStats", "Status"]

Decisions = tuple[np.ndarray, np.ndarray, np.ndarray]    # (placement_index, resident, start), each over tasks
Named = tuple[str, np.ndarray, np.ndarray, np.ndarray]   # a schedule with where it came from: (label, *Decisions)
