"""The package's shape, checked: layers import only downward (import-linter contracts in pyproject.toml), no
import cycle between modules, imports inside functions only for the few heavy optional dependencies, no module
over 500 lines, and mypy clean (config in pyproject.toml).

setuptools maps the top-level folders (core/, dsl/, hw/, compiler/, solvers/) into the package `mapc`; tools that
walk a package's folder (grimp, mypy) need that layout on disk, so `package_tree` builds it from symlinks.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = {"": "mapc", "core": "core", "dsl": "dsl", "hw": "hw", "compiler": "compiler", "solvers": "solvers"}
MAX_LINES = 500
MAX_FUNCTION_IMPORTS = 10


def package_files() -> list[Path]:
    """Every .py file of the installed package `mapc`, from the repository folders."""
    out = []
    for sub, folder in PACKAGE_DIRS.items():
        out += sorted((ROOT / folder).rglob("*.py"))
    return out


@pytest.fixture(scope="module")
def package_tree(tmp_path_factory) -> Path:
    """A folder holding `mapc/` laid out as installed (symlinks to the repository folders)."""
    top = tmp_path_factory.mktemp("tree")
    pkg = top / "mapc"
    pkg.mkdir()
    for f in (ROOT / "mapc").iterdir():
        if f.name != "__pycache__":
            (pkg / f.name).symlink_to(f)
    for sub in ("core", "dsl", "hw", "compiler", "solvers", "examples"):
        (pkg / sub).symlink_to(ROOT / sub)
    return top


def _env(tree: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(tree)}


def test_layers_import_only_downward(package_tree):
    r = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--no-logo",
                        str(ROOT / "pyproject.toml")], cwd=package_tree, env=_env(package_tree),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "broken" not in r.stdout.split("Contracts:")[-1] or "0 broken" in r.stdout


def test_no_import_cycles(package_tree):
    code = ("import grimp, json; g = grimp.build_graph('mapc', include_external_packages=False); "
            "print(json.dumps([[m, sorted(g.find_modules_directly_imported_by(m))] for m in g.modules]))")
    r = subprocess.run([sys.executable, "-c", code], env=_env(package_tree), capture_output=True, text=True,
                       check=True)
    import json
    dg = nx.DiGraph()
    for m, deps in json.loads(r.stdout):
        dg.add_node(m)
        dg.add_edges_from((m, d) for d in deps if d != "mapc")
    cycles = list(nx.simple_cycles(dg))
    assert not cycles, f"import cycles: {cycles[:5]}"


def _function_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    out += [(node.lineno, a.name) for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def test_imports_inside_functions_only_for_heavy_optional_dependencies():
    found = [(str(p.relative_to(ROOT)), line, mod) for p in package_files() for line, mod in _function_imports(p)]
    assert len(found) <= MAX_FUNCTION_IMPORTS, found
    heavy = ("matplotlib", "mapc.solvers.cpsat", "ortools", "onnx", "yaml", "optuna", "dask", "distributed",
             "perfetto", "chakra", "google.protobuf",
             "mapc.apps.commands")   # the CLI imports the commands (and NumPy) only after it blocks Ctrl-C
    assert all(mod.startswith(heavy) for _, _, mod in found), found


def test_no_module_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in package_files()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_the_contracts_are_really_checked(package_tree, tmp_path):
    """A deliberate upward import (core importing the api) is reported as a broken contract."""
    bad = package_tree / "bad"
    if not bad.exists():
        bad.mkdir()
        pkg = bad / "mapc"
        pkg.mkdir()
        for f in (package_tree / "mapc").iterdir():
            if f.name != "core":
                (pkg / f.name).symlink_to(f.resolve())
        core = pkg / "core"
        core.mkdir()
        for f in (ROOT / "core").glob("*.py"):
            (core / f.name).symlink_to(f)
        (core / "zz_upward.py").write_text("from mapc import api\n")
    r = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache", "--no-logo",
                        str(ROOT / "pyproject.toml")], cwd=bad, env=_env(bad), capture_output=True, text=True)
    assert r.returncode != 0 and "mapc.core.zz_upward" in r.stdout
