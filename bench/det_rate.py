"""How fast CP-SAT's deterministic clock runs against the wall clock in `cpsat`'s calls, per instance.

Why: `cpsat` spends its budget in deterministic seconds (`DET_PER_S` per budget second for whole models,
`DET_PER_S_LNS` for LNS windows, `mapc.solvers.cpsat_run`) so that the same input, seed and budget give the same
schedule on any load; the wall clock is only a safety cap. If the clock runs slower than assumed, a run takes
longer than its budget and, past 2x, hits the cap and loses determinism. This script measures the rates those
constants rest on. Usage (one after the other on an idle machine):

    python bench/det_rate.py --time-limit 20 examples/llama2_7b_chat.dsl@mcm6x6 examples/hf_model.dsl@mcm6x6 ...

Prints per call (kind, wall s, deterministic s, its limit, det s per wall s, model size) and per instance the
run's wall time, whether it stayed deterministic and the rate summed over its calls.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from mapc import api
from mapc.core.options import SolveOptions
from mapc.solvers import cpsat_run


def measure(path: str, hw: str, time_limit: float, threads: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Solve one instance with cpsat (latency, seed 0) and return (per-call rows, summary)."""
    rows: list[dict[str, Any]] = []
    orig = cpsat_run.Driver._collect

    def collect(self: cpsat_run.Driver, bm: Any, solver: Any, st: Any, kind: str, cap: Any, sink: Any) -> Any:
        r = solver.response_proto
        nov = sum(len(c.no_overlap.intervals) for c in bm.model.proto.constraints if c.has_no_overlap())
        cum = sum(len(c.cumulative.intervals) for c in bm.model.proto.constraints if c.has_cumulative())
        rows.append({"kind": kind, "wall": r.wall_time, "det": r.deterministic_time,
                     "limit": solver.parameters.max_deterministic_time, "vars": len(bm.model.proto.variables),
                     "no_overlap_intervals": nov, "cumulative_intervals": cum, "status": solver.status_name(st)})
        return orig(self, bm, solver, st, kind, cap, sink)

    cpsat_run.Driver._collect = collect     # type: ignore[method-assign]
    try:
        p = api.lower(api.load(path), hw)
        t0 = time.perf_counter()
        r = api.solve(p, SolveOptions(solver="cpsat", objective="latency", time_limit=time_limit,
                                      threads=threads, seed=0))
        wall = time.perf_counter() - t0
    finally:
        cpsat_run.Driver._collect = orig     # type: ignore[method-assign]
    st = r.solution.stats.to_dict() if r.solution.stats is not None else {}
    det = sum(x["det"] for x in rows)
    cw = sum(x["wall"] for x in rows)
    return rows, {"instance": f"{path}@{hw}", "tasks": p.graph.n, "wall_s": wall, "strategy": st.get("strategy"),
                  "deterministic": st.get("deterministic"), "calls": len(rows),
                  "rate": det / cw if cw > 0 else float("nan"), "makespan": r.metrics.makespan}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("instances", nargs="+", help="FILE@PRESET")
    ap.add_argument("--time-limit", type=float, default=20.0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    print("| instance | tasks | strategy | calls | det s / wall s (summed) | wall s | deterministic | makespan s |")
    print("|---|---|---|---|---|---|---|---|")
    for inst in a.instances:
        path, _, hw = inst.partition("@")
        rows, s = measure(path, hw or "mcm6x6", a.time_limit, a.threads)
        for x in rows:
            print(f"  {x['kind']:8s} wall {x['wall']:6.2f} det {x['det']:.3f} (limit {x['limit']:.3f}) "
                  f"rate {x['det'] / max(x['wall'], 1e-9):.3f} vars {x['vars']} "
                  f"no-overlap ivs {x['no_overlap_intervals']} cumulative ivs {x['cumulative_intervals']} "
                  f"{x['status']}", file=sys.stderr)
        print(f"| {s['instance']} | {s['tasks']} | {s['strategy']} | {s['calls']} | {s['rate']:.3f} | "
              f"{s['wall_s']:.1f} | {s['deterministic']} | {s['makespan']:.4g} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
