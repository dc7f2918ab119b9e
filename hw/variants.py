"""Hardware variants for design-space exploration: derive a `Hardware` from a base by changing design
parameters (`derive`), parse `KEY=V1,V2,...` value lists with units (`parse_vary`), and price a variant's
silicon and power with proxies (`area_of`). `mapc.hw.space` builds the search space of `mapc explore` on them.

Keys (`KNOBS`), values parsed with the language's unit parser (`mapc.core.units.to_si`):
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
  pim       on | off: off removes the PIM units; on keeps the base's, or gives a base without any one AttAcc-style
            HBM-PIM unit per DRAM channel, attached where the channel is (`presets.hbm_pim_units`, npu-pim's figures)

`mapc.hw.space` adds ranges (`sram=1MiB..32MiB:log`) on top of these value lists.

Area proxy (`area_of`): the compute dies and the DRAM interface, with Gemini's density constants (see
`AREA_SOURCES`); a chiplet type with an `area` setting counts that instead of its die proxy. Peak power proxy
(`area_of(...)["peak_power_w"]`): every MAC busy every cycle at its MAC energy, plus static power
(sum over chiplets of MACs x MAC energy x clock + static); SRAM, NoP, DRAM and PIM power are not counted. Link bandwidth carries no area in the proxy (Gemini's die-to-die PHY constant is per SerDes
lane, whose bandwidth its code does not state), so a faster NoP is free in the EDP-area front.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Union, cast, get_args

from mapc.core.errors import MapcError
from mapc.core.hardware import Chiplet, ChipletType, Dataflow, DramChannel, Hardware
from mapc.core.units import to_si
from mapc.hw import constants as K
from mapc.hw.presets import HBM_PIM_SOURCE, edge_ids, hbm_pim_units

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
    "a chiplet type's `area` setting, when given, replaces its die proxy",
)


def area_of(hw: Hardware) -> dict[str, Any]:
    """Cost proxy of `hw`: total PEs (MACs/cycle), SRAM bytes, an area estimate in m^2 (compute dies, each its
    type's `area` when given, + DRAM interface; see `AREA_SOURCES`) and the peak power proxy in W (module doc)."""
    pes = sum(c.type.macs_per_cycle for c in hw.chiplets)
    sram = float(sum(c.type.sram for c in hw.chiplets))
    die = sum(c.type.area if c.type.area is not None else
              (c.type.macs_per_cycle * MAC_AREA.get(c.type.precision, MAC_AREA_FP16)
               + c.type.sram * SRAM_AREA_PER_BYTE) * POST_LAYOUT * CONTROL_DFT for c in hw.chiplets)
    io_ = hw.dram_bandwidth / DRAM_PHY_BW * DRAM_PHY_AREA * CONTROL_DFT
    power = sum(c.type.macs_per_cycle * c.type.mac_energy * c.type.freq + c.type.static_power for c in hw.chiplets)
    return {"pes": int(pes), "sram_bytes": sram, "area_m2": float(die + io_), "die_area_m2": float(die),
            "io_area_m2": float(io_), "peak_power_w": float(power)}


# ---- knobs -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Knob:
    name: str
    kind: str          # "dims" | "dataflow" | "onoff" | a unit kind of mapc.core.units
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
    Knob("pim", "onoff", "HBM-PIM units on or off", "on,off"),
)}
DATAFLOWS = ("ws", "os", "rs", "mix")
_NUM_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z/]*)\s*$")
_DIMS = re.compile(r"^\s*([0-9]+)\s*(?:[xX*]\s*([0-9]+))?\s*$")
MAX_DIM = 64                     # grid side beyond this is refused (cost tables grow as n^2)
MAX_PE_SIDE = 512                # PE array side (the language allows 2^20 MACs per array)
KnobValue = Union[float, str, tuple[int, int]]   # a knob's value: SI number, dataflow name or (rows, cols)


def keys_hint() -> str:
    return "keys: " + "; ".join(f"{k.name} ({k.help}, e.g. {k.name}={k.example})" for k in KNOBS.values())


def parse_value(key: str, text: str) -> KnobValue:
    """One value of knob `key` in SI (dims: (rows, cols); dataflow: str); `MapcError` saying what is expected."""
    k = KNOBS[key]
    t = text.strip()
    if k.kind == "dims":
        m = _DIMS.match(t)
        if not m:
            raise MapcError(f"--vary {key}: expected ROWSxCOLS like `{k.example.split(',')[0]}`, got {text!r}")
        r = int(m.group(1))
        c = int(m.group(2)) if m.group(2) is not None else r
        most = MAX_DIM if key == "grid" else MAX_PE_SIDE
        if not (1 <= r <= most and 1 <= c <= most):
            raise MapcError(f"--vary {key}: {text!r}: each side must be between 1 and {most}")
        return (r, c)
    if k.kind == "onoff":
        if t.lower() not in ("on", "off"):
            raise MapcError(f"--vary pim: expected on or off, got {text!r}")
        return t.lower()
    if k.kind == "dataflow":
        if t.lower() not in DATAFLOWS:
            raise MapcError(f"--vary dataflow: unknown dataflow {text!r}", hint="use one of: " + ", ".join(DATAFLOWS))
        return t.lower()
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


Axis = tuple[str, tuple[tuple[str, KnobValue], ...]]     # (key, ((label, SI value), ...))


