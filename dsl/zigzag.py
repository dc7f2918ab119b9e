"""A ZigZag core (zigzag-dse 3.x hardware YAML) as one mapc chiplet type: `hardware NAME = zigzag("core.yaml")`.

ZigZag's conventions (bench/validate/README.md, "ZigZag's tpu_like core, as ZigZag interprets it"): memory sizes
are in bits; `r_cost` / `w_cost` are pJ per access of one word of the port's `bandwidth_max` bits; bandwidths are
bits per cycle; a memory has one instance per combination of the array dimensions it does not serve (an empty
`served_dimensions` is one per MAC). The mapping, figure by figure (what bench/validate/mapc/tpu_like.dsl does by
hand for tpu_like, and what tests/dsl/test_yamlhw.py checks it against):

- clock: ZigZag counts cycles; mapc runs the core at 1 GHz, so a cycle is 1 ns.
- PE array (`operational_array`): `sizes` [D1] -> 1 x D1; [D1, D2] -> D2 rows (the reduction) x D1 columns;
  more dimensions -> the two largest are the PE array (the later one the rows) and the others count identical
  arrays (`arrays`: Simba's 4 x 4 PEs of 8 x 8 MACs are 16 arrays of 8 x 8). `unit_energy` -> `mac` (pJ/MAC).
- registers and buffers: a memory with an empty `served_dimensions`, or of at most 1 KiB in all, is a register;
  the others below DRAM are the global buffer (`sram` = the sum of their sizes x instances; energies and port
  bandwidth those of the largest). A memory named dram/hbm/ddr/offchip, or of at least 1 GiB, is DRAM.
- dataflow: from the operands the registers hold: weights (I2) -> ws, inputs (I1) -> is, both -> rs, outputs
  or none -> os. `rf` is one instance of the stationary operand's register (rs: of each register), its read
  cost per byte `rf_energy`; the innermost output register's cost per byte is `acc_energy`.
- the global buffer's read and write cost per byte -> `sram_energy`, `sram_write`; its widest port -> `sram_bw`.
- DRAM: its port's width -> bandwidth, its read cost per bit -> energy, its size -> capacity. A core without a DRAM
  level (Stream's cores take theirs from the accelerator) gets one 64-bit port at 700 pJ per access (ZigZag's
  shipped dram) when imported alone, and a note says so.
- precision: `operand_precision` {input, weight, accumulator} (Stream's peers) or `operational_array`
  `input_precision` [I, W] bits; default ZigZag's ONNX defaults, 8-bit operands. Partial sums: the accumulator
  precision, else the per-MAC output register's width, else 16 bits (mapc rounds a width it has no name for,
  e.g. int24, up to the next one it has).
- convolutions unroll input channels on the rows (`unroll channels`), as ZigZag's mappings do (C on a dimension).
- accepted and not used: `area`, `unit_area`, `latency`, `auto_cost_extraction`, `force_double_buffering`,
  `min_r_granularity`, `min_w_granularity`, `systolic_dimensions`, `dataflows` (mapc maps each operator itself),
  `type`, `operator_types` and `banks` (Stream's additions). In-memory-computing cores (`is_imc`) and any other
  key exit 2 naming the key and its file:line.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from mapc.core.errors import Loc
from mapc.core.hardware import ChipletType, Dataflow
from mapc.dsl.parser import error_at
from mapc.dsl.yamlfile import YamlMap, check_keys, need, number, read_yaml
from mapc.hw import constants as K

FREQ = 1e9                       # Hz: one ZigZag cycle = 1 ns
PJ = 1e-12
REGISTER_MAX_BYTES = 1024        # a memory of at most this many bytes in all is a register, not a buffer
DRAM_MIN_BYTES = 2**30
DRAM_NAME = re.compile(r"(?i)dram|hbm|ddr|offchip|off_chip")
DEFAULT_DRAM_BITS, DEFAULT_DRAM_PJ = 64, 700.0   # ZigZag's shipped dram: one 64-bit port, 700 pJ per read
OPERANDS = ("I1", "I2", "O")
CORE_KEYS = ("name", "memories", "operational_array", "operand_precision")
CORE_IGNORED = ("type", "operator_types", "banks", "dataflows")
MEMORY_KEYS = ("size", "r_cost", "w_cost", "operands", "ports", "served_dimensions")
MEMORY_IGNORED = ("area", "latency", "auto_cost_extraction", "force_double_buffering", "min_r_granularity",
                  "min_w_granularity")
PORT_KEYS = ("name", "type", "bandwidth_min", "bandwidth_max", "allocation")
ARRAY_KEYS = ("unit_energy", "dimensions", "sizes", "input_precision")
ARRAY_IGNORED = ("unit_area", "systolic_dimensions")
PRECISIONS = {"int4": 4, "int8": 8, "fp8": 8, "int16": 16, "fp16": 16, "bf16": 16, "int32": 32, "fp32": 32}


@dataclass(frozen=True)
class Memory:
    """One memory level as ZigZag describes it, in SI units (bytes, J per byte, bytes per cycle)."""

    name: str
    bytes: float                 # one instance
    instances: int
    operands: tuple[str, ...]
    read_j_per_byte: float
    write_j_per_byte: float
    port_bytes: float            # the widest port, bytes per cycle
    loc: Loc

    @property
    def total(self) -> float:
        return self.bytes * self.instances


@dataclass(frozen=True)
class Core:
    """A ZigZag core: its mapc chiplet type, its DRAM level (if any) and the importer's notes."""

    type: ChipletType
    dram: Memory | None
    offchip: bool                # Stream's off-chip core: DRAM only, no PE array
    notes: tuple[str, ...]


