"""`Result`: everything one solve produced, the input of the emitters and of every report.

It bundles the problem (graph, hardware, cost model, directives), the solver's answer (`SolveResult`: the
schedule, status, objective, proven bound, anytime trace, statistics), the metrics the evaluator computed,
and the options the solve ran with. `mapc.api.solve` builds it; `mapc.api.write` turns it into files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mapc.compiler.evaluate import Metrics
from mapc.compiler.problem import Problem
from mapc.core.options import SolveOptions
from mapc.core.schedule import Schedule
from mapc.core.solution import SolveResult


@dataclass(frozen=True)
class Result:
    """One checked and evaluated schedule of a problem.

    `notes` are remarks for the user (e.g. which `pd auto` split won, a skipped plot); `timings` wall seconds
    per stage (load, lower, solve, check, evaluate, write, total); `files`/`out_dir` what `write` wrote.
    """

    problem: Problem
    solution: SolveResult
    metrics: Metrics
    options: SolveOptions
    notes: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    out_dir: str | None = None
    files: tuple[str, ...] = ()

    @property
    def schedule(self) -> Schedule:
        """The schedule (never None in a `Result`: a solve without one raises instead)."""
        assert self.solution.schedule is not None
        return self.solution.schedule

    @property
    def proven_makespan_bound(self) -> tuple[float, str]:
        """(s, source): the strongest proven lower bound on the makespan of THIS problem (the directives
        included), for judging the schedule: the evaluator's bound under the directives (`lower_bound_directives`
        in schedule.json), raised by the solver's own proven makespan bound where it has one (cpsat: its
        latency bound, or the whole model's makespan bound). `metrics.bound` is the hardware's bound, free of
        the directives: a valid but weaker bound that answers what the hardware could do, not this problem."""
        m, s = self.metrics, self.solution
        bd = m.bound_directives or m.bound
        best, src = float(bd.value), bd.tightest + (" (directives)" if self.problem.cost.restrictions else "")
        cands = [float(s.stats.to_dict().get("bound_makespan_s") or 0.0)]
        if self.options.goal == "latency" and s.bound is not None:
            cands.append(float(s.bound))
        for c in cands:
            if c > best * (1 + 1e-12):
                best, src = c, f"{s.solver or 'solver'} (proven by the solver)"
        return best, src

    @property
    def source_file(self) -> str:
        """The source file the problem came from ("" when it was built in memory)."""
        spec = self.problem.spec
        return spec.file if spec is not None and not spec.file.startswith("<") else ""

    @property
    def source_sha256(self) -> str:
        spec = self.problem.spec
        return spec.sha256 if spec is not None else ""
