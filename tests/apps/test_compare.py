"""compare: rows for each solver, three files written, checker-rejected schedules never reported."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest
from conftest import chain_graph, make_hw

from mapc.apps import compare
from mapc.compiler.problem import Problem
from mapc.core.errors import MapcError
from mapc.core.options import SolveOptions
from mapc.hw.cost import CostModel


@pytest.fixture(scope="module")
def problem():
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = chain_graph(layers=4, microbatches=3)
    return Problem(g, hw, CostModel(hw, g, group_sizes=(1, 2)))


def test_compare_rows_and_files(problem, tmp_path):
    rows = compare.compare(problem, ["baseline", "greedy", "ga"], SolveOptions(time_limit=0.3, seed=0))
    assert [r.solver for r in rows] == ["baseline", "greedy", "ga"]
    assert rows[0].edp_vs_baseline_pct == pytest.approx(0.0, abs=1e-9)
    for r in rows:
        assert r.status == "heuristic" and r.edp_js == pytest.approx(r.latency_s * r.energy_j)
        assert r.makespan_over_bound >= 1 - 1e-9
    assert rows[2].edp_js <= rows[1].edp_js * (1 + 1e-9)
    files = compare.write_compare(tmp_path / "out", rows, {"title": "t"})
    assert sorted(p.split("/")[-1] for p in files) == ["anytime.png", "compare.csv", "compare.json"]
    doc = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert [r["solver"] for r in doc["rows"]] == ["baseline", "greedy", "ga"]
    got = list(csv.DictReader(open(tmp_path / "out" / "compare.csv")))
    assert float(got[1]["edp_js"]) == pytest.approx(rows[1].edp_js)
    assert (tmp_path / "out" / "anytime.png").stat().st_size > 1000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temporary dir left


def test_rejected_schedule_not_reported(problem, monkeypatch):
    from mapc.solvers import greedy, registry

    def broken(p, options):
        r = greedy.solve(p, options)
        s = r.schedule
        tasks = tuple(replace(t, start=0.0, end=t.end - t.start) for t in s.tasks)   # breaks dependencies
        return replace(r, schedule=replace(s, tasks=tasks))

    monkeypatch.setitem(registry.SOLVERS, "greedy", broken)
    row, res = compare.run_one(problem, SolveOptions(solver="greedy", time_limit=0.2))
    assert row.status == "rejected" and row.edp_js is None and res is None
    assert "checker" in row.message


def test_unknown_solver():
    with pytest.raises(MapcError, match="unknown solver"):
        compare.parse_solvers("greedy,nope")
    assert compare.parse_solvers("ga, greedy,ga") == ["ga", "greedy"]


def test_slo_workload_shows_attainment_per_solver(tmp_path):
    """With SLO targets the table and the CSV carry each solver's attainment; without, no such column."""
    from rich.console import Console

    from mapc import api
    text = ("workload w { serve llama2_7b\n prefill batch=2 seq=256\n decode batch=4 context=512\n microbatches 2\n"
            " slo ttft 10 s tpot 10 s }")
    p = api.lower(api.load(text), "npu4x4")
    rows = compare.compare(p, ["baseline", "greedy"], SolveOptions(time_limit=0.3, seed=0))
    assert [r.slo_attainment for r in rows] == [1.0, 1.0]
    con = Console(width=200, record=True)
    con.print(compare.table(rows))
    text_out = con.export_text()
    assert "SLO met" in text_out and "100.0%" in text_out
    got = list(csv.DictReader(io.StringIO(compare.rows_csv(rows))))
    assert float(got[1]["slo_attainment"]) == 1.0
    plain = compare.compare(api.lower(api.load(text.replace(" slo ttft 10 s tpot 10 s", "")), "npu4x4"),
                            ["greedy"], SolveOptions(time_limit=0.3, seed=0))
    assert plain[0].slo_attainment is None
    con = Console(width=200, record=True)
    con.print(compare.table(plain))
    assert "SLO met" not in con.export_text()
