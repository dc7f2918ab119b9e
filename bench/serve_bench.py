"""`mapc serve` benchmark: simulation speed, bucketing error, PD fused vs disaggregated, PIM on vs off.

    .venv/bin/python bench/serve_bench.py [--section speed,bucketing,pd,pim] [--requests 10000]

Prints markdown (the tables of bench/serve.md). Every run goes through `mapc.apps.serve.serve` (the function
behind `mapc serve`): the file's checks, then the simulation with every iteration priced by a compiled schedule.
Sections:

* speed: `--requests` ShareGPT-like requests (Poisson) on shipped examples, cold pricer each time (every
  iteration schedule compiled within the timed run); the machine is printed.
* bucketing: iteration times interpolated on the grid vs one schedule of the exact shape, on a few shapes, and a
  whole run of 200 requests both ways.
* pd: examples/pd_fused_vs_disagg.dsl (ShareGPT-like) and examples/long_prompt_prefill.dsl (GovReport-like) on
  npu4x4 with `pd fused` and three disaggregated splits; a load sweep (SLO attainment, DistServe's rate goodput
  at 90 %) and the saturation throughput (the requests all at once).
* pim: examples/decode_pim.dsl and examples/spec_decode_sweep.dsl on npu-pim: the dynamic policy against all
  on the cores (off), the AttAcc-style static mapping (attention on PIM) and all on PIM.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from mapc import api
from mapc.apps import serve as sv
from mapc.compiler import serve_report as rep
from mapc.compiler import traffic as tr
from mapc.compiler.serve_cost import Shape, corners, exact_point
from mapc.apps.bench import machine as bench_machine

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "examples"


def machine() -> str:
    """The machine the numbers come from (`mapc bench`'s description)."""
    return bench_machine()


def run(example: str, hw: str | None, arrivals: str, n: int, **kw) -> tuple[sv.ServeReport, float]:
    spec = api.load(EX / example)
    hwv = api.hardware(hw, spec)
    par = kw.pop("parallel", None)
    opts = sv.ServeOptions(tr.parse_arrivals(arrivals), requests=n, parallel=par, **kw)
    t = time.perf_counter()
    r = sv.serve(spec, hwv, opts)
    return r, time.perf_counter() - t


def ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e3:.3g}"


# ---- speed -------------------------------------------------------------------------------------------------
SPEED = (("llama2_7b_chat.dsl", "mcm6x6", "poisson:0.15", {}),
         ("pd_fused_vs_disagg.dsl", "npu4x4", "poisson:3", {}),
         ("pd_fused_vs_disagg.dsl", "npu4x4", "poisson:3", {"chunk": 512}),
         ("decode_pim.dsl", None, "poisson:4", {}),
         ("long_prompt_prefill.dsl", "npu4x4", "poisson:0.5", {"lengths": "govreport"}))


