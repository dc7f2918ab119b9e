"""One design point of `mapc explore`: its hardware, its cost proxies and its scores, as plain records.

`design_of` turns sampled knob values into a `Hardware` and its cost summary (PEs, SRAM, area and peak power
proxies of `mapc.hw.variants.area_of`) on the client, where the `--max-area`/`--max-power` constraints are
checked before anything is scheduled. `score` runs on a worker (a Dask process or the client itself): the variant
is validated, lowered, priced, scheduled by one solver, checked and evaluated through `mapc.api`, and the outcome
comes back as a JSON-ready dict (it is stored in the Optuna study as is). A variant the workload cannot run on
(weights exceed DRAM, no schedule, ...) is an outcome with a status and a reason, never an exception.

`Point` is one row of the final table, rebuilt from the study's trials, and `pareto_mask` marks the non-dominated
ones. Statuses: ok; skipped (the workload does not fit: the reason says why); no_solution (no schedule within
the budget); rejected (a solver bug caught by the checker); pruned (a constraint, not scheduled); error (an
unexpected failure of the evaluation, e.g. a lost worker).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mapc import api
from mapc.core.errors import InfeasibleError, InvalidScheduleError, MapcError, NoSolutionError
from mapc.core.hardware import Hardware
from mapc.core.options import SolveOptions
from mapc.core.spec import Spec
from mapc.hw.variants import KnobValue, area_of, derive

OBJECTIVE_KEYS = {"latency": "latency_s", "energy": "energy_j", "edp": "edp_js", "area": "area_m2"}
SCORE_KEYS = ("latency_s", "energy_j", "edp_js", "throughput_tokens_per_s", "bound_s", "makespan_over_bound")
HW_KEYS = ("chiplets", "pes", "sram_bytes", "area_m2", "peak_power_w", "peak_flops", "dram_bandwidth", "link_bw")


def design_of(base: Hardware, settings: Mapping[str, KnobValue], name: str) -> tuple[Hardware, dict[str, float]]:
    """The variant of `base` with `settings` and its cost summary (`HW_KEYS`, SI units)."""
    hw = derive(base, settings, name)
    cost = area_of(hw)
    return hw, {"chiplets": hw.n, "pes": cost["pes"], "sram_bytes": cost["sram_bytes"], "area_m2": cost["area_m2"],
                "peak_power_w": cost["peak_power_w"], "peak_flops": hw.peak_flops,
                "dram_bandwidth": hw.dram_bandwidth, "link_bw": hw.nop.link_bw}


def score(spec: Spec, base: Hardware, settings: Mapping[str, KnobValue], name: str, options: SolveOptions,
          segment: int | None = None) -> dict[str, Any]:
    """Schedule `spec` on the variant (module doc): {"status", "reason", "solver", "solver_status", "wall_s",
    and on success the `SCORE_KEYS`}. Deterministic given the options (solvers run deterministic)."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {"solver": options.solver}
    try:
        hw = derive(base, settings, name)
        r = api.solve(api.lower(spec, hw, segment=segment), options)
    except InvalidScheduleError as e:
        out.update(status="rejected", reason=e.message.splitlines()[0])
    except NoSolutionError as e:
        out.update(status="no_solution", reason=e.message)
    except (InfeasibleError, MapcError) as e:
        out.update(status="skipped", reason=e.message)
    else:
        m = r.metrics
        ratio = m.bound_ratio if m.bound_ratio is not None and math.isfinite(m.bound_ratio) else None
        out.update(status="ok", reason="", solver_status=str(r.solution.status), latency_s=float(m.makespan),
                   energy_j=float(m.energy), edp_js=float(m.edp), throughput_tokens_per_s=float(m.throughput),
                   bound_s=float(m.bound.value), makespan_over_bound=ratio)
    out["wall_s"] = time.perf_counter() - t0
    return out


def objective_values(objectives: Sequence[str], fast: Mapping[str, Any], hw: Mapping[str, Any]) -> list[float]:
    """The values of `objectives` (latency, energy, edp, area) of a scored design, in order."""
    return [float(hw["area_m2"]) if o == "area" else float(fast[OBJECTIVE_KEYS[o]]) for o in objectives]


def pareto_mask(*columns: Sequence[float]) -> np.ndarray:
    """Bool mask of the points not dominated when minimising every column (a point dominates another when it
    is no worse in every column and strictly better in one; equal points do not dominate each other)."""
    cols = np.asarray(columns, dtype=float).reshape(len(columns), -1)
    n = cols.shape[1]
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        dom = np.all(cols <= cols[:, i:i + 1], axis=0) & np.any(cols < cols[:, i:i + 1], axis=0)
        keep[i] = not dom.any()
    return keep


@dataclass(frozen=True)
class Point:
    """One trial of the study as a table row (SI units). `fast` holds the fast-path scores (the trial's solver,
    the lower bound), `refined` the cpsat re-score of a front point (empty when not refined); numbers are None
    when the trial was not scheduled."""

    trial: int
    hardware: str
    params: tuple[tuple[str, str], ...]        # (key, label) in --vary order
    raw: tuple[tuple[str, Any], ...]           # (key, sampled value) as the study stores it
    status: str
    reason: str
    fast: Mapping[str, Any]
    refined: Mapping[str, Any]
    hw: Mapping[str, Any]
    pareto: bool = False                       # on the front of the chosen objectives
    pareto_latency_energy: bool = False
    pareto_edp_area: bool = False
    cached_from: int | None = None             # same parameters as this earlier trial: its scores reused

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def get(self, key: str) -> Any:
        """A fast score or a hardware figure by name (None when absent)."""
        return self.fast.get(key, self.hw.get(key))

    def record(self) -> dict[str, Any]:
        """A JSON-ready dict: trial, hardware, params, status, reason, the fast scores at top level, the cost
        summary, `refined` and the Pareto flags."""
        d: dict[str, Any] = {"trial": self.trial, "hardware": self.hardware, "params": dict(self.params),
                             "values": dict(self.raw), "status": self.status, "reason": self.reason}
        d.update({k: self.fast.get(k) for k in SCORE_KEYS})
        d.update({k: self.hw.get(k) for k in HW_KEYS})
        d.update(solver=self.fast.get("solver"), wall_s=self.fast.get("wall_s"), refined=dict(self.refined) or None,
                 pareto=self.pareto, pareto_latency_energy=self.pareto_latency_energy,
                 pareto_edp_area=self.pareto_edp_area, cached_from=self.cached_from)
        return d
