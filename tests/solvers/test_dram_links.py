"""NoP links on DRAM routes as shared resources (issue 13, items 2-3): a chiplet reading a channel that is not
its neighbour uses the links in between, and those links have a bandwidth. The checker rejects a plan whose DRAM
streams over-subscribe a link (rule `link`); the list scheduler, HEFT and CP-SAT never emit one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mapc import api
from mapc.compiler.check import check
from mapc.compiler.schedule import materialize
from mapc.core.hardware import DramChannel
from mapc.core.options import SolveOptions
from mapc.hw.dram_resources import all_links, dram_resources, resource_bytes
from mapc.hw.placement import dram_link_split
from mapc.hw.presets import mcm6x6
from mapc.solvers.listsched import list_schedule_timed
from test_channels import TINY


@pytest.fixture(scope="module")
def thin_links(tmp_path_factory):
    """TINY on mcm6x6 with one wide (200 GB/s) channel on the west edge and 40 GB/s NoP links: chiplets 1 and 2
    (row 0) both reach it over link 0->1, which cannot carry both streams, though the channel can."""
    p = tmp_path_factory.mktemp("links") / "tiny.dsl"
    p.write_text(TINY)
    hw = mcm6x6()
    attach = tuple(y * hw.cols for y in range(hw.rows))
    hw = replace(hw, nop=replace(hw.nop, link_bw=40e9),
                 dram=(DramChannel("w", "west", 200e9, 4e-12, attach=attach),))
    return api.lower(api.load(p), hw)


def test_link_split_follows_the_xy_routes_from_the_attach_chiplets():
    hw = mcm6x6()
    pls = [(0,), (1,), (2,), (1, 2)]
    links, frac = dram_link_split(hw, pls)
    col = {l: j for j, l in enumerate(links)}
    assert frac[0].sum() == 0                              # an attach chiplet takes its bytes from the PHY
    assert frac[1, col[(0, 1)]] == 1.0 and frac[1].sum() == 1.0
    assert frac[2, col[(0, 1)]] == 1.0 and frac[2, col[(1, 2)]] == 1.0
    assert frac[3, col[(0, 1)]] == 1.0 and frac[3, col[(1, 2)]] == 0.5     # half the bytes go on to chiplet 2


def test_two_streams_over_one_link_are_rejected_and_never_scheduled(thin_links):
    cost = thin_links.cost
    rs = dram_resources(cost)
    link = rs.channels + rs.links.index((0, 1))
    pi = np.array([cost.placements.index((1,)), cost.placements.index((2,))])
    res = np.zeros(2, dtype=bool)
    by = resource_bytes(cost, pi, res)
    assert (by[:, link] > 0).all()
    lat = cost.task_latency(pi, res)
    assert (by[:, link] / lat > 0.9 * 40e9).all()               # each alone: (nearly) the whole link
    bad = materialize(cost, pi, res, [0.0, 0.0])
    v = check(bad, cost)
    assert {x.kind for x in v} == {"link"}                     # the 200 GB/s channel has room; the link does not
    assert "0->1" in v[0].message and set(v[0].tasks) == {0, 1}
    for stretch in (False, True):
        st, d = list_schedule_timed(cost, pi, res, stretch=stretch)
        assert check(materialize(cost, pi, res, st, d), cost) == []
        assert (st + d).max() >= 2 * lat.min() * (1 - 1e-9)    # the link's bytes need two runs' time at 40 GB/s


@pytest.mark.parametrize("solver", ["greedy", "scar", "ga", "baseline", "cpsat"])
def test_solvers_never_over_subscribe_a_link(thin_links, solver):
    r = api.solve(thin_links, SolveOptions(solver=solver, objective="latency", time_limit=2))
    assert check(r.schedule, thin_links.cost) == []


def test_links_that_cannot_bind_are_not_tracked(thin_links):
    """A link's DRAM load is part of its feeding channels' load: on mcm6x6 every link carries one 64 GB/s
    channel's traffic under 100 GB/s links, so the schedulers track none (the checker still verifies all);
    behind 40 GB/s links they are tracked."""
    hw = mcm6x6()
    links, _ = dram_link_split(hw, [(c,) for c in range(hw.n)])
    kept, _ = dram_link_split(hw, [(c,) for c in range(hw.n)], may_bind=True)
    assert links and kept == []
    rs = dram_resources(thin_links.cost)
    assert (0, 1) in rs.links and rs.capacity.size == rs.channels + len(rs.links)
    assert all_links(thin_links.cost)[0] == list(rs.links)      # 200 GB/s > 40 GB/s: every link may bind
