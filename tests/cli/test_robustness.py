"""Review: what a hostile user hits on the command line. Bad numbers, bad output paths (refused before any
solve, nothing written), atomic writes, Chrome trace events, Ctrl-C, time limits of the heuristic searches."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import chain_graph, make_hw

from mapc import cli
from mapc.apps import compare, driver, emit
from mapc.core.errors import MapcError
from mapc.hw.cost import CostModel
from mapc.solvers.base import Budget, Problem

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples" / "arvr_mix.dsl")


def _no_solve(*_a, **_k):
    raise AssertionError("the solve must not start")


@pytest.fixture(scope="module")
def problem():
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = chain_graph(layers=4, microbatches=3)
    return Problem(g, hw, CostModel(hw, g, group_sizes=(1, 2)), "edp")


@pytest.mark.parametrize("value", ["inf", "1e400", "nan", "-inf", "0", "-1"])
@pytest.mark.parametrize("command", [["compile", EXAMPLE, "--hw", "mcm6x6"], ["compare", EXAMPLE], ["bench"]])
def test_non_finite_or_non_positive_time_limit_is_a_usage_error(command, value, capsys, monkeypatch):
    monkeypatch.setattr(driver, "compile_file", _no_solve)
    monkeypatch.setattr(compare, "compare", _no_solve)
    assert cli.main(command + [f"--time-limit={value}"]) == 2
    err = capsys.readouterr().err
    assert "--time-limit" in err and "finite number > 0" in err and "Traceback" not in err


@pytest.mark.parametrize("command", [["compare", EXAMPLE, "--seed", "-1"], ["bench", "--seed", "-1"],
                                     ["compare", EXAMPLE, "--threads", "0"], ["compare", EXAMPLE, "--segment", "0"]])
def test_compare_and_bench_share_the_compile_argument_checks(command, capsys, monkeypatch):
    monkeypatch.setattr(compare, "compare", _no_solve)
    assert cli.main(command) == 2
    assert "usage: mapc" in capsys.readouterr().err


def test_output_path_that_is_a_file_is_refused_before_the_solve(tmp_path, capsys, monkeypatch):
    f = tmp_path / "taken"
    f.write_text("mine\n")
    monkeypatch.setattr(driver, "compile_file", _no_solve)
    assert cli.main(["compile", EXAMPLE, "--hw", "mcm6x6", "-o", str(f)]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err
    assert cli.main(["compile", EXAMPLE, "--hw", "mcm6x6", "-o", str(f / "sub")]) == 2
    err = capsys.readouterr().err
    assert f"{f} is a file, not a directory" in err and "File exists" not in err
    assert f.read_text() == "mine\n" and sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


@pytest.mark.parametrize("command", [["compare", EXAMPLE, "-o"], ["bench", "--out"]])
def test_compare_and_bench_refuse_a_bad_output_path_before_running(command, tmp_path, capsys, monkeypatch):
    f = tmp_path / "taken"
    f.write_text("x")
    monkeypatch.setattr(compare, "compare", _no_solve)
    assert cli.main(command + [str(f / "sub")]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err


def test_unwritable_output_directory_is_refused(tmp_path, capsys, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:       # root writes anywhere: make the permission check see what a user would
        real_access = emit.os.access
        monkeypatch.setattr(emit.os, "access", lambda p, mode: Path(p) != ro and real_access(p, mode))
    monkeypatch.setattr(driver, "compile_file", _no_solve)
    try:
        assert cli.main(["compile", EXAMPLE, "--hw", "mcm6x6", "-o", str(ro / "out")]) == 2
        assert "is not writable" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)


def test_check_output_dir_names_the_unwritable_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(emit.os, "access", lambda p, mode: Path(p) != tmp_path)
    with pytest.raises(MapcError, match="is not writable"):
        emit.check_output_dir(tmp_path / "a" / "b")
    monkeypatch.setattr(emit.os, "access", lambda p, mode: True)
    assert emit.check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"


def test_models_missing_config_hint_speaks_of_config_json(capsys):
    assert cli.main(["models", "nonexistent.json"]) == 2
    err = capsys.readouterr().err
    assert "no such file: nonexistent.json" in err and "config.json" in err and "source file" not in err


# ---- atomic writes -------------------------------------------------------------------------------------------
def test_write_dir_atomic_failure_leaves_the_target_untouched(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "a.txt").write_text("old")

    def build(tmp):
        (tmp / "a.txt").write_text("new")
        raise MapcError("boom")

    with pytest.raises(MapcError, match="boom"):
        emit.write_dir_atomic(target, build, ("a.txt",))
    assert (target / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and not emit._PENDING


def test_write_dir_atomic_replaces_managed_files_removes_stale_ones_keeps_others(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    for name in ("a.txt", "pareto.csv", "mine.txt"):
        (target / name).write_text("old")
    paths = emit.write_dir_atomic(target, lambda tmp: (tmp / "a.txt").write_text("new"),
                                  ("a.txt", "pareto.csv"))
    assert paths == [str(target / "a.txt")]
    assert (target / "a.txt").read_text() == "new" and (target / "mine.txt").read_text() == "old"
    assert not (target / "pareto.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_compare_rows_survive_a_crashing_solver(problem, monkeypatch):
    from mapc.solvers import registry

    def broken(_p, _b):
        raise ZeroDivisionError("oops")

    monkeypatch.setitem(registry.SOLVERS, "broken", broken)
    rows = compare.compare(problem, ["broken", "greedy"], Budget(time_limit=0.2))
    assert rows[0].status == "error" and "ZeroDivisionError: oops" in rows[0].message
    assert rows[1].status == "heuristic" and rows[1].edp_js > 0


# ---- trace.json ----------------------------------------------------------------------------------------------
def test_every_trace_event_has_ph_ts_pid_tid_and_complete_events_a_duration(problem, tmp_path):
    cr = driver.compile_problem(problem, "greedy", Budget(time_limit=1))
    emit.write_outputs(tmp_path / "o", cr, gantt=False)
    doc = json.loads((tmp_path / "o" / "trace.json").read_text())
    ev = doc["traceEvents"]
    assert ev and all({"ph", "ts", "pid", "tid", "name"} <= set(e) for e in ev)
    xs = [e for e in ev if e["ph"] == "X"]
    assert len([e for e in xs if e["pid"] == emit.PID_CHIPLETS]) >= problem.graph.n
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in xs)


# ---- time limits of the heuristic searches -----------------------------------------------------------------
@pytest.mark.parametrize("solver", ["ga", "scar"])
def test_search_stops_near_the_time_limit_and_says_so(solver, problem, monkeypatch):
    """With the reference decode time set far too low, the planned (deterministic) search would run for
    minutes; the safety stop ends it by about 1.5 x the budget and the result says it was cut."""
    from mapc.solvers import ga, registry, scar
    monkeypatch.setattr(ga, "REF_TASK_S", 1e-12)
    monkeypatch.setattr(ga, "REF_GENOME_S", 1e-12)
    monkeypatch.setattr(scar, "REF_TASK_S", 1e-12)
    monkeypatch.setattr(scar, "REF_GENOME_S", 1e-12)
    tl = 0.6
    t = time.perf_counter()
    r = registry.run(solver, problem, Budget(time_limit=tl, seed=0))
    wall = time.perf_counter() - t
    assert wall <= 1.5 * tl + 0.5, wall
    assert r.stats["deterministic"] is False and "stopped by the time limit" in r.message


# ---- Ctrl-C --------------------------------------------------------------------------------------------------
def _interrupt(args, cwd, after):
    p = subprocess.Popen([sys.executable, "-m", "mapc.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(after)
    t = time.perf_counter()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    return p.returncode, time.perf_counter() - t, err.decode()


@pytest.mark.slow
def test_ctrl_c_during_cpsat_exits_130_promptly_and_writes_nothing(tmp_path):
    """CP-SAT catches SIGINT itself and would return a schedule; mapc must still stop with 130, no files."""
    rc, dt, err = _interrupt(["compile", str(ROOT / "examples" / "datacenter_mix.dsl"), "--hw", "mcm6x6",
                              "--solver", "cpsat", "--time-limit", "60", "-o", "out"], tmp_path, 4.0)
    assert rc == 130, err
    assert dt < cli.INTERRUPT_GRACE_S + 3 and "interrupted" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_ctrl_c_during_ga_exits_130_and_writes_nothing(tmp_path):
    rc, dt, err = _interrupt(["compile", str(ROOT / "examples" / "llama2_7b_chat.dsl"), "--hw", "mcm6x6",
                              "--solver", "ga", "--time-limit", "60", "-o", "out"], tmp_path, 3.0)
    assert rc == 130 and dt < 3 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


# ---- schedule.json alone replays the schedule --------------------------------------------------------------
def test_schedule_json_alone_replays_the_schedule(tmp_path):
    """As a simulator would: every dep either shares the lead chiplet or has a transfer along a route of NoP
    links from the producer's lead to the consumer's lead; nothing starts before its inputs arrive; no two
    tasks overlap on a chiplet; every chiplet and link named exists in the hardware section."""
    cr = driver.compile_file(EXAMPLE, "mcm6x6", "greedy", Budget(time_limit=1), out_dir=tmp_path / "o")
    doc = json.loads((tmp_path / "o" / "schedule.json").read_text())
    hw = doc["hardware"]
    chips = {c["id"] for c in hw["chiplets"]}
    links = {tuple(sorted(l)) for l in hw["nop"]["links"]}
    tasks = {t["id"]: t for t in doc["tasks"]}
    assert len(tasks) == cr.graph.n
    xfer = {(x["src_task"], x["dst_task"]): x for x in doc["transfers"]}
    eps = 1e-12
    for t in tasks.values():
        assert set(t["chiplets"]) <= chips and t["end"] >= t["start"] >= 0
        for d in t["deps"]:
            p = tasks[d]
            x = xfer.get((d, t["id"]))
            if x is None:
                assert p["chiplets"][0] == t["chiplets"][0], (d, t["id"])
                assert t["start"] >= p["end"] - eps
                continue
            assert x["route"][0] == p["chiplets"][0] == x["src_chiplet"]
            assert x["route"][-1] == t["chiplets"][0] == x["dst_chiplet"]
            assert all(tuple(sorted(h)) in links for h in zip(x["route"], x["route"][1:]))
            assert x["start"] >= p["end"] - eps and t["start"] >= x["end"] - eps and x["bytes"] > 0
    busy: dict[int, list] = {}
    for t in tasks.values():
        for c in t["chiplets"]:
            busy.setdefault(c, []).append((t["start"], t["end"]))
    for iv in busy.values():
        iv.sort()
        assert all(b[0] >= a[1] - eps for a, b in zip(iv, iv[1:]))
    assert set(doc["units"]) >= {"time", "energy", "bytes"} and doc["units"]["time"] == "s"


def test_interrupt_with_json_prints_one_json_document(capsys, monkeypatch, tmp_path):
    def interrupted(*_a, **_k):
        raise KeyboardInterrupt
    monkeypatch.setattr(driver, "compile_file", interrupted)
    assert cli.main(["compile", EXAMPLE, "--hw", "mcm6x6", "--json", "-o", str(tmp_path / "o")]) == 130
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["error"]["exit_code"] == 130 and not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", [["compile", EXAMPLE, "--hw", "mcm6x6", "-o", ""], ["compile", "", "--hw", "mcm6x6"],
                                     ["compile", EXAMPLE, "--hw", ""], ["check", ""], ["models", ""],
                                     ["compare", EXAMPLE, "-o", ""], ["bench", "--out", ""]])
def test_empty_path_arguments_are_usage_errors_not_the_current_directory(command, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(driver, "compile_file", _no_solve)
    monkeypatch.setattr(compare, "compare", _no_solve)
    assert cli.main(command) == 2
    assert "empty string" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["--seed", str(2**31)], ["--seed", "99999999999999999999"], ["--threads", "65"],
                                  ["--threads", "500"]])
@pytest.mark.parametrize("command", [["compile", EXAMPLE, "--hw", "mcm6x6"], ["compare", EXAMPLE]])
def test_seed_beyond_32_bits_and_absurd_thread_counts_are_usage_errors(command, args, capsys, monkeypatch):
    """CP-SAT takes a 32-bit seed (a larger one crashed it with a TypeError, exit 70)."""
    monkeypatch.setattr(driver, "compile_file", _no_solve)
    monkeypatch.setattr(compare, "compare", _no_solve)
    assert cli.main(command + args) == 2
    assert "must be between" in capsys.readouterr().err


def test_largest_seed_reaches_cpsat(problem):
    from mapc.solvers import registry
    r = registry.run("cpsat", problem, Budget(time_limit=0.5, seed=cli.MAX_SEED, threads=1))
    assert r.schedule is not None


def test_out_of_memory_is_a_clear_input_error_not_an_internal_one(capsys, monkeypatch, tmp_path):
    def huge(*_a, **_k):
        raise MemoryError
    monkeypatch.setattr(driver, "compile_file", huge)
    assert cli.main(["compile", EXAMPLE, "--hw", "mcm6x6", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "out of memory" in err and "--segment" in err and "internal error" not in err


def test_huge_workloads_are_refused_quickly(tmp_path):
    """A batch or a task count far beyond what can be scheduled is refused with the numbers (exit 2), not hung on."""
    import time
    from mapc.cli import main
    big = tmp_path / "big.dsl"
    big.write_text("model big = transformer(layers=200000, hidden=64, heads=4, ffn=128, vocab=100)\n"
                   "workload w {\n  serve big\n  prefill batch=64 seq=16\n  microbatches 64\n}\n")
    wide = tmp_path / "wide.dsl"
    wide.write_text("workload w {\n  serve llama2_7b\n  prefill batch=1000000000000 seq=16\n}\n")
    for f in (big, wide):
        t = time.perf_counter()
        assert main(["compile", str(f), "--hw", "mcm6x6", "-o", str(tmp_path / "out"), "--quiet"]) == 2
        assert time.perf_counter() - t < 20
        assert not (tmp_path / "out").exists()
