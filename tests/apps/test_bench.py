"""bench --quick runs the small suite and writes results.csv and results.md (never into the repository's bench/)."""

from __future__ import annotations

import csv
import json

from mapc.apps import bench
from mapc.cli import main


def test_bench_quick(tmp_path):
    rows, skipped, files = bench.run(0.2, tmp_path, quick=True, solvers=["baseline", "greedy", "scar"])
    assert {r["solver"] for r in rows} == {"baseline", "greedy", "scar"}
    got = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert len(got) == len(rows) >= 3
    md = (tmp_path / "results.md").read_text()
    assert "Machine:" in md and "| example | preset |" in md and "arvr_mix.dsl" in md
    base = [r for r in rows if r["solver"] == "baseline"][0]
    assert base["edp_vs_baseline_pct"] == 0.0


def test_bench_quick_command_writes_where_o_says(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "results" / "quick"
    assert main(["bench", "--quick", "--time-limit", "0.2", "--solvers", "baseline,greedy", "-o", str(out),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and sorted(doc["files"]) == sorted(str(out / f) for f in ("results.csv", "results.md"))
    assert {r["solver"] for r in doc["rows"]} == {"baseline", "greedy"}
    assert "arvr_mix.dsl" in (out / "results.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]      # nothing else, no bench-quick/


def test_bench_quick_without_o_writes_bench_quick_in_the_current_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--quick", "--time-limit", "0.2", "--solvers", "baseline,greedy"]) == 0
    assert "bench-quick/results.md" in capsys.readouterr().out
    md = (tmp_path / "bench-quick" / "results.md").read_text()
    assert "mapc bench --quick" in md and "arvr_mix.dsl" in md
    assert (tmp_path / "bench-quick" / "results.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench-quick"]  # not bench/ (the committed results)


def test_machine_names_cores():
    assert "cores" in bench.machine()
