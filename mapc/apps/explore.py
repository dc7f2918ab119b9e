"""`mapc explore`: hardware design-space exploration (the Theseus / Gemini side of mapc).

From a base hardware (preset or file) derive variants by varying design parameters (`mapc.hw.variants`: full
factorial over the `--vary KEY=V1,V2,...` axes, in the order given, capped at `max_points`), schedule the same
workload on each with one solver through `mapc.api` (validated, lowered, solved, checked), and report latency,
energy, EDP, throughput, a hardware cost proxy (PE count, SRAM, silicon area estimate) and makespan / lower
bound, with the latency-energy and EDP-area Pareto points marked. Variants the workload cannot run on (weights
exceed DRAM, more pipeline stages than chiplets, ...) are reported as `skipped` with the reason; they are not
errors.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
from rich.markup import escape
from rich.table import Table

from mapc import api
from mapc.apps.common import console, nonempty, positive_float, positive_int, print_json, progress, seed_int
from mapc.compiler import plots
from mapc.compiler.files import check_output_dir, jsonable, write_dir_atomic
from mapc.compiler.report import fmt_si
from mapc.core.errors import InfeasibleError, InvalidScheduleError, MapcError, NoSolutionError
from mapc.core.hardware import Hardware
from mapc.core.options import DEFAULT_SOLVER, OBJECTIVES, SolveOptions
from mapc.core.spec import Spec
from mapc.hw.variants import AREA_SOURCES, DEFAULT_MAX_POINTS, Axis, Variant, area_of, keys_hint, parse_vary, variants

OUTPUT_FILES = ("explore.csv", "explore.json", "explore.png")


# ---- running the sweep -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Point:
    """One variant's outcome (SI units). Numbers are None when it was skipped or produced no schedule."""

    index: int
    hardware: str
    params: tuple[tuple[str, str], ...]
    status: str                     # ok | skipped | no_solution | rejected
    reason: str = ""
    latency_s: float | None = None
    energy_j: float | None = None
    edp_js: float | None = None
    throughput_tokens_per_s: float | None = None
    bound_s: float | None = None
    makespan_over_bound: float | None = None
    chiplets: int = 0
    pes: int = 0
    sram_bytes: float = 0.0
    area_m2: float = 0.0
    peak_flops: float = 0.0
    dram_bandwidth: float = 0.0
    link_bw: float = 0.0
    pareto_latency_energy: bool = False
    pareto_edp_area: bool = False
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def record(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "params"}
        d["params"] = dict(self.params)
        return d


@dataclass(frozen=True)
class Exploration:
    base: str
    solver: str
    axes: tuple[tuple[str, tuple[str, ...]], ...]     # (key, labels)
    points: tuple[Point, ...]                          # sorted: ok by EDP, then the others by index
    total: int                                         # full-factorial size before the cap
    notes: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def capped(self) -> bool:
        return len(self.points) < self.total


