"""The steady-state (modulo) model of `cpsat` on the bench's repeated-micro-batch instances.

    .venv/bin/python bench/steady_bench.py --budget 6 -o bench/steady.md

Per instance with a repeated group (>= 4 identical micro-batch chains; `mapc.solvers.cpsat_steady`): per replica
count R, the least pinned period CP-SAT reached and the period no pipeline can beat (its proven bound, or one
micro-batch's work over the package), and the makespans of the unrolled schedules against the best heuristic
start (the one the LNS starts from when it is better). `--budget` is the steady-state model's share of a cpsat
run (60 s x `CpsatOptions.steady_share` = 6 s by default), deterministic. Instances: the shipped examples on
`--hw` and llama2_7b_chat scaled to `--scaled` micro-batches (as bench/cpsat_bench.py).
"""

from __future__ import annotations

import argparse
import sys
import time

from cpsat_bench import instances

from mapc.core.options import SolveOptions
from mapc.solvers import cpsat, cpsat_steady
from mapc.solvers.cpsat_options import candidates
from mapc.solvers.cpsat_run import Driver
from mapc.solvers.listsched import objective_of


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", default="mcm6x6")
    ap.add_argument("--scaled", default="16,128")
    ap.add_argument("--budget", type=float, default=6.0)
    ap.add_argument("-o", "--out", default="")
    a = ap.parse_args(argv)
    lines = ["# The steady-state model on repeated micro-batches", "",
             f"Command: `python bench/steady_bench.py --hw {a.hw} --scaled {a.scaled} --budget {a.budget:g}` "
             "(deterministic, seed 0). Periods in ms per micro-batch; makespans in s. `reached` = the least "
             "pinned period found; `no pipeline under` = the proven bound on the period (CP-SAT's, or one "
             "micro-batch's work over the package); `unrolled` = the best unrolled schedule of that R; `best start` "
             "= the best heuristic schedule cpsat's LNS would otherwise start from.", "",
             "| instance | tasks | chains x stages | R | reached ms | no pipeline under ms | proof | unrolled s "
             "| best start s (which) | wall s |", "|---|---|---|---|---|---|---|---|---|---|"]
    scaled = [int(x) for x in a.scaled.split(",") if x]
    opt = SolveOptions(solver="cpsat", objective="latency", time_limit=60.0, threads=1, seed=0)
    for name, p in instances(a.hw, scaled):
        cost = p.cost
        opts = candidates(cost)
        if not cpsat_steady.groups(cost, opts):
            continue
        hints = cpsat.heuristic_hints(p, opt)
        if not hints:
            continue
        best = min(hints, key=lambda h: objective_of(cost, h[1], h[2], h[3], "latency"))
        t = time.perf_counter()
        ss = cpsat_steady.solve(cost, opts, Driver(p, opt, time.perf_counter()), best, a.budget)
        wall = time.perf_counter() - t
        b_ms = objective_of(cost, best[1], best[2], best[3], "latency")
        for x in ss.groups:
            R = x["replicas"]
            unrolled = [objective_of(cost, h[1], h[2], h[3], "latency") for h in ss.hints
                        if h[0].split("-r")[1].split("-")[0] == str(R)]
            reached = x.get("period_alone_s")
            lines.append(f"| {name} | {p.graph.n} | {x['chains']} x {x['stages']} | {R} | "
                         f"{reached * 1e3:.4g} | {x['period_bound_s'] * 1e3:.4g} | {x['period_status'].lower()} | "
                         f"{min(unrolled):.4g} | {b_ms:.4g} ({best[0]}) | {wall:.1f} |" if reached is not None and
                         unrolled else f"| {name} | {p.graph.n} | {x['chains']} x {x['stages']} | {R} | - | "
                         f"{x['period_bound_s'] * 1e3:.4g} | {x['period_status'].lower()} | - | {b_ms:.4g} "
                         f"({best[0]}) | {wall:.1f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    text = "\n".join(lines) + "\n"
    if a.out:
        with open(a.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
