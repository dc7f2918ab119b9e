"""Hardware from other tools' YAML: `hardware NAME = zigzag("core.yaml")` (one ZigZag core, `mapc.dsl.zigzag`) and
`hardware NAME = stream("accelerator.yaml")` (a Stream multi-core accelerator).

A Stream accelerator becomes a grid of its cores:

- `cores` maps core ids to ZigZag core files (relative to the accelerator file; Stream's examples keep them in a
  `cores/` folder beside it, so that folder is tried too). Each distinct core is a chiplet type. Every core but the
  off-chip one (`offchip_core_id`) is a chiplet, special-purpose ones (pooling, SIMD) included: mapc may place any
  operator on any core and prices it with that core's own array (Stream's `operator_types` are not enforced).
- The grid: from `core_coordinates` (x, y) when they fill a rectangle; otherwise the rows x columns whose row-major
  numbering of the sorted core ids makes the most `core_connectivity` links mesh neighbours (ties: the squarest).
  mapc routes on that 2-D mesh; when some of the accelerator's links are not mesh neighbours (a ring, a core wired
  to every other) a note says how many.
- NoP: link bandwidth = the most common bandwidth of the links between compute cores (Stream: bits per cycle, a
  cycle being 1 ns as for the cores), energy per bit = the links' `unit_energy_cost` (pJ/bit; the file's default
  when a link has none); hop latency mapc's default.
- DRAM: the off-chip core's DRAM level gives the energy per bit, the capacity and the total bandwidth (its port);
  each link or bus from the off-chip core to compute cores is a DRAM channel attached to those cores, carrying an
  even share of that bandwidth, at most the link's own.
- Also accepted: `name`, `unit_energy_cost`, `bandwidth` (the older format's default link bandwidth, with links
  written as "a, b" strings). Any other key exits 2 naming it and its file:line.
"""

from __future__ import annotations

import os
from collections import Counter

from mapc.core.errors import Loc
from mapc.core.hardware import Chiplet, DramChannel, Hardware, NoP, PackageEdge
from mapc.dsl.parser import error_at
from mapc.dsl.yamlfile import YamlMap, check_keys, need, number, read_yaml
from mapc.dsl.zigzag import FREQ, Core, Memory, default_dram, load_core
from mapc.hw import constants as K

ACC_KEYS = ("name", "cores", "offchip_core_id", "core_connectivity", "core_coordinates", "unit_energy_cost",
            "bandwidth")
LINK_KEYS = ("type", "cores", "bandwidth", "unit_energy_cost")


def zigzag_hardware(path: str, name: str, loc: Loc | None = None) -> Hardware:
    """One ZigZag core on a 1 x 1 grid with its own DRAM level (`mapc.dsl.zigzag`)."""
    core = load_core(path, loc=loc)
    if core.offchip:
        raise error_at(f"{os.path.basename(path)} is an off-chip memory core (no PE array): it is the DRAM of a "
                       "Stream accelerator", loc or Loc(path, 1, 1), hint="import the accelerator with stream(...)")
    dram = core.dram or default_dram(Loc(path, 1, 1))
    notes = core.notes if core.dram else core.notes + (
        f"ZigZag core {os.path.basename(path)} has no DRAM level: imported alone it gets a {dram.port_bytes * 8:g}-bit "
        f"DRAM port at {dram.read_j_per_byte * dram.port_bytes * 1e12:g} pJ per access (ZigZag's shipped dram)",)
    ch = DramChannel(dram.name, "west", dram.port_bytes * FREQ, dram.read_j_per_byte / 8, dram.total, (0,))
    return Hardware(name, 1, 1, (Chiplet(0, 0, 0, core.type),), NoP(), (ch,), (),
                    (f"ZigZag core {path} (mapc.dsl.zigzag: 1 cycle = 1 ns)",), notes=notes)


def yaml_hardware(path: str, name: str | None = None) -> Hardware:
    """A YAML file given as `--hw`: a Stream accelerator when it lists `cores`, else a ZigZag core; named after
    the file's stem unless `name` is given."""
    hw_name = name or os.path.splitext(os.path.basename(path))[0]
    is_stream = "cores" in read_yaml(path, "hardware YAML")
    return stream_hardware(path, hw_name) if is_stream else zigzag_hardware(path, hw_name)


