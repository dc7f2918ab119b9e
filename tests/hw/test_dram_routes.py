"""DRAM bandwidth limited by the NoP routes from the channels (hw.placement.dram_link_factors)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mapc.compiler.evaluate import lower_bound
from mapc.compiler.lower import lower
from mapc.core.spec import ParallelSpec, PhaseSpec, ServeSpec, Spec, WorkloadSpec
from mapc.dsl.zoo import MODELS
from mapc.hw.cost import CostModel
from mapc.hw.placement import dram_link_factors
from mapc.hw.presets import get


def west_only(hw):
    """npu4x4 with all of its HBM bandwidth on two west-edge stacks: routes to the east share the row links."""
    ws = [ch for ch in hw.dram if ch.edge == "west"]
    return replace(hw, dram=tuple(replace(ch, bandwidth=2 * ch.bandwidth) for ch in ws))


def decode_graph():
    serve = ServeSpec("llama2_7b", (PhaseSpec("decode", 16, (1024,), steps=1),), 1)
    return lower(Spec("t.dsl", {"llama2_7b": MODELS["llama2_7b"]}, WorkloadSpec("w", (serve,)), ParallelSpec()),
                 segment=8)


def test_presets_with_headroom_keep_the_static_share():
    for name in ("npu4x4", "mcm6x6", "wsc8x8"):
        assert np.all(dram_link_factors(get(name)) == 1.0), name
    f = dram_link_factors(get("wsc16x16"))
    assert f.min() == pytest.approx(2 / 3) and f.max() == 1.0 and f[0] == 1.0   # corners full, middle 2/3


def test_shared_edge_links_starve_cores_far_from_the_channels():
    hw = west_only(get("npu4x4"))
    share = hw.dram_bandwidth / 16                    # 168 GB/s; a 256 GB/s row link carries 3 east-bound shares
    f = dram_link_factors(hw).reshape(4, 4)
    assert np.all(f[:, 0] == 1.0)                     # attached cores read their channel directly
    assert np.allclose(f[:, 1:], hw.nop.link_bw / (3 * share))


def test_peak_rate_follows_the_channels_and_the_links_of_the_group():
    """west_only npu4x4: two west stacks of 1340.8 GB/s, 256 GB/s links. The west column takes its bytes from the
    PHYs (both stacks: 2 x 1340.8); the inner column gets one row link per member (4 x 256); a row group pushes
    3/4 of its bytes through the first row link (256 / 0.75) from a single stack."""
    hw = west_only(get("npu4x4"))
    g = decode_graph()
    cm = CostModel(hw, g, group_sizes=(4,), placement_policy=("row", "column"))
    bw = dict(zip(cm.placements, cm.group_dram_bw))
    stack, link = hw.dram[0].bandwidth, hw.nop.link_bw
    assert bw[(0, 4, 8, 12)] == pytest.approx(2 * stack)
    assert bw[(1, 5, 9, 13)] == pytest.approx(4 * link)
    assert bw[(0, 1, 2, 3)] == pytest.approx(link / 0.75)
    mem = cm.breakdown(False)["memory"][0]
    by = {pl: mem[i] for i, pl in enumerate(cm.placements)}
    assert by[(0, 4, 8, 12)] < by[(1, 5, 9, 13)] < by[(0, 1, 2, 3)]
    assert np.allclose(cm.dram_frac.sum(axis=1), 1.0)
    assert cm.dram_frac[cm.placements.index((0, 1, 2, 3))].tolist() == [1.0, 0.0]


def test_far_groups_pay_the_round_trip_latency():
    cm = CostModel(get("npu4x4"), decode_graph(), group_sizes=(1,))
    hw = get("npu4x4")
    hop = hw.nop.hop_latency
    assert cm.dram_latency[0] == 0.0 and cm.dram_latency[1] == pytest.approx(2 * hop)
    assert cm.group_dram_bw[0] == pytest.approx(hw.dram[0].bandwidth)    # on the PHY: the whole stack
    assert cm.group_dram_bw[1] == pytest.approx(hw.nop.link_bw)          # one hop away: one link
    mem = cm.breakdown(False)["memory"][0]
    by = cm.dram_bytes(False)[0]
    assert mem[0] == pytest.approx(by[0] / cm.group_dram_bw[0])
    assert mem[1] == pytest.approx(by[1] / cm.group_dram_bw[1] + 2 * hop)
