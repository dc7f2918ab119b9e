"""Hardware presets and the constant table."""

from __future__ import annotations

import json

import pytest

from mapc.core.errors import HardwareError, MapcError
from mapc.hw import constants as K
from mapc.hw.presets import PRESETS, describe, get


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_and_describes(name):
    hw = get(name)
    assert hw.name == name
    assert hw.n == hw.rows * hw.cols == len(hw.chiplets)
    assert [c.id for c in hw.chiplets] == list(range(hw.n))
    assert all(c.id == c.y * hw.cols + c.x for c in hw.chiplets)
    assert hw.sources, "every preset cites its numbers"
    assert hw.dram_bandwidth > 0 and hw.peak_flops > 0
    for ch in hw.dram:
        assert ch.attach, f"{ch.name} is attached to no chiplet"
    d = json.loads(json.dumps(describe(hw)))
    assert d["chiplets"] == hw.n
    assert d["peak_tflops"] == pytest.approx(hw.peak_flops / 1e12)
    assert sum(t["count"] for t in d["types"].values()) == hw.n


def test_mcm6x6_is_scar_heterogeneous():
    hw = get("mcm6x6")
    assert (hw.rows, hw.cols) == (6, 6)
    for c in hw.chiplets:
        assert c.type.dataflow == ("ws" if c.y < 3 else "os")
        assert c.type.macs_per_cycle == 1024 and c.type.sram == 2 * 2**20
    # 4 DRAM channels, on the west and east edges only (Compass / Gemini)
    assert len(hw.dram) == 4 and {ch.edge for ch in hw.dram} == {"west", "east"}
    attached = {a for ch in hw.dram for a in ch.attach}
    assert all(hw.chiplets[a].x in (0, 5) for a in attached)
    assert hw.dram_bandwidth == pytest.approx(256e9)
    assert hw.nop.hop_latency == pytest.approx(20e-9)
    assert 0.82e-12 <= hw.nop.energy_per_bit <= 1.75e-12   # inside Simba's GRS range


def test_homo_is_all_ws_on_the_same_package():
    a, b = get("mcm6x6"), get("mcm6x6-homo")
    assert {c.type.dataflow for c in b.chiplets} == {"ws"}
    assert a.dram_bandwidth == b.dram_bandwidth and a.nop == b.nop and a.peak_flops == b.peak_flops


def test_npu_pim_carries_pim_units():
    npu, pim = get("npu4x4"), get("npu-pim")
    assert not npu.pim and len(pim.pim) == len(pim.dram) == 4
    for u, ch in zip(pim.pim, pim.dram):
        assert u.bandwidth == pytest.approx(16 * 670.4e9)           # AttAcc bank-level internal bandwidth
        assert u.bandwidth > ch.bandwidth
        assert u.energy_per_bit < ch.energy_per_bit                   # no trip through the buffer die
        assert u.attach == ch.attach
    assert all(c.type.pe_rows == c.type.pe_cols == 128 for c in npu.chiplets)


def test_unknown_preset_suggests_a_close_name():
    with pytest.raises(HardwareError) as e:
        get("mcm6x6-hom")
    assert isinstance(e.value, MapcError)
    assert "mcm6x6-homo" in e.value.hint and "npu4x4" in e.value.hint
    with pytest.raises(HardwareError) as e:
        get("zzz")
    assert "did you mean" not in (e.value.hint or "")


def test_constant_table_cites_everything_in_si():
    for name, c in K.TABLE.items():
        assert c.source.strip(), name
        assert c.value > 0, name
    assert K.TABLE["mac_fp16_12nm"].value == pytest.approx(0.0873e-12)
    assert K.MAC_ENERGY["int8"] < K.MAC_ENERGY["fp16"] < K.MAC_ENERGY["fp32"]
    # SRAM energy per byte grows with size, and the 1 MiB anchor is Gemini's number
    assert K.sram_energy_per_byte(2**20) == pytest.approx(0.217125 * 8e-12)
    assert K.sram_energy_per_byte(32 * 2**20) > K.sram_energy_per_byte(2 * 2**20) > K.sram_energy_per_byte(2**15)
    rows = K.table_rows()
    assert len(rows) == len(K.TABLE) and all("source" in r for r in rows)


def test_npu8x8_is_the_study_mesh_with_hbm3_on_west_and_east():
    from mapc.hw.placement import dram_link_factors
    hw = get("npu8x8")
    assert (hw.rows, hw.cols, hw.n) == (8, 8, 64)
    assert {(c.type.pe_rows, c.type.pe_cols, c.type.dataflow, c.type.freq) for c in hw.chiplets} == \
        {(128, 128, "ws", 1e9)}
    total_sram = sum(c.type.sram for c in hw.chiplets)
    assert 1e6 <= total_sram <= 192e6 * 1.05                     # npu-sim's 1-192 MB design range
    assert hw.nop == get("npu4x4").nop                           # the same on-die NoC links as npu4x4
    assert len(hw.dram) == 8 and [ch.edge for ch in hw.dram].count("west") == 4
    assert hw.dram_bandwidth == pytest.approx(8 * 670.4e9)       # AttAcc HBM3 stacks
    attached = sorted(a for ch in hw.dram for a in ch.attach)
    assert attached == sorted(c.id for c in hw.chiplets if c.x in (0, 7))   # every edge core, each once
    # 128 GiB of HBM: Llama-2-70B fits at int4 (~35 GB) but not in fp16 (~138 GB)
    assert 35e9 < sum(ch.capacity for ch in hw.dram) < 138e9
    # each row's 3 inner cores draw 3 x 83.8 = 251 GB/s over the edge link (< 256 GB/s): no core is link-limited
    f = dram_link_factors(hw)
    assert f.shape == (64,) and f.min() == pytest.approx(1.0)