def _core_path(base: str, file: str) -> str:
    for p in (os.path.join(base, file), os.path.join(base, "cores", file)):
        if os.path.isfile(p):
            return p
    return os.path.join(base, file)


def stream_hardware(path: str, name: str, loc: Loc | None = None) -> Hardware:
    """A Stream accelerator as a grid of its cores (module docstring)."""
    doc = read_yaml(path, "Stream accelerator", loc)
    what = f"Stream accelerator {os.path.basename(path)}"
    check_keys(doc, ACC_KEYS, (), what)
    base = os.path.dirname(os.path.abspath(path))
    files = need(doc, "cores", YamlMap, what)
    cores: dict[int, Core] = {}
    loaded: dict[str, Core] = {}
    for cid, file in files.items():
        if not isinstance(cid, int) or not isinstance(file, str):
            raise error_at("`cores` maps a core id (a whole number) to a core file", files.at(cid))
        p = _core_path(base, file)
        if p not in loaded:
            loaded[p] = load_core(p, loc=files.at(cid))
        cores[cid] = loaded[p]
    off = doc.get("offchip_core_id")
    if off is not None and off not in cores:
        raise error_at(f"offchip_core_id {off} is not a core of `cores`", doc.at("offchip_core_id"))
    compute = sorted(c for c, core in cores.items() if c != off and not core.offchip)
    if not compute:
        raise error_at(f"{what} has no compute core", doc.at("cores"))
    default_bw = number(doc, "bandwidth", what, default=0.0)
    default_e = number(doc, "unit_energy_cost", what, default=0.0)
    links = _links(doc, cores, default_bw, default_e, what)
    notes = [n for core in loaded.values() for n in core.notes]
    pos, rows, cols = _grid(doc, compute, links, what, notes)
    chips = [Chiplet(y * cols + x, x, y, cores[c].type) for c, (x, y) in pos.items()]
    chips.sort(key=lambda ch: ch.id)
    inner = [(bw, e) for members, bw, e in links if off not in members]
    link_bw = Counter(bw for bw, _ in inner).most_common(1)[0][0] if inner else default_bw
    energy = Counter(e for _, e in inner).most_common(1)[0][0] if inner else default_e
    nop = NoP("mesh", link_bw / 8 * FREQ if link_bw else K.TABLE["nop_link_bw_mcm"].value, K.NOP_HOP_LATENCY,
              energy * 1e-12)
    dram = _dram(cores, off, links, pos, cols, path, notes)
    types = Counter(c.type.name for c in chips)
    return Hardware(name, rows, cols, tuple(chips), nop, tuple(dram), (),
                    (f"Stream accelerator {path}: {len(chips)} cores "
                     + ", ".join(f"{n} x{k}" for k, n in types.items()) + " (mapc.dsl.stream)",), notes=tuple(notes))


def _links(doc: YamlMap, cores: dict[int, Core], default_bw: float, default_e: float,
           what: str) -> list[tuple[tuple[int, ...], float, float]]:
    """(member core ids, bandwidth in bits/cycle, pJ/bit) of every link and bus."""
    out = []
    for item in doc.get("core_connectivity") or []:
        if isinstance(item, str):                 # the older format: "a, b" at the file's bandwidth
            members = tuple(int(x) for x in item.replace(" ", "").split(",") if x)
            bw, e, at = default_bw, default_e, doc.at("core_connectivity")
        elif isinstance(item, YamlMap):
            check_keys(item, LINK_KEYS, (), f"a core_connectivity entry of {what}")
            members = tuple(need(item, "cores", list, "a link"))
            bw = number(item, "bandwidth", "a link", default=default_bw or None)
            e = number(item, "unit_energy_cost", "a link", default=default_e)
            at = item.loc
            if str(item.get("type", "link")) not in ("link", "bus"):
                raise error_at(f"link type `{item.get('type')}` is not link or bus", item.at("type"))
        else:
            raise error_at("a core_connectivity entry is a mapping (type, cores, bandwidth) or \"a, b\"",
                           doc.at("core_connectivity"))
        bad = [m for m in members if m not in cores]
        if len(members) < 2 or bad:
            raise error_at(f"a link joins at least two cores of `cores`; got {list(members)}", at)
        out.append((members, bw, e))
    return out


