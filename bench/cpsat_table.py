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

from mapc.compiler.driver import build_problem, load_spec, resolve_hardware
from mapc.solvers import baseline, cpsat, greedy
from mapc.solvers.base import Budget, Problem


def examples_table(hw_name: str, budgets, threads: int, objective: str) -> list[str]:
    rows = ["| example | tasks | budget s | cpsat EDP | bound | gap | wall s | strategy | vars / cons | "
            "greedy EDP | baseline EDP | cpsat vs greedy |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    here = os.path.dirname(os.path.abspath(__file__))
    for f in sorted(glob.glob(os.path.join(here, "..", "examples", "*.dsl"))):
        spec = load_spec(f)
        try:
            hw = resolve_hardware(hw_name, spec)
        except Exception:
            continue
        if getattr(spec, "workload", None) is None and "custom_hw" in f:
            continue
        try:
            p = build_problem(spec, hw, objective=objective)
        except Exception as e:       # e.g. a hardware-only file
            print(f"skip {f}: {e}", file=sys.stderr)
            continue
        g = greedy.solve(p, Budget()).objective
        b = baseline.solve(p, Budget()).objective
        for tl in budgets:
            t = time.perf_counter()
            r = cpsat.solve(p, Budget(time_limit=tl, threads=threads, seed=0, deterministic=True))
            wall = time.perf_counter() - t
            s = r.stats
            rows.append(f"| {os.path.basename(f)} | {p.graph.n} | {tl:g} | {r.objective:.5g} | {r.bound:.5g} | "
                        f"{(r.gap or 0):.1%} | {wall:.1f} | {s.get('strategy')} | {s.get('variables')} / "
                        f"{s.get('constraints')} | {g:.5g} | {b:.5g} | {1 - r.objective / g:+.2%} |")
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def optimality(sizes, limit: float) -> list[str]:
    """chain graphs (layers x micro-batches) on a 2x2 heterogeneous mesh, latency and energy objectives."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from conftest import chain_graph, make_hw
    from mapc.hw.cost import CostModel
    rows = ["| tasks (layers x mbs) | objective | status | objective value | bound | wall s | strategy |",
            "|---|---|---|---|---|---|---|"]
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    for n in sizes:
        layers = max(1, n // 4)
        g = chain_graph(layers, max(1, n // layers))
        cost = CostModel(hw, g)
        for obj in ("latency", "energy"):
            t = time.perf_counter()
            r = cpsat.solve(Problem(g, hw, cost, obj), Budget(time_limit=limit, threads=2))
            rows.append(f"| {g.n} ({layers}x{g.n // layers}) | {obj} | {r.status} | {r.objective:.6g} | "
                        f"{r.bound:.6g} | {time.perf_counter() - t:.1f} | {r.stats.get('strategy')} |")
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