def speed(n: int) -> None:
    print(f"### Simulation speed ({n:,} requests per run)\n\nmachine: {machine()}\n")
    print("| example | hw | arrivals | options | iterations | schedules compiled | compile s | wall s |"
          " req/s | p99 TTFT ms | p50 TPOT ms |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for ex, hw, arr, kw in SPEED:
        r, wall = run(ex, hw, arr, n, **kw)
        s, ps = r.summaries[0], r.pricing
        opt = " ".join(f"--{k} {v}" for k, v in kw.items()) or "-"
        print(f"| {ex} | {r.setup.hw.name} | {arr} | {opt} | {ps.calls:,} | {ps.points} | {ps.solve_s:.2f} | "
              f"{wall:.2f} | {s['throughput_requests_per_s']:.3g} | {ms(s['ttft_s']['p99'])} | "
              f"{ms(s['tpot_s']['p50'])} |")
    cmd = [str(Path(sys.executable).parent / "mapc"), "serve", str(EX / "llama2_7b_chat.dsl"), "--hw", "mcm6x6",
           "--arrivals", "poisson:0.15", "--requests", str(n), "-o", "/tmp/serve_bench.out"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    print(f"\nA cold `mapc serve examples/llama2_7b_chat.dsl --hw mcm6x6 --arrivals poisson:0.15 --requests {n}` "
          f"process (imports, checks, {n:,} requests, writing requests.csv): {time.perf_counter() - t:.2f} s.\n")


# ---- bucketing ---------------------------------------------------------------------------------------------
SHAPES = (Shape("llama2_7b", 12, 700.0, 1, 0, 0), Shape("llama2_7b", 24, 1500.0, 1, 0, 0),
          Shape("llama2_7b", 3, 300.0, 1, 0, 0), Shape("llama2_7b", 0, 0.0, 1, 1, 700),
          Shape("llama2_7b", 0, 0.0, 1, 3, 1500), Shape("llama2_7b", 12, 700.0, 1, 1, 300),
          Shape("llama2_7b", 30, 2900.0, 1, 2, 384))


def bucketing() -> None:
    print("### Bucketing error (grid interpolation vs one schedule of the exact shape)\n")
    print("| example | hw | decode batch | mean context | prefill seqs | prefill tokens | grid corners | grid ms |"
          " exact ms | error |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    errs = []
    for ex, hw in (("llama2_7b_chat.dsl", "mcm6x6"), ("pd_fused_vs_disagg.dsl", "npu4x4")):
        spec = api.load(EX / ex)
        hwv = api.hardware(hw, spec)
        opts = sv.ServeOptions(tr.parse_arrivals("poisson:1"), requests=1, parallel=replace(spec.parallel, pd="fused"))
        st = sv.setup(spec, hwv, opts)
        pr = sv.make_pricer(st, opts, 512)
        for s in SHAPES:
            g = sum(w * pr.point(p) for w, p in corners(s, pr.exact_seqs))
            e = pr.point(exact_point(s))
            errs.append(abs(g / e - 1))
            print(f"| {ex} | {hw} | {s.batch} | {s.context:g} | {s.prefill_seqs} | {s.prefill_tokens} | "
                  f"{len(corners(s, pr.exact_seqs))} | {g * 1e3:.4g} | {e * 1e3:.4g} | {g / e - 1:+.1%} |")
    print(f"\nlargest |error| over these shapes: {max(errs):.1%}, mean {sum(errs) / len(errs):.1%}\n")
    print("Whole runs, grid vs exact (200 requests):\n")
    print("| example | hw | pricing | schedules | wall s | req/s | p50 TTFT ms | p99 TTFT ms | p50 TPOT ms |"
          " p99 TPOT ms |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for ex, hw, arr in (("pd_fused_vs_disagg.dsl", "npu4x4", "poisson:2"),
                        ("llama2_7b_chat.dsl", "mcm6x6", "poisson:0.1")):
        for exact in (False, True):
            r, wall = run(ex, hw, arr, 200, exact=exact)
            s = r.summaries[0]
            print(f"| {ex} | {hw} | {'exact' if exact else 'grid'} | {r.pricing.points} | {wall:.1f} | "
                  f"{s['throughput_requests_per_s']:.4g} | {ms(s['ttft_s']['p50'])} | {ms(s['ttft_s']['p99'])} | "
                  f"{ms(s['tpot_s']['p50'])} | {ms(s['tpot_s']['p99'])} |")
    print()


# ---- PD fused vs disaggregated -----------------------------------------------------------------------------
PD_CASES = (("pd_fused_vs_disagg.dsl", "sharegpt", (1.0, 2.0, 3.0, 4.0, 6.0), "SLO TTFT 1.5 s, TPOT 600 ms"),
            ("long_prompt_prefill.dsl", "govreport", (0.05, 0.1, 0.2, 0.3, 0.5), "SLO TTFT 2 s"))


def pd(n: int) -> None:
    hw = "npu4x4"
    for ex, lengths, rates, slo in PD_CASES:
        base = api.load(EX / ex).parallel
        modes = [("fused", replace(base, pd="fused"))] + [
            (f"disaggregated({p},{16 - p})", replace(base, pd="disaggregated", pd_prefill=p, pd_decode=16 - p))
            for p in (4, 8, 12)]
        print(f"### PD fused vs disaggregated: {ex} on {hw} ({lengths}-like lengths, Poisson, {n:,} requests per "
              f"rate; {slo} from the file)\n")
        print("| pd | saturation req/s | saturation tok/s | rate goodput (90 %) | attainment at " +
              " / ".join(f"{r:g}" for r in rates) + f" req/s | p50 / p99 TTFT ms at {rates[1]:g}/s | p99 TPOT ms at "
              f"{rates[1]:g}/s | busy at {rates[1]:g}/s (prefill pool; fused: the one pool) |")
        print("|---|---:|---:|---:|---|---:|---:|---:|")
        out = {}
        for label, par in modes:
            r, _ = run(ex, hw, "poisson:1", n, rates=rates, parallel=par, lengths=lengths)
            sat, _ = run(ex, hw, "poisson:1000", min(n, 2000), parallel=par, lengths=lengths)
            ss = sat.summaries[0]
            g = rep.rate_goodput(list(r.summaries))
            at = r.summaries[1]
            out[label] = ss["throughput_output_tokens_per_s"]
            att = " / ".join(f"{s['slo']['attainment']:.0%}" for s in r.summaries)
            print(f"| {label} | {ss['throughput_requests_per_s']:.3g} | {ss['throughput_output_tokens_per_s']:,.0f} | "
                  f"{'-' if g is None else f'{g:g}'} | {att} | {ms(at['ttft_s']['p50'])} / {ms(at['ttft_s']['p99'])} | "
                  f"{ms(at['tpot_s']['p99'])} | {at['pools'][0]['utilisation']:.0%} |")
        best = max((k for k in out if k != "fused"), key=lambda k: out[k])
        print(f"\nbest disaggregated split by saturation throughput: {best}, {out[best] / out['fused']:.2f}x of "
              "fused\n")
        sys.stdout.flush()


# ---- PIM on vs off -----------------------------------------------------------------------------------------
def pim(n: int) -> None:
    print("### PIM dispatch on npu-pim (ShareGPT-like, Poisson; saturation = 2,000 requests at once)\n")
    print("| example | pim | saturation tok/s | p50 TPOT ms at 2/s | p99 TTFT ms at 2/s | policy speedup (sat. tok/s) |")
    print("|---|---|---:|---:|---:|---:|")
    for ex in ("decode_pim.dsl", "spec_decode_sweep.dsl"):
        res = {}
        for mode in ("policy", "off", "attention", "all", "auto"):
            sat, _ = run(ex, None, "poisson:1000", 2000, pim=mode)
            mid, _ = run(ex, None, "poisson:2", n, pim=mode)
            res[mode] = (sat.summaries[0]["throughput_output_tokens_per_s"], mid.summaries[0])
        for mode, (tp, s) in res.items():
            print(f"| {ex} | {mode} | {tp:,.0f} | {ms(s['tpot_s']['p50'])} | {ms(s['ttft_s']['p99'])} | "
                  f"{res['policy'][0] / tp:.2f}x |")
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--section", default="speed,bucketing,pd,pim")
    ap.add_argument("--requests", type=int, default=10000, help="requests per speed run (default 10000)")
    ap.add_argument("--study-requests", type=int, default=1000, help="requests per rate in the PD/PIM studies")
    a = ap.parse_args(argv)
    for sec in a.section.split(","):
        {"speed": lambda: speed(a.requests), "bucketing": bucketing, "pd": lambda: pd(a.study_requests),
         "pim": lambda: pim(a.study_requests)}[sec]()
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