def pareto_mask(a: Sequence[float | None], b: Sequence[float | None]) -> np.ndarray:
    """Bool mask of the points not dominated when minimising both `a` and `b` (a point dominates another when
    it is no worse in both and strictly better in one; equal points do not dominate each other; None is NaN,
    which neither dominates nor is dominated)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = x.size
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        dom = (x <= x[i]) & (y <= y[i]) & ((x < x[i]) | (y < y[i]))
        keep[i] = not dom.any()
    return keep


def _mark_pareto(points: list[Point]) -> list[Point]:
    ok = [p for p in points if p.ok]
    if not ok:
        return points
    le = pareto_mask([p.latency_s for p in ok], [p.energy_j for p in ok])
    ea = pareto_mask([p.edp_js for p in ok], [p.area_m2 for p in ok])
    flags = {p.index: (bool(x), bool(y)) for p, x, y in zip(ok, le, ea)}
    return [replace(p, pareto_latency_energy=flags[p.index][0], pareto_edp_area=flags[p.index][1])
            if p.index in flags else p for p in points]


def run_variant(spec: Spec, v: Variant, options: SolveOptions, segment: int | None = None) -> Point:
    """Validate, lower, price, schedule, check and evaluate `spec` on `v.hw` (`mapc.api`); a variant the
    workload cannot run on is `skipped` with the reason, never an exception (a solver bug becomes `rejected`)."""
    hw = v.hw
    cost = area_of(hw)
    common = dict(index=v.index, hardware=hw.name, params=v.params, chiplets=hw.n, pes=cost["pes"],
                  sram_bytes=cost["sram_bytes"], area_m2=cost["area_m2"], peak_flops=hw.peak_flops,
                  dram_bandwidth=hw.dram_bandwidth, link_bw=hw.nop.link_bw)
    t0 = time.perf_counter()
    try:
        cr = api.solve(api.lower(spec, hw, segment=segment), options)
    except InvalidScheduleError as e:
        return Point(status="rejected", reason=e.message.splitlines()[0], wall_s=time.perf_counter() - t0, **common)
    except NoSolutionError as e:
        return Point(status="no_solution", reason=e.message, wall_s=time.perf_counter() - t0, **common)
    except (InfeasibleError, MapcError) as e:
        return Point(status="skipped", reason=e.message, wall_s=time.perf_counter() - t0, **common)
    m = cr.metrics
    ratio = m.bound_ratio if m.bound_ratio is not None and math.isfinite(m.bound_ratio) else None
    return Point(status="ok", latency_s=float(m.makespan), energy_j=float(m.energy), edp_js=float(m.edp),
                 throughput_tokens_per_s=float(m.throughput), bound_s=float(m.bound.value),
                 makespan_over_bound=ratio, wall_s=time.perf_counter() - t0, **common)


def explore(spec: Spec, base: Hardware, axes: tuple[Axis, ...], options: SolveOptions = SolveOptions(time_limit=5.0),
            *, max_points: int = DEFAULT_MAX_POINTS, segment: int | None = None,
            progress: Callable[[str], None] | None = None) -> Exploration:
    """Run the sweep (see the module doc). Deterministic given the options' seed (solvers run deterministic)."""
    api.check_options(options)
    say = progress or (lambda _m: None)
    vs, total = variants(base, axes, max_points)
    notes: list[str] = []
    if total > len(vs):
        notes.append(f"the sweep has {total} points; --max-points {max_points} keeps the first {len(vs)} "
                     f"(raise --max-points to run them all)")
    points: list[Point] = []
    for v in vs:
        label = ", ".join(f"{k}={lbl}" for k, lbl in v.params) or base.name
        say(f"[{v.index + 1}/{len(vs)}] {label}")
        points.append(run_variant(spec, v, options, segment))
    points = _mark_pareto(points)
    points.sort(key=lambda p: (not p.ok, p.edp_js if p.ok else 0.0, p.index))
    skipped = [p for p in points if not p.ok]
    if skipped:
        notes.append(f"{len(skipped)} of {len(points)} variant(s) not scheduled (see status/reason)")
    return Exploration(base=base.name, solver=options.solver,
                       axes=tuple((k, tuple(lbl for lbl, _ in vals)) for k, vals in axes),
                       points=tuple(points), total=total, notes=tuple(notes))


# ---- output ------------------------------------------------------------------------------------------------
CSV_FIELDS = ("index", "hardware", "status", "latency_s", "energy_j", "edp_js", "throughput_tokens_per_s",
              "bound_s", "makespan_over_bound", "chiplets", "pes", "sram_bytes", "area_m2", "peak_flops",
              "dram_bandwidth", "link_bw", "pareto_latency_energy", "pareto_edp_area", "wall_s", "reason")


def to_csv(ex: Exploration) -> str:
    keys = [k for k, _ in ex.axes]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(CSV_FIELDS[:2]) + keys + list(CSV_FIELDS[2:]))
    for p in ex.points:
        d = p.record()
        row = [d["index"], d["hardware"]] + [d["params"].get(k, "") for k in keys]
        for f in CSV_FIELDS[2:]:
            x = d[f]
            row.append("" if x is None else (int(x) if isinstance(x, bool) else
                                              (repr(float(x)) if isinstance(x, float) else x)))
        w.writerow(row)
    return buf.getvalue()


def to_doc(ex: Exploration) -> dict[str, Any]:
    return {"base": ex.base, "solver": ex.solver, "axes": {k: list(v) for k, v in ex.axes}, "total": ex.total,
            "run": len(ex.points), "capped": ex.capped, "notes": list(ex.notes), "meta": ex.meta,
            "area_sources": list(AREA_SOURCES), "points": [p.record() for p in ex.points]}


def plot(ex: Exploration, path: str | os.PathLike[str], title: str = "") -> bool:
    """EDP vs area proxy, one dot per scheduled variant (labelled by index), the EDP-area Pareto front as a
    step line. False (nothing written) when no variant was scheduled."""
    pts = [(str(p.index), p.area_m2 * 1e6, p.edp_js, bool(p.pareto_edp_area)) for p in ex.points
           if p.ok and p.edp_js is not None]
    return plots.render_front(pts, path, "area proxy (mm^2: compute dies + DRAM interface)", "EDP (J*s)",
                              title or f"mapc explore: {ex.base} ({ex.solver})")


def write_explore(out_dir: str | os.PathLike[str], ex: Exploration) -> list[str]:
    """Write explore.csv, explore.json, explore.png into `out_dir` atomically; the paths written."""

    def build(tmp: Path) -> None:
        (tmp / "explore.csv").write_text(to_csv(ex), encoding="utf-8")
        (tmp / "explore.json").write_text(json.dumps(jsonable(to_doc(ex)), indent=1, allow_nan=False) + "\n",
                                          encoding="utf-8")
        plot(ex, tmp / "explore.png", ex.meta.get("title", ""))

    return write_dir_atomic(out_dir, build, OUTPUT_FILES)


