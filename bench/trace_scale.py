"""How the outputs scale: a 32,768-task decode schedule of 4-chiplet tasks (issue 15: trace.json at most 60 MB,
compile's peak memory at most 600 MB).

    .venv/bin/python bench/trace_scale.py                    # prints the table; -o DIR keeps the outputs
    .venv/bin/python bench/trace_scale.py --emit json,trace,csv,png,chakra

The workload: Llama-2-7B decode, batch 16 in 16 micro-batches, 64 steps, one layer per task and `tensor 4`:
32 segments x 16 micro-batches x 64 steps = 32,768 tasks, each on a group of 4 chiplets of mcm6x6, scheduled by
greedy. Each run is a fresh `mapc compile` process, so its peak resident memory (the kernel's `ru_maxrss` of the
child) is the whole compile's: imports, lowering, pricing, solving, checking, evaluating and writing. A small
compile (examples/peer_gemm.dsl) is measured beside it for the baseline. Not a test: timings vary by machine.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKLOAD = """workload decode32k {
  serve llama2_7b
  decode batch=16 context=1024 steps=64
  microbatches 16
}
parallel { tensor 4  segment 1 }
"""


def run(src: Path, out: Path, emit: str, hw: str) -> dict:
    """One `mapc compile` in a child process: wall time, peak RSS (MB) and the size of each output (MB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "mapc.cli", "compile", str(src), "--hw", hw, "--solver", "greedy",
                        "--time-limit", "10", "-o", str(out), "--emit", emit, "-q"], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"mapc compile failed ({r.returncode}):\n{r.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sizes = {p.name: p.stat().st_size / 1e6 for p in sorted(out.iterdir())}
    return {"wall_s": wall, "peak_mb": max(peak, before) / 1024, "sizes": sizes}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emit", default="json,trace,csv,png")
    ap.add_argument("--hw", default="mcm6x6")
    ap.add_argument("-o", "--out", default=None, help="keep the outputs here (default: a temporary folder)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.out) if args.out else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        src = base / "decode32k.dsl"
        src.write_text(WORKLOAD)
        small = run(ROOT / "examples" / "peer_gemm.dsl", base / "small.schedule", args.emit, args.hw)
        big = run(src, base / "decode32k.schedule", args.emit, args.hw)
        print(f"| compile ({args.hw}, greedy, --emit {args.emit}) | wall s | peak MB | trace.json MB | "
              "schedule.json MB | chakra MB |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, m in (("examples/peer_gemm.dsl (1 task)", small), ("decode 32,768 tasks x 4 chiplets", big)):
            s = m["sizes"]
            chakra = sum(v for k, v in s.items() if k.endswith(".et"))
            print(f"| {name} | {m['wall_s']:.1f} | {m['peak_mb']:.0f} | {s.get('trace.json', 0):.1f} | "
                  f"{s.get('schedule.json', 0):.1f} | {chakra:.1f} |")
        ok = big["sizes"].get("trace.json", 0) <= 60 and big["peak_mb"] <= 600
        print(f"\nissue 15 targets (trace.json <= 60 MB, peak <= 600 MB): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
