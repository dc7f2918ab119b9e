"""PD disaggregation: baseline and scar keep every phase inside its region (cost.allowed())."""

from __future__ import annotations

import numpy as np
import pytest

from mapc.compiler import driver
from mapc.dsl.loader import load
from mapc.hw.presets import get
from mapc.solvers.base import Budget

CSV = "prompt_len,output_len\n128,4\n512,2\n96,8\n1024,3\n"


def spec_of(tmp_path, pd):
    (tmp_path / "r.csv").write_text(CSV)
    p = tmp_path / "w.dsl"
    p.write_text(f'workload w {{ serve llama2_7b requests "r.csv" steps=2 microbatches 2 }}\n'
                 f"parallel {{ tensor 4 segment 8 pd {pd} }}")
    return load(str(p))


@pytest.mark.parametrize("solver", ["baseline", "scar"])
def test_solver_keeps_phases_in_their_regions(tmp_path, solver):
    hw = get("npu4x4")
    cr = driver.compile_spec(spec_of(tmp_path, "disaggregated(prefill=8, decode=8)"), hw, solver,
                             Budget(time_limit=1, seed=0))
    s, g = cr.result.schedule, cr.graph
    assert np.isfinite(s.makespan) and s.makespan > 0
    ok = cr.cost.allowed()
    for t in g.tasks:
        chips = set(s.tasks[t.id].placement)
        assert chips <= (set(range(8)) if t.phase == "prefill" else set(range(8, 16))), (solver, t.name, chips)
        p = cr.cost.placements.index(tuple(s.tasks[t.id].placement))
        assert ok[t.id, p]
    moved = [x for x in s.transfers if x.kind == "kv" and g.tasks[x.src_task].phase == "prefill"]
    assert moved and all(x.src_chiplet < 8 <= x.dst_chiplet for x in moved)


def test_baseline_pipelines_each_region_separately(tmp_path):
    hw = get("npu4x4")
    cr = driver.compile_spec(spec_of(tmp_path, "disaggregated(prefill=8, decode=8)"), hw, "baseline",
                             Budget(time_limit=1, seed=0))
    s, g = cr.result.schedule, cr.graph
    used = {ph: {s.tasks[t.id].placement for t in g.tasks if t.phase == ph} for ph in ("prefill", "decode")}
    assert len(used["prefill"]) == 2 and len(used["decode"]) == 2      # two groups of 4 in each half
