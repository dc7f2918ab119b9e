"""Serving sweep on a multi-core NPU: TP scheme x core placement x PD mode for Llama-2-7B and 70B (int4 weights).

    .venv/bin/python bench/serving_sweep.py [--solver greedy] [--time-limit 2] [--models 7b,70b] [--hw npu4x4]
        [--tensor 4]

Prints a markdown table (throughput tokens/s, TPOT = scheduled decode step time per token, mean decode step time, TTFT) and
the best configuration's speedup in throughput over the naive one (1-D TP across a row of cores, PD fused).
`--hw` picks the preset (default npu4x4), `--tensor` the TP degrees to sweep (comma list, default 4);
disaggregated mode splits the cores in half (prefill=n/2, decode=n/2).
Every configuration compiles the same workload text with a different `parallel` block, through the same
pipeline as `mapc compile` (`mapc.api`: lower, price, solve, check, evaluate).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

from mapc import api
from mapc.compiler.evaluate import Metrics
from mapc.core.options import SolveOptions

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
parallel {{ tensor {tensor}  tp {tp}  placement {pl}  pd {pd}  segment {seg} }}
"""
SCHEMES = ("1d", "2d")
PLACEMENTS = ("row", "column", "block", "snake")


def pds(n: int) -> tuple[str, str]:
    """Fused, and disaggregated with half the cores for each phase."""
    return ("fused", f"disaggregated(prefill={n // 2}, decode={n - n // 2})")


def run(model: str, tp: str, pl: str, pd: str, solver: str, options: SolveOptions, hw_name: str = "npu4x4",
        tensor: int = 4) -> Metrics:
    pre, serve = MODELS[model] if isinstance(MODELS[model], tuple) else ("", MODELS[model])
    seg = 8 if model == "70b" else 4
    text = pre + WORKLOAD.format(serve=serve, tensor=tensor, tp=tp, pl=pl, pd=pd, seg=seg)
    return api.solve(api.lower(api.load(text), hw_name), replace(options, solver=solver)).metrics


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--solver", default="greedy")
    ap.add_argument("--time-limit", type=float, default=2.0)
    ap.add_argument("--models", default="7b,70b")
    ap.add_argument("--hw", default="npu4x4", help="hardware preset")
    ap.add_argument("--tensor", default="4", help="TP degrees, comma list")
    a = ap.parse_args(argv)
    budget = SolveOptions(time_limit=a.time_limit, seed=0)
    n = api.hardware(a.hw).n
    modes = pds(n)
    try:
        tensors = [int(t) for t in a.tensor.split(",")]
    except ValueError:
        ap.error(f"--tensor takes a comma list of integers, got {a.tensor!r}")
    for tensor in tensors:
        sweep(a, budget, modes, tensor, n)
    return 0


def sweep(a, budget: SolveOptions, modes: tuple[str, str], tensor: int, n: int) -> None:
    """One table (and best-vs-naive lines) per TP degree."""
    print(f"solver {a.solver}, budget {a.time_limit:g} s, hardware {a.hw}, tensor {tensor}\n")
    print("| model | tp | placement | pd | tokens/s | TPOT (ms) | decode step (ms) | TTFT mean (ms) |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    for model in a.models.split(","):
        res = {}
        t0 = time.perf_counter()
        for tp in SCHEMES:
            for pl in PLACEMENTS:
                for pd in modes:
                    m = run(model, tp, pl, pd, a.solver, budget, a.hw, tensor)
                    res[(tp, pl, pd)] = m
                    pdl = "fused" if pd == "fused" else f"disagg {n // 2}/{n - n // 2}"
                    print(f"| {model} | {tp} | {pl} | {pdl} | {m.throughput:.1f} | {m.tpot * 1e3:.1f} | "
                          f"{m.decode_step_time * 1e3:.1f} | {m.ttft_mean * 1e3:.1f} |", flush=True)
        naive = res[("1d", "row", "fused")]
        best_key = max(res, key=lambda k: res[k].throughput)
        best = res[best_key]
        print(f"\n**{model}** (tensor {tensor}): best {best_key} {best.throughput:.1f} tokens/s vs naive "
              f"(1d, row, fused) {naive.throughput:.1f} tokens/s: {best.throughput / naive.throughput:.2f}x "
              f"throughput, TPOT {naive.tpot / best.tpot:.2f}x ({time.perf_counter() - t0:.0f} s)", flush=True)
        fast_key = min(res, key=lambda k: res[k].tpot)
        fast = res[fast_key]
        print(f"**{model}** (tensor {tensor}): lowest TPOT {fast_key} {fast.tpot * 1e3:.1f} ms vs naive "
              f"{naive.tpot * 1e3:.1f} ms: {naive.tpot / fast.tpot:.2f}x TPOT at "
              f"{fast.throughput / naive.throughput:.2f}x throughput\n",
              flush=True)


if __name__ == "__main__":
    from mapc.core.errors import MapcError
    try:
        sys.exit(main())
    except MapcError as e:          # an unknown preset or a bad workload: the message, not a traceback
        print(e.render(), file=sys.stderr)
        sys.exit(e.exit_code)
