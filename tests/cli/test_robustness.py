"""Review: what a hostile user hits on the command line. Bad numbers, bad output paths (refused before any
solve, nothing written), atomic writes, Chrome trace events, Ctrl-C, time limits of the heuristic searches.

Nothing here asserts wall time, except the `benchmark` tests (not run by default)."""

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

from mapc import api, cli
from mapc.apps import compare
from mapc.compiler import emit, files
from mapc.compiler import problem as problem_module
from mapc.compiler.problem import Problem
from mapc.core.errors import MapcError
from mapc.core.options import MAX_SEED, GaOptions, ScarOptions, SolveOptions
from mapc.hw.cost import CostModel
from mapc.solvers import registry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples" / "arvr_mix.dsl")


def _no_solve(*_a, **_k):
    raise AssertionError("the solve must not start")


def _forbid_solving(monkeypatch):
    """Every command solves through `mapc.api.solve` (compile, compare, bench): make reaching it a failure."""
    monkeypatch.setattr(api, "solve", _no_solve)


@pytest.fixture(scope="module")
def problem():
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = chain_graph(layers=4, microbatches=3)
    return Problem(g, hw, CostModel(hw, g, group_sizes=(1, 2)))


@pytest.mark.parametrize("value", ["inf", "1e400", "nan", "-inf", "0", "-1"])
@pytest.mark.parametrize("command", [["compile", EXAMPLE, "--hw", "mcm6x6"], ["compare", EXAMPLE], ["bench"]])
def test_non_finite_or_non_positive_time_limit_is_a_usage_error(command, value, capsys, monkeypatch):
    _forbid_solving(monkeypatch)
    assert cli.main(command + [f"--time-limit={value}"]) == 2
    err = capsys.readouterr().err
    assert "--time-limit" in err and "finite number > 0" in err and "Traceback" not in err


@pytest.mark.parametrize("command", [["compare", EXAMPLE, "--seed", "-1"], ["bench", "--seed", "-1"],
                                     ["compare", EXAMPLE, "--threads", "0"], ["compare", EXAMPLE, "--segment", "0"]])
def test_compare_and_bench_share_the_compile_argument_checks(command, capsys, monkeypatch):
    _forbid_solving(monkeypatch)
    assert cli.main(command) == 2
    assert "usage: mapc" in capsys.readouterr().err


