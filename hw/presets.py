"""Built-in hardware presets, each citing where its numbers come from (see `mapc.hw.constants`).

`PRESETS[name]()` builds a `Hardware`; `get(name)` does the same with a helpful error; `describe(hw)` summarises
a hardware for `mapc presets --json`.
"""

from __future__ import annotations

import difflib
from typing import Callable

from mapc.core.errors import HardwareError
from mapc.hw import constants as K
from mapc.hw.energy import acc_energy, rf_energy, sram_write_energy
from mapc.hw.mapping import rf_bytes
from mapc.core.hardware import Chiplet, ChipletType, Dataflow, DramChannel, Hardware, NoP, PackageEdge, PimUnit


def chiplet_type(name: str, pes: tuple[int, int], dataflow: Dataflow, freq: float, sram: float,
                 precision: str = "fp16", sram_bw: float | None = None) -> ChipletType:
    """A chiplet type whose energies come from the constant table (MAC by precision, SRAM by size, static)."""
    r, c = pes
    return ChipletType(name=name, pe_rows=r, pe_cols=c, dataflow=dataflow, freq=freq, sram=sram,
                       mac_energy=K.MAC_ENERGY[precision], sram_energy=K.sram_energy_per_byte(sram),
                       static_power=K.static_power(r * c, freq), precision=precision, sram_bw=sram_bw)


def _grid(rows: int, cols: int, type_of: Callable[[int, int], ChipletType]) -> tuple[Chiplet, ...]:
    return tuple(Chiplet(y * cols + x, x, y, type_of(x, y)) for y in range(rows) for x in range(cols))


def edge_ids(rows: int, cols: int, edge: PackageEdge, lo: int, hi: int) -> tuple[int, ...]:
    """Chiplet ids on one edge, positions lo..hi-1 along it (rows for west/east, columns for north/south)."""
    if edge == "west":
        return tuple(y * cols for y in range(lo, hi))
    if edge == "east":
        return tuple(y * cols + cols - 1 for y in range(lo, hi))
    if edge == "north":
        return tuple(range(lo, hi))
    return tuple((rows - 1) * cols + x for x in range(lo, hi))


def _edge_channels(rows: int, cols: int, edges: tuple[PackageEdge, ...], per_edge: int, bw: float, e_bit: float,
                   cap: float, prefix: str) -> tuple[DramChannel, ...]:
    """`per_edge` channels on each named edge, each attached to an equal run of the edge's chiplets."""
    out: list[DramChannel] = []
    for edge in edges:
        length = rows if edge in ("west", "east") else cols
        for i in range(per_edge):
            lo, hi = i * length // per_edge, (i + 1) * length // per_edge
            out.append(DramChannel(f"{prefix}_{edge}{i}", edge, bw, e_bit, cap, edge_ids(rows, cols, edge, lo, hi)))
    return tuple(out)


# ---- mcm6x6 -------------------------------------------------------------------------------------------------
MCM_SOURCES = (
    "36 chiplets on a 6x6 NoP mesh: Simba (Shao et al., MICRO 2019); Compass config/hardware_ws.json",
    "heterogeneous ws rows 0..2 / os rows 3..5: SCAR heterogeneous-dataflow MCM study",
    "chiplet 32x32 = 1024 MACs, 2 MiB buffer: Compass default (compute_units 1024, buffer_size 2048 KB); "
    "Simba chiplet 16 PEs x 64 MACs = 1024 MACs",
    "1 GHz: DESIGN.md (Simba runs 0.16-2 GHz)",
    "fp16 MAC 0.0873 pJ: Gemini main.cpp LR_mac_cost",
    "NoP 100 GB/s links, 20 ns/hop, 1.3 pJ/bit: Simba GRS 0.82-1.75 pJ/bit, ~20 ns/hop",
    "4 DRAM channels on the west/east edges, 64 GB/s each: Compass (dram_bw 64) / Gemini main.cpp DRAM_num = 4",
    "HBM2 energy 3.9 pJ/bit: O'Connor et al., MICRO 2017",
    "64 GiB per DRAM channel (256 GiB in all): an assumption, so that 70B-class models fit in fp16 "
    "(Compass and Gemini model DRAM bandwidth only, not capacity; 64 GB RDIMMs are common per DDR5 channel)",
)


