"""Heterogeneous vs homogeneous dataflow package: the SCAR / Compass question on mapc's cost model.

    .venv/bin/python bench/hetero_study.py [--time-limit 10] [--solvers greedy,scar,ga,cpsat] [-o bench/hetero_study.md]

For each multi-model mix (datacenter: ResNet-50 + BERT-large + Llama-2-7B prefill/decode; AR/VR: three CNNs),
every solver schedules it on `mcm6x6` (ws rows 0..2, os rows 3..5) and on `mcm6x6-homo` (all ws) with the same
budget and seed; the best EDP of each package is kept (best solver each). Reported: EDP and latency of both and
the heterogeneous package's reduction, beside the published figures of SCAR (35.3 % / 31.4 % lower EDP than
homogeneous baselines on datacenter / AR-VR mixes) and Compass (63.12 % lower EDP than prior mapping works,
which compares mappers, not packages). Everything runs through `mapc.api`.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mapc import api  # noqa: E402
from mapc.core.errors import MapcError  # noqa: E402
from mapc.core.hardware import Hardware  # noqa: E402
from mapc.core.options import SolveOptions  # noqa: E402
from mapc.hw import presets  # noqa: E402

MIXES = {"datacenter": ("datacenter_mix.dsl", "SCAR: 35.3 % lower EDP (datacenter)"),
         "arvr": ("arvr_mix.dsl", "SCAR: 31.4 % lower EDP (AR/VR)")}
PACKAGES = ("mcm6x6", "mcm6x6-homo")
# The same packages with single-register PEs (`rf 2 B` at fp16: no double-buffered reload, SCALE-Sim's and
# MAESTRO's array, the kind of array SCAR's dataflow study evaluates) besides the default Simba-class 520 B.
RF_VARIANTS = {"rf 520 B (default)": None, "rf 2 B (single register)": 2.0}


def with_rf(name: str, rf: float | None) -> Hardware:
    """Preset `name` with every chiplet type's register file set to `rf` bytes (None: unchanged)."""
    hw = presets.get(name)
    if rf is None:
        return hw
    return replace(hw, chiplets=tuple(replace(c, type=replace(c.type, rf=rf)) for c in hw.chiplets))


def best(spec, hw: Hardware, solvers: list[str], opts: SolveOptions) -> tuple[str, float, float, float]:
    """(solver, EDP J*s, latency s, energy J) of the best-EDP schedule over `solvers`."""
    problem = api.lower(spec, hw)
    out = None
    for s in solvers:
        try:
            r = api.solve(problem, replace(opts, solver=s))
        except MapcError as e:
            print(f"  {hw} {s}: {e.message}", file=sys.stderr)
            continue
        m = r.metrics
        if out is None or m.edp < out[1]:
            out = (s, m.edp, m.makespan, m.energy)
    assert out is not None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--solvers", default="greedy,scar,ga,cpsat")
    ap.add_argument("-o", "--out", default=str(ROOT / "bench" / "hetero_study.md"))
    a = ap.parse_args(argv)
    solvers = a.solvers.split(",")
    opts = SolveOptions(objective="edp", time_limit=a.time_limit, seed=0)
    t0 = time.perf_counter()
    lines = ["# Heterogeneous vs homogeneous dataflow package (mcm6x6 vs mcm6x6-homo)", "",
             f"Command: `python bench/hetero_study.py --time-limit {a.time_limit:g} --solvers {a.solvers}` "
             f"(seed 0, EDP objective, best solver per package).  ",
             f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}.", "",
             "| mix | PEs | package | best solver | EDP (J*s) | latency (ms) | energy (J) |",
             "|---|---|---|---|---:|---:|---:|"]
    summary = []
    for name, (file, published) in MIXES.items():
        spec = api.load(ROOT / "examples" / file)
        for label, rf in RF_VARIANTS.items():
            res = {hw: best(spec, with_rf(hw, rf), solvers, opts) for hw in PACKAGES}
            for hw in PACKAGES:
                s, edp, lat, en = res[hw]
                lines.append(f"| {name} | {label} | {hw} | {s} | {edp:.4g} | {lat * 1e3:.4g} | {en:.4g} |")
            het, hom = res["mcm6x6"], res["mcm6x6-homo"]
            summary.append(f"| {name} | {label} | {1 - het[1] / hom[1]:+.1%} | {1 - het[2] / hom[2]:+.1%} | "
                           f"{published}; Compass: 63.12 % lower EDP than prior mappers |")
            print(lines[-2] + "\n" + lines[-1], flush=True)
    lines += ["", "Reduction by the heterogeneous package (positive = heterogeneous better):", "",
              "| mix | PEs | EDP reduction | latency reduction | published |", "|---|---|---:|---:|---|"] + summary
    lines += ["", f"Total {time.perf_counter() - t0:.0f} s."]
    Path(a.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[-(len(summary) + 6):]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
