"""Before/after of issue 13's PIM item (the package's PIM units scheduled as shared resources) on the PIM examples.

For each case x solver (latency objective): makespan, TPOT, the lower bound, the schedule's PIM use (internal
bytes and FLOPs over the units' totals x makespan: average utilisation; and the peak over any instant of the
running tasks' bytes / duration, FLOPs / duration: above 100 % the plan over-subscribes the units), how many tasks
run kernels on PIM, and the checker's verdict. The same script runs on main's commit ("before": PIM priced from
a static 1/n share per chiplet; main's cost model has no `pim_flops`, so its compute columns are empty) and on
this branch ("after"); it prints one markdown table and, with --csv, writes the rows.

    python bench/pim_resources.py --time-limit 2 --csv bench/pim_after.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from mapc import api
from mapc.compiler.check import check
from mapc.compiler.evaluate import lower_bound
from mapc.core.options import SolveOptions

ROOT = Path(__file__).resolve().parent.parent
CASES = (("decode_pim", ROOT / "examples" / "decode_pim.dsl", "npu-pim"),
         ("spec_decode_sweep", ROOT / "examples" / "spec_decode_sweep.dsl", "npu-pim"))


def peak(rate: np.ndarray, st: np.ndarray, en: np.ndarray) -> float:
    """The largest sum of `rate` over the tasks running at any instant (ends before starts at equal times)."""
    idx = np.nonzero(rate > 0)[0]
    if idx.size == 0:
        return 0.0
    t = np.concatenate([st[idx], en[idx]])
    dr = np.concatenate([rate[idx], -rate[idx]])
    return float(np.cumsum(dr[np.lexsort((dr, t))]).max())


def run(solvers: list[str], time_limit: float) -> list[dict[str, object]]:
    rows = []
    for name, path, hw in CASES:
        problem = api.lower(api.load(path), hw)
        cost = problem.cost
        units = problem.hw.pim
        bw, fl = sum(u.bandwidth for u in units), sum(u.peak_flops for u in units)
        bound = lower_bound(cost).value
        for solver in solvers:
            res = api.solve(problem, SolveOptions(solver=solver, objective="latency", time_limit=time_limit))
            s = res.schedule
            pi = np.array([cost.placements.index(t.placement) for t in s.tasks])
            rb = np.array([t.resident for t in s.tasks])
            st = np.array([t.start for t in s.tasks])
            en = np.array([t.end for t in s.tasks])
            mk = s.makespan
            pb, pf = cost.part_at("pim_bytes", rb, pi), cost.part_at("pim_flops", rb, pi)
            d = np.where(en > st, en - st, np.inf)
            has_f = bool((pf > 0).any())
            rows.append({"case": name, "hw": hw, "solver": solver, "tasks": problem.graph.n,
                         "makespan_ms": mk * 1e3, "tpot_ms": (res.metrics.tpot or 0.0) * 1e3,
                         "bound_ms": bound * 1e3, "pim_tasks": int((cost.part_at("pim", rb, pi) > 0).sum()),
                         "pim_bw_util": float(pb.sum()) / (bw * mk), "pim_bw_peak": peak(pb / d, st, en) / bw,
                         "pim_flop_util": float(pf.sum()) / (fl * mk) if has_f else float("nan"),
                         "pim_flop_peak": peak(pf / d, st, en) / fl if has_f else float("nan"),
                         "violations": len(check(s, cost))})
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def table(rows: list[dict[str, object]]) -> str:
    head = ("| case | solver | makespan ms | TPOT ms | bound ms | tasks on PIM | PIM bw util | PIM bw peak | "
            "PIM FLOP util | PIM FLOP peak | checker violations |")
    out = [head, "|" + "---|" * 11]
    for r in rows:
        out.append(f"| {r['case']} | {r['solver']} | {r['makespan_ms']:.3f} | {r['tpot_ms']:.3f} | "
                   f"{r['bound_ms']:.3f} | {r['pim_tasks']}/{r['tasks']} | {r['pim_bw_util']:.1%} | "
                   f"{r['pim_bw_peak']:.0%} | {r['pim_flop_util']:.1%} | {r['pim_flop_peak']:.0%} | "
                   f"{r['violations']} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--solvers", default="greedy,scar,ga,baseline,cpsat")
    ap.add_argument("--time-limit", type=float, default=2.0)
    ap.add_argument("--csv", default="")
    a = ap.parse_args()
    rows = run(a.solvers.split(","), a.time_limit)
    print(table(rows))
    if a.csv:
        with open(a.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
