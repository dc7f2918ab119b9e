"""The search space of `mapc explore` (`mapc.hw.space`): lists and ranges, grid points, labels, every error."""

from __future__ import annotations

import pytest

from mapc.core.errors import MapcError
from mapc.hw import space as S

MiB = 2**20


def test_a_log_range_spans_its_bounds_geometrically():
    (d,) = S.parse_space(["sram=1MiB..32MiB:log:6"])
    assert d.is_range and d.log and d.points == 6
    g = d.grid()
    assert g[0] == MiB and g[-1] == 32 * MiB and len(g) == 6
    assert all(b / a == pytest.approx(2.0) for a, b in zip(g, g[1:]))
    assert [d.label(x) for x in g] == ["1MiB", "2MiB", "4MiB", "8MiB", "16MiB", "32MiB"]
    assert d.value(g[2]) == 4 * MiB


def test_linear_int_and_side_ranges():
    link, freq, grid, pes = S.parse_space(["link=50..400GB/s:3", "freq=500MHz..2GHz:int", "grid=2..8",
                                           "pes=16x16..128x128:log"])
    assert link.grid() == (50e9, 225e9, 400e9) and link.label(225e9) == "225GB/s"
    assert freq.unit == 1e6 and freq.int_bounds == (500, 2000) and freq.grid() == (500, 1000, 1500, 2000)
    assert freq.value(1500) == 1.5e9
    assert grid.grid() == (2, 4, 6, 8) and grid.value(4) == (4, 4) and grid.label(6) == "6x6"
    assert pes.grid() == (16, 32, 64, 128)


def test_lists_keep_their_order_and_the_grid_size_multiplies():
    sp = S.parse_space(["dataflow=ws,os,mix", "pim=on,off", "sram=1MiB..4MiB"])
    assert sp[0].grid() == ("ws", "os", "mix") and sp[0].value("mix") == "mix"
    assert sp[1].value("off") == "off"
    assert S.grid_size(sp) == 3 * 2 * 4 and S.grid_size(()) == 1


@pytest.mark.parametrize("text, needle", [
    ("bogus=1..2", "unknown key 'bogus'"), ("sram=..4MiB", "empty range"), ("sram=1MiB..", "empty range"),
    ("sram=2MiB..2MiB", "empty range"), ("sram=4MiB..2MiB", "is above"), ("sram=1MiB..32GB/s", "unit mismatch"),
    ("link=1GHz..2GHz", "expected a bandwidth"), ("dataflow=ws..os", "list of values, not a range"),
    ("pim=on..off", "list of values"), ("sram=1MiB..2MiB:cubic", "unknown range modifier"),
    ("sram=1MiB..2MiB:1", "unknown range modifier"), ("grid=2x4..8x8", "square sides"),
    ("grid=2..100", "between 1 and 64"), ("sram=1.2MiB..1.8MiB:int", "no whole multiple"),
    ("sram=", "no values"), ("pim=maybe", "on or off"),
])
def test_bad_spaces_raise_before_anything_runs(text, needle):
    with pytest.raises(MapcError) as ei:
        S.parse_space([text])
    assert needle in ei.value.message


def test_a_key_given_twice_as_list_and_range():
    with pytest.raises(MapcError, match="given twice"):
        S.parse_space(["sram=1MiB,2MiB", "sram=1MiB..8MiB"])
