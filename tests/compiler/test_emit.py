"""Emitters on hand-built values (no DSL, no solver registry): schedule.json validates against the shipped
schema and a broken one does not; trace.json, tasks.csv and gantt.png are well formed; writing is atomic."""

from __future__ import annotations

import copy
import csv
import io
import json
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import chain_graph, make_hw

from mapc.compiler import emit, plots, report
from mapc.compiler.evaluate import evaluate
from mapc.compiler.files import jsonable
from mapc.compiler.objective import score
from mapc.compiler.problem import Problem
from mapc.compiler.result import Result
from mapc.compiler.schedule import materialize
from mapc.core.errors import MapcError
from mapc.core.options import SolveOptions
from mapc.core.solution import SolveResult, SolverStats
from mapc.hw.cost import CostModel
from mapc.solvers.listsched import choose_residency, list_schedule


@dataclass(frozen=True)
class HandStats(SolverStats):
    evaluations: int = 0


def make_result(layers=3, microbatches=2, rows=2, cols=2, spread=True) -> Result:
    """A 3-layer x 2-micro-batch chain on a 2x2 mesh, layer l on chiplet l (so there are transfers)."""
    hw = make_hw(rows, cols, ["ws", "os", "os", "ws"][: rows * cols] if rows * cols == 4 else None)
    g = chain_graph(layers, microbatches, M=32, K=64, N=64)
    cost = CostModel(hw, g, group_sizes=(1, 2))
    pi = np.array([(t.layers[0] % hw.n) if spread else 0 for t in g.tasks])
    res = choose_residency(cost, pi)
    start = list_schedule(cost, pi, res)
    sched = materialize(cost, pi, res, start)
    problem = Problem(g, hw, cost)
    sr = SolveResult(sched, "heuristic", score(sched, cost, "edp"), solver="handmade", wall_time=0.001,
                     stats=HandStats(evaluations=1))
    return Result(problem, sr, evaluate(sched, cost, g), SolveOptions(time_limit=1.0))


@pytest.fixture
def cr() -> Result:
    return make_result()


def test_schedule_document_validates_and_is_complete(cr):
    doc = emit.schedule_document(cr)
    emit.validate_schedule_document(doc)
    assert doc["schema"] == "mapc.schedule/1"
    assert len(doc["tasks"]) == cr.problem.graph.n == 6
    assert len(doc["hardware"]["chiplets"]) == 4
    # layer l runs on chiplet l: two edges per micro-batch cross chiplets
    assert len(doc["transfers"]) == 4
    t1 = doc["tasks"][1]
    assert t1["deps"] == [0] and t1["chiplets"] == [1] and t1["layers"] == [1, 1]
    x = doc["transfers"][0]
    assert x["route"][0] == x["src_chiplet"] and x["route"][-1] == x["dst_chiplet"]
    assert x["start"] >= doc["tasks"][x["src_task"]]["end"]
    assert x["end"] <= doc["tasks"][x["dst_task"]]["start"] + 1e-15
    # replayable: total energy = tasks + transfers + static power x makespan
    e = (sum(t["energy"] for t in doc["tasks"]) + sum(t["energy"] for t in doc["transfers"])
         + doc["hardware"]["static_power"] * doc["metrics"]["makespan_s"])
    assert e == pytest.approx(doc["metrics"]["energy_j"], rel=1e-12)
    json.dumps(doc, allow_nan=False)       # strict JSON


@pytest.mark.parametrize("breakage", [
    lambda d: d["tasks"][0].pop("deps"),                          # required field missing
    lambda d: d["tasks"][0].__setitem__("start", -1.0),           # below minimum
    lambda d: d["tasks"][0].__setitem__("surprise", 1),           # additionalProperties false
    lambda d: d["transfers"][0].__setitem__("bytes", "many"),     # wrong type
    lambda d: d.__setitem__("schema", "mapc.schedule/2"),         # wrong version
    lambda d: d["hardware"]["chiplets"][0].__setitem__("dataflow", "xx"),
    lambda d: d["solver"].pop("status"),
])
def test_broken_document_fails_schema(cr, breakage):
    doc = emit.schedule_document(cr)
    bad = copy.deepcopy(doc)
    breakage(bad)
    with pytest.raises(MapcError, match="does not match"):
        emit.validate_schedule_document(bad)


def test_jsonable_turns_non_finite_into_null():
    assert jsonable({"a": float("inf"), "b": (np.float64(1.5), np.int64(2)), "c": np.bool_(True)}) == \
        {"a": None, "b": [1.5, 2], "c": True}


