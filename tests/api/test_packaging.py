"""The built wheel is self-contained: it carries the examples, the grammar, the schema and LANGUAGE.md, and from
it (not from the repository) `mapc bench --quick -o DIR` writes a non-empty table and `mapc compile` runs a
bundled example. The wheel is built from a copy of the sources without network (setuptools from the test
extra) and unpacked (it is pure Python) onto PYTHONPATH, ahead of the editable install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "mapc", "core", "dsl", "hw", "compiler", "solvers", "examples")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(p, src / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(src)], check=True, capture_output=True, text=True)
    return next(out.glob("mapc-*.whl"))


def test_wheel_carries_examples_grammar_schema_and_language_reference(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for need in ("mapc/dsl/mapc.lark", "mapc/dsl/LANGUAGE.md", "mapc/compiler/schedule.schema.json",
                 "mapc/examples/llama2_7b_chat.dsl", "mapc/examples/requests.csv", "mapc/examples/hf_config.json",
                 "mapc/api.py", "mapc/core/options.py"):
        assert need in names, need


def test_installed_wheel_benches_and_compiles(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = lambda *args: subprocess.run([sys.executable, "-m", "mapc.cli", *args], cwd=tmp_path, env=env,
                                       capture_output=True, text=True, timeout=600)
    where = subprocess.run([sys.executable, "-c", "import mapc.api as a; print(a.__file__)"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site)), where
    r = run("bench", "--quick", "--time-limit", "0.2", "--solvers", "baseline,greedy", "-o", "bq")
    assert r.returncode == 0, r.stderr
    table = (tmp_path / "bq" / "results.md").read_text()
    assert "arvr_mix.dsl" in table and "| greedy |" in table
    example = site / "mapc" / "examples" / "arvr_mix.dsl"
    r = run("compile", str(example), "--hw", "mcm6x6", "-o", "c", "-q", "--time-limit", "1")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c" / "schedule.json").is_file()