def load_core(path: str, name: str | None = None, loc: Loc | None = None) -> Core:
    """Read the ZigZag core at `path` (module docstring)."""
    doc = read_yaml(path, "ZigZag core", loc)
    what = f"ZigZag core {os.path.basename(path)}"
    check_keys(doc, CORE_KEYS, CORE_IGNORED, what)
    notes = [f"{os.path.basename(path)}:{at.line}: `{key}` given twice: the last one is used (as PyYAML and ZigZag "
             "do)" for key, at in _all_duplicates(doc)]
    arr = need(doc, "operational_array", YamlMap, what)
    check_keys(arr, ARRAY_KEYS, ARRAY_IGNORED, f"the operational_array of {what}")
    dims = [str(d) for d in need(arr, "dimensions", list, "operational_array")]
    sizes = need(arr, "sizes", list, "operational_array")
    if len(sizes) != len(dims) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sizes):
        raise error_at("operational_array `sizes` must list one whole number per dimension", arr.at("sizes"))
    mems = _memories(need(doc, "memories", YamlMap, what), dims, sizes, what)
    dram = [m for m in mems if DRAM_NAME.search(m.name) or m.total >= DRAM_MIN_BYTES]
    onchip = [m for m in mems if m not in dram]
    core_name = str(doc.get("name") or name or os.path.splitext(os.path.basename(path))[0])
    if math.prod(sizes) == 0:
        if not dram:
            raise error_at(f"{what} has no PE array (sizes {sizes}) and no DRAM level", arr.at("sizes"))
        return Core(ChipletType(core_name, 0, 0, "os", FREQ, 0.0, 0.0, 0.0, 0.0), dram[-1], True, tuple(notes))
    regs = [m for m in onchip if m.instances == math.prod(sizes) or m.total <= REGISTER_MAX_BYTES]
    bufs = [m for m in onchip if m not in regs]
    held = {op for m in regs for op in m.operands}
    dataflow: Dataflow = "rs" if {"I1", "I2"} <= held else "ws" if "I2" in held else "is" if "I1" in held else "os"
    stationary = {"ws": ("I2",), "is": ("I1",), "os": ("O",), "rs": OPERANDS}[dataflow]
    rf_regs = [m for m in regs if set(m.operands) & set(stationary)]
    acc = next((m for m in regs if m.operands == ("O",)), None)
    glb = max(bufs, key=lambda m: m.total) if bufs else None
    if glb is None:
        notes.append(f"{what} has no buffer between its registers and DRAM: mapc gives it a 1 KiB one")
    precision, accumulate = _precision(doc, arr, acc, what, notes)
    rows, cols, arrays = _array(sizes)
    sram = sum(m.total for m in bufs) if bufs else 1024.0
    t = ChipletType(
        name=core_name, pe_rows=rows, pe_cols=cols, dataflow=dataflow, freq=FREQ, sram=float(sram),
        mac_energy=number(arr, "unit_energy", "operational_array", default=0.0) * PJ,
        sram_energy=glb.read_j_per_byte if glb else K.sram_energy_per_byte(sram),
        static_power=K.static_power(rows * cols, FREQ), precision=precision,
        sram_bw=glb.port_bytes * FREQ if glb else None,
        rf=float(sum(m.bytes for m in rf_regs)) if rf_regs else None,
        rf_energy=max(m.read_j_per_byte for m in rf_regs) if rf_regs else None,
        acc_energy=acc.read_j_per_byte if acc else None,
        sram_write_energy=glb.write_j_per_byte if glb else None, accumulate=accumulate, unroll="channels",
        arrays=arrays)
    return Core(t, dram[-1] if dram else None, False, tuple(notes))


def default_dram(loc: Loc) -> Memory:
    """The DRAM a core without one gets when imported alone (module docstring)."""
    b = DEFAULT_DRAM_BITS / 8
    return Memory("dram", 1.25e9, 1, OPERANDS, DEFAULT_DRAM_PJ * PJ / b, DEFAULT_DRAM_PJ * PJ / b, b, loc)


def _all_duplicates(m: YamlMap) -> list[tuple[str, Loc]]:
    out = [(str(k), at) for k, at in m.duplicates]
    for v in m.values():
        if isinstance(v, YamlMap):
            out += _all_duplicates(v)
    return out


