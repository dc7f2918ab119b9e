"""Options of a solve: frozen records passed in by the caller, never module-level settings.

`SolveOptions` is what `mapc.api.solve` and every solver take: the solver's name, the objective, the budget
(time limit, threads, seed, wall-clock or deterministic) and one typed record of tuning knobs per solver. The
defaults are the values the benchmarks were measured with; tests and scripts pass other values instead of
patching modules.

Budgets: by default a run is deterministic, the same input, seed and options give the same schedule whatever
the machine's load (solvers count iterations or CP-SAT deterministic time, the wall time is only a safety cap);
`wall_clock=True` lets solvers stop on wall time and run parallel workers instead (often better within the
budget, not reproducible).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

Objective = Literal["latency", "energy", "edp", "slo"]
OBJECTIVES: tuple[Objective, ...] = ("latency", "energy", "edp", "slo")   # slo: `mapc.compiler.slo`
SOLVER_NAMES: tuple[str, ...] = ("baseline", "greedy", "scar", "ga", "cpsat")   # in the order reports show them
DEFAULT_SOLVER = "greedy"
MAX_SEED = 2**31 - 1      # CP-SAT takes a 32-bit signed seed
MAX_THREADS = 64          # more workers only add memory (CP-SAT at 500 workers: 0.6 GB)


@dataclass(frozen=True)
class GreedyOptions:
    """`greedy` (HEFT + energy-weighted sweep, `mapc.solvers.greedy`)."""

    lambdas: tuple[float, ...] = (0.1, 0.03, 0.3, 1.0, 0.05)   # energy weights of the sweep, most useful first
    sweep_tasks: int = 10_000        # the sweep places at most about this many tasks (len(lambdas) caps it)


@dataclass(frozen=True)
class ScarOptions:
    """`scar` (SCAR-style windows + local search, `mapc.solvers.scar`)."""

    moves: int | None = None         # local-search moves; None: derived from the time limit (deterministic)
    max_moves: int = 20_000


@dataclass(frozen=True)
class GaOptions:
    """`ga` (Compass-style genetic search, `mapc.solvers.ga`)."""

    population: int = 24             # genomes per generation
    elite: int = 2                   # best genomes copied unchanged into the next generation
    tournament: int = 3
    p_crossover: float = 0.7
    generations: int | None = None   # fixed generation count; None: derived from the time limit (deterministic)
    max_generations: int = 2000
    cache_bytes: float = 2e8         # decoded-genome cache: about this many bytes of (resident, start) arrays


@dataclass(frozen=True)
class CpsatOptions:
    """`cpsat` (OR-Tools CP-SAT, `mapc.solvers.cpsat`)."""

    small_tasks: int = 40            # one whole model up to this many tasks (and `small_options` literals) ...
    small_options: int = 2_500
    neighbourhood_tasks: int = 48    # ... else chain LNS with neighbourhoods of at most this many free tasks
    per_class: int = 3               # placements kept per Pareto (latency, energy) class of a window task
    rungs: int = 4                   # epsilon-constraint rungs of the EDP sweep
    steady_share: float = 0.1        # of the budget for the steady-state (modulo) model of repeated micro-batch
                                     # chains (`mapc.solvers.cpsat_steady`), when the graph has such groups


@dataclass(frozen=True)
class SolveOptions:
    """Which solver, what to minimise, and the budget.

    `objective` None means the problem's default: `slo` when the workload sets SLO targets (chosen by
    `mapc.api.solve`), else `edp`. `time_limit` is in seconds; in the default
    deterministic mode it sizes the search (iterations, CP-SAT deterministic time) and caps wall time.
    """

    solver: str = DEFAULT_SOLVER
    objective: Objective | None = None
    time_limit: float = 10.0
    threads: int = 2
    seed: int = 0
    wall_clock: bool = False
    greedy: GreedyOptions = field(default_factory=GreedyOptions)
    scar: ScarOptions = field(default_factory=ScarOptions)
    ga: GaOptions = field(default_factory=GaOptions)
    cpsat: CpsatOptions = field(default_factory=CpsatOptions)

    @property
    def deterministic(self) -> bool:
        """Same input + seed + options -> same schedule (the default; off with `wall_clock`)."""
        return not self.wall_clock

    @property
    def goal(self) -> Objective:
        """The objective to minimise (`objective`, or `edp` when unset)."""
        return self.objective or "edp"

    def with_(self, **changes: Any) -> "SolveOptions":
        """A copy with some fields changed (`dataclasses.replace`)."""
        return replace(self, **changes)
