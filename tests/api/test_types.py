"""The package is statically typed: mypy (configuration in pyproject.toml, `[tool.mypy]`) passes on `mapc`.

mypy walks a package's folders, and setuptools assembles `mapc` from top-level folders, so mypy runs on the
symlink tree of `test_architecture.package_tree` (the package laid out as installed). Functions without
annotations are not checked (mypy's default); every public function is annotated.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from test_architecture import ROOT, package_tree  # noqa: F401  (package_tree is a fixture)


def test_mypy_passes_on_the_package(package_tree: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                        "--cache-dir", str(package_tree / ".mypy_cache"), "-p", "mapc"],
                       cwd=package_tree, capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail(f"mypy found type errors (exit {r.returncode}):\n{r.stdout}{r.stderr}", pytrace=False)