def _mcm(name: str, hetero: bool) -> Hardware:
    R = C = 6
    ws = chiplet_type("ws_core", (32, 32), "ws", 1e9, 2 * K.MiB)
    os_ = chiplet_type("os_core", (32, 32), "os", 1e9, 2 * K.MiB)
    chips = _grid(R, C, lambda x, y: (ws if y < 3 else os_) if hetero else ws)
    nop = NoP("mesh", K.TABLE["nop_link_bw_mcm"].value, K.NOP_HOP_LATENCY, K.NOP_MCM_E_BIT)
    dram = _edge_channels(R, C, ("west", "east"), 2, K.TABLE["compass_dram_channel_bw"].value, K.HBM2_E_BIT,
                          64 * K.GiB, "hbm")
    return Hardware(name, R, C, chips, nop, dram, (), MCM_SOURCES)


def mcm6x6() -> Hardware:
    """SCAR-style heterogeneous 6x6 MCM: weight-stationary rows 0..2, output-stationary rows 3..5."""
    return _mcm("mcm6x6", True)


def mcm6x6_homo() -> Hardware:
    """The same package with every chiplet weight-stationary (the homogeneous baseline)."""
    return _mcm("mcm6x6-homo", False)


# ---- npu4x4 / npu-pim ---------------------------------------------------------------------------------------
NPU_SOURCES = (
    "4x4 cores of 128x128 systolic arrays: npu-sim llm/test/core_4x4.json (exu 128x128)",
    "weight-stationary cores at 1 GHz: npu-sim configs (core_type systolic_ws, core_freq 1000)",
    "8 MiB SRAM per core (128 MiB total, inside npu-sim's 1-192 MB design range)",
    "on-die NoC: 256 GB/s links (128 B/cycle at 1 GHz, assumption), 2 ns/hop, 0.8 pJ/bit (Gemini NoC_hop_cost)",
    "4 HBM3 stacks (2 west, 2 east), 670.4 GB/s and 16 GiB each, 3.59 pJ/bit: AttAcc src/config.py",
)


def _npu(name: str) -> Hardware:
    R = C = 4
    core = chiplet_type("npu_core", (128, 128), "ws", 1e9, 8 * K.MiB)
    chips = _grid(R, C, lambda x, y: core)
    nop = NoP("mesh", 256 * K.GB, K.NOC_HOP_LATENCY, K.NOC_E_BIT)
    dram = _edge_channels(R, C, ("west", "east"), 2, K.HBM3_STACK_BW, K.HBM3_E_BIT, K.HBM3_STACK_CAP, "hbm3")
    return Hardware(name, R, C, chips, nop, dram, (), NPU_SOURCES)


def npu4x4() -> Hardware:
    """A multi-core NPU: 16 cores of 128x128 weight-stationary systolic arrays with 4 HBM3 stacks."""
    return _npu("npu4x4")


HBM_PIM_SOURCE = ("HBM-PIM per stack: bank-level internal bandwidth 16 x the stack's bandwidth, 1 FLOP/B, "
                  "0.55 pJ/bit, 0.32 pJ/op: AttAcc src/config.py (BW_SCALE BA, opb=1, ENERGY_TABLE PIM BA)")


def hbm_pim_units(dram: tuple[DramChannel, ...]) -> tuple[PimUnit, ...]:
    """One AttAcc-style bank-level HBM-PIM unit in each DRAM channel (stack), attached where the channel is
    (`HBM_PIM_SOURCE`); used by `npu-pim` and by `mapc explore --vary pim=on`."""
    return tuple(
        PimUnit(name=f"pim_{ch.name}", bandwidth=ch.bandwidth * K.PIM_BW_SCALE,
                peak_flops=ch.bandwidth * K.PIM_BW_SCALE * K.PIM_OPS_PER_BYTE, energy_per_bit=K.PIM_BANK_E_BIT,
                mac_energy=K.PIM_MAC_ENERGY, capacity=ch.capacity, attach=ch.attach)
        for ch in dram)


