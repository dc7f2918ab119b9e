"""`mapc.dsl.writer`: a Hardware written as a hardware block reads back as the same hardware."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mapc import api
from mapc.core.errors import MapcError
from mapc.dsl.writer import hardware_text, quantity_text
from mapc.hw import presets
from mapc.hw import variants as V


def same(a, b) -> bool:
    """Equal up to names (types and channels are named by the block) and the last bit of split totals."""
    def key(hw):
        return (hw.rows, hw.cols, [(c.x, c.y, replace(c.type, name="")) for c in hw.chiplets], hw.nop,
                sorted((ch.edge, ch.attach, ch.bandwidth, ch.energy_per_bit, ch.capacity) for ch in hw.dram),
                sorted((p.attach, p.bandwidth, p.peak_flops, p.energy_per_bit, p.mac_energy, p.capacity)
                       for p in hw.pim))
    return key(a) == key(b)


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_presets_round_trip(name):
    hw = presets.get(name)
    text = hardware_text(hw, "design", comment="from a test\nsecond line")
    assert text.startswith("# from a test\n# second line\nhardware design {")
    assert same(api.load(text).hardware, hw)


def test_variants_round_trip():
    for base, settings in (("mcm6x6", {"grid": (8, 8), "dataflow": "mix", "sram": 3.5 * 2**20, "link": 225e9}),
                           ("npu4x4", {"pim": "on", "dram": 1e12, "freq": 1.5e9, "pes": (64, 32)}),
                           ("mcm6x6-homo", {"grid": (3, 5), "memory": 64 * 2**30, "hop": 7e-9})):
        hw = V.derive(presets.get(base), settings)
        assert same(api.load(hardware_text(hw, "v")).hardware, hw), (base, settings)


def test_every_optional_chiplet_setting_round_trips():
    t = presets.get("npu4x4").chiplets[0].type
    t = replace(t, precision="int8", sram_bw=512e9, rf=64.0, rf_energy=0.03e-12, acc_energy=0.05e-12,
                sram_write_energy=1.7e-12, accumulate="int32", unroll="channels", vector=256, arrays=4,
                area=3.25e-6)
    hw = presets.get("npu4x4")
    hw = replace(hw, chiplets=tuple(replace(c, type=t) for c in hw.chiplets))
    assert same(api.load(hardware_text(hw, "v")).hardware, hw)


def test_quantities_read_back_exactly_in_readable_units():
    assert quantity_text(2 * 2**20, "size") == "2 MiB"
    assert quantity_text(64 * 2**30, "size") == "64 GiB"
    assert quantity_text(1e9, "frequency") == "1 GHz"
    assert quantity_text(0.0873e-12, "energy_mac") == "0.0873 pJ/MAC"
    assert quantity_text(12.5 * 1e-6, "area") == "12.5 mm2"             # what `area 12.5 mm2` reads as
    odd = 1 / 3 * 1e9
    text = quantity_text(odd, "bandwidth")
    num, unit = text.split()
    from mapc.core.units import to_si
    assert to_si(float(num), unit, "bandwidth") == odd


def test_what_a_block_cannot_say_is_refused():
    hw = presets.get("mcm6x6")
    chess = tuple(replace(c, type=hw.chiplets[(c.x + c.y) % 2 * 18].type) for c in hw.chiplets)
    with pytest.raises(MapcError, match="vary along both rows and columns"):
        hardware_text(replace(hw, chiplets=chess), "x")
    with pytest.raises(MapcError, match="name of the language"):
        hardware_text(hw, "mcm6x6[sram=1MiB]")
