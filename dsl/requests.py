"""Request mixes: per-request lengths from a CSV file or drawn from a distribution (deterministic given seed).

CSV format: one request per row, `prompt_len,output_len` (integers >= 1). A first row whose fields are not
numbers is a header and skipped; blank lines and lines starting with `#` are ignored. Any other bad row raises
a `DslError` located at the CSV's own file:line:col, with the row and a caret.

Distributions for a range `a..b` (`dist=uniform|normal`, `seed=N`): uniform integers in [a, b]; normal with
mean (a + b) / 2 and standard deviation (b - a) / 6 (so +-3 sigma spans the range), rounded and clipped to
[a, b]. NumPy's PCG64 generator seeded with `seed` makes the draw reproducible.
"""

from __future__ import annotations

import os

import numpy as np

from mapc.dsl.parser import error_at
from mapc.core.errors import Loc

DISTRIBUTIONS = ("even", "uniform", "normal")


def sample_lengths(dist: str, a: int, b: int, n: int, seed: int) -> tuple[int, ...]:
    """n lengths in [a, b] drawn from `dist` (uniform | normal) with `seed`."""
    rng = np.random.default_rng(seed)
    if dist == "uniform":
        x = rng.integers(a, b + 1, size=n)
    elif dist == "normal":
        sd = (b - a) / 6.0
        x = np.clip(np.rint(rng.normal((a + b) / 2.0, sd, size=n)), a, b) if sd > 0 else np.full(n, a)
    else:
        raise ValueError(f"unknown distribution {dist!r}")
    return tuple(int(v) for v in x)


def read_requests_csv(path: str, ref: Loc) -> tuple[tuple[int, int], ...]:
    """(prompt_len, output_len) per row of the CSV at `path`; `ref` locates the `requests "..."` statement."""
    if not os.path.isfile(path):
        raise error_at(f"request file not found: {path}", ref, hint="the path is relative to the .dsl file")
    rows: list[tuple[int, int]] = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    first_data = True
    for i, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [x.strip() for x in text.split(",")]
        if first_data and not any(_is_int(x) for x in fields):
            first_data = False
            continue                      # header
        first_data = False
        col = 1
        if len(fields) != 2:
            raise error_at(f"expected 2 fields `prompt_len,output_len`, got {len(fields)}",
                           Loc(path, i, line.find(text) + 1))
        vals = []
        for x in fields:
            col = line.index(x, col - 1) + 1 if x else col
            if not _is_int(x) or int(x) < 1:
                raise error_at(f"`{x}` is not a positive integer length", Loc(path, i, col),
                               hint="each row is prompt_len,output_len in tokens")
            vals.append(int(x))
            col += len(x)
        rows.append((vals[0], vals[1]))
    if not rows:
        raise error_at(f"request file {path} has no rows", ref, hint="one `prompt_len,output_len` per line")
    return tuple(rows)


def _is_int(x: str) -> bool:
    try:
        int(x)
        return True
    except ValueError:
        return False