def _grid(doc: YamlMap, compute: list[int], links: list, what: str,
          notes: list[str]) -> tuple[dict[int, tuple[int, int]], int, int]:
    """core id -> (x, y), rows, cols (module docstring)."""
    pairs = {(a, b) for members, _, _ in links if len(members) == 2 for a, b in (members, members[::-1])
             if a in compute and b in compute}
    coords = doc.get("core_coordinates")
    if isinstance(coords, YamlMap) and all(c in coords for c in compute):
        xy = {c: tuple(coords[c]) for c in compute}
        xs, ys = sorted({p[0] for p in xy.values()}), sorted({p[1] for p in xy.values()})
        if len(set(xy.values())) == len(compute) == len(xs) * len(ys) and xs == list(range(xs[0], xs[0] + len(xs))) \
                and ys == list(range(ys[0], ys[0] + len(ys))):
            pos = {c: (int(x - xs[0]), int(y - ys[0])) for c, (x, y) in xy.items()}
            _mesh_note(pos, pairs, len(xs), what, notes)
            return pos, len(ys), len(xs)
        notes.append(f"{what}: core_coordinates do not fill a rectangle: cores placed by id instead")
    n = len(compute)
    best = None
    for rows in range(1, n + 1):
        if n % rows:
            continue
        cols = n // rows
        pos = {c: (i % cols, i // cols) for i, c in enumerate(compute)}
        hits = sum(1 for a, b in pairs if abs(pos[a][0] - pos[b][0]) + abs(pos[a][1] - pos[b][1]) == 1)
        key = (hits, -abs(rows - cols), -rows)
        if best is None or key > best[0]:
            best = (key, pos, rows, cols)
    assert best is not None
    _, pos, rows, cols = best
    _mesh_note(pos, pairs, cols, what, notes)
    return pos, rows, cols


def _mesh_note(pos: dict[int, tuple[int, int]], pairs: set, cols: int, what: str, notes: list[str]) -> None:
    far = sorted({(min(a, b), max(a, b)) for a, b in pairs
                  if abs(pos[a][0] - pos[b][0]) + abs(pos[a][1] - pos[b][1]) != 1})
    if far:
        rows = len({y for _, y in pos.values()})
        notes.append(f"{what}: {len(far)} of {len(pairs) // 2} links between compute cores are not neighbours on "
                     f"the {rows} x {cols} mesh mapc routes on (e.g. cores {far[0][0]}-{far[0][1]})")


def _dram(cores: dict[int, Core], off: int | None, links: list, pos: dict[int, tuple[int, int]], cols: int,
          path: str, notes: list[str]) -> list[DramChannel]:
    """One DRAM channel per link or bus from the off-chip core (module docstring)."""
    mem: Memory | None = cores[off].dram if off is not None else None
    if mem is None:
        mem = default_dram(Loc(path, 1, 1))
        notes.append(f"{os.path.basename(path)}: no off-chip core with a DRAM level: a default "
                     f"{mem.port_bytes * 8:g}-bit DRAM port attached to the first core")
    entries = [(tuple(sorted(pos[m][1] * cols + pos[m][0] for m in members if m in pos)), bw)
               for members, bw, _ in links if off is not None and off in members]
    entries = [(ids, bw) for ids, bw in entries if ids] or [((0,), 0.0)]
    total = mem.port_bytes * FREQ
    out = []
    for i, (ids, bw) in enumerate(entries):
        share = total / len(entries)
        if bw:
            share = min(share, bw / 8 * FREQ)
        x, y = pos_of(ids[0], cols)
        edge: PackageEdge = "north" if y == 0 else "west" if x == 0 else "east" if x == cols - 1 else "south"
        out.append(DramChannel(f"{mem.name}{i}" if len(entries) > 1 else mem.name, edge, share,
                               mem.read_j_per_byte / 8, mem.total / len(entries), ids))
    return out


def pos_of(cid: int, cols: int) -> tuple[int, int]:
    """(x, y) of chiplet id `cid` on a grid of `cols` columns."""
    return cid % cols, cid // cols