def test_trace_has_tracks_per_chiplet_and_link(cr):
    tr = emit.trace_document(cr)
    ev = tr["traceEvents"]
    json.dumps(tr, allow_nan=False)
    x_chip = [e for e in ev if e["ph"] == "X" and e["pid"] == emit.PID_CHIPLETS]
    x_link = [e for e in ev if e["ph"] == "X" and e["pid"] == emit.PID_LINKS]
    assert len(x_chip) == cr.problem.graph.n                   # single-chiplet placements: one event per task
    assert {e["tid"] for e in x_chip} == {0, 1, 2}
    hops = sum(len(x.route) - 1 for x in cr.schedule.transfers)
    assert len(x_link) == hops > 0
    names = {(e["pid"], e["tid"]) for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {(emit.PID_CHIPLETS, c) for c in range(4)} <= names
    assert {(emit.PID_LINKS, e["tid"]) for e in x_link} <= names
    t0 = cr.schedule.tasks[0]
    e0 = next(e for e in x_chip if e["args"]["task"] == 0)
    assert e0["ts"] == pytest.approx(t0.start * 1e6) and e0["dur"] == pytest.approx((t0.end - t0.start) * 1e6)


def test_tasks_csv_rows(cr):
    rows = list(csv.DictReader(io.StringIO(emit.tasks_csv(cr))))
    assert tuple(rows[0]) == emit.CSV_COLUMNS
    assert len(rows) == cr.problem.graph.n
    st = cr.schedule.tasks[4]
    assert float(rows[4]["start_s"]) == st.start and float(rows[4]["end_s"]) == st.end
    assert rows[4]["chiplets"] == ";".join(map(str, st.placement)) and rows[4]["layers"] == "1-1"


def test_write_outputs_creates_all_files(cr, tmp_path):
    out = tmp_path / "model.schedule"
    files, notes = emit.write_outputs(out, cr)
    assert sorted(p.name for p in out.iterdir()) == sorted(emit.OUTPUT_FILES)
    assert notes == [] and len(files) == 4
    assert (out / "gantt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    emit.validate_schedule_document(json.loads((out / "schedule.json").read_text()))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]    # no temp dir left behind


def test_write_outputs_skips_big_gantt_with_note(cr, tmp_path, monkeypatch):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "gantt.png").write_bytes(b"old")            # stale file from an earlier run
    (tmp_path / "o" / "mine.txt").write_text("keep")              # the user's own file
    files, notes = emit.write_outputs(tmp_path / "o", cr, gantt_max_tasks=3)
    assert any("gantt.png skipped" in n for n in notes)
    assert not (tmp_path / "o" / "gantt.png").exists()
    assert (tmp_path / "o" / "mine.txt").read_text() == "keep"
    assert (tmp_path / "o" / "schedule.json").exists()


def test_write_outputs_is_atomic_on_error(cr, tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(plots, "render_gantt", boom)
    with pytest.raises(RuntimeError):
        emit.write_outputs(tmp_path / "o", cr)
    assert list(tmp_path.iterdir()) == []


def test_write_outputs_refuses_a_file_target(cr, tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(MapcError, match="not a directory"):
        emit.write_outputs(tmp_path / "f", cr)


def test_invalid_document_is_never_written(cr, tmp_path, monkeypatch):
    real = emit.schedule_document
    monkeypatch.setattr(emit, "schedule_document", lambda c: {**real(c), "schema": "nope"})
    with pytest.raises(MapcError):
        emit.write_outputs(tmp_path / "o", cr)
    assert list(tmp_path.iterdir()) == []


def test_fmt_si_and_summary(cr):
    assert report.fmt_si(0.0123, "s") == "12.3 ms"
    assert report.fmt_si(2.5e-6, "J") == "2.5 uJ"
    assert report.fmt_si(1500.0, "tokens/s") == "1.5 ktokens/s"
    assert report.fmt_si(float("inf"), "s") == "n/a"
    rows = dict(report.summary_rows(cr))
    assert rows["latency (makespan)"] == report.fmt_si(cr.metrics.makespan, "s")
    assert "makespan / bound" in rows["lower bound"]
    assert "handmade" in rows["solver"]


def test_print_summary_renders(cr):
    from rich.console import Console
    con = Console(file=io.StringIO(), width=120)
    report.print_summary(cr, con)
    out = con.file.getvalue()
    assert "EDP" in out and "utilisation" in out


def test_sampled_validation_checks_only_the_first_records(cr):
    doc = emit.schedule_document(cr)
    late = copy.deepcopy(doc)
    late["tasks"][5]["start"] = -1.0
    emit.validate_schedule_document(late, max_records=2)        # record 5 is outside the sample
    with pytest.raises(MapcError, match="tasks/5/start"):
        emit.validate_schedule_document(late)
    early = copy.deepcopy(doc)
    early["tasks"][1]["start"] = -1.0
    with pytest.raises(MapcError):
        emit.validate_schedule_document(early, max_records=2)


def test_output_dir_has_normal_permissions(cr, tmp_path):
    import os
    import stat
    emit.write_outputs(tmp_path / "o", cr, ("json", "trace", "csv"))
    um = os.umask(0)
    os.umask(um)
    assert stat.S_IMODE((tmp_path / "o").stat().st_mode) == 0o777 & ~um


def test_fmt_gap_never_rounds_a_nonzero_gap_to_zero():
    from mapc.compiler.report import fmt_gap
    assert [fmt_gap(g) for g in (0.0, 0.00025, 0.0049, 0.01, 0.1976)] == ["0%", "0.025%", "0.49%", "1.0%", "19.8%"]
