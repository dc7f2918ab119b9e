#!/usr/bin/env python3
"""Peer cost-model reference table: ZigZag and SCALE-Sim on a fixed set of operator shapes.

Runs inside the peer venv (NOT mapc's environment; this script never imports mapc):

    /work/peers-venv/bin/python bench/validate/run_peers.py

Writes, next to this file:
    peer_reference.csv   one row per (shape, peer, configuration), long format
    peer_reference.md    readable tables + peer versions, date, machine, command
    workloads/*.yaml     the ZigZag workload files used (regenerated on every run)
    scalesim/*.cfg       the SCALE-Sim configs used (one per dataflow)
    scalesim/topologies/*.csv  the SCALE-Sim topology files used

See README.md in this folder for what every column means and for the caveats.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as _dt
import hashlib
import io
import logging
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from importlib.metadata import version as _pkg_version
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_ZZ_INPUTS = Path("/work/shared/peer/zigzag-inputs")

ARRAY = 32  # SCALE-Sim array is ARRAY x ARRAY (same MAC count as ZigZag's tpu_like core)

# Precisions used for every ZigZag workload: the same defaults ZigZag's own ONNX parser uses
# (8-bit activations and weights, 16-bit partial sums, 8-bit final outputs).
PREC = {"W": 8, "I": 8, "O": 16, "O_final": 8}


# --------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------
@dataclass
class Shape:
    name: str
    kind: str  # "gemm" | "conv"
    note: str = ""
    # gemm: out[M,N] = in[M,K] x w[K,N]
    M: int = 0
    K: int = 0
    N: int = 0
    # conv (NCHW, batch 1)
    cin: int = 0
    cout: int = 0
    h: int = 0  # input height (unpadded)
    w: int = 0  # input width (unpadded)
    r: int = 0  # filter height
    s: int = 0  # filter width
    stride: int = 1
    pad: int = 0
    groups: int = 1
    extra_mapping: str = ""  # optional extra ZigZag mapping variant (file under zigzag_mappings/)

    @property
    def oh(self) -> int:
        return (self.h + 2 * self.pad - self.r) // self.stride + 1

    @property
    def ow(self) -> int:
        return (self.w + 2 * self.pad - self.s) // self.stride + 1

    @property
    def macs(self) -> int:
        if self.kind == "gemm":
            return self.M * self.K * self.N
        return self.oh * self.ow * self.r * self.s * (self.cin // self.groups) * self.cout

    @property
    def dims(self) -> str:
        if self.kind == "gemm":
            return f"M={self.M} K={self.K} N={self.N}"
        g = f" groups={self.groups}" if self.groups > 1 else ""
        return (
            f"{self.cin}->{self.cout} {self.h}x{self.w} k{self.r}x{self.s} s{self.stride} p{self.pad}{g}"
            f" (out {self.oh}x{self.ow})"
        )


SHAPES: list[Shape] = [
    Shape("gemm_large", "gemm", M=512, K=4096, N=4096),
    Shape("gemm_small", "gemm", M=64, K=1024, N=1024),
    Shape("gemm_tiny", "gemm", M=32, K=256, N=256),
    Shape("gemm_tall_ffn", "gemm", M=2048, K=4096, N=11008, note="Llama FFN prefill"),
    Shape("gemv_4096", "gemm", M=1, K=4096, N=4096, note="decode"),
    Shape("gemv_11008", "gemm", M=1, K=4096, N=11008, note="decode FFN"),
    Shape("attn_score", "gemm", M=512, K=128, N=512, note="per head: Q.K^T, seq 512, head_dim 128"),
    Shape("attn_value", "gemm", M=512, K=512, N=128, note="per head: P.V, seq 512, head_dim 128"),
    Shape("conv3x3_64_56", "conv", cin=64, cout=64, h=56, w=56, r=3, s=3, stride=1, pad=1, note="ResNet conv3x3"),
    Shape("conv7x7_s2_224", "conv", cin=3, cout=64, h=224, w=224, r=7, s=7, stride=2, pad=3, note="ResNet first conv"),
    Shape("conv1x1_256_64_56", "conv", cin=256, cout=64, h=56, w=56, r=1, s=1, stride=1, pad=0, note="1x1 conv"),
    Shape(
        "dwconv3x3_32_112",
        "conv",
        cin=32,
        cout=32,
        h=112,
        w=112,
        r=3,
        s=3,
        stride=1,
        pad=1,
        groups=32,
        note="depthwise, MobileNet-style",
        extra_mapping="tpu_like_depthwise.yaml",
    ),
    Shape("conv3x3_s2_128_256_28", "conv", cin=128, cout=256, h=28, w=28, r=3, s=3, stride=2, pad=1, note="strided 3x3"),
    Shape("gemm_m128", "gemm", M=128, K=4096, N=4096),
]


# --------------------------------------------------------------------------------------------
# Output rows
# --------------------------------------------------------------------------------------------
COLUMNS = [
    "shape",
    "kind",
    "dims",
    "macs",
    "peer",
    "core",  # zigzag: accelerator yaml name; scalesim: array size
    "config",  # zigzag: mapping file + opt criterion; scalesim: dataflow
    "status",  # ok | failed | skipped
    "method",  # scalesim: full | fold-extrapolated ; zigzag: loma
    "cycles_total",
    "ideal_cycles",  # ceil(macs / #MACs of the core)
    "ratio_to_ideal",  # cycles_total / ideal_cycles
    "ideal_temporal_cycles",  # zigzag: temporal loop trip count given the spatial mapping (no stalls)
    "stall_cycles",
    "onload_cycles",
    "offload_cycles",
    "drain_cycles",
    "spatial_util",  # zigzag mac_spatial_utilization; scalesim mapping efficiency (fraction)
    "total_util",  # ideal_cycles / cycles_total (zigzag mac_utilization2); scalesim "Overall Util"/100
    "ss_compute_util",  # scalesim "Compute Util" (fraction)
    "ss_cycles_incl_prefetch",  # scalesim "Total Cycles (incl. prefetch)" (full runs only)
    "energy_total_pJ",
    "mac_energy_pJ",
    "mem_energy_pJ",
    "energy_by_level_pJ",
    "energy_by_operand_level_pJ",
    "dram_traffic_bytes",
    "stall_at",
    "spatial_mapping",
    "temporal_mapping",
    "note",
    "runtime_s",
]


def base_row(shape: Shape, peer: str, core: str, config: str) -> dict:
    row = {c: "" for c in COLUMNS}
    row.update(
        shape=shape.name,
        kind=shape.kind + ("-depthwise" if shape.groups > 1 else ""),
        dims=shape.dims,
        macs=shape.macs,
        peer=peer,
        core=core,
        config=config,
    )
    return row


def fmt_num(x, nd=4):
    if x is None or x == "":
        return ""
    if isinstance(x, float):
        if x.is_integer() and abs(x) < 1e15:
            return str(int(x))
        return f"{x:.{nd}g}" if abs(x) < 1e-3 or abs(x) >= 1e6 else f"{x:.{nd}f}".rstrip("0").rstrip(".")
    return str(x)


# --------------------------------------------------------------------------------------------
# ZigZag
# --------------------------------------------------------------------------------------------
def zigzag_workload_yaml(shape: Shape) -> str:
    """ZigZag user-format workload for one layer.

    Loop-dimension names follow ZigZag's own ONNX parsers so that the shipped mappings
    (spatial K on D1, C on D2) apply exactly as they would to an ONNX model:
      GEMM: O[d][k] += I[d][c] * W[c][k]   (D = M rows, C = reduction K, K = N output columns)
      Conv: O[b][g][k][oy][ox] += W[g][k][c][fy][fx] * I[b][g][c][iy][ix]
    """
    p = PREC
    prec = f"  operand_precision: {{W: {p['W']}, I: {p['I']}, O: {p['O']}, O_final: {p['O_final']}}}\n"
    if shape.kind == "gemm":
        return (
            f"# {shape.name}: GEMM {shape.dims} {shape.note}\n"
            "- id: 0\n"
            f"  name: {shape.name}\n"
            "  operator_type: Gemm\n"
            "  equation: O[d][k]+=I[d][c]*W[c][k]\n"
            "  dimension_relations: []\n"
            "  loop_dims: [C, D, K]\n"
            f"  loop_sizes: [{shape.K}, {shape.M}, {shape.N}]\n"
            + prec
            + "  operand_source: {I: 0, W: 0}\n"
        )
    g = shape.groups
    return (
        f"# {shape.name}: Conv {shape.dims} {shape.note}\n"
        "- id: 0\n"
        f"  name: {shape.name}\n"
        "  operator_type: Conv\n"
        "  equation: O[b][g][k][oy][ox]+=W[g][k][c][fy][fx]*I[b][g][c][iy][ix]\n"
        f"  dimension_relations: [ix={shape.stride}*ox+1*fx, iy={shape.stride}*oy+1*fy]\n"
        "  loop_dims: [B, K, G, OX, OY, C, FX, FY]\n"
        f"  loop_sizes: [1, {shape.cout // g}, {g}, {shape.ow}, {shape.oh}, {shape.cin // g}, {shape.s}, {shape.r}]\n"
        + prec
        + "  operand_source: {I: 0, W: 0}\n"
        "  pr_loop_dims: [IX, IY]\n"
        f"  pr_loop_sizes: [{shape.w}, {shape.h}]\n"
        f"  padding: [[{shape.pad}, {shape.pad}], [{shape.pad}, {shape.pad}]]\n"
    )


def _zz_level_names(cme, layer_op):
    mem_op = cme.memory_operand_links.layer_to_mem_op(layer_op)
    return [lvl.name for lvl in cme.accelerator.memory_hierarchy.get_memory_levels(mem_op=mem_op)], mem_op


def zigzag_extract(cme) -> dict:
    from zigzag.datatypes import Constants  # noqa: F401  (import check)
    from zigzag.mapping.data_movement import DataDirection

    out: dict = {}
    out["cycles_total"] = cme.latency_total2
    out["ideal_cycles"] = cme.ideal_cycle
    out["ideal_temporal_cycles"] = cme.ideal_temporal_cycle
    out["stall_cycles"] = cme.stall_slack_comb
    out["onload_cycles"] = cme.data_onloading_cycle
    out["offload_cycles"] = cme.data_offloading_cycle
    out["drain_cycles"] = cme.systolic_drain_cycle
    out["spatial_util"] = cme.mac_spatial_utilization
    out["total_util"] = cme.mac_utilization2
    out["energy_total_pJ"] = cme.energy_total
    out["mac_energy_pJ"] = cme.mac_energy
    out["mem_energy_pJ"] = cme.mem_energy

    by_level: dict[str, float] = {}
    by_op_level: list[str] = []
    dram: list[str] = []
    top_name = cme.accelerator.memory_hierarchy.mem_level_list[-1].name
    for layer_op, energies in cme.mem_energy_breakdown.items():
        names, mem_op = _zz_level_names(cme, layer_op)
        for lvl_name, e in zip(names, energies):
            by_level[lvl_name] = by_level.get(lvl_name, 0.0) + e
            by_op_level.append(f"{layer_op}@{lvl_name}={e:.6g}")
    for layer_op, accs in cme.memory_word_access.items():
        names, mem_op = _zz_level_names(cme, layer_op)
        levels = cme.accelerator.memory_hierarchy.get_memory_levels(mem_op=mem_op)
        for lvl, acc in zip(levels, accs):
            if lvl.name != top_name:
                continue
            # accesses are counted in words of the port's max bandwidth (see README)
            rd = acc.get(DataDirection.RD_OUT_TO_LOW) * lvl.get_max_bandwidth(mem_op, DataDirection.RD_OUT_TO_LOW) / 8
            wr_bits = 0
            for d in (DataDirection.WR_IN_BY_LOW,):
                bw = lvl.get_max_bandwidth(mem_op, d)
                if bw:
                    wr_bits += acc.get(d) * bw
            if rd:
                dram.append(f"{layer_op}_rd={rd:.0f}")
            if wr_bits:
                dram.append(f"{layer_op}_wr={wr_bits / 8:.0f}")
    # memory-level order = hierarchy order
    order = [lvl.name for lvl in cme.accelerator.memory_hierarchy.mem_level_list]
    out["energy_by_level_pJ"] = ";".join(f"{n}={by_level[n]:.6g}" for n in order if n in by_level)
    out["energy_by_operand_level_pJ"] = ";".join(by_op_level)
    out["dram_traffic_bytes"] = ";".join(dram)

    # Which memory port stalls the most (zigzag combines ports as running in parallel: stall = max)
    best = None
    for lvl, ports in zip(cme.mem_level_list, cme.stall_slack_comb_collect):
        for pname, val in ports.items():
            if val > 0 and (best is None or val > best[2]):
                best = (lvl.name, pname, val)
    if best is None:
        out["stall_at"] = "none"
    else:
        # operands/directions on that port that are themselves stalling
        who, shared = [], []
        for lvl, acts in zip(cme.mem_level_list, cme.port_activity_collect):
            if lvl.name != best[0]:
                continue
            for a in acts.get(best[1], []):
                op, _lv, d = a.served_op_lv_dir
                shared.append(f"{op}:{d}")
                if a.stall_or_slack > 0:
                    who.append(f"{op}:{d}")
        # no single transfer stalls on its own -> the stall comes from transfers sharing the port
        tag = ",".join(who) if who else "port shared by " + ",".join(shared)
        out["stall_at"] = f"{best[0]}.{best[1]}={best[2]:.0f} [{tag}]"

    out["spatial_mapping"] = str(dict(cme.layer.spatial_mapping.items())).replace("'", "")
    out["temporal_mapping"] = str(cme.temporal_mapping).replace("'", "")
    return out


def run_zigzag(shape: Shape, workload: Path, hw: Path, mapping: Path, opt: str, core: str, cfg: str) -> dict:
    from zigzag.api import get_hardware_performance_zigzag

    row = base_row(shape, "zigzag", core, cfg)
    row["method"] = "loma"
    dump = tempfile.mkdtemp(prefix="zz_dump_")
    t0 = time.time()
    try:
        _e, _l, cmes = get_hardware_performance_zigzag(
            str(workload),
            str(hw),
            str(mapping),
            opt=opt,
            dump_folder=dump,
            loma_show_progress_bar=False,
        )
        cme = cmes[0][1][0][0]
        row.update(zigzag_extract(cme))
        row["ratio_to_ideal"] = row["cycles_total"] / row["ideal_cycles"]
        row["status"] = "ok"
    except BaseException as exc:  # noqa: BLE001 - record any peer failure, never fake numbers
        if isinstance(exc, KeyboardInterrupt):
            raise
        row["status"] = "failed"
        row["note"] = f"{type(exc).__name__}: {str(exc)[:300]}".replace("\n", " ")
        traceback.print_exc()
    finally:
        shutil.rmtree(dump, ignore_errors=True)
    row["runtime_s"] = round(time.time() - t0, 2)
    return row


def describe_zigzag_core(hw: Path) -> list[dict]:
    """The memory hierarchy as ZigZag parses it (after YAML normalisation)."""
    from zigzag.stages.parser.accelerator_parser import AcceleratorParserStage

    acc = AcceleratorParserStage.parse_accelerator(str(hw))
    oa = acc.operational_array
    rows = []
    for lvl in acc.memory_hierarchy.mem_level_list:
        inst = lvl.memory_instance
        ports = []
        for p in lvl.ports:
            funcs = ",".join(f"{op}:{str(d).split('.')[-1]}" for op, _l, d in p.served_op_lv_dir)
            ports.append(f"{p.name}({p.type}, bw {p.bw_min}-{p.bw_max} b/cc: {funcs})")
        rd_bw = max((p.bw_max for p in lvl.ports), default=0)
        rows.append(
            dict(
                name=lvl.name,
                operands=",".join(str(o) for o in lvl.operands),
                size_bits=inst.size,
                size_bytes=inst.size / 8,
                instances=lvl.unroll_count,
                served_dims=",".join(sorted(str(d) for d in lvl.served_dimensions)) or "none (one per MAC)",
                r_cost_pJ=inst.r_cost,
                w_cost_pJ=inst.w_cost,
                r_pJ_per_bit=inst.r_cost / rd_bw if rd_bw else "",
                w_pJ_per_bit=inst.w_cost / rd_bw if rd_bw else "",
                ports="; ".join(ports),
                double_buffer_forced=inst.force_double_buffering,
            )
        )
    meta = dict(
        array=dict(oa.dimension_sizes.items()),
        macs=oa.total_unit_count,
        mac_energy_pJ=oa.unit.energy_cost,
        systolic_dims=sorted(str(d) for d in oa.systolic_dimensions),
    )
    return [meta] + rows


# --------------------------------------------------------------------------------------------
# SCALE-Sim
# --------------------------------------------------------------------------------------------
SS_SRAM_KB = 8192  # per buffer (ifmap / filter / ofmap): 8 MiB each


def scalesim_cfg_text(df: str, run_name: str) -> str:
    return f"""[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {ARRAY}
ArrayWidth:     {ARRAY}
IfmapSramSzkB:    {SS_SRAM_KB}
FilterSramSzkB:   {SS_SRAM_KB}
OfmapSramSzkB:    {SS_SRAM_KB}
IfmapOffset:    0
FilterOffset:   100000000
OfmapOffset:    200000000
Bandwidth : 10
Dataflow : {df}
MemoryBanks:   1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def ss_gemm_topo(name: str, M: int, K: int, N: int) -> str:
    # SCALE-Sim GEMM mode: header then "name, M, N, K," (trailing comma is required by its parser)
    return f"Layer, M, N, K,\n{name}, {M}, {N}, {K},\n"


def ss_conv_topo(shape: Shape) -> str:
    # SCALE-Sim has no padding field: give the exact input footprint that yields the PyTorch output
    # size with its ofmap = ceil((ifmap - filt + stride) / stride) rule.
    ih = (shape.oh - 1) * shape.stride + shape.r
    iw = (shape.ow - 1) * shape.stride + shape.s
    # Depthwise: SCALE-Sim expands a layer whose name contains "DP" into `channels` single-channel
    # layers (channels=1 each); num_filter=1 per channel -> `groups` independent 1-channel convs.
    name = shape.name + ("_DP" if shape.groups > 1 else "")
    nf = 1 if shape.groups > 1 else shape.cout
    return (
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        f"{name}, {ih}, {iw}, {shape.r}, {shape.s}, {shape.cin}, {nf}, {shape.stride},\n"
    )


def ss_fold_dims(df: str, rows_op: int, window: int, nfilt: int):
    """(Sr, Sc, T) of SCALE-Sim's compute model (see scalesim/compute/systolic_compute_*.py).
    rows_op = ofmap pixels (GEMM: M), window = filter window (GEMM: K), nfilt = filters (GEMM: N)."""
    if df == "ws":
        return window, nfilt, rows_op
    if df == "os":
        return rows_op, nfilt, window
    if df == "is":
        return window, rows_op, nfilt
    raise ValueError(df)


def ss_estimated_rows(df: str, shape: Shape) -> int:
    if shape.kind == "gemm":
        Sr, Sc, T = ss_fold_dims(df, shape.M, shape.K, shape.N)
        layers = 1
    else:
        g = shape.groups
        Sr, Sc, T = ss_fold_dims(df, shape.oh * shape.ow, shape.r * shape.s * (shape.cin // g), shape.cout // g)
        layers = g
    folds = math.ceil(Sr / ARRAY) * math.ceil(Sc / ARRAY)
    return layers * folds * (T + 3 * ARRAY)


def _ss_run_files(cfg: Path, topo: Path, gemm: bool, workdir: Path) -> list[dict]:
    from scalesim.scale_sim import scalesim

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        s = scalesim(
            save_disk_space=True,  # no trace files
            verbose=False,
            config=str(cfg),
            topology=str(topo),
            layout=str(topo),  # custom layouts are off in the cfg; the layout file is parsed but unused
            input_type_gemm=gemm,
        )
        s.run_scale(top_path=str(workdir))
    res = []
    for L in s.runner.single_layer_sim_object_list:
        items = L.get_compute_report_items()
        res.append(
            dict(
                cycles_incl_prefetch=items[0],
                cycles=items[1],
                stalls=items[2],
                overall_util=items[3],
                mapping_eff=items[4],
                compute_util=items[5],
                num_compute=L.num_compute,
            )
        )
    return res


def _ss_combine(layers: list[dict]) -> dict:
    cyc = sum(x["cycles"] for x in layers)
    comp = sum(x["num_compute"] for x in layers)
    return dict(
        cycles=cyc,
        cycles_incl_prefetch=sum(x["cycles_incl_prefetch"] for x in layers),
        stalls=sum(x["stalls"] for x in layers),
        overall_util=comp * 100 / (cyc * ARRAY * ARRAY),
        # cycle-weighted means of the per-layer fold averages (layers are identical here anyway)
        mapping_eff=sum(x["mapping_eff"] * x["cycles"] for x in layers) / cyc,
        compute_util=sum(x["compute_util"] * x["cycles"] for x in layers) / cyc,
        num_compute=comp,
    )


def ss_gemm_extrapolated(df: str, shape: Shape, cfg: Path, tmp: Path) -> dict:
    """Run SCALE-Sim on two reduced GEMMs that keep the streaming dimension T and a one- and
    two-fold grid, then extend linearly to the full fold count.  SCALE-Sim concatenates identical
    per-fold demand matrices, so total cycles are affine in the number of folds when every fold is
    full (all reduced dims here are multiples of the array size); checked against full runs (see
    the extrapolation check in peer_reference.md)."""
    M, K, N = shape.M, shape.K, shape.N
    Sr, Sc, T = ss_fold_dims(df, M, K, N)

    def red(S):
        if S <= ARRAY:
            return S, 1
        if S % ARRAY:
            raise ValueError(f"fold dim {S} not a multiple of {ARRAY}; cannot extrapolate")
        return ARRAY, S // ARRAY

    sr1, fr = red(Sr)
    sc1, fc = red(Sc)
    n_full = fr * fc
    # grow the dimension that has more than one fold for the 2-fold run
    if fr > 1:
        sr2, sc2 = 2 * ARRAY, sc1
    elif fc > 1:
        sr2, sc2 = sr1, 2 * ARRAY
    else:
        raise ValueError("shape is a single fold; nothing to extrapolate")

    def to_mkn(sr, sc):
        if df == "ws":  # Sr=K Sc=N T=M
            return T, sr, sc
        if df == "os":  # Sr=M Sc=N T=K
            return sr, T, sc
        return sc, sr, T  # is: Sr=K Sc=M T=N

    res = []
    for i, (sr, sc) in enumerate(((sr1, sc1), (sr2, sc2))):
        m, k, n = to_mkn(sr, sc)
        topo = tmp / f"{shape.name}_{df}_red{i}.csv"
        topo.write_text(ss_gemm_topo(f"{shape.name}_red{i}", m, k, n))
        res.append(_ss_run_files(cfg, topo, True, tmp / f"out_{shape.name}_{df}_{i}")[0])
    c1, c2 = res[0]["cycles"], res[1]["cycles"]
    per_fold = c2 - c1
    cycles = c1 + per_fold * (n_full - 1)
    from scalesim.topology_utils import topologies

    topo_full = tmp / f"{shape.name}_{df}_full.csv"
    topo_full.write_text(ss_gemm_topo(shape.name, M, K, N))
    t = topologies()
    t.load_arrays(topofile=str(topo_full), mnk_inputs=True)
    num_compute = t.get_layer_num_ofmap_px(0) * t.get_layer_window_size(0)
    if abs(res[0]["mapping_eff"] - res[1]["mapping_eff"]) > 1e-9 or abs(res[0]["compute_util"] - res[1]["compute_util"]) > 1e-9:
        raise RuntimeError("per-fold utilisation differs between reduced runs; extrapolation invalid")
    return dict(
        cycles=cycles,
        cycles_incl_prefetch="",
        stalls=res[0]["stalls"] + res[1]["stalls"],  # both 0 expected (reported if not)
        overall_util=num_compute * 100 / (cycles * ARRAY * ARRAY),
        mapping_eff=res[0]["mapping_eff"],
        compute_util=res[0]["compute_util"],
        num_compute=num_compute,
        detail=f"reduced runs: {n_full} folds = {c1} + {per_fold}*(folds-1)",
    )


def run_scalesim(shape: Shape, df: str, cfg: Path, topo: Path, tmp: Path, threshold: int, force: str = "") -> dict:
    row = base_row(shape, "scalesim", f"{ARRAY}x{ARRAY}", df)
    t0 = time.time()
    try:
        est = ss_estimated_rows(df, shape)
        method = force or ("full" if est <= threshold or shape.kind != "gemm" else "fold-extrapolated")
        if method == "full":
            r = _ss_combine(_ss_run_files(cfg, topo, shape.kind == "gemm", tmp / f"out_{shape.name}_{df}"))
            row["ss_cycles_incl_prefetch"] = r["cycles_incl_prefetch"]
        else:
            r = ss_gemm_extrapolated(df, shape, cfg, tmp)
            row["note"] = r["detail"]
        row["method"] = method
        row["cycles_total"] = r["cycles"]
        row["stall_cycles"] = r["stalls"]
        row["ideal_cycles"] = math.ceil(shape.macs / (ARRAY * ARRAY))
        row["ratio_to_ideal"] = r["cycles"] / row["ideal_cycles"]
        row["spatial_util"] = r["mapping_eff"] / 100
        row["total_util"] = r["overall_util"] / 100
        row["ss_compute_util"] = r["compute_util"] / 100
        row["status"] = "ok"
        if shape.groups > 1:
            row["note"] = (row["note"] + " " if row["note"] else "") + f"{shape.groups} single-channel convs (DP layer), summed"
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        row["status"] = "failed"
        row["note"] = f"{type(exc).__name__}: {str(exc)[:300]}".replace("\n", " ")
        traceback.print_exc()
    row["runtime_s"] = round(time.time() - t0, 2)
    return row


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
def sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16]


def machine_info() -> str:
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.release()} {platform.machine()}, {cpu}, {os.cpu_count()} cores{mem}; Python {platform.python_version()}"


def md_table(headers: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        out.append("| " + " | ".join(fmt_num(x) if not isinstance(x, str) else x for x in r) + " |")
    return "\n".join(out)


def write_md(path: Path, rows: list[dict], meta: dict, hw_desc: list[dict], checks: list[dict]):
    def get(shape, peer, core, config):
        for r in rows:
            if r["shape"] == shape and r["peer"] == peer and r["core"] == core and r["config"] == config:
                return r
        return None

    def cyc(r):
        if r is None:
            return "not run"
        if r["status"] != "ok":
            return "FAILED"
        return fmt_num(float(r["cycles_total"]))

    L = []
    L.append("# Peer cost-model reference: ZigZag and SCALE-Sim")
    L.append("")
    L.append("Generated by `bench/validate/run_peers.py` — do not edit by hand; see `README.md` for column meanings and caveats.")
    L.append("")
    L.append(f"- date (UTC): {meta['date']}")
    L.append(f"- command: `{meta['command']}`")
    L.append(f"- machine: {meta['machine']}")
    L.append(f"- peers: {meta['versions']}")
    L.append(f"- ZigZag inputs: {meta['zz_inputs']}")
    L.append(f"- SCALE-Sim: {ARRAY}x{ARRAY} array, {SS_SRAM_KB} KiB per SRAM buffer, InterfaceBandwidth=CALC (no DRAM stalls by construction)")
    L.append(f"- total runtime: {meta['runtime_s']:.0f} s")
    L.append("")

    shapes = list(dict.fromkeys(r["shape"] for r in rows))
    sh_by = {s.name: s for s in SHAPES}

    L.append("## Summary (cycles)")
    L.append("")
    L.append(
        "ZigZag: latency-optimal mapping (LOMA), `latency_total2`. SCALE-Sim: `Total Cycles` (compute incl. stalls, excl. DRAM prefetch). "
        "`ideal@1024` = ceil(MACs/1024)."
    )
    L.append("")
    hdr = ["shape", "dims", "MACs", "ideal@1024", "ZZ tpu_like", "ZZ/ideal", "ZZ energy uJ", "ZZ stall at", "ZZ eyeriss_like (168 MAC)", "SS ws", "SS os", "SS is"]
    trs = []
    for s in shapes:
        sh = sh_by[s]
        zt = get(s, "zigzag", "tpu_like", "tpu_like.yaml/latency")
        ze = get(s, "zigzag", "eyeriss_like", "default.yaml/latency")
        ideal = math.ceil(sh.macs / 1024)
        ratio = fmt_num(float(zt["cycles_total"]) / ideal, 3) if zt and zt["status"] == "ok" else ""
        stall = (zt["stall_at"].split(" [")[0] if zt and zt["status"] == "ok" else "")
        trs.append(
            [s, sh.dims, sh.macs, ideal, cyc(zt), ratio,
             f"{float(zt['energy_total_pJ']) / 1e6:.1f}" if zt and zt["status"] == "ok" else "", stall, cyc(ze)]
            + [cyc(get(s, "scalesim", f"{ARRAY}x{ARRAY}", df)) for df in ("ws", "os", "is")]
        )
    L.append(md_table(hdr, trs))
    L.append("")

    def zz_detail(core, config, title):
        L.append(f"## ZigZag {core}, {config}")
        L.append("")
        L.append(title)
        L.append("")
        hdr = [
            "shape", "status", "cycles", "ideal", "ideal temporal", "stall", "onload", "offload", "drain",
            "spatial util", "total util", "energy pJ", "MAC pJ", "energy by level pJ", "DRAM bytes", "stall at",
        ]
        trs = []
        for s in shapes:
            r = get(s, "zigzag", core, config)
            if r is None:
                continue
            if r["status"] != "ok":
                trs.append([s, "FAILED: " + r["note"]] + [""] * (len(hdr) - 2))
                continue
            trs.append(
                [
                    s, "ok", float(r["cycles_total"]), float(r["ideal_cycles"]), float(r["ideal_temporal_cycles"]),
                    float(r["stall_cycles"]), float(r["onload_cycles"]), float(r["offload_cycles"]), float(r["drain_cycles"]),
                    round(float(r["spatial_util"]), 4), round(float(r["total_util"]), 4), f"{float(r['energy_total_pJ']):.4g}",
                    f"{float(r['mac_energy_pJ']):.4g}",
                    r["energy_by_level_pJ"].replace(";", "<br>"), r["dram_traffic_bytes"].replace(";", "<br>"), r["stall_at"],
                ]
            )
        L.append(md_table(hdr, trs))
        L.append("")
        L.append("<details><summary>mappings chosen</summary>")
        L.append("")
        for s in shapes:
            r = get(s, "zigzag", core, config)
            if r and r["status"] == "ok":
                L.append(f"- **{s}**: spatial `{r['spatial_mapping']}`; temporal (per operand, memory levels inner->outer) `{r['temporal_mapping']}`")
        L.append("")
        L.append("</details>")
        L.append("")

    zz_detail("tpu_like", "tpu_like.yaml/latency", "Mapping file: shipped `mapping/tpu_like.yaml`; criterion: minimal latency.")
    zz_detail("tpu_like", "tpu_like.yaml/energy", "Mapping file: shipped `mapping/tpu_like.yaml`; criterion: minimal energy.")
    zz_detail(
        "eyeriss_like",
        "default.yaml/latency",
        "Mapping file: shipped `mapping/default.yaml` (K 32 on D1, C 32 on D2, which ZigZag clips to the 14x12 array); criterion: minimal latency.",
    )
    zz_detail("eyeriss_like", "default.yaml/energy", "As above; criterion: minimal energy.")
    extra = [r for r in rows if r["peer"] == "zigzag" and r["config"].startswith("tpu_like_depthwise")]
    if extra:
        zz_detail(
            "tpu_like",
            extra[0]["config"],
            "Extra variant, not a shipped mapping: `zigzag_mappings/tpu_like_depthwise.yaml` unrolls G (channels) on D1 and OX on D2 "
            "so that the depthwise conv can use the array at all (the shipped mapping unrolls only K and C, which are 1 for depthwise).",
        )

    L.append(f"## SCALE-Sim {ARRAY}x{ARRAY}")
    L.append("")
    hdr = ["shape", "dataflow", "status", "method", "cycles", "ideal", "cycles/ideal", "stall", "mapping eff", "compute util", "overall util", "cycles incl prefetch", "note"]
    trs = []
    for s in shapes:
        for df in ("ws", "os", "is"):
            r = get(s, "scalesim", f"{ARRAY}x{ARRAY}", df)
            if r is None:
                continue
            if r["status"] != "ok":
                trs.append([s, df, "FAILED", "", "", "", "", "", "", "", "", "", r["note"]])
                continue
            trs.append(
                [
                    s, df, "ok", r["method"], float(r["cycles_total"]), float(r["ideal_cycles"]), round(float(r["ratio_to_ideal"]), 4),
                    float(r["stall_cycles"]), round(float(r["spatial_util"]), 4), round(float(r["ss_compute_util"]), 4),
                    round(float(r["total_util"]), 4), r["ss_cycles_incl_prefetch"] if r["ss_cycles_incl_prefetch"] == "" else float(r["ss_cycles_incl_prefetch"]),
                    r["note"],
                ]
            )
    L.append(md_table(hdr, trs))
    L.append("")

    if checks:
        L.append("## SCALE-Sim fold-extrapolation check")
        L.append("")
        L.append("Shapes small enough to simulate fully, run both ways; the extrapolated cycles must match the full run.")
        L.append("")
        L.append(
            md_table(
                ["shape", "dataflow", "full cycles", "extrapolated cycles", "rel. error", "full mapping eff", "extrap. mapping eff", "full compute util", "extrap. compute util"],
                [
                    [c["shape"], c["df"], c["full"], c["extr"], f"{c['err']:.2e}", round(c["me_full"], 4), round(c["me_extr"], 4), round(c["cu_full"], 4), round(c["cu_extr"], 4)]
                    for c in checks
                ],
            )
        )
        L.append("")

    L.append("## ZigZag tpu_like core as ZigZag parses it")
    L.append("")
    m = hw_desc[0]
    L.append(f"Array {m['array']} = {m['macs']} MACs, {m['mac_energy_pJ']} pJ/MAC, systolic dims {m['systolic_dims']}.")
    L.append("")
    L.append(
        md_table(
            ["level (inner->outer)", "operands", "size bits", "size bytes", "instances", "served dims", "r_cost pJ/access", "w_cost pJ/access", "r pJ/bit (@bw_max)", "w pJ/bit (@bw_max)", "ports"],
            [
                [d["name"], d["operands"], d["size_bits"], d["size_bytes"], d["instances"], d["served_dims"], d["r_cost_pJ"], d["w_cost_pJ"],
                 round(d["r_pJ_per_bit"], 5) if d["r_pJ_per_bit"] != "" else "", round(d["w_pJ_per_bit"], 5) if d["w_pJ_per_bit"] != "" else "", d["ports"]]
                for d in hw_desc[1:]
            ],
        )
    )
    L.append("")
    fails = [r for r in rows if r["status"] != "ok"]
    L.append("## Failures")
    L.append("")
    if fails:
        for r in fails:
            L.append(f"- {r['peer']} {r['core']} {r['config']} on {r['shape']}: {r['note']}")
    else:
        L.append("none")
    L.append("")
    path.write_text("\n".join(L))


# --------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zigzag-inputs", type=Path, default=DEFAULT_ZZ_INPUTS,
                    help="folder with hardware/{tpu_like,eyeriss_like}.yaml and mapping/{tpu_like,default}.yaml "
                         "(default: %(default)s; falls back to the copies shipped inside the zigzag package)")
    ap.add_argument("--only", nargs="*", help="run only these shape names")
    ap.add_argument("--skip-zigzag", action="store_true")
    ap.add_argument("--skip-scalesim", action="store_true")
    ap.add_argument("--no-energy-opt", action="store_true", help="skip the energy-optimal ZigZag runs")
    ap.add_argument("--no-check", action="store_true", help="skip the SCALE-Sim extrapolation check")
    ap.add_argument("--ss-full-threshold", type=int, default=1_200_000,
                    help="simulate a GEMM fully in SCALE-Sim when its estimated demand-matrix rows are <= this "
                         "(else fold-extrapolate); convs are always simulated fully (default %(default)s)")
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: this script's folder)")
    args = ap.parse_args()

    # quiet peers: ZigZag's api calls logging.basicConfig(INFO), which is a no-op once root is configured
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.WARNING)

    import zigzag

    zz_pkg_inputs = Path(zigzag.__file__).parent / "inputs"
    zz_in = args.zigzag_inputs if (args.zigzag_inputs / "hardware" / "tpu_like.yaml").exists() else zz_pkg_inputs
    hw_tpu = zz_in / "hardware" / "tpu_like.yaml"
    hw_eye = zz_in / "hardware" / "eyeriss_like.yaml"
    map_tpu = zz_in / "mapping" / "tpu_like.yaml"
    map_def = zz_in / "mapping" / "default.yaml"
    same_as_pkg = {
        p.name + ("(mapping)" if "mapping" in str(p.parent) else ""): (
            (zz_pkg_inputs / p.parent.name / p.name).exists() and sha256(p) == sha256(zz_pkg_inputs / p.parent.name / p.name)
        )
        for p in (hw_tpu, hw_eye, map_tpu, map_def)
    }

    out: Path = args.out
    wl_dir = out / "workloads"
    ss_dir = out / "scalesim"
    topo_dir = ss_dir / "topologies"
    zz_map_dir = HERE / "zigzag_mappings"
    for d in (wl_dir, topo_dir):
        d.mkdir(parents=True, exist_ok=True)

    shapes = [s for s in SHAPES if not args.only or s.name in args.only]
    t_start = time.time()
    rows: list[dict] = []
    checks: list[dict] = []

    # ---------------- ZigZag
    if not args.skip_zigzag:
        opts = ["latency"] + ([] if args.no_energy_opt else ["energy"])
        for sh in shapes:
            wl = wl_dir / f"{sh.name}.yaml"
            wl.write_text(zigzag_workload_yaml(sh))
            variants = [("tpu_like", hw_tpu, map_tpu), ("eyeriss_like", hw_eye, map_def)]
            for core, hw, mp in variants:
                for opt in opts:
                    cfg = f"{mp.name}/{opt}"
                    print(f"[zigzag] {sh.name} {core} {cfg} ...", flush=True)
                    r = run_zigzag(sh, wl, hw, mp, opt, core, cfg)
                    print(f"    -> {r['status']} cycles={r['cycles_total']} energy={r['energy_total_pJ']} ({r['runtime_s']} s)", flush=True)
                    rows.append(r)
            if sh.extra_mapping:
                mp = zz_map_dir / sh.extra_mapping
                cfg = f"{mp.name}/latency"
                print(f"[zigzag] {sh.name} tpu_like {cfg} (extra variant) ...", flush=True)
                r = run_zigzag(sh, wl, hw_tpu, mp, "latency", "tpu_like", cfg)
                r["note"] = (r["note"] + " " if r["note"] else "") + "extra variant: non-shipped mapping (G on D1, OX on D2)"
                print(f"    -> {r['status']} cycles={r['cycles_total']}", flush=True)
                rows.append(r)

    # ---------------- SCALE-Sim
    if not args.skip_scalesim:
        tmp = Path(tempfile.mkdtemp(prefix="scalesim_"))
        try:
            cfgs = {}
            for df in ("ws", "os", "is"):
                cfgs[df] = ss_dir / f"scalesim_{df}.cfg"
                cfgs[df].write_text(scalesim_cfg_text(df, f"peer_{df}"))
            for sh in shapes:
                topo = topo_dir / f"{sh.name}.csv"
                topo.write_text(ss_gemm_topo(sh.name, sh.M, sh.K, sh.N) if sh.kind == "gemm" else ss_conv_topo(sh))
                for df in ("ws", "os", "is"):
                    print(f"[scalesim] {sh.name} {df} (est. {ss_estimated_rows(df, sh)} demand rows) ...", flush=True)
                    r = run_scalesim(sh, df, cfgs[df], topo, tmp, args.ss_full_threshold)
                    print(f"    -> {r['status']} {r['method']} cycles={r['cycles_total']} ({r['runtime_s']} s) {r['note']}", flush=True)
                    rows.append(r)
            if not args.no_check:
                for name in ("gemm_small", "gemm_tiny", "attn_score", "gemv_4096"):
                    sh = next((s for s in SHAPES if s.name == name), None)
                    topo = topo_dir / f"{name}.csv"
                    if sh is None:
                        continue
                    topo.write_text(ss_gemm_topo(sh.name, sh.M, sh.K, sh.N))
                    for df in ("ws", "os", "is"):
                        full = next((r for r in rows if r["shape"] == name and r["peer"] == "scalesim" and r["config"] == df and r["method"] == "full"), None)
                        if full is None:
                            full = run_scalesim(sh, df, cfgs[df], topo, tmp, 0, force="full")
                        try:
                            ex = ss_gemm_extrapolated(df, sh, cfgs[df], tmp)
                        except ValueError as exc:
                            print(f"[check] {name} {df}: {exc}")
                            continue
                        fc = float(full["cycles_total"])
                        checks.append(
                            dict(shape=name, df=df, full=fc, extr=ex["cycles"], err=abs(ex["cycles"] - fc) / fc,
                                 me_full=float(full["spatial_util"]), me_extr=ex["mapping_eff"] / 100,
                                 cu_full=float(full["ss_compute_util"]), cu_extr=ex["compute_util"] / 100)
                        )
                        print(f"[check] {name} {df}: full {fc} extrapolated {ex['cycles']}", flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # ---------------- write
    for r in rows:
        for k, v in r.items():
            if isinstance(v, float):
                r[k] = repr(v) if not v.is_integer() else str(int(v))
    with open(out / "peer_reference.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)

    versions = []
    for pkg in ("zigzag-dse", "scalesim", "numpy", "six"):
        try:
            versions.append(f"{pkg}=={_pkg_version(pkg)}")
        except Exception:  # noqa: BLE001
            versions.append(f"{pkg}: not installed")
    cmd = " ".join([sys.executable, os.path.relpath(__file__, Path.cwd()) if Path(__file__).is_relative_to(Path.cwd()) else __file__] + sys.argv[1:])
    meta = dict(
        date=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        command=cmd,
        machine=machine_info(),
        versions=", ".join(versions),
        zz_inputs=f"{zz_in} (sha256/16: "
        + ", ".join(f"{p.parent.name}/{p.name}={sha256(p)}" for p in (hw_tpu, hw_eye, map_tpu, map_def))
        + f"; identical to zigzag's shipped copies: {same_as_pkg})",
        runtime_s=time.time() - t_start,
    )
    hw_desc = describe_zigzag_core(hw_tpu)
    write_md(out / "peer_reference.md", rows, meta, hw_desc, checks)
    print(f"wrote {out / 'peer_reference.csv'} and {out / 'peer_reference.md'} ({len(rows)} rows, {meta['runtime_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