def npu_pim() -> Hardware:
    """npu4x4 whose HBM3 stacks are AttAcc-style bank-level HBM-PIM (one PIM unit per stack)."""
    base = _npu("npu-pim")
    sources = base.sources + (HBM_PIM_SOURCE.replace("16 x the stack's bandwidth", "16 x 670.4 GB/s"),)
    return Hardware(base.name, base.rows, base.cols, base.chiplets, base.nop, base.dram, hbm_pim_units(base.dram),
                    sources)


# ---- npu8x8 -------------------------------------------------------------------------------------------------
NPU8_SOURCES = (
    "8x8 cores of 128x128 systolic arrays: the multi-core NPU study's 8x8 core meshes (REFERENCE.md, npu-sim "
    "presets; exu 128x128 as npu-sim llm/test/core_4x4.json)",
    "weight-stationary cores at 1 GHz: npu-sim configs (core_type systolic_ws, core_freq 1000)",
    "2 MiB SRAM per core (128 MiB total, inside npu-sim's 1-192 MB design range; the same total as npu4x4)",
    "on-die NoC: 256 GB/s links (128 B/cycle at 1 GHz, assumption), 2 ns/hop, 0.8 pJ/bit (Gemini NoC_hop_cost)",
    "8 HBM3 stacks (4 west, 4 east, each on 2 rows of edge cores), 670.4 GB/s and 16 GiB each, 3.59 pJ/bit: "
    "AttAcc src/config.py; 8 stacks = twice npu4x4's 4 for 4x its cores (each 8-row edge seats 4 stacks, "
    "as npu4x4's 4-row edges seat 2; 128 GiB holds 70B-class models at int4/int8)",
)


def npu8x8() -> Hardware:
    """The NPU study's 8x8 multi-core NPU: 64 cores of 128x128 ws arrays, 8 HBM3 stacks on the west/east edges."""
    R = C = 8
    core = chiplet_type("npu_core", (128, 128), "ws", 1e9, 2 * K.MiB)
    chips = _grid(R, C, lambda x, y: core)
    nop = NoP("mesh", 256 * K.GB, K.NOC_HOP_LATENCY, K.NOC_E_BIT)
    dram = _edge_channels(R, C, ("west", "east"), 4, K.HBM3_STACK_BW, K.HBM3_E_BIT, K.HBM3_STACK_CAP, "hbm3")
    return Hardware("npu8x8", R, C, chips, nop, dram, (), NPU8_SOURCES)


# ---- wafer-scale --------------------------------------------------------------------------------------------
WSC_SOURCES = (
    "wafer-scale mesh of dies in the spirit of Theseus (Zhu et al., arXiv 2407.02079): compute dies on one wafer, "
    "high-bandwidth die-to-die links, HBM around the wafer edge",
    "die: 128x128 ws array at 1 GHz with 16 MiB SRAM (npu-sim-class core; assumption within Theseus' space)",
    "D2D links 1 TB/s, 5 ns/hop (assumption: wafer-scale stitching/interposer wiring), 0.3 pJ/bit "
    "(UCIe on silicon interposer, Gemini constants)",
    "HBM3 stacks on all four edges, 670.4 GB/s, 16 GiB, 3.59 pJ/bit: AttAcc src/config.py",
)


def _wsc(n: int) -> Hardware:
    die = chiplet_type("wsc_die", (128, 128), "ws", 1e9, 16 * K.MiB)
    chips = _grid(n, n, lambda x, y: die)
    nop = NoP("mesh", 1000 * K.GB, 5e-9, K.D2D_INTERPOSER_E_BIT)
    dram = _edge_channels(n, n, ("west", "east", "north", "south"), n // 4, K.HBM3_STACK_BW, K.HBM3_E_BIT,
                          K.HBM3_STACK_CAP, "hbm3")
    return Hardware(f"wsc{n}x{n}", n, n, chips, nop, dram, (), WSC_SOURCES)


def wsc8x8() -> Hardware:
    """Wafer-scale 8x8 mesh of dies, 8 HBM3 stacks around the edge."""
    return _wsc(8)


def wsc16x16() -> Hardware:
    """Wafer-scale 16x16 mesh of dies, 16 HBM3 stacks around the edge."""
    return _wsc(16)


PRESETS: dict[str, Callable[[], Hardware]] = {
    "mcm6x6": mcm6x6,
    "mcm6x6-homo": mcm6x6_homo,
    "npu4x4": npu4x4,
    "npu-pim": npu_pim,
    "npu8x8": npu8x8,
    "wsc8x8": wsc8x8,
    "wsc16x16": wsc16x16,
}