def table(ex: Exploration, title: str = "") -> Table:
    """A rich Table of the points (sorted by EDP), Pareto membership marked: L = latency-energy, A = EDP-area."""

    keys = [k for k, _ in ex.axes]
    t = Table(title=escape(title) if title else None, caption="pareto: L = latency-energy front, A = EDP-area front")
    for c in ["#", *keys, "latency", "energy", "EDP", "tokens/s", "PEs", "SRAM MiB", "area mm²", "mk/bound",
              "pareto", "status"]:
        t.add_column(c, justify="right" if c not in keys + ["status"] else "left")
    for p in ex.points:
        par = dict(p.params)
        mark = ("L" if p.pareto_latency_energy else "") + ("A" if p.pareto_edp_area else "")
        status = p.status if p.ok else f"{p.status}: {p.reason}"
        t.add_row(str(p.index), *(escape(par.get(k, "")) for k in keys), fmt_si(p.latency_s, "s"),
                  fmt_si(p.energy_j, "J"), fmt_si(p.edp_js, "J*s"),
                  "n/a" if p.throughput_tokens_per_s is None else f"{p.throughput_tokens_per_s:,.0f}",
                  f"{p.pes:,}", f"{p.sram_bytes / 2**20:,.0f}", f"{p.area_m2 * 1e6:,.0f}",
                  "n/a" if p.makespan_over_bound is None else f"{p.makespan_over_bound:.3f}x",
                  mark or "-", escape(status))
    return t


# ---- command line ------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of `mapc explore`."""
    p.add_argument("file", type=nonempty, help="mapc source file with a workload")
    p.add_argument("--hw", type=nonempty, default=None, metavar="BASE",
                   help="base hardware: preset or file (default: the file's own hardware block)")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a design parameter and its values (repeatable; full factorial). " + keys_hint())
    p.add_argument("--solver", default=DEFAULT_SOLVER, help=f"solver for every variant (default {DEFAULT_SOLVER})")
    p.add_argument("--time-limit", type=positive_float, default=5.0, metavar="S",
                   help="solver seconds per variant (default 5)")
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--objective", choices=OBJECTIVES, default=None, help="solver objective (default edp)")
    p.add_argument("--segment", type=positive_int, default=None, metavar="N", help="layers per task")
    p.add_argument("--max-points", type=positive_int, default=DEFAULT_MAX_POINTS, metavar="N",
                   help=f"run at most N variants of the full factorial (default {DEFAULT_MAX_POINTS})")
    p.add_argument("-o", "--out", type=nonempty, default=None, metavar="DIR",
                   help="output directory (default ./<stem>.explore/)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def cli_main(args: argparse.Namespace) -> int:
    """`mapc explore`: derive the variants, schedule each, print the table (or JSON), write the files."""
    axes = parse_vary(args.vary)                 # bad keys/values: exit 2 before anything runs
    out = Path(args.out) if args.out else Path.cwd() / f"{Path(args.file).stem}.explore"
    check_output_dir(out)
    spec = api.load(args.file)
    if spec.workload is None:
        raise MapcError(f"{args.file}: no workload to schedule", hint="add a `workload` block")
    base = api.hardware(args.hw, spec)
    options = SolveOptions(solver=args.solver, objective=args.objective, time_limit=args.time_limit,
                           seed=args.seed, threads=1)
    t0 = time.perf_counter()
    with progress(not args.json, f"exploring {args.file}") as step:
        ex = explore(spec, base, axes, options, max_points=args.max_points, segment=args.segment, progress=step)
    wall = time.perf_counter() - t0
    if not any(p.ok for p in ex.points):
        reasons = "; ".join(dict.fromkeys(f"{p.status}: {p.reason}" for p in ex.points))
        raise InfeasibleError(f"no variant of {base.name} could be scheduled ({reasons})",
                              hint="widen the sweep (e.g. more memory or chiplets)")
    title = f"{Path(args.file).name} on variants of {base.name} ({args.solver})"
    ex = replace(ex, meta={"input": str(args.file), "input_sha256": spec.sha256,
                           "base": base.name, "solver": args.solver, "objective": options.goal,
                           "time_limit_s": args.time_limit, "seed": args.seed, "title": title})
    files = write_explore(out, ex)
    if args.json:
        print_json({"ok": True, "command": "explore", "output_dir": str(out), "files": files,
                     "wall_s": wall, **to_doc(ex)})
        return 0
    for n in ex.notes:
        print(f"note: {n}", file=sys.stderr)
    console().print(table(ex, title))
    print(f"{len(ex.points)} variant(s) in {wall:.1f} s; wrote {out}{os.sep} "
          f"({', '.join(Path(f).name for f in files)})")
    return 0
