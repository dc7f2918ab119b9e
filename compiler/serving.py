"""Serving strategy choices for a compile: PD regions, `pd auto` candidates, placement policies, TP scheme.

* `pd disaggregated(prefill=N, decode=M)`: prefill tasks may only use chiplets 0..N-1 (row-major: the first
  N cores, the top rows of a mesh) and decode tasks N..N+M-1 (`CostModel(regions=...)` makes every other
  placement infinitely slow for them, so every solver obeys the split); the KV of each prompt moves from the
  prefill to the decode cores as graph edges (`mapc.compiler.lower`).
* `pd auto`: mapc compiles fused and a few splits (prefill = 1/4, 1/2, 3/4 of the cores, rounded to the tensor
  degree) and keeps the best by the objective (`pd_candidates`).
* `placement auto` (written in the file): the cost model carries the placements of every policy (block, row,
  column, snake) and the solvers choose; no `placement`: block; a named policy fixes it.
"""

from __future__ import annotations

from dataclasses import replace

from mapc.core.hardware import Hardware
from mapc.core.spec import ParallelSpec

POLICIES = ("block", "row", "column", "snake")


def regions_for(parallel: ParallelSpec | None, hw: Hardware) -> dict[str, tuple[int, ...]] | None:
    """{phase: chiplet ids} for a disaggregated split, None for fused."""
    if parallel is None or parallel.pd != "disaggregated":
        return None
    n_p = parallel.pd_prefill or hw.n // 2
    n_d = parallel.pd_decode or hw.n - n_p
    return {"prefill": tuple(range(0, n_p)), "decode": tuple(range(n_p, min(hw.n, n_p + n_d)))}


def placement_policies(parallel: ParallelSpec | None) -> str | tuple[str, ...]:
    """The placement policy argument of `CostModel` for a parallel spec."""
    if parallel is None:
        return "block"
    if parallel.placement:
        return parallel.placement
    if "placement" in parallel.locs:      # written `placement auto`
        return POLICIES
    return "block"


def tp_scheme(parallel: ParallelSpec | None) -> str:
    """`tp 1d|2d` when the file says so, else the cost backend's default ("gather")."""
    return (parallel.tp_scheme if parallel is not None else None) or "gather"


def pd_candidates(parallel: ParallelSpec, hw: Hardware) -> list[tuple[str, ParallelSpec]]:
    """(label, ParallelSpec) pairs `pd auto` tries: fused, then prefill = n/4, n/2, 3n/4 cores."""
    n, k = hw.n, parallel.tensor or 1
    out = [("fused", replace(parallel, pd="fused", pd_prefill=None, pd_decode=None))]
    seen: set[int] = set()
    for frac in (0.25, 0.5, 0.75):
        p = max(k, int(round(n * frac / k)) * k)
        if p >= n or n - p < k or p in seen:
            continue
        seen.add(p)
        out.append((f"disaggregated(prefill={p}, decode={n - p})",
                    replace(parallel, pd="disaggregated", pd_prefill=p, pd_decode=n - p)))
    return out