def get(name: str) -> Hardware:
    """The preset called `name`; an unknown name raises `HardwareError` listing the presets and a close match."""
    if not isinstance(name, str) or name not in PRESETS:
        close = difflib.get_close_matches(str(name), list(PRESETS), n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise HardwareError(f"unknown hardware preset '{name}'",
                            hint=hint + "known presets: " + ", ".join(PRESETS))
    return PRESETS[name]()


# Figures every preset takes from the cost model's defaults (mapc.hw.constants cites each)
DEFAULT_SOURCES = (
    "register file 520 B per PE: Eyeriss PE scratchpads (ISCA 2016); Simba's 512 B of weight buffer per MAC",
    "register-file and accumulator energy: one fp16 MAC (0.0873 pJ) per 16-bit access, Eyeriss' normalisation",
    "SRAM write energy: Gemini main.cpp's 1 MiB write/read ratio (0.234025 / 0.217125)",
    "partial sums at fp32 for fp16 operands; buffer access word 8 B (ZigZag tpu_like bandwidth_min 64 bits)",
    "re-checked: Compass prices a NoP hop at 2 pJ/bit and DRAM at 10.5 pJ/bit (GDDR6X, "
    "src/compass/utils_compass.cpp createNoC); the MCM presets keep Simba's measured GRS links (0.82-1.75 "
    "pJ/bit) and HBM2 (3.9 pJ/bit), the NPU presets HBM3 (3.59 pJ/bit, AttAcc)",
)


def describe(hw: Hardware) -> dict:
    """A JSON-ready summary: chiplets, types, peak FLOP/s, SRAM, DRAM, NoP, PIM and sources (SI units)."""
    types: dict[str, dict] = {}
    for c in hw.chiplets:
        t = c.type
        d = types.setdefault(t.name, {
            "count": 0, "pes": [t.pe_rows, t.pe_cols], "arrays": t.arrays, "dataflow": t.dataflow,
            "unroll": t.unroll, "freq_hz": t.freq, "sram_bytes": t.sram, "sram_bw": t.sram_bw,
            "precision": t.precision, "accumulate": t.accumulate or "default", "peak_flops": t.peak_flops,
            "mac_energy_j": t.mac_energy, "rf_bytes_per_pe": rf_bytes(t), "rf_energy_j_per_byte": rf_energy(t),
            "acc_energy_j_per_byte": acc_energy(t), "sram_energy_j_per_byte": t.sram_energy,
            "sram_write_energy_j_per_byte": sram_write_energy(t), "vector_lanes": t.vector or t.pe_cols,
            "static_power_w": t.static_power, "cells": []})
        d["count"] += 1
        d["cells"].append([c.x, c.y])
    return {
        "name": hw.name,
        "grid": [hw.rows, hw.cols],
        "chiplets": hw.n,
        "types": types,
        "peak_flops": hw.peak_flops,
        "peak_tflops": hw.peak_flops / 1e12,
        "sram_total_bytes": float(sum(c.type.sram for c in hw.chiplets)),
        "dram_bandwidth": hw.dram_bandwidth,
        "dram_channels": [{"name": ch.name, "edge": ch.edge, "bandwidth": ch.bandwidth,
                           "energy_per_bit": ch.energy_per_bit, "capacity": ch.capacity, "attach": list(ch.attach)}
                          for ch in hw.dram],
        "dram_capacity_bytes": float(sum(ch.capacity for ch in hw.dram)),
        "nop": {"topology": hw.nop.topology, "link_bw": hw.nop.link_bw, "hop_latency": hw.nop.hop_latency,
                "energy_per_bit": hw.nop.energy_per_bit},
        "pim": [{"name": p.name, "bandwidth": p.bandwidth, "peak_flops": p.peak_flops,
                 "energy_per_bit": p.energy_per_bit, "capacity": p.capacity, "attach": list(p.attach)}
                for p in hw.pim],
        "static_power_w": float(sum(c.type.static_power for c in hw.chiplets)),
        "sources": list(hw.sources) + list(DEFAULT_SOURCES),
    }
