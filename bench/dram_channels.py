"""Before/after of issue 13 (DRAM channels scheduled as shared resources) on decode-heavy examples.

For each case x solver: makespan, TPOT, DRAM utilisation (the schedule's DRAM bytes / (aggregate bandwidth x
makespan)), the decode DRAM roofline (the unavoidable DRAM bytes / aggregate bandwidth: no schedule can beat
it) and makespan / roofline, the `mapc simulate` replay's slowdown, how many channels carried two or more tasks'
streams at once in the replay and the highest channel utilisation it saw. The same script runs on main's commit
("before") and on this branch ("after"); it prints one markdown table and, with --csv, writes the rows.

    python bench/dram_channels.py --time-limit 2 --csv bench/dram_after.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from mapc import api
from mapc.compiler.evaluate import lower_bound
from mapc.compiler.schedule_file import load_schedule
from mapc.compiler.simulate import simulate
from mapc.core.options import SolveOptions

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = (("decode13b (tensor 4)", HERE / "dram_decode.dsl", "mcm6x6"),
         ("decode13b (8 mb, free)", HERE / "dram_decode_free.dsl", "mcm6x6"),
         ("llama2_7b_chat", ROOT / "examples" / "llama2_7b_chat.dsl", "mcm6x6"),
         ("decode_pim", ROOT / "examples" / "decode_pim.dsl", "npu-pim"),
         ("spec_decode_sweep", ROOT / "examples" / "spec_decode_sweep.dsl", "npu-pim"),
         ("llama70b_npu_tp", ROOT / "examples" / "llama70b_npu_tp.dsl", "npu4x4"))


def run(solvers: list[str], time_limit: float) -> list[dict[str, object]]:
    rows = []
    for name, path, hw in CASES:
        problem = api.lower(api.load(path), hw)
        cost = problem.cost
        B = float(problem.hw.dram_bandwidth)
        dram_min = np.minimum(np.where(np.isfinite(cost.lat_resident), cost.dram_bytes(True), np.inf),
                              np.where(np.isfinite(cost.lat_stream), cost.dram_bytes(False), np.inf)).min(axis=1)
        roof = float(dram_min.sum()) / B
        for solver in solvers:
            res = api.solve(problem, SolveOptions(solver=solver, objective="latency", time_limit=time_limit))
            s = res.schedule
            pi = np.array([cost.placements.index(t.placement) for t in s.tasks])
            rb = np.array([t.resident for t in s.tasks])
            dram = float(cost.part_at("dram_bytes", rb, pi).sum())
            mk = s.makespan
            with tempfile.TemporaryDirectory() as d:
                api.write(res, Path(d) / "out", formats=("json",))
                sim = simulate(load_schedule(Path(d) / "out" / "schedule.json"))
            rows.append({"case": name, "hw": hw, "solver": solver, "tasks": problem.graph.n,
                         "makespan_ms": mk * 1e3, "tpot_ms": (res.metrics.tpot or 0.0) * 1e3,
                         "dram_util": dram / (B * mk) if mk > 0 else 0.0, "roofline_ms": roof * 1e3,
                         "vs_roofline": mk / roof if roof > 0 else float("nan"),
                         "bound_ms": lower_bound(cost).value * 1e3, "sim_slowdown": sim.slowdown,
                         "shared_channels": sum(1 for x in sim.resources if x.kind == "dram" and x.shared_s > 0),
                         "peak_channel_util": max((x.peak_utilisation for x in sim.resources if x.kind == "dram"),
                                                  default=0.0)})
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def table(rows: list[dict[str, object]]) -> str:
    head = ("| case | hw | solver | makespan ms | TPOT ms | DRAM util | roofline ms | makespan / roofline | "
            "simulate slowdown | channels shared | peak channel util |")
    out = [head, "|" + "---|" * 11]
    for r in rows:
        out.append(f"| {r['case']} | {r['hw']} | {r['solver']} | {r['makespan_ms']:.3f} | {r['tpot_ms']:.3f} | "
                   f"{r['dram_util']:.1%} | {r['roofline_ms']:.3f} | {r['vs_roofline']:.2f} | "
                   f"{r['sim_slowdown']:.4f} | {r['shared_channels']} | {r['peak_channel_util']:.0%} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--solvers", default="greedy,scar,ga,baseline")
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
