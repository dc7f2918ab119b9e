"""bench --quick runs the small suite and writes results.csv and results.md."""

from __future__ import annotations

import csv

from mapc.apps import bench


def test_bench_quick(tmp_path):
    rows, skipped, files = bench.run(0.2, tmp_path, quick=True, solvers=["baseline", "greedy", "scar"])
    assert {r["solver"] for r in rows} == {"baseline", "greedy", "scar"}
    got = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert len(got) == len(rows) >= 3
    md = (tmp_path / "results.md").read_text()
    assert "Machine:" in md and "| example | preset |" in md and "arvr_mix.dsl" in md
    base = [r for r in rows if r["solver"] == "baseline"][0]
    assert base["edp_vs_baseline_pct"] == 0.0


def test_machine_names_cores():
    assert "cores" in bench.machine()
