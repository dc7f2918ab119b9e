"""The `mapc` command line, run in-process through `main([...])`: exit codes, --json, error rendering, and the
pipeline under it (`mapc.api`, on hand-built problems here; on small real source files in the sections below)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import chain_graph, make_hw

from mapc import api, cli
from mapc.apps import commands
from mapc.compiler.check import check
from mapc.compiler.problem import MAX_TASKS, Problem, group_sizes_for
from mapc.core.errors import (DslError, HardwareError, InfeasibleError, InvalidScheduleError, Loc, MapcError,
                              NoSolutionError)
from mapc.core.options import DEFAULT_SOLVER, SolveOptions
from mapc.core.solution import SolveResult
from mapc.core.spec import ParallelSpec, Spec
from mapc.hw.cost import CostModel
from mapc.solvers import greedy, registry

EX = Path(__file__).resolve().parents[2] / "examples"


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---- parser, help, exit codes ------------------------------------------------------------------------------
def test_help_documents_exit_codes(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for c in ("exit codes", " 2 ", " 3 ", " 4 ", " 70 ", " 130 "):
        assert c in out


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("mapc ")


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["compile"], ["compile", "x.dsl", "--objective", "speed"],
                                  ["compile", "x.dsl", "--time-limit", "-1"], ["compile", "x.dsl", "--seed", "a"],
                                  ["compile", "x.dsl", "--threads", "0"]])
def test_usage_errors_exit_2(capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert "usage" in err
    assert "Traceback" not in err


def test_missing_input_exit_2_and_nothing_written(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "compile", "nope.dsl", "--hw", "mcm6x6")
    assert code == 2 and "no such file: nope.dsl" in err
    assert list(tmp_path.iterdir()) == []


def test_directory_input_exit_2(capsys, tmp_path):
    code, _, err = run(capsys, "check", str(tmp_path))
    assert code == 2 and "not a file" in err


def test_missing_input_json_error_document(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "compile", "nope.dsl", "--json")
    doc = json.loads(out)
    assert code == 2 and doc["ok"] is False and doc["error"]["exit_code"] == 2
    assert "no such file" in doc["error"]["message"]


def _raiser(exc):
    def f(args):
        raise exc
    return f


def _presets_raises(monkeypatch, exc):
    """Make `mapc presets` raise `exc` (the command's function replaced in the command table)."""
    table = tuple((name, help_, add, _raiser(exc) if name == "presets" else fn, desc)
                  for name, help_, add, fn, desc in commands.COMMANDS)
    monkeypatch.setattr(commands, "COMMANDS", table)


def test_mapc_error_renders_file_line_col(capsys, monkeypatch):
    e = DslError("unknown keyword 'modle'", Loc("m.dsl", 3, 5), hint="did you mean 'model'?",
                 source_line="    modle x = y")
    _presets_raises(monkeypatch, e)
    code, out, err = run(capsys, "presets")
    assert code == 2
    assert "m.dsl:3:5: error: unknown keyword 'modle'" in err
    assert "        ^" in err and "hint: did you mean 'model'?" in err


@pytest.mark.parametrize("exc,code", [(InfeasibleError("no room"), 3), (NoSolutionError("out of time"), 4),
                                      (HardwareError("bad hw"), 2), (KeyboardInterrupt(), 130)])
def test_exit_codes(capsys, monkeypatch, exc, code):
    _presets_raises(monkeypatch, exc)
    got, _, err = run(capsys, "presets")
    assert got == code
    assert "Traceback" not in err


def test_internal_error_is_70_without_traceback(capsys, monkeypatch):
    monkeypatch.delenv("MAPC_DEBUG", raising=False)
    _presets_raises(monkeypatch, ValueError("oops"))
    code, out, err = run(capsys, "presets", "--json")
    assert code == 70
    assert "internal error: ValueError: oops" in err and "please report" in err
    assert "Traceback" not in err
    assert json.loads(out)["ok"] is False


def test_internal_error_traceback_with_debug(capsys, monkeypatch):
    monkeypatch.setenv("MAPC_DEBUG", "1")
    _presets_raises(monkeypatch, ValueError("oops"))
    code, _, err = run(capsys, "presets")
    assert code == 70 and "Traceback" in err


# ---- presets -----------------------------------------------------------------------------------------------
def test_presets_json(capsys):
    code, out, _ = run(capsys, "presets", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"]
    names = [p["name"] for p in doc["presets"]]
    assert {"mcm6x6", "mcm6x6-homo", "npu4x4", "npu-pim", "wsc8x8"} <= set(names)
    mcm = doc["presets"][names.index("mcm6x6")]
    assert mcm["chiplets"] == 36


def test_presets_table(capsys):
    code, out, _ = run(capsys, "presets")
    assert code == 0 and "mcm6x6-homo" in out and "18ws+18os" in out


# ---- the pipeline on hand-built problems -------------------------------------------------------------------
def test_resolve_hardware():
    assert api.hardware("mcm6x6").n == 36
    with pytest.raises(HardwareError) as e:
        api.hardware("mcm6x7")
    assert "mcm6x6" in e.value.hint
    with pytest.raises(HardwareError, match="no hardware given"):
        api.hardware(None, None)
    with pytest.raises(HardwareError, match="not found"):
        api.hardware("hw/missing.dsl")


def test_resolve_hardware_spec_block():
    spec = Spec("s.dsl", {}, None, ParallelSpec(), hardware=make_hw(2, 2), hardware_blocks={"mine": make_hw(1, 2)})
    assert api.hardware(None, spec) is spec.hardware
    assert api.hardware("mine", spec).n == 2
    assert api.hardware("npu4x4", spec).n == 16      # a preset wins over the spec's own block


def test_group_sizes():
    def spec(tensor):
        return Spec("s.dsl", {}, None, ParallelSpec(tensor=tensor))
    hw = make_hw(2, 2)
    # the default sizes are always priced (the hardware's bound needs them); a fixed tensor is added to them and
    # then enforced by a placement mask (mapc.compiler.parallel)
    assert group_sizes_for(spec(4), hw) == (1, 2, 4)
    assert group_sizes_for(spec(1), hw) == (1, 2, 4)
    assert group_sizes_for(spec(None), hw) == (1, 2, 4)
    assert 3 in group_sizes_for(spec(3), make_hw(3, 3))
    with pytest.raises(HardwareError, match="tensor 8"):
        group_sizes_for(spec(8), hw)


def _problem():
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = chain_graph(4, 3, M=32, K=64, N=64)
    return Problem(g, hw, CostModel(hw, g, group_sizes=(1, 2)))


@pytest.mark.parametrize("solver", ["greedy", "baseline"])
def test_solve_checks_and_evaluates(solver):
    r = api.solve(_problem(), SolveOptions(solver=solver, time_limit=2.0))
    assert r.solution.solver == solver and r.solution.schedule is not None
    assert check(r.schedule, r.problem.cost) == []
    assert r.metrics.makespan == pytest.approx(r.schedule.makespan)
    assert r.metrics.edp == pytest.approx(r.metrics.energy * r.metrics.makespan)
    assert set(r.timings) >= {"solve", "check", "evaluate"}


def test_unknown_solver_is_input_error():
    with pytest.raises(MapcError, match="unknown solver 'gredy'") as e:
        api.solve(_problem(), SolveOptions(solver="gredy"))
    assert "greedy" in e.value.hint and e.value.exit_code == 2


def test_invalid_schedule_is_refused(monkeypatch):
    """A solver whose schedule breaks a dependency is caught by the checker; nothing is returned or written."""
    def broken(problem, options):
        r = greedy.solve(problem, options)
        s = r.schedule
        t = s.tasks
        shifted = replace(t[1], start=0.0, end=t[1].end - t[1].start)      # starts before its producer ends
        return replace(r, schedule=replace(s, tasks=(t[0], shifted) + t[2:]))
    monkeypatch.setitem(registry.SOLVERS, "greedy", broken)
    with pytest.raises(InvalidScheduleError) as e:
        api.solve(_problem(), SolveOptions(solver="greedy"))
    assert e.value.exit_code == 70 and "dependency" in str(e.value)


def test_no_schedule_maps_to_exit_codes(monkeypatch):
    for status, exc in (("infeasible", InfeasibleError), ("no_solution", NoSolutionError)):
        monkeypatch.setitem(registry.SOLVERS, "greedy", lambda p, o, s=status: SolveResult(None, s, None))
        with pytest.raises(exc):
            api.solve(_problem(), SolveOptions(solver="greedy"))


def test_default_out_dir_is_stem_in_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert api.default_out_dir("some/where/model.dsl") == tmp_path / "model.schedule"
    assert api.default_out_dir("chat.txt") == tmp_path / "chat.schedule"


# ---- models ------------------------------------------------------------------------------------------------
def test_models_json_zoo(capsys):
    code, out, _ = run(capsys, "models", "--json")
    doc = json.loads(out)
    assert code == 0
    by = {m["name"]: m for m in doc["models"]}
    # Llama-2-7B: 6.74 B parameters (Meta model card), FP16 weights 2 B each
    assert by["llama2_7b"]["params"] == pytest.approx(6.74e9, rel=0.01)
    assert by["llama2_7b"]["weight_bytes"] == pytest.approx(2 * by["llama2_7b"]["params"])
    assert any(m["kind"] == "cnn" for m in doc["models"])


def test_models_table(capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0 and "llama2_7b" in out and "6.74B" in out and "13.48 GB" in out


def test_models_hf_config(capsys, tmp_path):
    d = tmp_path / "tiny-llama"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({
        "model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 100, "torch_dtype": "bfloat16"}))
    code, out, _ = run(capsys, "models", str(d / "config.json"), "--json")
    assert code == 0
    (m,) = json.loads(out)["models"]
    assert m["name"] == "tiny-llama" and m["layers"] == 2 and m["kv_heads"] == 2
    assert m["weight_bytes"] == pytest.approx(2 * m["params"])


def test_models_hf_config_errors(capsys, tmp_path):
    code, _, err = run(capsys, "models", str(tmp_path / "missing.json"))
    assert code == 2 and "no such file" in err
    bad = tmp_path / "config.json"
    bad.write_text("{ not json")
    code, _, err = run(capsys, "models", str(bad))
    assert code == 2 and "invalid JSON" in err and "Traceback" not in err


# ---- compile end to end on a small source file (the examples are covered in tests/api/test_examples.py) ----
TINY = """\
model tiny = transformer(layers=4, hidden=256, heads=4, kv_heads=4, ffn=512, vocab=1000)
workload chat {
  serve tiny
  prefill batch=4 seq=[64, 128]
  decode batch=4 context=256 steps=2
  microbatches 2
}
"""

TEST2X2 = """\
hardware test2x2 {
  grid 2 x 2
  chiplet c { pes 8x8  dataflow ws  freq 1 GHz  sram 1 MiB }
  dram hbm { at west  bandwidth 64 GB/s  capacity 16 GiB }
}
"""


@pytest.fixture
def tiny_source(tmp_path, monkeypatch):
    """`model.dsl` (a tiny chat workload, no hardware block) in a fresh cwd."""
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "model.dsl"
    src.write_text(TINY)
    return src


def test_compile_default_out_dir_and_summary(capsys, tiny_source, tmp_path):
    code, out, err = run(capsys, "compile", "model.dsl", "--hw", "mcm6x6")
    assert code == 0, err
    out_dir = tmp_path / "model.schedule"
    assert sorted(p.name for p in out_dir.iterdir()) == ["gantt.png", "schedule.json", "tasks.csv", "trace.json"]
    assert str(out_dir) in out
    assert "EDP" in out and "makespan / bound" in out and "TTFT" in out and "TPOT" in out
    doc = json.loads((out_dir / "schedule.json").read_text())
    from mapc.compiler.emit import validate_schedule_document
    validate_schedule_document(doc)
    assert doc["hardware"]["name"] == "mcm6x6" and doc["solver"]["name"] == DEFAULT_SOLVER
    assert doc["input"]["file"] == "model.dsl" and len(doc["input"]["sha256"]) == 64
    assert len(doc["tasks"]) == doc["workload"]["tasks"] > 0


def test_compile_json_quiet_and_out(capsys, tiny_source, tmp_path):
    code, out, _ = run(capsys, "compile", "model.dsl", "--hw", "mcm6x6", "--solver", "baseline", "-o", "o1",
                       "--json", "--objective", "latency", "--seed", "3")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["output_dir"] == "o1"
    assert doc["solver"]["name"] == "baseline" and doc["solver"]["objective_name"] == "latency"
    assert doc["solver"]["seed"] == 3 and doc["metrics"]["makespan_s"] > 0
    assert doc["solver"]["objective"] == pytest.approx(doc["metrics"]["makespan_s"])
    code, out, _ = run(capsys, "compile", "model.dsl", "--hw", "mcm6x6", "-q", "-o", str(tmp_path / "o2"))
    assert code == 0 and out.strip() == str(tmp_path / "o2")


def test_compile_deterministic(capsys, tiny_source, tmp_path):
    for d in ("a", "b"):
        assert run(capsys, "compile", "model.dsl", "--hw", "mcm6x6", "-q", "-o", d)[0] == 0
    ta = json.loads((tmp_path / "a" / "schedule.json").read_text())
    tb = json.loads((tmp_path / "b" / "schedule.json").read_text())
    assert ta["tasks"] == tb["tasks"] and ta["transfers"] == tb["transfers"]


def test_compile_errors_write_nothing(capsys, tiny_source, tmp_path):
    code, _, err = run(capsys, "compile", "model.dsl", "--hw", "mcm6x7")
    assert code == 2 and "unknown hardware preset 'mcm6x7'" in err and "mcm6x6" in err
    code, _, err = run(capsys, "compile", "model.dsl")
    assert code == 2 and "no hardware given" in err and "--hw" in err
    code, _, err = run(capsys, "compile", "model.dsl", "--hw", "mcm6x6", "--solver", "nope")
    assert code == 2 and "unknown solver" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.dsl"]


def test_compile_uses_the_files_hardware_block(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.txt").write_text(TINY + TEST2X2)
    code, out, _ = run(capsys, "compile", "m.txt", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["hardware"] == "test2x2"
    assert doc["output_dir"] == str(tmp_path / "m.schedule")


def test_check_command(capsys, tiny_source):
    code, out, _ = run(capsys, "check", "model.dsl", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["workload"] == "chat" and doc["tasks"] > 0 and doc["hardware"] is None
    code, out, _ = run(capsys, "check", "model.dsl", "--hw", "npu4x4")
    assert code == 0 and out.startswith("ok: model.dsl") and "npu4x4" in out
    code, out, _ = run(capsys, "check", "model.dsl")
    assert code == 0 and out.startswith("ok: model.dsl") and "no hardware (pass --hw" in out


def test_compile_emit_writes_only_the_chosen_formats(capsys, tiny_source, tmp_path):
    code, out, err = run(capsys, "compile", "model.dsl", "--hw", "mcm6x6", "--emit", "json,csv", "--json")
    assert code == 0, err
    doc = json.loads(out)
    out_dir = tmp_path / "model.schedule"
    assert sorted(p.name for p in out_dir.iterdir()) == ["schedule.json", "tasks.csv"]
    assert sorted(Path(f).name for f in doc["files"]) == ["schedule.json", "tasks.csv"]
    code, _, err = run(capsys, "compile", "model.dsl", "--hw", "mcm6x6", "--emit", "json,pdf", "-o", "x")
    assert code == 2 and "unknown output format(s): pdf" in err and not (tmp_path / "x").exists()


# ---- `mapc check` gives the verdict `mapc compile` gives --------------------------------------------------
def _same_verdict(capsys, tmp_path, path, *hw):
    """(exit code, first line of stderr) of check and compile on `path`; compile writes nothing."""
    got = []
    for command in (["check", str(path), *hw], ["compile", str(path), *hw, "-o", str(tmp_path / "out")]):
        code, _, err = run(capsys, *command)
        got.append((code, err.splitlines()[0] if err else ""))
        assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
    return got


def test_check_refuses_a_workload_above_the_task_guard_like_compile(capsys, tmp_path):
    # Llama-2-7B (32 layers, segment 1): (32 + 1) x min(64 micro-batches, batch 64) x 100 steps = 211,200 tasks
    big = tmp_path / "big.dsl"
    big.write_text("workload w {\n  serve llama2_7b\n  decode batch=64 context=128 steps=100\n  microbatches 64\n}\n")
    assert 33 * 64 * 100 == 211_200 > MAX_TASKS
    (check_code, check_err), (compile_code, compile_err) = _same_verdict(capsys, tmp_path, big, "--hw", "mcm6x6")
    assert check_code == compile_code == 2
    assert check_err == compile_err
    assert "about 211,200 tasks" in check_err and f"{MAX_TASKS:,}" in check_err and check_err.startswith(str(big))
    code, _, err = run(capsys, "check", str(big))                # the guard needs no hardware
    assert code == 2 and err.splitlines()[0] == check_err


def test_check_refuses_a_tensor_degree_that_does_not_divide_the_heads_like_compile(capsys, tmp_path):
    t3 = tmp_path / "t3.dsl"
    t3.write_text("workload w {\n  serve llama2_7b\n  decode batch=8 context=128\n}\nparallel { tensor 3 }\n")
    (check_code, check_err), (compile_code, compile_err) = _same_verdict(capsys, tmp_path, t3, "--hw", "mcm6x6")
    assert check_code == compile_code == 2
    assert check_err == compile_err and "tensor 3 does not divide heads=32" in check_err
    code, out, _ = run(capsys, "check", str(t3))                 # without hardware there is nothing to check it against
    assert code == 0 and "no hardware" in out


# ---- review cleanups: one input loader, solver-name case, empty path, policy ----------------------------------
def test_wrong_case_solver_suggests_lower_case(capsys):
    code, _, err = run(capsys, "compile", str(EX / "arvr_mix.dsl"), "--hw", "mcm6x6", "--solver", "GA", "-o", "x")
    assert code == 2 and "did you mean 'ga'?" in err
    code, _, err = run(capsys, "compare", str(EX / "arvr_mix.dsl"), "--solvers", "GA,greedy")
    assert code == 2 and "'ga'" in err and "lower case" in err


def test_empty_source_path_has_a_clear_message():
    with pytest.raises(MapcError, match="no source file given"):
        api.load("")


def test_lower_validates_spec_with_hardware_check_without_skips_it():
    """The spec is validated against the hardware when there is one (`lower`, `check` with hardware); `check`
    without hardware skips those checks (and says so); `lower` without any hardware is an input error."""
    spec = api.load(TINY.replace("microbatches 2", "microbatches 2\n}\nparallel {\n  tensor 3"))
    with pytest.raises(DslError, match="tensor 3 does not divide heads=4"):
        api.lower(spec, "mcm6x6")
    with pytest.raises(DslError, match="tensor 3 does not divide heads=4"):
        api.check(spec, "mcm6x6")
    rep = api.check(spec)                                        # no hardware block, no hardware given
    assert rep.hardware is None and rep.tasks and rep.tasks > 0
    ok = api.load(EX / "arvr_mix.dsl")
    assert api.check(ok, "mcm6x6").hardware.name == "mcm6x6"
    with pytest.raises(HardwareError, match="no hardware given"):
        api.lower(ok)


def test_verify_lists_violations_with_check_report():
    from mapc.compiler import check as chk
    problem = _problem()
    s = api.solve(problem, SolveOptions(solver="baseline")).schedule
    bad = replace(s, tasks=tuple(replace(t, start=0.0, end=t.end - t.start) for t in s.tasks))   # all at t=0
    vs = chk.check(bad, problem.cost)
    assert len(vs) > chk.MAX_LISTED
    with pytest.raises(InvalidScheduleError) as e:
        api.verify(problem, bad)
    assert chk.report(vs) in e.value.message and f"... and {len(vs) - chk.MAX_LISTED} more" in e.value.message


def test_policy_command(tmp_path, capsys):
    code, out, _ = run(capsys, "policy", str(EX / "decode_pim.dsl"), "--hw", "npu-pim", "--widths", "1",
                       "--batches", "1..4", "--compare", "1", "--json", "-o", str(tmp_path / "p"))
    doc = json.loads(out)
    assert code == 0 and doc["command"] == "policy" and doc["policy"]["schema"] == "mapc.policy/1"
    assert (tmp_path / "p" / "policy.json").is_file() and doc["policy"]["widths"] == [1]
    code, _, err = run(capsys, "policy", str(EX / "decode_pim.dsl"), "--hw", "npu-pim", "--widths", "x")
    assert code == 2 and "expected integers" in err
    code, _, err = run(capsys, "policy", str(EX / "decode_pim.dsl"), "--hw", "nope")
    assert code == 2 and "Traceback" not in err


def test_models_zoo_name(capsys):
    """`mapc models NAME` describes one zoo model; a near miss names the close zoo names."""
    code, out, _ = run(capsys, "models", "mixtral_8x7b", "--json")
    doc = json.loads(out)
    assert code == 0 and [m["name"] for m in doc["models"]] == ["mixtral_8x7b"]
    assert doc["models"][0]["experts"] == 8 and doc["models"][0]["top_k"] == 2
    code, _, err = run(capsys, "models", "mixtral")
    assert code == 2 and "did you mean mixtral_8x7b" in err and "Traceback" not in err
