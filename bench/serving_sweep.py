"""Serving sweep on npu4x4: TP scheme x core placement x PD mode for Llama-2-7B and Llama-2-70B (int4 weights).

    .venv/bin/python bench/serving_sweep.py [--solver greedy] [--time-limit 2] [--models 7b,70b]

Prints a markdown table (throughput tokens/s, TPOT = scheduled decode step time per token, mean decode step time, TTFT) and
the best configuration's speedup in throughput over the naive one (1-D TP across a row of cores, PD fused).
Every configuration compiles the same workload text with a different `parallel` block, through the same
driver path as `mapc compile` (lower, price, solve, check, evaluate).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from mapc.compiler import driver
from mapc.dsl.parser import load
from mapc.hw.presets import get
from mapc.solvers.base import Budget

MODELS = {
    "7b": "serve llama2_7b",
    "70b": ("model llama2_70b_w4 = transformer(layers=80, hidden=8192, heads=64, kv_heads=8, ffn=28672, "
            "vocab=32000, weights=int4)\n", "serve llama2_70b_w4"),
}
WORKLOAD = """workload sweep {{
  {serve}
  prefill batch=4 seq=256..2048 dist=uniform seed=1
  decode  batch=16 context=512..2048 dist=uniform seed=2 steps=2
  microbatches 4
}}
parallel {{ tensor 4  tp {tp}  placement {pl}  pd {pd}  segment {seg} }}
"""
SCHEMES = ("1d", "2d")
PLACEMENTS = ("row", "column", "block", "snake")
PDS = ("fused", "disaggregated(prefill=8, decode=8)")


def run(model: str, tp: str, pl: str, pd: str, solver: str, budget: Budget):
    pre, serve = MODELS[model] if isinstance(MODELS[model], tuple) else ("", MODELS[model])
    seg = 8 if model == "70b" else 4
    text = pre + WORKLOAD.format(serve=serve, tp=tp, pl=pl, pd=pd, seg=seg)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "sweep.dsl")
        with open(path, "w") as f:
            f.write(text)
        spec = load(path)
    cr = driver.compile_spec(spec, get("npu4x4"), solver, budget)
    return cr.metrics


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--solver", default="greedy")
    ap.add_argument("--time-limit", type=float, default=2.0)
    ap.add_argument("--models", default="7b,70b")
    a = ap.parse_args(argv)
    budget = Budget(time_limit=a.time_limit, seed=0)
    print(f"solver {a.solver}, budget {a.time_limit:g} s, hardware npu4x4, tensor 4\n")
    print("| model | tp | placement | pd | tokens/s | TPOT (ms) | decode step (ms) | TTFT mean (ms) |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    for model in a.models.split(","):
        res = {}
        t0 = time.perf_counter()
        for tp in SCHEMES:
            for pl in PLACEMENTS:
                for pd in PDS:
                    m = run(model, tp, pl, pd, a.solver, budget)
                    res[(tp, pl, pd)] = m
                    pdl = "fused" if pd == "fused" else "disagg 8/8"
                    print(f"| {model} | {tp} | {pl} | {pdl} | {m.throughput:.1f} | {m.tpot * 1e3:.1f} | "
                          f"{m.decode_step_time * 1e3:.1f} | {m.ttft_mean * 1e3:.1f} |", flush=True)
        naive = res[("1d", "row", "fused")]
        best_key = max(res, key=lambda k: res[k].throughput)
        best = res[best_key]
        print(f"\n**{model}**: best {best_key} {best.throughput:.1f} tokens/s vs naive (1d, row, fused) "
              f"{naive.throughput:.1f} tokens/s: {best.throughput / naive.throughput:.2f}x throughput, TPOT "
              f"{naive.tpot / best.tpot:.2f}x ({time.perf_counter() - t0:.0f} s)", file=sys.stdout, flush=True)
        fast_key = min(res, key=lambda k: res[k].tpot)
        fast = res[fast_key]
        print(f"**{model}**: lowest TPOT {fast_key} {fast.tpot * 1e3:.1f} ms vs naive {naive.tpot * 1e3:.1f} ms: "
              f"{naive.tpot / fast.tpot:.2f}x TPOT at {fast.throughput / naive.throughput:.2f}x throughput\n",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
