"""mapc.api, the one pipeline: the README's Python example runs; every stage agrees with the command line; the
same input gets the same verdict from `check`, `lower` and the commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mapc import api, cli
from mapc.core.errors import DslError, InfeasibleError, MapcError
from mapc.core.options import SolveOptions

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "the README shows a Python example"
    return blocks[0]


def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    code = readme_example()
    assert len(code.strip().splitlines()) <= 12
    monkeypatch.chdir(ROOT)
    code = code.replace('"out-api/"', repr(str(tmp_path / "out-api")))
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.count("x of bound") == 2
    doc = json.loads((tmp_path / "out-api" / "schedule.json").read_text())
    assert doc["schema"] == "mapc.schedule/1" and doc["solver"]["name"] == "scar"
    assert sorted(p.name for p in (tmp_path / "out-api").iterdir()) == ["schedule.json", "tasks.csv"]


def test_load_takes_text_or_a_path():
    text = "workload w { serve llama2_7b\n prefill batch=1 seq=128 }\n"
    a = api.load(text)
    assert a.workload.name == "w" and a.file == "<string>" and len(a.sha256) == 64
    b = api.load(ROOT / "examples" / "llama2_7b_chat.dsl")
    assert b.workload is not None and b.sha256 != a.sha256
    with pytest.raises(MapcError, match="no such file"):
        api.load("no/such/file.dsl")


def test_stages_compose_and_match_compile(tmp_path):
    spec = api.load(ROOT / "examples" / "arvr_mix.dsl")
    problem = api.lower(spec, "mcm6x6")
    opts = SolveOptions(solver="greedy", time_limit=1)
    r = api.solve(problem, opts)
    assert r.metrics.makespan == pytest.approx(api.evaluate(problem, r.schedule).makespan)
    api.verify(problem, r.schedule)
    c = api.compile(ROOT / "examples" / "arvr_mix.dsl", "mcm6x6", opts, tmp_path / "o")
    assert c.metrics.edp == pytest.approx(r.metrics.edp, rel=1e-12)
    assert {Path(f).name for f in c.files} == {"schedule.json", "trace.json", "tasks.csv", "gantt.png"}


def test_options_are_checked_before_solving():
    problem = api.lower(api.load(ROOT / "examples" / "arvr_mix.dsl"), "mcm6x6")
    for bad in (SolveOptions(solver="nope"), SolveOptions(time_limit=0), SolveOptions(threads=0),
                SolveOptions(seed=-1), SolveOptions(objective="fast")):   # type: ignore[arg-type]
        with pytest.raises(MapcError):
            api.solve(problem, bad)


def big(tmp_path: Path) -> Path:
    p = tmp_path / "big.dsl"
    p.write_text("workload w { serve llama2_7b\n decode batch=4096 context=128 steps=64\n microbatches 4096 }\n")
    return p


@pytest.mark.parametrize("case", ["task guard", "tensor 3", "weights"])
def test_every_command_gives_the_same_verdict(case, tmp_path, capsys):
    """The same input is refused by check, compile and policy with the same exit code."""
    if case == "task guard":
        path, code, words = big(tmp_path), 2, "tasks"
    elif case == "tensor 3":
        path = tmp_path / "t3.dsl"
        path.write_text("workload w { serve llama2_7b\n decode batch=8 context=128 }\nparallel { tensor 3 }\n")
        code, words = 2, "tensor 3"
    else:
        path = tmp_path / "w.dsl"
        path.write_text("workload w { serve llama2_70b\n decode batch=1 context=128 }\n")
        code, words = 3, "exceed"
    hw = "mcm6x6"
    if case == "weights":                 # a small package with PIM, so that `policy` reaches the memory check
        hw = str(tmp_path / "small.dsl")
        Path(hw).write_text("hardware small { grid 2 x 2  chiplet c { pes 8x8 dataflow ws freq 1 GHz sram 1 MiB }\n"
                            " dram d { at west bandwidth 64 GB/s capacity 8 GiB }\n"
                            " pim p { at east bandwidth 64 GB/s capacity 8 GiB } }\n")
    for command in (["check"], ["compile", "-o", str(tmp_path / "o")], ["policy", "-o", str(tmp_path / "p")]):
        rc = cli.main(command + [str(path), "--hw", hw])
        err = capsys.readouterr().err
        assert rc == code and words in err, (command, rc, err)
        assert not (tmp_path / "o").exists() and not (tmp_path / "p").exists()


def test_memory_overflow_is_one_check_exit_3(tmp_path):
    spec = api.load("workload w { serve llama2_70b\n decode batch=1 context=128 }\n")
    with pytest.raises(InfeasibleError, match="weights alone"):
        api.lower(spec, _tiny_hw(tmp_path))
    with pytest.raises(DslError):
        api.load("workload w { serve nomodel\n decode batch=1 context=1 }\n")


def _tiny_hw(tmp_path: Path):
    p = tmp_path / "tiny.dsl"
    p.write_text("hardware tiny { grid 1 x 1  chiplet c { pes 8x8 dataflow ws freq 1 GHz sram 1 MiB }\n"
                 " dram d { at west bandwidth 64 GB/s capacity 1 GiB } }\n")
    return api.hardware(str(p))