def test_output_path_that_is_a_file_is_refused_before_the_solve(tmp_path, capsys, monkeypatch):
    f = tmp_path / "taken"
    f.write_text("mine\n")
    _forbid_solving(monkeypatch)
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
    _forbid_solving(monkeypatch)
    assert cli.main(command + [str(f / "sub")]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err


def test_unwritable_output_directory_is_refused(tmp_path, capsys, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.geteuid() == 0:       # root writes anywhere: make the permission check see what a user would
        real_access = files.os.access
        monkeypatch.setattr(files.os, "access", lambda p, mode: Path(p) != ro and real_access(p, mode))
    _forbid_solving(monkeypatch)
    try:
        assert cli.main(["compile", EXAMPLE, "--hw", "mcm6x6", "-o", str(ro / "out")]) == 2
        assert "is not writable" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)


def test_check_output_dir_names_the_unwritable_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(files.os, "access", lambda p, mode: Path(p) != tmp_path)
    with pytest.raises(MapcError, match="is not writable"):
        files.check_output_dir(tmp_path / "a" / "b")
    monkeypatch.setattr(files.os, "access", lambda p, mode: True)
    assert files.check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"


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
        files.write_dir_atomic(target, build, ("a.txt",))
    assert (target / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and not files._PENDING


def test_write_dir_atomic_replaces_managed_files_removes_stale_ones_keeps_others(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    for name in ("a.txt", "pareto.csv", "mine.txt"):
        (target / name).write_text("old")
    paths = files.write_dir_atomic(target, lambda tmp: (tmp / "a.txt").write_text("new"),
                                   ("a.txt", "pareto.csv"))
    assert paths == [str(target / "a.txt")]
    assert (target / "a.txt").read_text() == "new" and (target / "mine.txt").read_text() == "old"
    assert not (target / "pareto.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_compare_rows_survive_a_crashing_solver(problem, monkeypatch):
    def broken(_p, _o):
        raise ZeroDivisionError("oops")

    monkeypatch.setitem(registry.SOLVERS, "broken", broken)
    rows = compare.compare(problem, ["broken", "greedy"], SolveOptions(time_limit=0.2))
    assert rows[0].status == "error" and "ZeroDivisionError: oops" in rows[0].message
    assert rows[1].status == "heuristic" and rows[1].edp_js > 0


# ---- trace.json ----------------------------------------------------------------------------------------------
def test_every_trace_event_has_ph_ts_pid_tid_and_complete_events_a_duration(problem, tmp_path):
    cr = api.solve(problem, SolveOptions(solver="greedy", time_limit=1))
    emit.write_outputs(tmp_path / "o", cr, ("json", "trace", "csv"))
    doc = json.loads((tmp_path / "o" / "trace.json").read_text())
    ev = doc["traceEvents"]
    assert ev and all({"ph", "ts", "pid", "tid", "name"} <= set(e) for e in ev)
    xs = [e for e in ev if e["ph"] == "X"]
    assert len([e for e in xs if e["pid"] == emit.PID_CHIPLETS]) >= problem.graph.n
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in xs)


# ---- time limits of the heuristic searches -----------------------------------------------------------------
# A planned (deterministic) search far longer than the time limit: a billion GA generations or SCAR moves.
TOO_LONG = {"ga": SolveOptions(solver="ga", time_limit=0.3, seed=0, ga=GaOptions(generations=10**9)),
            "scar": SolveOptions(solver="scar", time_limit=0.3, seed=0, scar=ScarOptions(moves=10**9))}


def _planned_and_done(r) -> tuple[int, int]:
    st = r.stats
    return (st.generation_cap, st.generations) if r.solver == "ga" else (st.move_cap, st.moves)


@pytest.mark.parametrize("solver", ["ga", "scar"])
def test_search_stops_at_the_time_limit_and_says_so(solver, problem):
    """A planned search that would run for hours is ended by the wall-time safety stop (1.5 x the budget),
    before its planned iterations, and the result says it was cut (no longer reproducible)."""
    r = registry.run(problem, TOO_LONG[solver])
    planned, done = _planned_and_done(r)
    assert planned == 10**9 and done < planned
    assert r.stats.deterministic is False and "stopped by the time limit" in r.message
    assert r.schedule is not None


@pytest.mark.benchmark
@pytest.mark.parametrize("solver", ["ga", "scar"])
def test_search_stops_near_the_time_limit(solver, problem):
    tl = TOO_LONG[solver].time_limit
    t = time.perf_counter()
    r = registry.run(problem, TOO_LONG[solver])
    wall = time.perf_counter() - t
    assert wall <= 1.5 * tl + 0.5, wall
    assert r.stats.deterministic is False


# ---- Ctrl-C --------------------------------------------------------------------------------------------------
def _interrupt(args, cwd, after):
    p = subprocess.Popen([sys.executable, "-m", "mapc.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(after)
    t = time.perf_counter()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    return p.returncode, time.perf_counter() - t, err.decode()


CPSAT_RUN = (["compile", str(ROOT / "examples" / "datacenter_mix.dsl"), "--hw", "mcm6x6", "--solver", "cpsat",
              "--time-limit", "60", "-o", "out"], 4.0)
GA_RUN = (["compile", str(ROOT / "examples" / "llama2_7b_chat.dsl"), "--hw", "mcm6x6", "--solver", "ga",
           "--time-limit", "60", "-o", "out"], 3.0)


@pytest.mark.slow
def test_ctrl_c_during_cpsat_exits_130_and_writes_nothing(tmp_path):
    """CP-SAT catches SIGINT itself and would return a schedule (exit 0, files written after its 60 s);
    mapc must still stop with 130, no files."""
    rc, _, err = _interrupt(CPSAT_RUN[0], tmp_path, CPSAT_RUN[1])
    assert rc == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_ctrl_c_during_ga_exits_130_and_writes_nothing(tmp_path):
    rc, _, err = _interrupt(GA_RUN[0], tmp_path, GA_RUN[1])
    assert rc == 130 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.benchmark
@pytest.mark.parametrize("run, limit", [(CPSAT_RUN, cli.INTERRUPT_GRACE_S + 3), (GA_RUN, 3.0)], ids=["cpsat", "ga"])
def test_ctrl_c_exits_promptly(tmp_path, run, limit):
    rc, dt, err = _interrupt(run[0], tmp_path, run[1])
    assert rc == 130 and dt < limit, (rc, dt, err)


# ---- schedule.json alone replays the schedule --------------------------------------------------------------
def test_schedule_json_alone_replays_the_schedule(tmp_path):
    """As a simulator would: every dep either shares the lead chiplet or has a transfer along a route of NoP
    links from the producer's lead to the consumer's lead; nothing starts before its inputs arrive; no two
    tasks overlap on a chiplet; every chiplet and link named exists in the hardware section."""
    cr = api.compile(EXAMPLE, "mcm6x6", SolveOptions(solver="greedy", time_limit=1), tmp_path / "o")
    doc = json.loads((tmp_path / "o" / "schedule.json").read_text())
    hw = doc["hardware"]
    chips = {c["id"] for c in hw["chiplets"]}
    links = {tuple(sorted(l)) for l in hw["nop"]["links"]}
    tasks = {t["id"]: t for t in doc["tasks"]}
    assert len(tasks) == cr.problem.graph.n
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
    monkeypatch.setattr(api, "solve", interrupted)
    assert cli.main(["compile", EXAMPLE, "--hw", "mcm6x6", "--json", "-o", str(tmp_path / "o")]) == 130
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["error"]["exit_code"] == 130 and not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", [["compile", EXAMPLE, "--hw", "mcm6x6", "-o", ""], ["compile", "", "--hw", "mcm6x6"],
                                     ["compile", EXAMPLE, "--hw", ""], ["check", ""], ["models", ""],
                                     ["compare", EXAMPLE, "-o", ""], ["bench", "--out", ""]])
def test_empty_path_arguments_are_usage_errors_not_the_current_directory(command, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    _forbid_solving(monkeypatch)
    assert cli.main(command) == 2
    assert "empty string" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["--seed", str(2**31)], ["--seed", "99999999999999999999"], ["--threads", "65"],
                                  ["--threads", "500"]])
@pytest.mark.parametrize("command", [["compile", EXAMPLE, "--hw", "mcm6x6"], ["compare", EXAMPLE]])
def test_seed_beyond_32_bits_and_absurd_thread_counts_are_usage_errors(command, args, capsys, monkeypatch):
    """CP-SAT takes a 32-bit seed (a larger one crashed it with a TypeError, exit 70)."""
    _forbid_solving(monkeypatch)
    assert cli.main(command + args) == 2
    assert "must be between" in capsys.readouterr().err


def test_largest_seed_reaches_cpsat(problem):
    r = registry.run(problem, SolveOptions(solver="cpsat", time_limit=0.5, seed=MAX_SEED, threads=1))
    assert r.schedule is not None


def test_out_of_memory_is_a_clear_input_error_not_an_internal_one(capsys, monkeypatch, tmp_path):
    def huge(*_a, **_k):
        raise MemoryError
    monkeypatch.setattr(api, "solve", huge)
    assert cli.main(["compile", EXAMPLE, "--hw", "mcm6x6", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "out of memory" in err and "--segment" in err and "internal error" not in err


def _huge_workloads(tmp_path):
    big = tmp_path / "big.dsl"          # (200,000 layers + 1) x 64 micro-batches = 12,800,064 tasks
    big.write_text("model big = transformer(layers=200000, hidden=64, heads=4, ffn=128, vocab=100)\n"
                   "workload w {\n  serve big\n  prefill batch=64 seq=16\n  microbatches 64\n}\n")
    wide = tmp_path / "wide.dsl"
    wide.write_text("workload w {\n  serve llama2_7b\n  prefill batch=1000000000000 seq=16\n}\n")
    return ((big, "the workload lowers to about 12,800,064 tasks, more than the 200,000 mapc schedules"),
            (wide, "batch 1000000000000 is more than the 1048576 requests per phase"))


def test_huge_workloads_are_refused_with_the_numbers(tmp_path, capsys, monkeypatch):
    """A batch or a task count far beyond what can be scheduled is refused with the numbers (exit 2), before
    anything is lowered, priced or solved."""
    _forbid_solving(monkeypatch)
    monkeypatch.setattr(problem_module, "lower", _no_solve)            # refused before the lowering starts
    for f, words in _huge_workloads(tmp_path):
        assert cli.main(["compile", str(f), "--hw", "mcm6x6", "-o", str(tmp_path / "out"), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err
        assert not (tmp_path / "out").exists()


@pytest.mark.benchmark
def test_huge_workloads_are_refused_quickly(tmp_path):
    for f, _ in _huge_workloads(tmp_path):
        t = time.perf_counter()
        assert cli.main(["compile", str(f), "--hw", "mcm6x6", "-o", str(tmp_path / "out"), "--quiet"]) == 2
        assert time.perf_counter() - t < 20
