"""`mapc explore` at scale: parallel speed-up on Dask and sample efficiency of TPE / NSGA-II against the grid.

    .venv/bin/python bench/explore_bench.py [--workers 2] [--seeds 0,1,2] [-o bench/explore.md] [--quick]

Speed: the same 64-point grid sweep (`SPEED_SPACE`, 4 x 4 x 4, on bench/explore_workload.dsl: about 1 s of
greedy per trial on mcm6x6) run as two `mapc explore` processes, `--workers 1` (every trial in the one process,
no Dask) and `--workers N` (a Dask LocalCluster of N worker processes), one after the other; wall times are of
the whole command (start-up, cluster start and output writing included). The two tables must be identical.

Search: the shipped space (`SHIPPED_SPACE`: 4 grids x 4 SRAM sizes x 4 dataflows x 4 link bandwidths = 256
designs, examples/llama2_7b_chat.dsl on mcm6x6) swept whole by the grid sampler gives the best EDP; then
`--sampler tpe --objectives edp` and `--sampler nsga2 --objectives latency,energy` (and random, for reference)
each get 64 trials (1/4 of the grid) per seed, and the best EDP among their trials is compared with the grid's
(within 10 % is the target). Writes a markdown report with the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPC = [sys.executable, "-m", "mapc.cli"]
SPEED_SPACE = ["sram=1MiB,2MiB,4MiB,8MiB", "link=50GB/s,100GB/s,200GB/s,400GB/s", "dataflow=ws,os,mix,rs"]
SHIPPED_SPACE = ["grid=4x4,5x5,6x6,8x8", "sram=1MiB,2MiB,4MiB,8MiB", "dataflow=ws,os,mix,rs",
                 "link=50GB/s,100GB/s,200GB/s,400GB/s"]
SEARCHES = (("tpe", "edp"), ("nsga2", "latency,energy"), ("random", "edp"))


def explore(dsl: Path, space: list[str], out: Path, *extra: str) -> tuple[dict, float]:
    """One `mapc explore ... --json` run: (its JSON document, wall seconds of the whole process)."""
    argv = [*MAPC, "explore", str(dsl), "--hw", "mcm6x6", "-o", str(out), "--json", *extra]
    for v in space:
        argv += ["--vary", v]
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {r.returncode}:\n{r.stderr}")
    return json.loads(r.stdout), wall


def rows(doc: dict) -> list[tuple]:
    return [(p["trial"], p["status"], p["latency_s"], p["energy_j"], p["edp_js"]) for p in doc["points"]]


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu}, {cores} cores available, load average {load:.2f} at the start, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--quick", action="store_true", help="16-point speed sweep, one seed (a smoke run)")
    ap.add_argument("-o", "--out", default=str(ROOT / "bench" / "explore.md"))
    a = ap.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")][: 1 if a.quick else None]
    speed_space = SPEED_SPACE[:2] if a.quick else SPEED_SPACE
    lines = ["# mapc explore at scale", "", f"Machine: {machine()}.", "",
             f"Regenerate: `.venv/bin/python bench/explore_bench.py --workers {a.workers} --seeds {a.seeds}`", ""]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        dsl = ROOT / "bench" / "explore_workload.dsl"
        serial, ws = explore(dsl, speed_space, t / "serial", "--workers", "1")
        par, wp = explore(dsl, speed_space, t / "par", "--workers", str(a.workers))
        same = rows(serial) == rows(par)
        trial_s = sum(p["wall_s"] for p in serial["points"]) / len(serial["points"])
        print(f"speed: serial {ws:.1f} s, {a.workers} workers {wp:.1f} s, ratio {wp / ws:.3f}, same table: {same}")
        lines += ["## Parallel speed-up", "",
                  f"{len(serial['points'])}-point grid sweep (`{' '.join('--vary ' + v for v in speed_space)}`) of "
                  f"bench/explore_workload.dsl on mcm6x6, fast path greedy (mean {trial_s:.2f} s per trial in the "
                  "serial run); wall time of the whole `mapc explore` command:", "",
                  "| run | engine | wall (s) | vs serial |", "|---|---|---:|---:|",
                  f"| `--workers 1` | {serial['engine']} | {ws:.1f} | 1.000 |",
                  f"| `--workers {a.workers}` | {par['engine']} | {wp:.1f} | {wp / ws:.3f} |", "",
                  f"Target: <= 0.6x. Same table serially and in parallel (trial, status, latency, energy, EDP of "
                  f"every trial): {'yes' if same else 'NO'}.", ""]
        grid, wg = explore(ROOT / "examples" / "llama2_7b_chat.dsl", SHIPPED_SPACE, t / "grid", "--trials", "256",
                           "--objectives", "edp", "--workers", str(a.workers))
        edps = sorted(p["edp_js"] for p in grid["points"] if p["status"] == "ok")
        best = edps[0]
        near = sum(1 for e in edps if e <= 1.1 * best)
        print(f"grid: {len(grid['points'])} trials, best EDP {best:.4g} J*s, {near} within 10 %, {wg:.1f} s")
        lines += ["## Sample efficiency on the shipped space", "",
                  f"Space: `{' '.join('--vary ' + v for v in SHIPPED_SPACE)}` on examples/llama2_7b_chat.dsl, base "
                  f"mcm6x6 ({len(grid['points'])} designs, {len(edps)} schedulable). The full grid "
                  f"({wg:.0f} s on {a.workers} workers) finds the best EDP {best:.4g} J*s; {near} of the "
                  f"{len(edps)} designs ({near / len(edps):.1%}) are within 10 % of it, the chance that one "
                  "random design hits the target.", "",
                  "Each search gets 64 trials (1/4 of the grid); best EDP among its trials vs the grid's best:", "",
                  "| sampler | objectives | seed | trials | designs scheduled | best EDP (J*s) | vs grid best | "
                  "within 10 % |", "|---|---|---:|---:|---:|---:|---:|---|"]
        for sampler, objectives in SEARCHES:
            for seed in seeds:
                doc, w = explore(ROOT / "examples" / "llama2_7b_chat.dsl", SHIPPED_SPACE, t / f"{sampler}{seed}",
                                 "--sampler", sampler, "--objectives", objectives, "--trials", "64", "--seed",
                                 str(seed), "--workers", str(a.workers))
                got = min(p["edp_js"] for p in doc["points"] if p["status"] == "ok")
                print(f"{sampler} seed {seed}: best EDP {got:.4g} ({got / best:.3f}x), {doc['evaluations']} "
                      f"scheduled, {w:.1f} s")
                lines.append(f"| {sampler} | {objectives} | {seed} | {doc['trials']} | {doc['evaluations']} | "
                             f"{got:.4g} | {got / best:.3f}x | {'yes' if got <= 1.1 * best else 'no'} |")
    Path(a.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
