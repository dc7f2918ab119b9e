"""The `mapc` command line, run in-process through `main([...])`: exit codes, --json, error rendering, and the
compile driver (on hand-built problems here; on real source files in the DSL section below)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from conftest import chain_graph, make_hw

from mapc import cli
from mapc.compiler import driver
from mapc.compiler.check import check
from mapc.core.errors import DslError, HardwareError, InfeasibleError, Loc, MapcError, NoSolutionError
from mapc.hw.cost import CostModel
from mapc.solvers.base import Budget, Problem


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


def test_mapc_error_renders_file_line_col(capsys, monkeypatch):
    e = DslError("unknown keyword 'modle'", Loc("m.dsl", 3, 5), hint="did you mean 'model'?",
                 source_line="    modle x = y")
    monkeypatch.setattr(cli, "cmd_presets", _raiser(e))
    code, out, err = run(capsys, "presets")
    assert code == 2
    assert "m.dsl:3:5: error: unknown keyword 'modle'" in err
    assert "        ^" in err and "hint: did you mean 'model'?" in err


@pytest.mark.parametrize("exc,code", [(InfeasibleError("no room"), 3), (NoSolutionError("out of time"), 4),
                                      (HardwareError("bad hw"), 2), (KeyboardInterrupt(), 130)])
def test_exit_codes(capsys, monkeypatch, exc, code):
    monkeypatch.setattr(cli, "cmd_presets", _raiser(exc))
    got, _, err = run(capsys, "presets")
    assert got == code
    assert "Traceback" not in err


def test_internal_error_is_70_without_traceback(capsys, monkeypatch):
    monkeypatch.delenv("MAPC_DEBUG", raising=False)
    monkeypatch.setattr(cli, "cmd_presets", _raiser(ValueError("oops")))
    code, out, err = run(capsys, "presets", "--json")
    assert code == 70
    assert "internal error: ValueError: oops" in err and "please report" in err
    assert "Traceback" not in err
    assert json.loads(out)["ok"] is False


def test_internal_error_traceback_with_debug(capsys, monkeypatch):
    monkeypatch.setenv("MAPC_DEBUG", "1")
    monkeypatch.setattr(cli, "cmd_presets", _raiser(ValueError("oops")))
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


# ---- driver on hand-built problems -------------------------------------------------------------------------
def test_resolve_hardware():
    assert driver.resolve_hardware("mcm6x6").n == 36
    with pytest.raises(HardwareError) as e:
        driver.resolve_hardware("mcm6x7")
    assert "mcm6x6" in e.value.hint
    with pytest.raises(HardwareError, match="no hardware given"):
        driver.resolve_hardware(None, None)
    with pytest.raises(HardwareError, match="not found"):
        driver.resolve_hardware("hw/missing.dsl")


def test_resolve_hardware_spec_block():
    class S:
        hardware = make_hw(2, 2)
        hardware_blocks = {"mine": make_hw(1, 2)}
    assert driver.resolve_hardware(None, S()) is S.hardware
    assert driver.resolve_hardware("mine", S()).n == 2
    assert driver.resolve_hardware("npu4x4", S()).n == 16      # a preset wins over the spec's own block


def test_group_sizes():
    class P:
        tensor = 4
        loc = None
    class S:
        parallel = P()
    hw = make_hw(2, 2)
    assert driver.group_sizes_for(S(), hw) == (1, 4)
    P.tensor = 1
    assert driver.group_sizes_for(S(), hw) == (1, 2, 4)
    P.tensor = 8
    with pytest.raises(HardwareError, match="tensor 8"):
        driver.group_sizes_for(S(), hw)


def _problem(objective="edp"):
    hw = make_hw(2, 2, ["ws", "os", "os", "ws"])
    g = chain_graph(4, 3, M=32, K=64, N=64)
    return Problem(g, hw, CostModel(hw, g, group_sizes=(1, 2)), objective)


@pytest.mark.parametrize("solver", ["greedy", "baseline"])
def test_compile_problem_checks_and_evaluates(solver):
    cr = driver.compile_problem(_problem(), solver, Budget(time_limit=2.0))
    assert cr.result.solver == solver and cr.result.schedule is not None
    assert check(cr.result.schedule, cr.cost) == []
    assert cr.metrics.makespan == pytest.approx(cr.result.schedule.makespan)
    assert cr.metrics.edp == pytest.approx(cr.metrics.energy * cr.metrics.makespan)
    assert set(cr.timings) >= {"solve", "check", "evaluate"}


def test_unknown_solver_is_input_error():
    with pytest.raises(MapcError, match="unknown solver 'gredy'") as e:
        driver.solve(_problem(), "gredy", Budget())
    assert "greedy" in e.value.hint and e.value.exit_code == 2


def test_invalid_schedule_is_refused(monkeypatch):
    """A solver whose schedule breaks a dependency is caught by the checker; nothing is returned or written."""
    from mapc.solvers import registry
    real = registry.run

    def broken(name, problem, budget):
        r = real(name, problem, budget)
        s = r.schedule
        t = s.tasks
        shifted = replace(t[1], start=0.0, end=t[1].end - t[1].start)      # starts before its producer ends
        return replace(r, schedule=replace(s, tasks=(t[0], shifted) + t[2:]))
    monkeypatch.setattr(registry, "run", broken)
    with pytest.raises(driver.InvalidScheduleError) as e:
        driver.compile_problem(_problem(), "greedy", Budget())
    assert e.value.exit_code == 70 and "dependency" in str(e.value)


def test_no_schedule_maps_to_exit_codes(monkeypatch):
    from mapc.solvers import registry
    for status, exc in (("infeasible", InfeasibleError), ("no_solution", NoSolutionError)):
        monkeypatch.setattr(registry, "run", lambda n, p, b, s=status: replace(
            registry.SolveResult(None, s, None), solver=n))
        with pytest.raises(exc):
            driver.solve(_problem(), "greedy", Budget())


def test_default_out_dir_is_stem_in_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert driver.default_out_dir("some/where/model.dsl") == tmp_path / "model.schedule"
    assert driver.default_out_dir("chat.txt") == tmp_path / "chat.schedule"


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


# ---- compile end to end on an in-memory Spec (the DSL text path is covered in test_examples) -------------
def tiny_spec(file="model.dsl", hardware=None):
    from mapc.core.spec import ParallelSpec, PhaseSpec, ServeSpec, Spec, TransformerModel, WorkloadSpec
    m = TransformerModel("tiny", layers=4, hidden=256, heads=4, kv_heads=4, ffn=512, vocab=1000)
    wl = WorkloadSpec("chat", (ServeSpec("tiny", (PhaseSpec("prefill", 4, (64, 128)),
                                                  PhaseSpec("decode", 4, (256,), steps=2)), microbatches=2),))
    return Spec(file, {"tiny": m}, wl, ParallelSpec(), hardware)


@pytest.fixture
def fake_source(tmp_path, monkeypatch):
    """`model.dsl` in a fresh cwd whose Spec is built in Python (load_spec patched)."""
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "model.dsl"
    src.write_text("# tiny chat workload (spec built in the test)\n")
    monkeypatch.setattr(driver, "load_spec", lambda path: tiny_spec(str(path)))
    return src


def test_compile_default_out_dir_and_summary(capsys, fake_source, tmp_path):
    code, out, err = run(capsys, "compile", "model.dsl", "--hw", "mcm6x6")
    assert code == 0, err
    out_dir = tmp_path / "model.schedule"
    assert sorted(p.name for p in out_dir.iterdir()) == ["gantt.png", "schedule.json", "tasks.csv", "trace.json"]
    assert str(out_dir) in out
    assert "EDP" in out and "makespan / bound" in out and "TTFT" in out and "TPOT" in out
    doc = json.loads((out_dir / "schedule.json").read_text())
    from mapc.compiler.emit import validate_schedule_document
    validate_schedule_document(doc)
    assert doc["hardware"]["name"] == "mcm6x6" and doc["solver"]["name"] == driver.DEFAULT_SOLVER
    assert doc["input"]["file"] == "model.dsl" and len(doc["input"]["sha256"]) == 64
    assert len(doc["tasks"]) == doc["workload"]["tasks"] > 0


def test_compile_json_quiet_and_out(capsys, fake_source, tmp_path):
    code, out, _ = run(capsys, "compile", "model.dsl", "--hw", "mcm6x6", "--solver", "baseline", "-o", "o1",
                       "--json", "--objective", "latency", "--seed", "3")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["output_dir"] == "o1"
    assert doc["solver"]["name"] == "baseline" and doc["solver"]["objective_name"] == "latency"
    assert doc["solver"]["seed"] == 3 and doc["metrics"]["makespan_s"] > 0
    assert doc["solver"]["objective"] == pytest.approx(doc["metrics"]["makespan_s"])
    code, out, _ = run(capsys, "compile", "model.dsl", "--hw", "mcm6x6", "-q", "-o", str(tmp_path / "o2"))
    assert code == 0 and out.strip() == str(tmp_path / "o2")


def test_compile_deterministic(capsys, fake_source, tmp_path):
    for d in ("a", "b"):
        assert run(capsys, "compile", "model.dsl", "--hw", "mcm6x6", "-q", "-o", d)[0] == 0
    ta = json.loads((tmp_path / "a" / "schedule.json").read_text())
    tb = json.loads((tmp_path / "b" / "schedule.json").read_text())
    assert ta["tasks"] == tb["tasks"] and ta["transfers"] == tb["transfers"]


def test_compile_errors_write_nothing(capsys, fake_source, tmp_path):
    code, _, err = run(capsys, "compile", "model.dsl", "--hw", "mcm6x7")
    assert code == 2 and "unknown hardware preset 'mcm6x7'" in err and "mcm6x6" in err
    code, _, err = run(capsys, "compile", "model.dsl")
    assert code == 2 and "no hardware given" in err and "--hw" in err
    code, _, err = run(capsys, "compile", "model.dsl", "--hw", "mcm6x6", "--solver", "nope")
    assert code == 2 and "unknown solver" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.dsl"]


def test_compile_uses_the_files_hardware_block(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.txt").write_text("x\n")
    monkeypatch.setattr(driver, "load_spec", lambda path: tiny_spec(str(path), make_hw(2, 2)))
    code, out, _ = run(capsys, "compile", "m.txt", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["hardware"] == "test2x2"
    assert doc["output_dir"] == str(tmp_path / "m.schedule")


def test_check_command(capsys, fake_source):
    code, out, _ = run(capsys, "check", "model.dsl", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["workload"] == "chat" and doc["tasks"] > 0 and doc["hardware"] is None
    code, out, _ = run(capsys, "check", "model.dsl", "--hw", "npu4x4")
    assert code == 0 and out.startswith("ok: model.dsl") and "npu4x4" in out


# ---- review cleanups: one input loader, solver-name case, empty path, policy ----------------------------------
from pathlib import Path as _Path

_EX = _Path(__file__).resolve().parent.parent / "examples"


def test_wrong_case_solver_suggests_lower_case(capsys):
    code, _, err = run(capsys, "compile", str(_EX / "arvr_mix.dsl"), "--hw", "mcm6x6", "--solver", "GA", "-o", "x")
    assert code == 2 and "did you mean 'ga'?" in err
    code, _, err = run(capsys, "compare", str(_EX / "arvr_mix.dsl"), "--solvers", "GA,greedy")
    assert code == 2 and "'ga'" in err and "lower case" in err


def test_empty_source_path_has_a_clear_message():
    with pytest.raises(MapcError, match="no source file given"):
        driver.load_spec("")


def test_load_inputs_validates_spec_with_hardware(monkeypatch):
    calls = []
    monkeypatch.setattr(driver, "_validator", lambda: lambda spec, hw: calls.append((spec.file, hw.name)))
    spec, hw = driver.load_inputs(_EX / "arvr_mix.dsl", "mcm6x6")
    assert hw.name == "mcm6x6" and calls == [(spec.file, "mcm6x6")]
    spec, hw = driver.load_inputs(_EX / "arvr_mix.dsl", None, required=False)   # no hardware block, no --hw
    assert hw is None and len(calls) == 1
    with pytest.raises(HardwareError, match="no hardware given"):
        driver.load_inputs(_EX / "arvr_mix.dsl", None)


def test_verify_lists_violations_with_check_report(monkeypatch):
    from mapc.compiler import check as chk
    vs = [chk.Violation("overlap", f"v{i}", (i,)) for i in range(chk.MAX_LISTED + 3)]
    monkeypatch.setattr(chk, "check", lambda s, c: vs)
    with pytest.raises(driver.InvalidScheduleError) as e:
        driver.verify(None, None)
    assert chk.report(vs) in e.value.message and "... and 3 more" in e.value.message


def test_policy_command(tmp_path, capsys):
    code, out, _ = run(capsys, "policy", str(_EX / "decode_pim.dsl"), "--hw", "npu-pim", "--widths", "1",
                       "--batches", "1..4", "--compare", "1", "--json", "-o", str(tmp_path / "p"))
    doc = json.loads(out)
    assert code == 0 and doc["command"] == "policy" and doc["policy"]["schema"] == "mapc.policy/1"
    assert (tmp_path / "p" / "policy.json").is_file() and doc["policy"]["widths"] == [1]
    code, _, err = run(capsys, "policy", str(_EX / "decode_pim.dsl"), "--hw", "npu-pim", "--widths", "x")
    assert code == 2 and "expected integers" in err
    code, _, err = run(capsys, "policy", str(_EX / "decode_pim.dsl"), "--hw", "nope")
    assert code == 2 and "Traceback" not in err
