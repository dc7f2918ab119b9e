"""Regenerate the cpsat measurement table (markdown) for every example on a preset.

    .venv/bin/python bench/cpsat_table.py --budgets 10 60 --hw mcm6x6 > cpsat_table.md
    .venv/bin/python bench/cpsat_table.py --optimality 12 16 20 24     # largest instance proven optimal (2x2)

Per example and budget: tasks, cpsat objective (EDP, J*s), bound, gap, solver wall time, strategy, model size
(variables / constraints of the largest CP-SAT model built), and the EDP of greedy and baseline.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time

from mapc import api
from mapc.compiler.problem import Problem
from mapc.core.errors import MapcError
from mapc.core.options import SolveOptions
from mapc.hw.cost import CostModel

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from conftest import chain_graph, make_hw  # noqa: E402  (the tests' small hand-built instances)


def examples_table(hw_name: str, budgets, threads: int, objective: str) -> list[str]:
    rows = ["| example | tasks | budget s | cpsat EDP | bound | gap | wall s | strategy | vars / cons | "
            "greedy EDP | baseline EDP | cpsat vs greedy |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    here = os.path.dirname(os.path.abspath(__file__))
    for f in sorted(glob.glob(os.path.join(here, "..", "examples", "*.dsl"))):
        spec = api.load(f)
        if spec.workload is None:
            continue
        try:
            p = api.lower(spec, hw_name)
        except MapcError as e:       # the example does not fit this hardware
            print(f"skip {f}: {e.message}", file=sys.stderr)
            continue
        g = api.solve(p, SolveOptions(solver="greedy", objective=objective)).solution.objective
        b = api.solve(p, SolveOptions(solver="baseline", objective=objective)).solution.objective
        for tl in budgets:
            t = time.perf_counter()
            res = api.solve(p, SolveOptions(solver="cpsat", objective=objective, time_limit=tl, threads=threads))
            wall = time.perf_counter() - t
            r, s = res.solution, res.solution.stats.to_dict()
            rows.append(f"| {os.path.basename(f)} | {p.graph.n} | {tl:g} | {r.objective:.5g} | {r.bound:.5g} | "
                        f"{(r.gap or 0):.1%} | {wall:.1f} | {s.get('strategy')} | {s.get('variables')} / "
                        f"{s.get('constraints')} | {g:.5g} | {b:.5g} | {1 - r.objective / g:+.2%} |")
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def optimality(sizes, limit: float) -> list[str]:
    """chain graphs (layers x micro-batches) on a 2x2 heterogeneous mesh, latency and energy objectives."""
    rows = ["| tasks (layers x mbs) | objective | status | objective value | bound | wall s | strategy |",
            "|---|---|---|---|---|---|---|"]
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    for n in sizes:
        layers = max(1, n // 4)
        g = chain_graph(layers, max(1, n // layers))
        cost = CostModel(hw, g)
        for obj in ("latency", "energy"):
            t = time.perf_counter()
            r = api.solve(Problem(g, hw, cost), SolveOptions(solver="cpsat", objective=obj, time_limit=limit)).solution
            rows.append(f"| {g.n} ({layers}x{g.n // layers}) | {obj} | {r.status} | {r.objective:.6g} | "
                        f"{r.bound:.6g} | {time.perf_counter() - t:.1f} | {r.stats.to_dict().get('strategy')} |")
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", default="mcm6x6")
    ap.add_argument("--budgets", type=float, nargs="*", default=[10.0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--objective", default="edp")
    ap.add_argument("--optimality", type=int, nargs="*", default=None, help="task counts to try on 2x2")
    ap.add_argument("--opt-limit", type=float, default=30.0)
    a = ap.parse_args(argv)
    out = []
    if a.budgets:
        out += [f"## cpsat on {a.hw}, objective {a.objective}, {a.threads} threads", ""]
        out += examples_table(a.hw, a.budgets, a.threads, a.objective) + [""]
    if a.optimality:
        out += ["## proven optimality on a 2x2 mesh", ""] + optimality(a.optimality, a.opt_limit) + [""]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