def parse_vary(texts: Iterable[str] | None) -> tuple[Axis, ...]:
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
    dram: list[DramChannel] = []
    for edge in ("west", "east", "north", "south"):
        chans = [ch for ch in hw.dram if ch.edge == edge]
        length = rows if edge in ("west", "east") else cols
        for i, ch in enumerate(chans):
            lo = i * length // len(chans)
            hi = max(lo + 1, (i + 1) * length // len(chans))
            dram.append(replace(ch, attach=edge_ids(rows, cols, edge, lo, hi)))
    order = {ch.name: k for k, ch in enumerate(hw.dram)}
    dram.sort(key=lambda ch: order[ch.name])

    def back(cid: int) -> int:       # base chiplet id -> one new id at the scaled position
        c = hw.chiplets[cid]
        nx_ = round(c.x * (cols - 1) / (hw.cols - 1)) if hw.cols > 1 else 0
        ny_ = round(c.y * (rows - 1) / (hw.rows - 1)) if hw.rows > 1 else 0
        return ny_ * cols + nx_

    pim = tuple(replace(u, attach=tuple(sorted({back(a) for a in u.attach}))) for u in hw.pim)
    return replace(hw, rows=rows, cols=cols, chiplets=chips, dram=tuple(dram), pim=pim)


def _retype(t: ChipletType, *, pes: tuple[int, int] | None = None, sram: float | None = None,
            freq: float | None = None, dataflow: Dataflow | None = None) -> ChipletType:
    """`t` with new PE array / SRAM / clock / dataflow; energies follow the constant table's scaling rules
    (static power ~ MACs x clock, `mapc.hw.constants.static_power`; SRAM energy/B ~ sqrt(size),
    `sram_energy_per_byte`), relative to the base type's own figures."""
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


def _dims(settings: Mapping[str, KnobValue], key: str) -> tuple[int, int] | None:
    v = settings.get(key)
    if v is None:
        return None
    if not isinstance(v, tuple):
        raise MapcError(f"design parameter {key}: expected (rows, cols), got {v!r}")
    return v


def _number(settings: Mapping[str, KnobValue], key: str) -> float | None:
    v = settings.get(key)
    if v is None:
        return None
    if isinstance(v, (str, tuple)):
        raise MapcError(f"design parameter {key}: expected a number, got {v!r}")
    return v


def derive(base: Hardware, settings: Mapping[str, KnobValue], name: str | None = None) -> Hardware:
    """The hardware `base` with the knob values in `settings` (key -> SI value, as `parse_value` returns)."""
    unknown = set(settings) - set(KNOBS)
    if unknown:
        raise MapcError(f"unknown design parameter(s): {', '.join(sorted(unknown))}", hint=keys_hint())
    hw = base
    grid = _dims(settings, "grid")
    if grid is not None:
        hw = _regrid(hw, *grid)
    df = settings.get("dataflow")
    if df is not None and df != "mix" and df not in get_args(Dataflow):
        raise MapcError(f"unknown dataflow {df!r}", hint="use one of: " + ", ".join(DATAFLOWS))
    half = (hw.rows + 1) // 2
    cache: dict[tuple[ChipletType, Dataflow | None], ChipletType] = {}
    chips = []
    for c in hw.chiplets:
        want: Dataflow | None = None if df is None else (("ws" if c.y < half else "os") if df == "mix"
                                                          else cast(Dataflow, df))   # checked above
        key = (c.type, want)
        if key not in cache:
            cache[key] = _retype(c.type, pes=_dims(settings, "pes"), sram=_number(settings, "sram"),
                                 freq=_number(settings, "freq"), dataflow=want)
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
    link, hop = _number(settings, "link"), _number(settings, "hop")
    if link is not None:
        nop = replace(nop, link_bw=link)
    if hop is not None:
        nop = replace(nop, hop_latency=hop)
    dram = hw.dram
    dram_bw, memory = _number(settings, "dram"), _number(settings, "memory")
    if not dram and (dram_bw is not None or memory is not None):
        raise MapcError(f"--vary dram/memory: the base hardware {base.name} has no DRAM channel to scale")
    if dram_bw is not None and dram:
        f = dram_bw / sum(ch.bandwidth for ch in dram)
        dram = tuple(replace(ch, bandwidth=ch.bandwidth * f) for ch in dram)
    if memory is not None and dram:
        f = memory / sum(ch.capacity for ch in dram)
        dram = tuple(replace(ch, capacity=ch.capacity * f) for ch in dram)
    pim = hw.pim
    onoff = settings.get("pim")
    if onoff not in (None, "on", "off"):
        raise MapcError(f"design parameter pim: expected on or off, got {onoff!r}")
    if onoff == "off":
        pim = ()
    elif onoff == "on" and not pim:
        if not dram:
            raise MapcError(f"--vary pim=on: the base hardware {base.name} has no DRAM channel to put PIM in")
        pim = hbm_pim_units(dram)
    src = base.sources + ((HBM_PIM_SOURCE,) if pim and not hw.pim else ()) + (
        f"mapc explore variant of {base.name}: " + ", ".join(f"{k}={v}" for k, v in settings.items()),)
    return Hardware(name or base.name, hw.rows, hw.cols, tuple(chips), nop, dram, pim, src)
