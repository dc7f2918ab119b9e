"""Every hardware constant mapc uses, in SI units, with its source beside it.

`TABLE` maps a name to a `Constant(value, unit, source, note)`; the module-level names below are the values the
presets and the cost backend read. Where two sources disagree, both are given in `note` and the comment says
which one is used. "checked" means the number was read in the original code or paper page (not only quoted
second-hand in REFERENCE.md).

Sources:
  Horowitz ISSCC 2014  M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014 (45 nm).
  Gemini main.cpp      SET-Scheduling-Project/GEMINI-HPCA2024, src/main.cpp (Cai et al., HPCA 2024), checked.
  Compass hw json      lllbbbyyy/Compass, config/hardware_ws.json (36 chiplets, 1024 MACs, 2048 KB buffer,
                       nop_bw 128, dram_bw 64), checked.
  O'Connor MICRO 2017  O'Connor et al., "Fine-Grained DRAM", MICRO 2017 (energy components as quoted and used
                       in AttAcc src/config.py), checked through AttAcc.
  AttAcc config.py     scale-snu/attacc_simulator, src/config.py (Park et al., ASPLOS 2024), checked.
  Simba MICRO 2019     Shao et al., "Simba", MICRO 2019 / Zimmer et al. VLSI 2019: 36 chiplets, 4 TOPS/chiplet,
                       128 TOPS, 6.1 TOPS/W, 0.11 pJ/op (checked on research.nvidia.com), GRS 0.82-1.75 pJ/bit.
  npu-sim core_4x4     doulujiyao12/npu-sim, llm/test/core_4x4.json (16 cores of 128x128 exu), checked.
  NVIDIA datasheets    A100 SXM 80 GB, H100 SXM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

pJ = 1e-12
KiB, MiB, GiB = 2**10, 2**20, 2**30
GB = 1e9


@dataclass(frozen=True)
class Constant:
    value: float     # SI
    unit: str
    source: str
    note: str = ""


TABLE: dict[str, Constant] = {
    # ---- compute energy per MAC -------------------------------------------------------------------------
    "mac_fp16_45nm": Constant((1.1 + 0.4) * pJ, "J/MAC", "Horowitz ISSCC 2014: FP16 mult 1.1 pJ + add 0.4 pJ"),
    "mac_fp32_45nm": Constant((3.7 + 0.9) * pJ, "J/MAC", "Horowitz ISSCC 2014: FP32 mult 3.7 pJ + add 0.9 pJ"),
    "mac_int8_45nm": Constant((0.2 + 0.03) * pJ, "J/MAC", "Horowitz ISSCC 2014: INT8 mult 0.2 pJ + add 0.03 pJ"),
    "mac_fp16_12nm": Constant(0.0873 * pJ, "J/MAC", "Gemini main.cpp: LR_mac_cost = 0.0873 (IEEE FP16); "
                              "same constant in Compass", "USED for every preset's fp16 MAC (12 nm-class chiplets); "
                              "the 45 nm Horowitz figure is ~17x higher"),
    # ---- SRAM -------------------------------------------------------------------------------------------
    "sram_64b_8KB_45nm": Constant(10 * pJ / 8, "J/B", "Horowitz ISSCC 2014: 64-bit read of an 8 KB SRAM ~10 pJ"),
    "sram_64b_32KB_45nm": Constant(20 * pJ / 8, "J/B", "Horowitz ISSCC 2014: 64-bit read of a 32 KB SRAM ~20 pJ"),
    "sram_64b_1MB_45nm": Constant(100 * pJ / 8, "J/B", "Horowitz ISSCC 2014: 64-bit read of a 1 MB SRAM ~100 pJ"),
    "sram_1MB_read_12nm": Constant(0.217125 * 8 * pJ, "J/B", "Gemini main.cpp: ul3.RCost = 0.217125*8 pJ/B per 1 MB",
                                   "USED as the 1 MiB anchor of sram_energy_per_byte(); Gemini scales it linearly "
                                   "with size, we scale by sqrt(size) as Horowitz's 8 KB/32 KB/1 MB points do"),
    "sram_1MB_write_12nm": Constant(0.234025 * 8 * pJ, "J/B", "Gemini main.cpp: ul3.WCost = 0.234025*8 pJ/B per 1 MB"),
    # ---- register files (per PE) --------------------------------------------------------------------------
    "rf_access_vs_mac": Constant(1.0, "x", "Chen et al., 'Eyeriss', ISCA 2016: normalised energy per 16-bit access, "
                                 "register file 1x, PE-to-PE 2x, global buffer 6x, DRAM 200x (of a MAC)",
                                 "USED: a register-file byte costs the core's MAC energy / 2 (one 16-bit access "
                                 "= one fp16 MAC)"),
    "rf_bytes_eyeriss": Constant(520.0, "B", "Chen et al., 'Eyeriss', ISCA 2016: PE scratchpads 12 + 224 + 24 "
                                 "16-bit words (ifmap, filter, psum) = 520 B",
                                 "USED as the default per-PE register file (`rf`): it holds far more than two "
                                 "stationary words, so the array double-buffers its reloads; Simba's PE weight "
                                 "buffer, 32 KiB per 64 MACs = 512 B per MAC (MICRO 2019), is the same size"),
    "sram_access_word": Constant(8.0, "B", "ZigZag tpu_like.yaml (shared/peer): sram_2MB ports bandwidth_min 64 bits "
                                 "(an access is at least one 64-bit word)", "USED for every buffer"),
    # ---- DRAM / HBM ------------------------------------------------------------------------------------
    "ddr3_access_45nm": Constant(1.3e-9 / 64, "J/bit", "Horowitz ISSCC 2014: 64-bit DRAM access 1.3-2.6 nJ",
                                 "low end; 20-40 pJ/bit, recorded for comparison only"),
    "hbm2_per_bit": Constant(3.9 * pJ, "J/bit", "O'Connor MICRO 2017 (HBM2 baseline ~3.9 pJ/bit)",
                             "USED for the mcm6x6 HBM channels (DESIGN.md example uses 3.9 pJ/bit)"),
    "hbm3_per_bit": Constant((0.11 + 0.44 + 1.01 + 1.23 + 0.5 + 0.3) * pJ, "J/bit",
                             "AttAcc config.py: GPU 'mem' = cell 0.11 + 0.44, BG 1.01, GIO 1.23, TSV 0.5, "
                             "interposer 0.3 pJ/bit (O'Connor MICRO 2017 components) = 3.59 pJ/bit",
                             "USED for the npu/wsc HBM3 stacks; Gemini uses 5.5 (HBM) / 10.5 (GDDR6X, main.cpp "
                             "DRAM_acc_cost = 10.5*8 pJ/B)"),
    "gddr6x_per_bit": Constant(10.5 * pJ, "J/bit", "Gemini main.cpp: DRAM_acc_cost = 10.5*8 pJ/B"),
    "hbm3_stack_bw": Constant(670.4 * GB, "B/s", "AttAcc config.py: MEM_BW_PER_HBM = 670.4 GB/s per HBM3 stack"),
    "hbm3_stack_capacity": Constant(16 * GiB, "B", "AttAcc config.py: MEM_CAPACITY_PER_HBM = 16 GiB"),
    "compass_dram_channel_bw": Constant(64 * GB, "B/s", "Compass hw json: dram_bw = 64 (GB/s) per channel; 4 "
                                        "channels on the west/east edges (Gemini main.cpp DRAM_num = 4)",
                                        "USED: mcm6x6 has 4 x 64 GB/s = 256 GB/s (DESIGN.md example: 256 GB/s)"),
    # ---- HBM-PIM (AttAcc) ------------------------------------------------------------------------------
    "pim_bank_per_bit": Constant((0.11 + 0.44) * pJ, "J/bit", "AttAcc config.py: PIM BA 'mem' = 0.11 + 0.44 pJ/bit",
                                 "USED for npu-pim bank-level PIM"),
    "pim_bankgroup_per_bit": Constant((0.11 + 0.44 + 1.01) * pJ, "J/bit", "AttAcc config.py: PIM BG 'mem'"),
    "pim_buffer_per_bit": Constant((0.11 + 0.44 + 1.01 + 1.23 + 0.5) * pJ, "J/bit", "AttAcc config.py: PIM BUFFER"),
    "pim_alu_per_op": Constant(0.32 * pJ, "J/FLOP", "AttAcc config.py: ENERGY_TABLE PIM 'alu' = 0.32 pJ"),
    "pim_bank_bw_scale": Constant(16.0, "x", "AttAcc config.py: BW_SCALE[no power constraint][BA] = 2*4*4/2 = 16",
                                  "9x under AttAcc's power constraint; USED: 16x"),
    "pim_ops_per_byte": Constant(1.0, "FLOP/B", "AttAcc config.py: FLOPS_PER_HBM = MEM_BW_PER_HBM * opb, opb=1"),
    # ---- networks ---------------------------------------------------------------------------------------
    "nop_grs_low": Constant(0.82 * pJ, "J/bit", "Simba MICRO 2019: GRS links 0.82-1.75 pJ/bit (low end)"),
    "nop_grs_high": Constant(1.75 * pJ, "J/bit", "Simba MICRO 2019: GRS links (high end)"),
    "nop_mcm_per_bit": Constant(1.3 * pJ, "J/bit", "mid-range of Simba's GRS 0.82-1.75 pJ/bit (DESIGN.md example)",
                                "USED for mcm6x6; Gemini main.cpp NoP_hop_cost = 2*8 pJ/B ('Simba->2*8', "
                                "DSE 3.3*8) and Compass use 2 pJ/bit per hop"),
    "nop_gemini_simba": Constant(2.0 * pJ, "J/bit", "Gemini main.cpp: NoP_hop_cost = 2*8 pJ/B (Simba setting)"),
    "nop_compass_hop": Constant(2.0 * pJ, "J/bit", "Compass src/compass/utils_compass.cpp createNoC: hop_cost = 2*8 "
                                "(pJ per byte per hop), checked", "not used: mcm6x6 keeps Simba's measured GRS "
                                "range (0.82-1.75 pJ/bit, mid 1.3); Compass's 2 pJ/bit is a modelling constant"),
    "dram_compass": Constant(10.5 * pJ, "J/bit", "Compass src/compass/utils_compass.cpp createNoC: DRAM_acc_cost = "
                             "10.5*8 (pJ per byte, GDDR6X as in Gemini), checked",
                             "not used: mcm6x6 describes HBM2 channels (O'Connor MICRO 2017, 3.9 pJ/bit); with "
                             "GDDR6X-class DRAM the DRAM energy of a schedule is 2.7x higher"),
    "noc_hop_per_bit": Constant(0.8 * pJ, "J/bit", "Gemini main.cpp: NoC_hop_cost = 0.8*8 pJ/B",
                                "REFERENCE.md quotes 0.4 pJ/bit for Gemini; the main.cpp we read says 0.8: USED 0.8 "
                                "for on-die NoC hops (npu4x4 cores)"),
    "d2d_ucie_interposer": Constant(0.3 * pJ, "J/bit", "Gemini code constants via REFERENCE.md: UCIe on silicon "
                                    "interposer 0.3 pJ/bit (fan-out 0.6, organic 1.0)",
                                    "USED for the wafer-scale die-to-die links (wsc presets)"),
    "d2d_ucie_organic": Constant(1.0 * pJ, "J/bit", "Gemini code constants via REFERENCE.md: UCIe organic 1.0 pJ/bit"),
    "nop_hop_latency": Constant(20e-9, "s", "Simba MICRO 2019 NoP router hop ~20 ns (DESIGN.md: hop 20 ns)"),
    "noc_hop_latency": Constant(2e-9, "s", "assumption: 2 cycles per on-die router at 1 GHz (typical 2-stage "
                                "router); no value in the sources above"),
    "nop_link_bw_mcm": Constant(100 * GB, "B/s", "Simba-class NoP, 100 GB/s-class links (DESIGN.md/brief); "
                                "Compass hw json nop_bw = 128", "USED 100 GB/s"),
    # ---- chiplet power ---------------------------------------------------------------------------------
    "simba_chiplet_power": Constant(128e12 / 6.1e12 / 36, "W", "Simba MICRO 2019: 128 TOPS at up to 6.1 TOPS/W "
                                    "over 36 chiplets = ~0.58 W per chiplet"),
    "static_fraction": Constant(0.10, "1", "assumption: leakage + clock tree ~10 % of a 16/12 nm chiplet's peak "
                                "power; none of the sources gives a measured static figure",
                                "static power = static_fraction x simba_chiplet_power x (MACs / 1024)"),
    # ---- sanity-check accelerators ---------------------------------------------------------------------
    "a100_fp16_flops": Constant(312e12, "FLOP/s", "NVIDIA A100 datasheet: 312 TFLOP/s dense FP16"),
    "a100_hbm_bw": Constant(2.039e12, "B/s", "NVIDIA A100 80GB SXM datasheet: 2.039 TB/s"),
    "h100_fp16_flops": Constant(989e12, "FLOP/s", "NVIDIA H100 SXM datasheet: 989 TFLOP/s dense FP16"),
    "h100_hbm_bw": Constant(3.35e12, "B/s", "NVIDIA H100 SXM datasheet: 3.35 TB/s"),
}

BYTES_PER_ELEMENT = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1, "int4": 0.5, "int16": 2, "int32": 4}
# Partial sums accumulate wider than the operands: fp16/bf16/fp8 MACs into fp32 (NVIDIA tensor cores' FP32
# accumulate; TPU v2+ bf16 x bf16 -> fp32), int8 into int32 (TPU v1: 32-bit accumulators, Jouppi ISCA 2017).
# A core may state its own (`accumulate int16`, ZigZag's tpu_like keeps 16-bit partial sums).
ACC_BYTES = {"fp32": 4, "fp16": 4, "bf16": 4, "fp8": 4, "int8": 4, "int4": 4}
RF_BYTES_DEFAULT = TABLE["rf_bytes_eyeriss"].value
SRAM_WORD = TABLE["sram_access_word"].value
SRAM_WRITE_VS_READ = TABLE["sram_1MB_write_12nm"].value / TABLE["sram_1MB_read_12nm"].value   # Gemini: 1.078

MAC_FP16 = TABLE["mac_fp16_12nm"].value
MAC_ENERGY = {  # J/MAC at 12 nm-class nodes: fp16 from Gemini; others scaled by Horowitz's 45 nm ratios
    "fp16": MAC_FP16,
    "bf16": MAC_FP16,
    "fp32": MAC_FP16 * TABLE["mac_fp32_45nm"].value / TABLE["mac_fp16_45nm"].value,
    "int8": MAC_FP16 * TABLE["mac_int8_45nm"].value / TABLE["mac_fp16_45nm"].value,
    "fp8": MAC_FP16 * TABLE["mac_int8_45nm"].value / TABLE["mac_fp16_45nm"].value,
}
HBM2_E_BIT = TABLE["hbm2_per_bit"].value
HBM3_E_BIT = TABLE["hbm3_per_bit"].value
HBM3_STACK_BW = TABLE["hbm3_stack_bw"].value
HBM3_STACK_CAP = TABLE["hbm3_stack_capacity"].value
NOP_MCM_E_BIT = TABLE["nop_mcm_per_bit"].value
NOC_E_BIT = TABLE["noc_hop_per_bit"].value
D2D_INTERPOSER_E_BIT = TABLE["d2d_ucie_interposer"].value
NOP_HOP_LATENCY = TABLE["nop_hop_latency"].value
NOC_HOP_LATENCY = TABLE["noc_hop_latency"].value
PIM_BANK_E_BIT = TABLE["pim_bank_per_bit"].value
PIM_MAC_ENERGY = 2 * TABLE["pim_alu_per_op"].value          # 2 FLOPs per MAC
PIM_BW_SCALE = TABLE["pim_bank_bw_scale"].value
PIM_OPS_PER_BYTE = TABLE["pim_ops_per_byte"].value


def sram_energy_per_byte(size: float) -> float:
    """J per byte read from an SRAM buffer of `size` bytes (12 nm class).

    Anchored at Gemini's 1 MiB read cost and scaled by sqrt(size / 1 MiB): Horowitz's 45 nm points (8 KB 10 pJ,
    32 KB 20 pJ, 1 MB 100 pJ per 64 bits) grow close to the square root of capacity (wire length of the array).
    """
    if size <= 0:
        raise ValueError("SRAM size must be positive")
    return TABLE["sram_1MB_read_12nm"].value * math.sqrt(size / MiB)


def rf_energy_per_byte(mac_energy: float) -> float:
    """J per register-file byte of a core whose MAC costs `mac_energy` J: one 16-bit RF access ~ one MAC
    (Eyeriss ISCA 2016 normalisation, `TABLE["rf_access_vs_mac"]`)."""
    return TABLE["rf_access_vs_mac"].value * mac_energy / 2.0


def static_power(macs_per_cycle: int, freq: float) -> float:
    """W of leakage + clock for a chiplet of `macs_per_cycle` MACs at `freq` Hz, scaled from Simba's ~0.58 W
    per 1024-MAC chiplet (at 2 GHz peak) by MAC count and frequency, times the assumed static fraction."""
    simba = TABLE["simba_chiplet_power"].value
    return TABLE["static_fraction"].value * simba * (macs_per_cycle / 1024) * (freq / 2e9)


def table_rows() -> list[dict]:
    """The table as plain dicts (name, value, unit, source, note), e.g. to audit every constant's source."""
    return [{"name": k, "value": c.value, "unit": c.unit, "source": c.source, "note": c.note}
            for k, c in TABLE.items()]
