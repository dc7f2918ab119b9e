"""A `Hardware` written back as a `hardware NAME { ... }` block of the language (`hardware_text`).

`mapc explore` writes its best designs with it, so that `mapc compile --hw design.dsl` runs on them. Every figure
is written, each with the most readable unit that reproduces the SI value exactly when the resolver multiplies it
back (`2 MiB`, `1 GHz`, `0.0873 pJ/MAC`; otherwise the SI unit with all digits), so loading the text gives the
same chiplets, NoP, DRAM channels and PIM units (up to the channel names, which the language derives from the
block names, and the last bit of a total split over channels).

What a block cannot say is refused with `MapcError` rather than approximated: chiplet types that vary along both
rows and columns (`place` takes whole rows or whole columns), and DRAM/PIM units whose attached chiplets are not
equal runs along package edges (`at EDGE ... channels N`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from mapc.core.errors import MapcError
from mapc.core.hardware import ChipletType, DramChannel, Hardware, PackageEdge, PimUnit
from mapc.core.units import UNITS
from mapc.hw.presets import edge_ids

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z0-9_]+)*$")
EDGES: tuple[PackageEdge, ...] = ("west", "east", "north", "south")
# unit spellings tried first to last for each kind (the first that reproduces the value exactly is written)
PREFERRED = {
    "size": ("MiB", "GiB", "KiB", "B"), "bandwidth": ("GB/s", "TB/s", "MB/s", "B/s"),
    "time": ("ns", "us", "ps", "ms", "s"), "frequency": ("GHz", "MHz", "kHz", "Hz"), "power": ("mW", "W", "uW"),
    "energy_mac": ("pJ/MAC", "fJ/MAC", "J/MAC"), "energy_byte": ("pJ/B", "fJ/B", "J/B"),
    "energy_bit": ("pJ/bit", "fJ/bit", "J/bit"), "compute": ("TFLOP/s", "GFLOP/s", "FLOP/s"),
    "area": ("mm2", "um2", "m2"),
}
_SI = {"size": "B", "bandwidth": "B/s", "time": "s", "frequency": "Hz", "power": "W", "energy_mac": "J/MAC",
       "energy_byte": "J/B", "energy_bit": "J/bit", "compute": "FLOP/s", "area": "m2"}


def quantity_text(value: float, kind: str) -> str:
    """`value` (SI) as `NUMBER UNIT` that the language reads back as exactly `value`."""
    found: list[tuple[bool, int, int, str]] = []   # (outside 0.01..10000, unit rank, length, text)
    for rank, unit in enumerate(PREFERRED[kind]):
        factor = UNITS[unit][1]
        for digits in (4, 6, 9, 12, 15, 17):
            text = f"{value / factor:.{digits}g}"
            if "e" not in text and float(text) * factor == value:
                x = float(text)
                found.append((not 0.01 <= abs(x) < 10000, rank, len(text), f"{text} {unit}"))
                break
    return min(found)[3] if found else f"{value!r} {_SI[kind]}"


def _name(text: str, what: str) -> str:
    if not NAME.match(text):
        raise MapcError(f"cannot write {what} `{text}` as a name of the language",
                        hint="names are letters, digits, `_` and inner `-`")
    return text


def _chiplet(t: ChipletType) -> list[str]:
    q = quantity_text
    items = [f"pes {t.pe_rows}x{t.pe_cols}", f"dataflow {t.dataflow}", f"freq {q(t.freq, 'frequency')}",
             f"sram {q(t.sram, 'size')}", f"precision {t.precision}", f"mac {q(t.mac_energy, 'energy_mac')}",
             f"sram_energy {q(t.sram_energy, 'energy_byte')}", f"static {q(t.static_power, 'power')}"]
    for key, val, kind in (("sram_write", t.sram_write_energy, "energy_byte"), ("sram_bw", t.sram_bw, "bandwidth"),
                           ("rf", t.rf, "size"), ("rf_energy", t.rf_energy, "energy_byte"),
                           ("acc_energy", t.acc_energy, "energy_byte"), ("area", t.area, "area")):
        if val is not None:
            items.append(f"{key} {q(val, kind)}")
    if t.accumulate:
        items.append(f"accumulate {t.accumulate}")
    if t.unroll != "im2col":
        items.append(f"unroll {t.unroll}")
    if t.vector:
        items.append(f"vector {q(t.vector * t.freq, 'compute')}")
    if t.arrays != 1:
        items.append(f"arrays {t.arrays}")
    return items


def _runs(labels: Sequence[str]) -> list[tuple[int, int, str]]:
    """(first, last, label) of each run of equal labels."""
    out: list[tuple[int, int, str]] = []
    for i, lab in enumerate(labels):
        if out and out[-1][2] == lab:
            out[-1] = (out[-1][0], i, lab)
        else:
            out.append((i, i, lab))
    return out


def _places(hw: Hardware, type_names: dict[ChipletType, str]) -> list[str]:
    """`place` lines by whole rows (or whole columns); none when one type fills the grid."""
    at = {(c.x, c.y): type_names[c.type] for c in hw.chiplets}
    if len(set(at.values())) == 1:
        return []
    for axis, outer, inner in (("rows", hw.rows, hw.cols), ("cols", hw.cols, hw.rows)):
        lines: list[str] = []
        for k in range(outer):
            cells = {at[(j, k) if axis == "rows" else (k, j)] for j in range(inner)}
            if len(cells) != 1:
                break
            lines.append(cells.pop())
        else:
            return [f"place {lab} {axis} {a}..{b}" for a, b, lab in _runs(lines)]
    raise MapcError(f"cannot write hardware {hw.name} as a block: its chiplet types vary along both rows and columns",
                    hint="`place` takes whole rows or whole columns")


def _edge_of(rows: int, cols: int, ids: tuple[int, ...]) -> PackageEdge | None:
    for e in EDGES:
        if set(ids) <= set(edge_ids(rows, cols, e, 0, rows if e in ("west", "east") else cols)):
            return e
    return None


def _memory_blocks(hw: Hardware, kind: Literal["dram", "pim"], units: Sequence[DramChannel | PimUnit]) -> list[str]:
    """`dram`/`pim` blocks: units with equal figures grouped, each group equal runs along its edges."""
    groups: dict[tuple, list[DramChannel | PimUnit]] = {}
    for u in units:
        figs = (u.energy_per_bit, u.capacity, u.bandwidth) + ((u.peak_flops, u.mac_energy) if isinstance(u, PimUnit)
                                                             else ())
        groups.setdefault(figs, []).append(u)
    blocks = []
    for g, members in enumerate(groups.values()):
        by_edge: dict[PackageEdge, list[DramChannel | PimUnit]] = {}
        for u in members:
            edge = u.edge if isinstance(u, DramChannel) else _edge_of(hw.rows, hw.cols, u.attach)
            if edge is None:
                raise MapcError(f"cannot write {kind} unit {u.name} of {hw.name} as a block: it is not on a "
                                f"package edge")
            by_edge.setdefault(edge, []).append(u)
        counts = {len(v) for v in by_edge.values()}
        k = counts.pop()
        ok = not counts
        for e, us in by_edge.items():
            length = hw.rows if e in ("west", "east") else hw.cols
            want = [edge_ids(hw.rows, hw.cols, e, i * length // k, (i + 1) * length // k) for i in range(k)]
            ok = ok and sorted(tuple(sorted(u.attach)) for u in us) == sorted(want)
        if not ok:
            raise MapcError(f"cannot write the {kind} units of {hw.name} as a block: they are not equal runs along "
                            f"package edges", hint="`at EDGE, ...  channels N` splits each edge evenly")
        n = len(members)
        prefix = members[0].name.split("_")[0] if n > 1 else members[0].name
        name = prefix if NAME.match(prefix) and len(groups) == 1 else f"{kind}{g}"
        u0 = members[0]
        items = [f"at {', '.join(by_edge)}"] + ([f"channels {k}"] if k > 1 else []) + [
            f"bandwidth {quantity_text(u0.bandwidth * n, 'bandwidth')}",
            f"energy {quantity_text(u0.energy_per_bit, 'energy_bit')}",
            f"capacity {quantity_text(u0.capacity * n, 'size')}"]
        if isinstance(u0, PimUnit):
            items += [f"compute {quantity_text(u0.peak_flops * n, 'compute')}",
                      f"mac {quantity_text(u0.mac_energy, 'energy_mac')}"]
        blocks.append(f"  {kind} {name} {{ " + "  ".join(items) + " }")
    return blocks


def hardware_text(hw: Hardware, name: str | None = None, comment: str = "") -> str:
    """`hw` as a `hardware NAME { ... }` block (NAME defaults to `hw.name`, which must then be a language name),
    preceded by `comment` lines (`# ...`). Raises `MapcError` for what a block cannot express (module doc)."""
    block = _name(name or hw.name, "hardware")
    types = list(dict.fromkeys(c.type for c in hw.chiplets))
    type_names: dict[ChipletType, str] = {}
    for t in types:
        base = t.name if NAME.match(t.name) else "core"
        nm, k = base, 2
        while nm in type_names.values():
            nm, k = f"{base}{k}", k + 1
        type_names[t] = nm
    lines = [f"# {ln}" for ln in comment.splitlines()]
    lines.append(f"hardware {block} {{")
    lines.append(f"  grid {hw.rows} x {hw.cols}")
    for t in types:
        lines.append(f"  chiplet {type_names[t]} {{ " + "  ".join(_chiplet(t)) + " }")
    lines += [f"  {p}" for p in _places(hw, type_names)]
    nop = hw.nop
    lines.append(f"  nop {nop.topology} {{ link {quantity_text(nop.link_bw, 'bandwidth')}  "
                 f"hop {quantity_text(nop.hop_latency, 'time')}  "
                 f"energy {quantity_text(nop.energy_per_bit, 'energy_bit')} }}")
    lines += _memory_blocks(hw, "dram", hw.dram)
    if hw.pim:
        lines += _memory_blocks(hw, "pim", hw.pim)
    lines.append("}")
    return "\n".join(lines) + "\n"