def _array(sizes: list[int]) -> tuple[int, int, int]:
    """(rows, columns, arrays) of the operational array (module docstring)."""
    if len(sizes) == 1:
        return 1, sizes[0], 1
    i, j = sorted(sorted(range(len(sizes)), key=lambda d: -sizes[d])[:2])
    return sizes[j], sizes[i], math.prod(s for d, s in enumerate(sizes) if d not in (i, j))


def _memories(mems: YamlMap, dims: list[str], sizes: list[int], what: str) -> list[Memory]:
    out = []
    for mname, m in mems.items():
        mwhat = f"memory `{mname}` of {what}"
        if not isinstance(m, YamlMap):
            raise error_at(f"{mwhat} must be a mapping", mems.at(mname))
        check_keys(m, MEMORY_KEYS, MEMORY_IGNORED, mwhat)
        served = [str(d) for d in (m.get("served_dimensions") or [])]
        bad = [d for d in served if d not in dims]
        if bad:
            raise error_at(f"{mwhat} serves unknown dimension `{bad[0]}`", m.at("served_dimensions"),
                           hint="the operational array's dimensions: " + ", ".join(dims))
        ops = tuple(str(o) for o in need(m, "operands", list, mwhat))
        if not ops or any(o not in OPERANDS for o in ops):
            raise error_at(f"{mwhat}: operands must be among I1, I2, O, got {list(ops)}", m.at("operands"))
        ports = need(m, "ports", list, mwhat)
        rd, wr = 0.0, 0.0
        for p in ports:
            if not isinstance(p, YamlMap):
                raise error_at(f"each port of {mwhat} is a mapping with name, type, bandwidth_min, bandwidth_max, "
                               "allocation", m.at("ports"))
            check_keys(p, PORT_KEYS, (), f"a port of {mwhat}")
            bits = number(p, "bandwidth_max", f"a port of {mwhat}", minimum=1)
            kind = str(p.get("type", "read_write"))
            if kind not in ("read", "write", "read_write"):
                raise error_at(f"port type `{kind}` is not read, write or read_write", p.at("type"))
            if kind != "write":
                rd = max(rd, bits)
            if kind != "read":
                wr = max(wr, bits)
        if not rd or not wr:
            raise error_at(f"{mwhat} needs a read and a write port", m.at("ports"))
        instances = math.prod(s for d, s in zip(dims, sizes) if d not in served) or 1
        out.append(Memory(str(mname), number(m, "size", mwhat, minimum=1) / 8, instances, ops,
                          number(m, "r_cost", mwhat) * PJ / (rd / 8), number(m, "w_cost", mwhat) * PJ / (wr / 8),
                          max(rd, wr) / 8, mems.at(mname)))
    return out


def _precision(doc: YamlMap, arr: YamlMap, acc: Memory | None, what: str, notes: list[str]) -> tuple[str, str]:
    """(operand precision, accumulation precision) as mapc names (module docstring)."""
    bits, acc_bits = 8, 0
    if "operand_precision" in doc:
        op = need(doc, "operand_precision", YamlMap, what)
        check_keys(op, ("input", "weight", "output", "accumulator"), (), f"the operand_precision of {what}")
        names = [str(op[k]) for k in ("input", "weight") if k in op]
        for k in ("input", "weight", "accumulator"):
            if k in op and not re.fullmatch(r"(int|fp|bf)\d+", str(op[k])):
                raise error_at(f"precision `{op[k]}` is not like int8, fp16, bf16", op.at(k))
        bits = max((int(re.sub(r"\D", "", n)) for n in names), default=8)
        if "accumulator" in op:
            acc_bits = int(re.sub(r"\D", "", str(op["accumulator"])))
        if names and names[0] in ("fp16", "bf16", "fp8", "fp32"):
            return names[0], _acc_name(acc_bits or 32, notes, what)
    elif "input_precision" in arr:
        ip = need(arr, "input_precision", list, "operational_array")
        if not all(isinstance(b, int) for b in ip):
            raise error_at("input_precision lists bits per operand, e.g. [8, 8]", arr.at("input_precision"))
        bits = max(ip)
    if not acc_bits:
        acc_bits = int(acc.bytes * 8) if acc is not None and acc.instances > 1 and acc.bytes <= 8 else 16
    return _int_name(bits, notes, what), _acc_name(acc_bits, notes, what)


def _int_name(bits: int, notes: list[str], what: str) -> str:
    name = {4: "int4", 8: "int8"}.get(bits)
    if name is None:
        name = "fp16" if bits == 16 else "fp32"
        notes.append(f"{what}: {bits}-bit operands priced as {name}")
    return name


def _acc_name(bits: int, notes: list[str], what: str) -> str:
    for name, b in (("int16", 16), ("int32", 32)):
        if bits <= b:
            if bits != b:
                notes.append(f"{what}: {bits}-bit partial sums priced as {name}")
            return name
    return "fp32"
