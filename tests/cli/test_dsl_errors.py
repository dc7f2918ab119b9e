"""The CLI on real source text: the product-card line verbatim, located errors (file:line:col, caret, exit 2,
nothing written), hardware from a file, `mapc check` on the examples."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from mapc import cli

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mapc.dsl.resolve") is None,
                                reason="mapc.dsl.resolve not written yet")

TINY = """\
model tiny = transformer(layers=2, hidden=256, heads=4, kv_heads=4, ffn=512, vocab=1000, dtype=fp16)
workload w {
  serve tiny
  prefill batch=2 seq=64
  decode batch=2 context=128
  microbatches 2
}
"""


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_product_card_line_verbatim(capsys, tmp_path, monkeypatch):
    """`mapc compile model.dsl --hw mcm6x6` writes ./model.schedule/ and prints its path."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(EX / "llama2_7b_chat.dsl", tmp_path / "model.dsl")
    code, out, err = run(capsys, "compile", "model.dsl", "--hw", "mcm6x6")
    assert code == 0, err
    d = tmp_path / "model.schedule"
    assert sorted(p.name for p in d.iterdir()) == ["gantt.png", "schedule.json", "tasks.csv", "trace.json"]
    assert str(d) in out
    doc = json.loads((d / "schedule.json").read_text())
    assert doc["workload"]["workload"] == "chat" and doc["hardware"]["name"] == "mcm6x6"


def test_any_extension(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.mapc.txt").write_text(TINY)
    code, out, _ = run(capsys, "compile", "tiny.mapc.txt", "--hw", "npu4x4", "-q")
    assert code == 0 and Path(out.strip()) == tmp_path / "tiny.mapc.schedule"


@pytest.mark.parametrize("text,where,words", [
    (TINY.replace("prefill batch", "prefil batch"), ":4:3:", "unknown keyword"),
    (TINY.replace("serve tiny", "serve huge"), ":3:", "huge"),
    (TINY.replace("heads=4, kv", "heads=3, kv"), ":1:", "heads"),
    (TINY + "hardware h {\n  grid 2 x 2\n  chiplet c { pes 8x8 dataflow ws freq 1 sram 1 MiB }\n}\n", ":10:", "unit"),
])
def test_bad_input_is_located_exit_2_nothing_written(capsys, tmp_path, monkeypatch, text, where, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.dsl").write_text(text)
    code, out, err = run(capsys, "compile", "bad.dsl", "--hw", "mcm6x6")
    assert code == 2
    first = err.splitlines()[0]
    assert first.startswith("bad.dsl" + where) and "error:" in first and words in err
    assert "^" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.dsl"]          # no output dir, no temp dir
    code, out, _ = run(capsys, "compile", "bad.dsl", "--hw", "mcm6x6", "--json")
    e = json.loads(out)["error"]
    assert code == 2 and e["file"] == "bad.dsl" and e["line"] == int(where.strip(":").split(":")[0])


def test_hardware_from_a_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.dsl").write_text(TINY)
    code, out, err = run(capsys, "compile", "tiny.dsl", "--hw", str(EX / "custom_hw.dsl"), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["hardware"] == "mcm4x4_hetero"


def test_hardware_block_in_the_file_is_the_default(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hw = (EX / "custom_hw.dsl").read_text()
    (tmp_path / "both.dsl").write_text(TINY + hw)
    code, out, err = run(capsys, "compile", "both.dsl", "--json")
    assert code == 0, err
    assert json.loads(out)["hardware"] == "mcm4x4_hetero"
    (tmp_path / "nohw.dsl").write_text(TINY)
    code, _, err = run(capsys, "compile", "nohw.dsl")
    assert code == 2 and "--hw" in err


@pytest.mark.parametrize("path", sorted(EX.glob("*.dsl")), ids=lambda p: p.stem)
def test_check_examples(capsys, path):
    code, out, err = run(capsys, "check", str(path), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["ok"] and (doc["tasks"] is None or doc["tasks"] > 0)


def test_non_utf8_source_names_line_and_column(tmp_path, capsys):
    """A Latin-1 byte is reported at its line and column (in characters), with the line and a UTF-8 hint;
    also when the bad file is imported."""
    bad = tmp_path / "latin1.dsl"
    bad.write_bytes(TINY.encode() + "# d\u00e9j\u00e0 vu\n".encode("utf-8") + "# caf\u00e9\n".encode("latin-1"))
    line = TINY.count("\n") + 2
    assert cli.main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"latin1.dsl:{line}:6: error: not UTF-8 text: byte 0xE9" in err
    assert "save the file as UTF-8" in err and "# caf" in err and "codec" not in err
    top = tmp_path / "top.dsl"
    top.write_text('import "latin1.dsl"\n')
    assert cli.main(["check", str(top), "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert (doc["error"]["line"], doc["error"]["col"]) == (line, 6) and doc["error"]["file"].endswith("latin1.dsl")


def test_an_onnx_model_given_as_the_source_says_how_to_import_it(tmp_path, capsys):
    """`mapc compile model.onnx` (a binary graph where a source file belongs): exit 2 with a hint that shows the
    `onnx(...)` import and `mapc models`, not the UTF-8 re-encoding advice."""
    bad = tmp_path / "net.onnx"
    bad.write_bytes(b"\x08\x07\x12\x0bpytorch1.13\x8d\x01\n")
    assert cli.main(["compile", str(bad), "--hw", "mcm6x6", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8 text" in err and 'onnx("' in err and "mapc models" in err and "iconv" not in err
    assert not (tmp_path / "out").exists()
