"""Hardware blocks given meaning -> `mapc.core.hardware.Hardware`, and `hardware NAME = PRESET`.

A block has one `grid`, chiplet types (`pes`, `dataflow`, `freq`, `sram` required), `place` lines that cover every
grid cell exactly once (one chiplet type and no `place`: it fills the grid), at most one `nop` and at least one
`dram` (plus optional `pim`) block attached to package edges. Figures left out come from the cited constant table
`mapc.hw.constants`; every physical setting takes a unit of its kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from mapc.core.errors import Loc, MapcError
from mapc.core.hardware import Chiplet, ChipletType, Dataflow, DramChannel, Hardware, NoP, PimUnit
from mapc.dsl import syntax as S
from mapc.dsl.parser import error_at
from mapc.dsl.values import duplicate, int_of, number, quantity, whole
from mapc.hw import constants as K
from mapc.hw import presets

MAX_CELLS = 65536          # grid cells (a 256x256 wafer mesh at most: cost tables grow with the chiplet count)
MAX_PES = 2**20            # MACs of one PE array (a GPU's tensor cores as one array: 110,592 for an A100)

Edge = Literal["west", "east", "north", "south"]
Topology = Literal["mesh", "torus", "ring"]
# the words a setting takes, in the order hints list them, and their typed values
EDGES: Mapping[str, Edge] = MappingProxyType({"west": "west", "east": "east", "north": "north", "south": "south"})
DATAFLOWS: Mapping[str, Dataflow] = MappingProxyType({"ws": "ws", "os": "os", "is": "is", "rs": "rs"})
UNROLLS = ("im2col", "channels")
TOPOLOGIES: Mapping[str, Topology] = MappingProxyType({"mesh": "mesh", "torus": "torus", "ring": "ring"})
# setting -> the unit kind it takes (mapc.core.units), per block
CHIP_KINDS = MappingProxyType({"freq": "frequency", "sram": "size", "mac": "energy_mac", "sram_energy": "energy_byte",
                               "sram_write": "energy_byte", "static": "power", "sram_bw": "bandwidth",
                               "rf": "size", "rf_energy": "energy_byte", "acc_energy": "energy_byte",
                               "vector": "compute", "arrays": "count", "area": "area"})
NOP_KINDS = MappingProxyType({"link": "bandwidth", "hop": "time", "energy": "energy_bit"})
DRAM_KINDS = MappingProxyType({"bandwidth": "bandwidth", "energy": "energy_bit", "capacity": "size"})
PIM_KINDS = MappingProxyType({"bandwidth": "bandwidth", "energy": "energy_bit", "capacity": "size",
                              "compute": "compute", "mac": "energy_mac"})


def _settings(items: list[S.Setting] | tuple[S.Setting, ...], kinds: Mapping[str, str],
              what: str) -> dict[str, float]:
    """key -> SI value for the settings of `what`, each a key of `kinds` (key -> unit kind), each at most once."""
    out: dict[str, float] = {}
    for it in items:
        key, loc = it.key.text, it.loc
        if key not in kinds:
            raise error_at(f"`{key}` is not a setting of {what}", loc, hint="settings: " + ", ".join(kinds))
        if key in out:
            raise error_at(f"`{key}` given twice", loc)
        out[key] = quantity(it.value, kinds[key], key)
    return out


def _dims(dims: S.Dims, what: str, most: int = MAX_CELLS) -> tuple[int, int]:
    """`RxC` as positive whole numbers with at most `most` cells."""
    vals = (number(dims.rows), number(dims.cols))
    r, c = (int_of(v, what, dims.loc) for v in vals)
    if r * c > most:
        raise error_at(f"{what} {r}x{c} is too large", dims.loc)
    return r, c


def _chiplet_type(node: S.Chiplet) -> ChipletType:
    """A chiplet type; unstated energies and static power come from `mapc.hw.constants`."""
    name, loc = node.name.text, node.name.loc
    pes: tuple[int, int] | None = None
    dataflow: Dataflow | None = None
    precision, accumulate, unroll = "fp16", "", "im2col"
    settings: list[S.Setting] = []
    seen: set[str] = set()
    for it in node.items:
        if isinstance(it, S.Pes):
            if "pes" in seen:
                raise error_at("`pes` given twice", it.loc)
            seen.add("pes")
            pes = _dims(it.dims, "pes", MAX_PES)
        elif isinstance(it, S.WordSetting):
            key, val, vloc = it.key.text, it.value.text, it.value.loc
            if key in seen:
                raise error_at(f"`{key}` given twice", it.loc)
            seen.add(key)
            if key == "dataflow":
                if val not in DATAFLOWS:
                    raise error_at(f"unknown dataflow `{val}`", vloc,
                                   hint="ws (weight-stationary), os (output-stationary), is (input-stationary), "
                                        "rs (row-stationary)")
                dataflow = DATAFLOWS[val]
            elif key == "accumulate":
                if val not in K.BYTES_PER_ELEMENT:
                    raise error_at(f"unknown accumulation precision `{val}`", vloc,
                                   hint="one of " + ", ".join(K.BYTES_PER_ELEMENT))
                accumulate = val
            elif key == "unroll":
                if val not in UNROLLS:
                    raise error_at(f"unknown unrolling `{val}`", vloc,
                                   hint="im2col (the whole reduction Cin x kh x kw on the array's rows) or channels "
                                        "(Cin on the rows, filter taps in time)")
                unroll = val
            else:
                if val not in K.MAC_ENERGY:
                    raise error_at(f"unknown precision `{val}`", vloc, hint="one of " + ", ".join(K.MAC_ENERGY))
                precision = val
        else:
            settings.append(it)
    s = _settings(settings, CHIP_KINDS, f"chiplet `{name}`")
    for need, example in (("pes", "pes 32x32"), ("dataflow", "dataflow ws")):
        if need not in seen:
            raise error_at(f"chiplet `{name}` needs `{need}`", loc, hint=f"e.g. `{example}`")
    for need, example in (("freq", "freq 1 GHz"), ("sram", "sram 2 MiB")):
        if need not in s:
            raise error_at(f"chiplet `{name}` needs `{need}`", loc, hint=f"e.g. `{example}`")
    assert pes is not None and dataflow is not None
    r, c = pes
    # Defaults from the cited constant table (mapc.hw.constants): fp16 MAC 0.0873 pJ (Gemini main.cpp
    # LR_mac_cost), SRAM energy scaled from Gemini's 1 MiB read cost, static power scaled from Simba.
    return ChipletType(name=name, pe_rows=r, pe_cols=c, dataflow=dataflow, freq=s["freq"], sram=s["sram"],
                       mac_energy=s.get("mac", K.MAC_ENERGY[precision]),
                       sram_energy=s.get("sram_energy", K.sram_energy_per_byte(s["sram"])),
                       static_power=s.get("static", K.static_power(r * c, s["freq"])),
                       precision=precision, sram_bw=s.get("sram_bw"), rf=s.get("rf"),
                       rf_energy=s.get("rf_energy"), acc_energy=s.get("acc_energy"), sram_write_energy=s.get("sram_write"), accumulate=accumulate,
                       unroll=unroll, vector=int(round(s["vector"] / s["freq"])) if "vector" in s else 0,
                       arrays=_count(s, "arrays", node), area=s.get("area"))


def _count(s: dict[str, float], key: str, node: S.Chiplet) -> int:
    """A count setting (default 1) as a whole number."""
    v = s.get(key, 1.0)
    if v != int(v) or v < 1:
        raise error_at(f"`{key}` must be a positive whole number, got {v:g}", node.loc)
    return int(v)


def _edge_runs(rows: int, cols: int, edge: str, n: int) -> list[tuple[int, ...]]:
    """`n` equal runs of the chiplet ids along `edge` (row-major ids `y*cols+x`)."""
    length = rows if edge in ("west", "east") else cols
    out = []
    for i in range(n):
        lo, hi = i * length // n, (i + 1) * length // n
        if edge == "west":
            ids = tuple(y * cols for y in range(lo, hi))
        elif edge == "east":
            ids = tuple(y * cols + cols - 1 for y in range(lo, hi))
        elif edge == "north":
            ids = tuple(range(lo, hi))
        else:
            ids = tuple((rows - 1) * cols + x for x in range(lo, hi))
        out.append(ids)
    return out


def _memory(node: S.Memory, rows: int, cols: int, kinds: Mapping[str, str],
            what: str) -> tuple[str, list[Edge], int, dict[str, float], Loc]:
    """(name, edges, channels per edge, settings, location of the name) of a dram/pim block."""
    name, loc = node.name.text, node.name.loc
    edges: list[Edge] = []
    channels: int | None = None
    settings: list[S.Setting] = []
    for it in node.items:
        if isinstance(it, S.At):
            if edges:
                raise error_at("`at` given twice", it.loc)
            for e in it.edges:
                if e.text not in EDGES:
                    raise error_at(f"unknown package edge `{e.text}`", e.loc, hint="edges: " + ", ".join(EDGES))
                if e.text in edges:
                    raise error_at(f"edge `{e.text}` named twice", e.loc)
                edges.append(EDGES[e.text])
        elif isinstance(it, S.Channels):
            if channels is not None:
                raise error_at("`channels` given twice", it.loc)
            channels = whole(it.count, "`channels`")
            edge_len = min(rows if e in ("west", "east") else cols for e in (edges or ("west",)))
            if channels > max(rows, cols) or channels > edge_len and edges:
                raise error_at(f"{channels} channels per edge but an edge has only {edge_len} chiplets",
                               it.count.loc)
        else:
            settings.append(it)
    s = _settings(settings, kinds, f"{what} `{name}`")
    if not edges:
        raise error_at(f"{what} `{name}` needs `at EDGE, ...`", loc, hint="e.g. `at west, east`")
    if "bandwidth" not in s:
        raise error_at(f"{what} `{name}` needs `bandwidth`", loc, hint="e.g. `bandwidth 256 GB/s`")
    return name, edges, channels or 1, s, loc


def _placement(node: S.HardwareBlock, rows: int, cols: int, types: dict[str, ChipletType],
               hloc: Loc) -> dict[tuple[int, int], tuple[str, Loc]]:
    """(x, y) -> (chiplet type, where placed) for every cell; a cell placed twice or left out is an error."""
    cell: dict[tuple[int, int], tuple[str, Loc]] = {}
    places = [it for it in node.items if isinstance(it, S.Place)]
    if not places and len(types) == 1:
        only = next(iter(types))
        cell = {(x, y): (only, hloc) for y in range(rows) for x in range(cols)}
    for it in places:
        tname, ploc = it.chiplet.text, it.loc
        if tname not in types:
            raise error_at(f"unknown chiplet `{tname}`", it.chiplet.loc, hint="chiplets: " + ", ".join(types))
        if isinstance(it.where, S.PlaceAll):
            cells = [(x, y) for y in range(rows) for x in range(cols)]
        else:
            axis, span = it.where.axis.text, it.where.span
            lo, hi = (number(span.lo), number(span.hi)) if isinstance(span, S.Range) else (number(span),) * 2
            lim = rows if axis == "rows" else cols
            for v in (lo, hi):
                if v != int(v) or not 0 <= v < lim:
                    raise error_at(f"{axis} {span.text} outside the grid (0..{lim - 1})", span.loc)
            if lo > hi:
                raise error_at(f"empty range {span.text}", span.loc)
            idx = range(int(lo), int(hi) + 1)
            cells = [(x, y) for y in idx for x in range(cols)] if axis == "rows" else \
                [(x, y) for y in range(rows) for x in idx]
        for xy in cells:
            if xy in cell:
                prev, pl = cell[xy]
                raise error_at(f"cell (x={xy[0]}, y={xy[1]}) is placed twice: `{prev}` (line {pl.line}) and "
                               f"`{tname}`", ploc)
            cell[xy] = (tname, ploc)
    missing = [(x, y) for y in range(rows) for x in range(cols) if (x, y) not in cell]
    if missing:
        shown = ", ".join(f"({x},{y})" for x, y in missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise error_at(f"{len(missing)} cell(s) of the {rows}x{cols} grid have no chiplet: {shown}", hloc,
                       hint="place every cell exactly once: `place TYPE rows A..B`, `cols A..B` or `all`")
    return cell


def _nop(node: S.HardwareBlock) -> NoP:
    """The network-on-package: defaults are mapc.hw.constants' Simba-class NoP (100 GB/s, 20 ns/hop,
    1.3 pJ/bit); no `nop` line is a mesh with them."""
    nops = [it for it in node.items if isinstance(it, S.Nop)]
    if len(nops) > 1:
        raise error_at("`nop` given twice", nops[1].loc)
    topo: Topology = "mesh"
    ns: dict[str, float] = {}
    if nops:
        word = nops[0].topology.text
        if word not in TOPOLOGIES:
            raise error_at(f"unknown topology `{word}`", nops[0].topology.loc, hint="mesh, torus or ring")
        topo = TOPOLOGIES[word]
        ns = _settings(nops[0].settings, NOP_KINDS, "nop")
    return NoP(topo, ns.get("link", K.TABLE["nop_link_bw_mcm"].value), ns.get("hop", K.NOP_HOP_LATENCY),
               ns.get("energy", K.NOP_MCM_E_BIT))


def _memories(node: S.HardwareBlock, rows: int, cols: int) -> tuple[list[DramChannel], list[PimUnit]]:
    """DRAM channels and PIM units. `bandwidth`/`capacity` are a block's totals, split evenly over edges x
    channels. DRAM defaults: HBM2 3.9 pJ/bit (O'Connor MICRO 2017), 16 GiB per block; PIM defaults: AttAcc-style
    HBM-PIM (mapc.hw.constants: bank-level energy, 0.32 pJ/op ALU, 1 FLOP/B)."""
    dram: list[DramChannel] = []
    pims: list[PimUnit] = []
    mem_names: dict[str, Loc] = {}
    for it in node.items:
        if not isinstance(it, S.Memory):
            continue
        kinds, what = (DRAM_KINDS, "dram") if it.kind == "dram" else (PIM_KINDS, "pim")
        mname, edges, per_edge, s, mloc = _memory(it, rows, cols, kinds, what)
        if mname in mem_names:
            raise duplicate("memory", mname, mloc, mem_names[mname])
        mem_names[mname] = mloc
        n = len(edges) * per_edge
        runs = [(e, i, ids) for e in edges for i, ids in enumerate(_edge_runs(rows, cols, e, per_edge))]
        if what == "dram":
            for e, i, ids in runs:
                dram.append(DramChannel(f"{mname}_{e}{i}" if n > 1 else mname, e, s["bandwidth"] / n,
                                        s.get("energy", K.HBM2_E_BIT), s.get("capacity", 16 * K.GiB) / n, ids))
        else:
            for e, i, ids in runs:
                bw = s["bandwidth"] / n
                pims.append(PimUnit(f"{mname}_{e}{i}" if n > 1 else mname, bw,
                                    s["compute"] / n if "compute" in s else bw * K.PIM_OPS_PER_BYTE,
                                    s.get("energy", K.PIM_BANK_E_BIT), s.get("mac", K.PIM_MAC_ENERGY),
                                    s.get("capacity", 16 * K.GiB) / n, ids))
    return dram, pims


def build_hardware(node: S.HardwareBlock) -> Hardware:
    """The `Hardware` of a `hardware NAME { ... }` block."""
    name, hloc = node.name.text, node.name.loc
    grids = [it for it in node.items if isinstance(it, S.Grid)]
    if not grids:
        raise error_at(f"hardware `{name}` needs `grid ROWS x COLS`", hloc, hint="e.g. `grid 6 x 6`")
    if len(grids) > 1:
        raise error_at("`grid` given twice", grids[1].loc)
    rows, cols = _dims(grids[0].dims, "grid")
    types: dict[str, ChipletType] = {}
    type_locs: dict[str, Loc] = {}
    for it in node.items:
        if isinstance(it, S.Chiplet):
            t = _chiplet_type(it)
            tl = it.name.loc
            if t.name in types:
                raise duplicate("chiplet", t.name, tl, type_locs[t.name])
            types[t.name], type_locs[t.name] = t, tl
    if not types:
        raise error_at(f"hardware `{name}` defines no chiplet", hloc,
                       hint="e.g. `chiplet core { pes 32x32 dataflow ws freq 1 GHz sram 2 MiB }`")
    cell = _placement(node, rows, cols, types, hloc)
    chiplets = tuple(Chiplet(y * cols + x, x, y, types[cell[(x, y)][0]]) for y in range(rows) for x in range(cols))
    nop = _nop(node)
    dram, pims = _memories(node, rows, cols)
    if not dram:
        raise error_at(f"hardware `{name}` has no `dram` block", hloc,
                       hint="e.g. `dram hbm { at west, east  bandwidth 256 GB/s  energy 3.9 pJ/bit }`")
    sources = (f"hardware block `{name}` at {hloc.file}:{hloc.line}",
               "unstated figures: mapc.hw.constants (MAC 0.0873 pJ Gemini; SRAM from Gemini 1 MiB read cost; "
               "static from Simba; NoP 100 GB/s / 20 ns / 1.3 pJ/bit Simba-class; HBM2 3.9 pJ/bit O'Connor 2017)")
    return Hardware(name, rows, cols, chiplets, nop, tuple(dram), tuple(pims), sources)


def build_preset(node: S.HardwarePreset) -> Hardware:
    """`hardware NAME = PRESET`: the built-in preset (it keeps its own name)."""
    pname = node.preset.value if isinstance(node.preset, S.Str) else node.preset.text
    try:
        return presets.get(pname)
    except MapcError as e:
        raise error_at(f"unknown hardware preset `{pname}`", node.preset.loc, hint=e.hint) from None
