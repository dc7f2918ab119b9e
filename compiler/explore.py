"""`mapc explore`: hardware design-space exploration (the Theseus / Gemini side of mapc).

From a base hardware (preset or file) derive variants by varying design parameters, full factorial over the
`--vary KEY=V1,V2,...` axes (in the order given, capped at `max_points`), schedule the same workload on each
with one solver, check every schedule, and report latency, energy, EDP, throughput, a hardware cost proxy
(PE count, SRAM, silicon area estimate) and makespan / lower bound, with the latency-energy and EDP-area
Pareto points marked. Variants the workload cannot run on (weights exceed DRAM, more pipeline stages than
chiplets, ...) are reported as `skipped` with the reason; they are not errors.

Keys (`KNOBS`), values parsed with the DSL's unit parser (`mapc.core.units.to_si`):
  grid      RxC chiplet grid (`4x4`, `6x6`, `8`); chiplet types are re-laid by scaling the base positions,
            DRAM channels keep their edge, count and bandwidth, spread evenly along their edge
  pes       RxC PE array of every chiplet (`16x16`, `32x32`); static power scales with the MAC count
  sram      global buffer per chiplet (`1MiB`); SRAM energy per byte rescaled (`constants.sram_energy_per_byte`)
  dataflow  ws | os | rs | mix (mix: ws on the top half of the rows, os below, as in SCAR's heterogeneous MCM)
  link      NoP link bandwidth (`100GB/s`)
  dram      aggregate DRAM bandwidth (`256GB/s`), split over the channels in the base's proportions
  memory    aggregate DRAM capacity (`64GiB`), split likewise
  freq      chiplet clock (`1GHz`); static power scales with it
  hop       NoP hop latency (`20ns`)

Area proxy (`area_of`): the compute dies and the DRAM interface, with Gemini's density constants (see
`AREA_SOURCES`). Link bandwidth carries no area in the proxy (Gemini's die-to-die PHY constant is per SerDes
lane, whose bandwidth its code does not state), so a faster NoP is free in the EDP-area front.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from mapc.core.errors import InfeasibleError, MapcError, NoSolutionError
from mapc.core.hardware import Chiplet, ChipletType, Hardware
from mapc.hw.presets import _edge_ids
from mapc.solvers.base import Budget

OUTPUT_FILES = ("explore.csv", "explore.json", "explore.png")
DEFAULT_MAX_POINTS = 64


# ---- area proxy --------------------------------------------------------------------------------------------
UM2 = 1e-12                      # m^2 per um^2
# Gemini (Cai et al., HPCA 2024), SET-Scheduling-Project/GEMINI-HPCA2024 src/main.cpp, "DIE AREA" block:
MAC_AREA_INT8 = 57.9 * UM2       # MAC_den = 57.9 um^2 per 8-bit MAC
MAC_AREA_FP16 = 57.9 * 8 * UM2   # LR_mac_den = MAC_den * 8 um^2 per FP16 MAC (LR_mac_cost 0.0873 pJ "IEEE FP16")
SRAM_AREA_PER_BYTE = 0.0964 * 8 * UM2   # SRAM_den = 0.0964 * 8 um^2 per byte (0.81 mm^2 per MiB)
POST_LAYOUT = 2.2                # post_layout_scale: core area = (SRAM + MAC + NoC) x 2.2
CONTROL_DFT = 1.05 * 1.05        # control_unit_prop x DFT_prop applied to each die
DRAM_PHY_AREA = (6.53e6 + 510e3 * 0.09) * UM2   # DDR_PHY_den + DDR_ctrl_den um^2 per GDDR6X channel ...
DRAM_PHY_BW = 44e9               # ... of 44 GB/s ("44GB/s represents the bandwidth of a GDDR6X channel")
MAC_AREA = {"fp16": MAC_AREA_FP16, "bf16": MAC_AREA_FP16, "int8": MAC_AREA_INT8, "fp8": MAC_AREA_INT8,
            "fp32": MAC_AREA_FP16}   # fp32: no figure in Gemini; the fp16 one is used (an underestimate)
AREA_SOURCES = (
    "MAC 463.2 um^2 (fp16) / 57.9 um^2 (int8), SRAM 0.7712 um^2/B, x2.2 post-layout, x1.05 control x1.05 DFT: "
    "Gemini (HPCA 2024) src/main.cpp DIE AREA",
    "DRAM interface 6.576 mm^2 (PHY 6.53 + controller 0.046) per 44 GB/s GDDR6X channel: Gemini src/main.cpp",
    "not counted: NoC routers, die-to-die PHYs (Gemini sizes them per SerDes lane), PIM logic, package",
)


def area_of(hw: Hardware) -> dict:
    """Cost proxy of `hw`: total PEs (MACs/cycle), SRAM bytes, and an area estimate in m^2 (compute dies +
    DRAM interface; see `AREA_SOURCES`)."""
    pes = sum(c.type.macs_per_cycle for c in hw.chiplets)
    sram = float(sum(c.type.sram for c in hw.chiplets))
    die = sum((c.type.macs_per_cycle * MAC_AREA.get(c.type.precision, MAC_AREA_FP16)
               + c.type.sram * SRAM_AREA_PER_BYTE) * POST_LAYOUT * CONTROL_DFT for c in hw.chiplets)
    io_ = hw.dram_bandwidth / DRAM_PHY_BW * DRAM_PHY_AREA * CONTROL_DFT
    return {"pes": int(pes), "sram_bytes": sram, "area_m2": float(die + io_), "die_area_m2": float(die),
            "io_area_m2": float(io_)}


# ---- knobs -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Knob:
    name: str
    kind: str          # "dims" | "dataflow" | a unit kind of mapc.core.units
    help: str
    example: str


KNOBS: dict[str, Knob] = {k.name: k for k in (
    Knob("grid", "dims", "chiplet grid ROWSxCOLS", "4x4,6x6,8x8"),
    Knob("pes", "dims", "PE array per chiplet ROWSxCOLS", "16x16,32x32,64x64"),
    Knob("sram", "size", "SRAM per chiplet", "1MiB,2MiB,8MiB"),
    Knob("dataflow", "dataflow", "ws | os | rs | mix (ws top rows, os bottom rows)", "ws,os,mix"),
    Knob("link", "bandwidth", "NoP link bandwidth", "50GB/s,100GB/s,400GB/s"),
    Knob("dram", "bandwidth", "aggregate DRAM bandwidth", "128GB/s,256GB/s,512GB/s"),
    Knob("memory", "size", "aggregate DRAM capacity", "32GiB,256GiB"),
    Knob("freq", "frequency", "chiplet clock", "500MHz,1GHz"),
    Knob("hop", "time", "NoP hop latency", "5ns,20ns"),
)}
DATAFLOWS = ("ws", "os", "rs", "mix")
_NUM_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z/]*)\s*$")
_DIMS = re.compile(r"^\s*([0-9]+)\s*(?:[xX*]\s*([0-9]+))?\s*$")
MAX_DIM = 64                     # grid side or PE array side beyond this is refused (cost tables grow as n^2)


def keys_hint() -> str:
    return "keys: " + "; ".join(f"{k.name} ({k.help}, e.g. {k.name}={k.example})" for k in KNOBS.values())


def parse_value(key: str, text: str):
    """One value of knob `key` in SI (dims: (rows, cols); dataflow: str); `MapcError` saying what is expected."""
    k = KNOBS[key]
    t = text.strip()
    if k.kind == "dims":
        m = _DIMS.match(t)
        if not m:
            raise MapcError(f"--vary {key}: expected ROWSxCOLS like `{k.example.split(',')[0]}`, got {text!r}")
        r = int(m.group(1))
        c = int(m.group(2)) if m.group(2) is not None else r
        if not (1 <= r <= MAX_DIM and 1 <= c <= MAX_DIM):
            raise MapcError(f"--vary {key}: {text!r}: each side must be between 1 and {MAX_DIM}")
        return (r, c)
    if k.kind == "dataflow":
        if t.lower() not in DATAFLOWS:
            raise MapcError(f"--vary dataflow: unknown dataflow {text!r}", hint="use one of: " + ", ".join(DATAFLOWS))
        return t.lower()
    from mapc.core.units import to_si
    m = _NUM_UNIT.match(t)
    if not m:
        raise MapcError(f"--vary {key}: expected a number with a unit like `{k.example.split(',')[0]}`, "
                        f"got {text!r}")
    try:
        v = to_si(float(m.group(1)), m.group(2) or None, k.kind)
    except MapcError as e:
        raise MapcError(f"--vary {key}={text}: {e.message}", hint=e.hint) from None
    if not (v > 0 and math.isfinite(v)):
        raise MapcError(f"--vary {key}: {text!r} must be > 0")
    return v


Axis = tuple[str, tuple[tuple[str, object], ...]]     # (key, ((label, SI value), ...))


def parse_vary(texts) -> tuple[Axis, ...]:
    """`["sram=1MiB,2MiB", "link=50GB/s"]` -> axes in the order given. Unknown keys, repeated keys, empty or
    repeated values raise `MapcError` (exit 2) listing the keys."""
    axes: list[Axis] = []
    seen: set[str] = set()
    for text in texts or ():
        if "=" not in text:
            raise MapcError(f"--vary {text!r}: expected KEY=V1,V2,...", hint=keys_hint())
        key, _, vals = text.partition("=")
        key = key.strip().lower()
        if key not in KNOBS:
            import difflib
            close = difflib.get_close_matches(key, list(KNOBS), n=1)
            raise MapcError(f"--vary: unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                            hint=keys_hint())
        if key in seen:
            raise MapcError(f"--vary {key} given twice", hint=f"list every value once: --vary {key}=A,B,C")
        seen.add(key)
        labels = [v.strip() for v in vals.split(",") if v.strip()]
        if not labels:
            raise MapcError(f"--vary {key}: no values", hint=f"e.g. --vary {key}={KNOBS[key].example}")
        parsed = [(lbl.replace(" ", ""), parse_value(key, lbl)) for lbl in labels]
        dup = len({repr(v) for _, v in parsed}) < len(parsed)
        if dup:
            raise MapcError(f"--vary {key}: a value is repeated ({vals})")
        axes.append((key, tuple(parsed)))
    return tuple(axes)


# ---- deriving a variant ------------------------------------------------------------------------------------
def _scale(i: int, n_old: int, n_new: int) -> int:
    """Position i of n_old mapped onto n_new cells (block scaling: cell j of n_new takes base cell j*n_old//n_new)."""
    return min(n_old - 1, i * n_old // n_new)


def _regrid(hw: Hardware, rows: int, cols: int) -> Hardware:
    """`hw` on a rows x cols grid: each cell takes the chiplet type of the base cell it scales onto; each edge's
    DRAM channels keep count, bandwidth and capacity and split their edge evenly; PIM units attach to the
    scaled positions of their base chiplets."""
    if (rows, cols) == (hw.rows, hw.cols):
        return hw
    base = {(c.x, c.y): c.type for c in hw.chiplets}
    chips = tuple(Chiplet(y * cols + x, x, y, base[(_scale(x, hw.cols, cols), _scale(y, hw.rows, rows))])
                  for y in range(rows) for x in range(cols))
    dram = []
    for edge in ("west", "east", "north", "south"):
        chans = [ch for ch in hw.dram if ch.edge == edge]
        length = rows if edge in ("west", "east") else cols
        for i, ch in enumerate(chans):
            lo = i * length // len(chans)
            hi = max(lo + 1, (i + 1) * length // len(chans))
            dram.append(replace(ch, attach=_edge_ids(rows, cols, edge, lo, hi)))
    order = {ch.name: k for k, ch in enumerate(hw.dram)}
    dram.sort(key=lambda ch: order[ch.name])

    def back(cid: int) -> int:       # base chiplet id -> one new id at the scaled position
        c = hw.chiplets[cid]
        nx_ = round(c.x * (cols - 1) / (hw.cols - 1)) if hw.cols > 1 else 0
        ny_ = round(c.y * (rows - 1) / (hw.rows - 1)) if hw.rows > 1 else 0
        return ny_ * cols + nx_

    pim = tuple(replace(u, attach=tuple(sorted({back(a) for a in u.attach}))) for u in hw.pim)
    return replace(hw, rows=rows, cols=cols, chiplets=chips, dram=tuple(dram), pim=pim)


def _retype(t: ChipletType, *, pes=None, sram=None, freq=None, dataflow=None) -> ChipletType:
    """`t` with new PE array / SRAM / clock / dataflow; energies follow the constant table's scaling rules
    (static power ~ MACs x clock, `mapc.hw.constants.static_power`; SRAM energy/B ~ sqrt(size),
    `sram_energy_per_byte`), relative to the base type's own figures."""
    from mapc.hw import constants as K
    out = t
    if pes is not None and pes != (t.pe_rows, t.pe_cols):
        f = (pes[0] * pes[1]) / t.macs_per_cycle
        out = replace(out, pe_rows=pes[0], pe_cols=pes[1], static_power=out.static_power * f)
    if sram is not None and sram != t.sram:
        f = K.sram_energy_per_byte(sram) / K.sram_energy_per_byte(t.sram)
        out = replace(out, sram=sram, sram_energy=out.sram_energy * f)
    if freq is not None and freq != t.freq:
        out = replace(out, freq=freq, static_power=out.static_power * freq / t.freq)
    if dataflow is not None and dataflow != t.dataflow:
        out = replace(out, dataflow=dataflow, name=f"{t.name}_{dataflow}")
    return out


def derive(base: Hardware, settings: dict, name: str | None = None) -> Hardware:
    """The hardware `base` with the knob values in `settings` (key -> SI value, as `parse_value` returns)."""
    unknown = set(settings) - set(KNOBS)
    if unknown:
        raise MapcError(f"unknown design parameter(s): {', '.join(sorted(unknown))}", hint=keys_hint())
    hw = base
    if "grid" in settings:
        hw = _regrid(hw, *settings["grid"])
    df = settings.get("dataflow")
    half = (hw.rows + 1) // 2
    cache: dict[tuple, ChipletType] = {}
    chips = []
    for c in hw.chiplets:
        want = None if df is None else (("ws" if c.y < half else "os") if df == "mix" else df)
        key = (c.type, want)
        if key not in cache:
            cache[key] = _retype(c.type, pes=settings.get("pes"), sram=settings.get("sram"),
                                 freq=settings.get("freq"), dataflow=want)
        chips.append(replace(c, type=cache[key]))
    # distinct types keep distinct names (two base types retyped alike stay apart by name only if they differ)
    names: dict[str, ChipletType] = {}
    for t in dict.fromkeys(cache.values()):
        if t.name in names and names[t.name] != t:
            k = 2
            while f"{t.name}{k}" in names:
                k += 1
            new = replace(t, name=f"{t.name}{k}")
            chips = [replace(c, type=new) if c.type == t else c for c in chips]
            t = new
        names[t.name] = t
    nop = hw.nop
    if "link" in settings:
        nop = replace(nop, link_bw=settings["link"])
    if "hop" in settings:
        nop = replace(nop, hop_latency=settings["hop"])
    dram = hw.dram
    if not dram and ("dram" in settings or "memory" in settings):
        raise MapcError(f"--vary dram/memory: the base hardware {base.name} has no DRAM channel to scale")
    if "dram" in settings and dram:
        f = settings["dram"] / sum(ch.bandwidth for ch in dram)
        dram = tuple(replace(ch, bandwidth=ch.bandwidth * f) for ch in dram)
    if "memory" in settings and dram:
        f = settings["memory"] / sum(ch.capacity for ch in dram)
        dram = tuple(replace(ch, capacity=ch.capacity * f) for ch in dram)
    src = base.sources + (f"mapc explore variant of {base.name}: "
                          + ", ".join(f"{k}={v}" for k, v in settings.items()),)
    return Hardware(name or base.name, hw.rows, hw.cols, tuple(chips), nop, dram, hw.pim, src)


@dataclass(frozen=True)
class Variant:
    index: int
    params: tuple[tuple[str, str], ...]       # (key, label) in axis order
    hw: Hardware


def variants(base: Hardware, axes: tuple[Axis, ...], max_points: int = DEFAULT_MAX_POINTS):
    """(variants, total): the full factorial of `axes` in `itertools.product` order (last axis fastest), the
    first `max_points` of them, and the uncapped count."""
    if max_points < 1:
        raise MapcError(f"--max-points must be >= 1, got {max_points}")
    total = math.prod(len(vals) for _, vals in axes) if axes else 1
    out = []
    combos = itertools.product(*(vals for _, vals in axes)) if axes else iter([()])
    for i, combo in enumerate(itertools.islice(combos, max_points)):
        params = tuple((key, lbl) for (key, _), (lbl, _) in zip(axes, combo))
        settings = {key: v for (key, _), (_, v) in zip(axes, combo)}
        name = base.name + ("[" + ",".join(f"{k}={v}" for k, v in params) + "]" if params else "")
        out.append(Variant(i, params, derive(base, settings, name)))
    return out, total


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

    def record(self) -> dict:
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
    meta: dict = field(default_factory=dict)

    @property
    def capped(self) -> bool:
        return len(self.points) < self.total


def pareto_mask(a, b) -> np.ndarray:
    """Bool mask of the points not dominated when minimising both `a` and `b` (a point dominates another when
    it is no worse in both and strictly better in one; equal points do not dominate each other)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = a.size
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        dom = (a <= a[i]) & (b <= b[i]) & ((a < a[i]) | (b < b[i]))
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


def run_variant(spec, v: Variant, solver: str, budget: Budget, objective: str = "edp",
                segment: int | None = None) -> Point:
    """Validate, lower, price, schedule, check and evaluate `spec` on `v.hw`; a variant the workload cannot
    run on is `skipped` with the reason, never an exception (a solver bug becomes `rejected`)."""
    from mapc.compiler import driver

    hw = v.hw
    cost = area_of(hw)
    common = dict(index=v.index, hardware=hw.name, params=v.params, chiplets=hw.n, pes=cost["pes"],
                  sram_bytes=cost["sram_bytes"], area_m2=cost["area_m2"], peak_flops=hw.peak_flops,
                  dram_bandwidth=hw.dram_bandwidth, link_bw=hw.nop.link_bw)
    t0 = time.perf_counter()
    try:
        validate = driver._validator()
        if validate is not None:
            validate(spec, hw)
        cr = driver.compile_spec(spec, hw, solver, budget, objective, segment=segment)
    except driver.InvalidScheduleError as e:
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


def explore(spec, base: Hardware, axes: tuple[Axis, ...], solver: str = "greedy", budget: Budget | None = None,
            *, max_points: int = DEFAULT_MAX_POINTS, objective: str = "edp", segment: int | None = None,
            progress: Callable[[str], None] | None = None) -> Exploration:
    """Run the sweep (see the module doc). Deterministic given the budget's seed (solvers run deterministic)."""
    from mapc.compiler.driver import solver_names
    budget = budget or Budget(time_limit=5.0)
    names = solver_names()
    if names and solver not in names:
        raise MapcError(f"unknown solver {solver!r}", hint="solvers: " + ", ".join(names))
    say = progress or (lambda _m: None)
    vs, total = variants(base, axes, max_points)
    notes = []
    if total > len(vs):
        notes.append(f"the sweep has {total} points; --max-points {max_points} keeps the first {len(vs)} "
                     f"(raise --max-points to run them all)")
    points = []
    for v in vs:
        label = ", ".join(f"{k}={lbl}" for k, lbl in v.params) or base.name
        say(f"[{v.index + 1}/{len(vs)}] {label}")
        points.append(run_variant(spec, v, solver, budget, objective, segment))
    points = _mark_pareto(points)
    points.sort(key=lambda p: (not p.ok, p.edp_js if p.ok else 0.0, p.index))
    skipped = [p for p in points if not p.ok]
    if skipped:
        notes.append(f"{len(skipped)} of {len(points)} variant(s) not scheduled (see status/reason)")
    return Exploration(base=base.name, solver=solver,
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


def to_doc(ex: Exploration) -> dict:
    return {"base": ex.base, "solver": ex.solver, "axes": {k: list(v) for k, v in ex.axes}, "total": ex.total,
            "run": len(ex.points), "capped": ex.capped, "notes": list(ex.notes), "meta": ex.meta,
            "area_sources": list(AREA_SOURCES), "points": [p.record() for p in ex.points]}


def plot(ex: Exploration, path, title: str = "") -> bool:
    """EDP vs area proxy, one dot per scheduled variant (labelled by index), the EDP-area Pareto front as a
    step line. False (nothing written) when no variant was scheduled."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [p for p in ex.points if p.ok]
    if not ok:
        return False
    x = np.array([p.area_m2 * 1e6 for p in ok])
    y = np.array([p.edp_js for p in ok])
    front = sorted((p for p in ok if p.pareto_edp_area), key=lambda p: (p.area_m2, p.edp_js))
    fig, ax = plt.subplots(figsize=(7, 4.6))
    ax.scatter(x, y, s=22, color="0.55", label="variant", zorder=2)
    if front:
        fx = [p.area_m2 * 1e6 for p in front]
        fy = [p.edp_js for p in front]
        ax.step(fx, fy, where="post", color="C3", lw=1.2, zorder=1)
        ax.scatter(fx, fy, s=40, color="C3", label="EDP-area Pareto front", zorder=3)
    for p, xi, yi in zip(ok, x, y):
        ax.annotate(str(p.index), (xi, yi), textcoords="offset points", xytext=(3, 3), fontsize=7)
    if x.max() / max(x.min(), 1e-30) > 10:
        ax.set_xscale("log")
    if y.max() / max(y.min(), 1e-300) > 10:
        ax.set_yscale("log")
    ax.set_xlabel("area proxy (mm^2: compute dies + DRAM interface)")
    ax.set_ylabel("EDP (J*s)")
    ax.set_title(title or f"mapc explore: {ex.base} ({ex.solver})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_explore(out_dir, ex: Exploration) -> list[str]:
    """Write explore.csv, explore.json, explore.png into `out_dir` atomically; the paths written."""
    from mapc.compiler.emit import jsonable, write_dir_atomic

    def build(tmp: Path) -> None:
        (tmp / "explore.csv").write_text(to_csv(ex), encoding="utf-8")
        (tmp / "explore.json").write_text(json.dumps(jsonable(to_doc(ex)), indent=1, allow_nan=False) + "\n",
                                          encoding="utf-8")
        plot(ex, tmp / "explore.png", ex.meta.get("title", ""))

    return write_dir_atomic(out_dir, build, OUTPUT_FILES)


def table(ex: Exploration, title: str = ""):
    """A rich Table of the points (sorted by EDP), Pareto membership marked: L = latency-energy, A = EDP-area."""
    from rich.markup import escape
    from rich.table import Table
    from mapc.compiler.emit import fmt_si

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
def add_arguments(p) -> None:
    """Arguments of `mapc explore` (called by mapc.cli)."""
    from mapc.cli import nonempty, positive_float, positive_int, seed_int
    from mapc.compiler.driver import DEFAULT_SOLVER, OBJECTIVES
    p.add_argument("file", type=nonempty, help="mapc source file with a workload")
    p.add_argument("--hw", type=nonempty, default=None, metavar="BASE",
                   help="base hardware: preset or file (default: the file's own hardware block)")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a design parameter and its values (repeatable; full factorial). " + keys_hint())
    p.add_argument("--solver", default=DEFAULT_SOLVER, help=f"solver for every variant (default {DEFAULT_SOLVER})")
    p.add_argument("--time-limit", type=positive_float, default=5.0, metavar="S",
                   help="solver seconds per variant (default 5)")
    p.add_argument("--seed", type=seed_int, default=0, metavar="N", help="random seed (default 0)")
    p.add_argument("--objective", choices=OBJECTIVES, default="edp", help="solver objective (default edp)")
    p.add_argument("--segment", type=positive_int, default=None, metavar="N", help="layers per task")
    p.add_argument("--max-points", type=positive_int, default=DEFAULT_MAX_POINTS, metavar="N",
                   help=f"run at most N variants of the full factorial (default {DEFAULT_MAX_POINTS})")
    p.add_argument("-o", "--out", type=nonempty, default=None, metavar="DIR",
                   help="output directory (default ./<stem>.explore/)")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def cli_main(args) -> int:
    """`mapc explore`: derive the variants, schedule each, print the table (or JSON), write the files."""
    import sys
    from mapc.cli import _console, _print_json, _progress
    from mapc.compiler import driver
    from mapc.compiler.emit import check_output_dir

    axes = parse_vary(args.vary)                 # bad keys/values: exit 2 before anything runs
    out = Path(args.out) if args.out else Path.cwd() / f"{Path(args.file).stem}.explore"
    check_output_dir(out)
    spec = driver.load_spec(args.file)
    if spec.workload is None:
        raise MapcError(f"{args.file}: no workload to schedule", hint="add a `workload` block")
    base = driver.resolve_hardware(args.hw, spec)
    budget = Budget(time_limit=args.time_limit, seed=args.seed, threads=1, deterministic=True)
    t0 = time.perf_counter()
    with _progress(not args.json, f"exploring {args.file}") as progress:
        ex = explore(spec, base, axes, args.solver, budget, max_points=args.max_points, objective=args.objective,
                     segment=args.segment, progress=progress)
    wall = time.perf_counter() - t0
    if not any(p.ok for p in ex.points):
        reasons = "; ".join(dict.fromkeys(f"{p.status}: {p.reason}" for p in ex.points))
        raise InfeasibleError(f"no variant of {base.name} could be scheduled ({reasons})",
                              hint="widen the sweep (e.g. more memory or chiplets)")
    title = f"{Path(args.file).name} on variants of {base.name} ({args.solver})"
    ex = replace(ex, meta={"input": str(args.file), "input_sha256": driver.file_sha256(args.file),
                           "base": base.name, "solver": args.solver, "objective": args.objective,
                           "time_limit_s": args.time_limit, "seed": args.seed, "title": title})
    files = write_explore(out, ex)
    if args.json:
        _print_json({"ok": True, "command": "explore", "output_dir": str(out), "files": files,
                     "wall_s": wall, **to_doc(ex)})
        return 0
    for n in ex.notes:
        print(f"note: {n}", file=sys.stderr)
    _console().print(table(ex, title))
    print(f"{len(ex.points)} variant(s) in {wall:.1f} s; wrote {out}{os.sep} "
          f"({', '.join(Path(f).name for f in files)})")
    return 0
