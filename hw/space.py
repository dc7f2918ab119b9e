"""The design space of `mapc explore`: one `Dim` per `--vary` key, a list of values or a range.

    --vary KEY=V1,V2,...                 a list (`mapc.hw.variants.parse_vary`: units, dims, dataflows, on/off)
    --vary KEY=LO..HI[:log][:int][:N]    a range of a numeric knob (sram, link, dram, memory, freq, hop) or a
                                         square grid / PE array side (`grid=2..8`, `pes=16x16..128x128:log`)

`:log` samples the range geometrically (else uniformly); `:int` takes whole multiples of LO's unit only
(`sram=1MiB..32MiB:int` -> whole MiB; a grid or PE side is always whole); `:N` is how many points the grid
sampler visits on the range (default `DEFAULT_GRID_POINTS`, spaced like the sampling: geometric with `:log`).
A bound without a unit takes the other bound's (`sram=1..32MiB`). Everything wrong with a space is a
`MapcError` (exit 2) raised here, before any trial runs: unknown or repeated key, empty value list, empty range
(missing bound, LO = HI), LO > HI, bounds of different kinds of unit (`1MiB..32GB/s`), a range of a knob that
takes words (dataflow, pim), an unknown modifier, an `:int` range holding no whole multiple.

A `Dim`'s sampler-facing values (`grid`, the bounds) are plain numbers and strings, so a search engine can
build its distributions from them; `value` turns a sampled one back into the knob value `derive` takes, and
`label` into the text the tables show.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Union

from mapc.core.errors import MapcError
from mapc.core.units import UNITS
from mapc.hw.variants import KNOBS, MAX_DIM, MAX_PE_SIDE, KnobValue, keys_hint, parse_value, parse_vary

DEFAULT_GRID_POINTS = 4
MAX_GRID_POINTS = 64
GridValue = Union[str, int, float]       # what a sampler stores: a label, a whole number or an SI float
_UNIT_TEXT = re.compile(r"[A-Za-z/]+\s*$")
# labels of sampled range values: (SI factor, unit text) from the largest down, per unit kind
_LABEL_UNITS = {"size": ((2.0**30, "GiB"), (2.0**20, "MiB"), (2.0**10, "KiB"), (1.0, "B")),
                "bandwidth": ((1e12, "TB/s"), (1e9, "GB/s"), (1e6, "MB/s"), (1.0, "B/s")),
                "frequency": ((1e9, "GHz"), (1e6, "MHz"), (1e3, "kHz"), (1.0, "Hz")),
                "time": ((1e-3, "ms"), (1e-6, "us"), (1e-9, "ns"), (1e-12, "ps"))}


def human(value: float, kind: str) -> str:
    """`value` (SI) with the largest unit of `kind` that keeps it >= 1, four significant digits (`3.5MiB`)."""
    for factor, unit in _LABEL_UNITS.get(kind, ()):
        if abs(value) >= factor:
            return f"{value / factor:.4g}{unit}"
    return f"{value:.4g}"


@dataclass(frozen=True)
class Dim:
    """One axis of the space. A list has `choices` ((label, knob value), ...); a range has none and spans
    `lo`..`hi` (SI, or the side for grid/pes), sampled geometrically when `log`, in whole multiples of `unit`
    when `unit` > 0 (always 1 for a side), visited at `points` values by the grid sampler."""

    key: str
    text: str                                          # as given on the command line (without the key)
    choices: tuple[tuple[str, KnobValue], ...] = ()
    lo: float = 0.0
    hi: float = 0.0
    log: bool = False
    unit: float = 0.0
    points: int = DEFAULT_GRID_POINTS

    @property
    def is_range(self) -> bool:
        return not self.choices

    @property
    def is_side(self) -> bool:
        return KNOBS[self.key].kind == "dims"

    @property
    def int_bounds(self) -> tuple[int, int]:
        """The whole multiples of `unit` inside lo..hi (a `unit` range only)."""
        return math.ceil(self.lo / self.unit - 1e-9), math.floor(self.hi / self.unit + 1e-9)

    def grid(self) -> tuple[GridValue, ...]:
        """The values the grid sampler visits, ascending for a range, in the order given for a list."""
        if self.choices:
            return tuple(lbl for lbl, _ in self.choices)
        n = self.points
        if self.unit:
            a, b = self.int_bounds
            pts = (a * (b / a) ** (i / (n - 1)) for i in range(n)) if self.log else \
                (a + (b - a) * i / (n - 1) for i in range(n))
            return tuple(sorted({int(round(p)) for p in pts}))
        if self.log:
            vals = [self.lo * (self.hi / self.lo) ** (i / (n - 1)) for i in range(n)]
        else:
            vals = [self.lo + (self.hi - self.lo) * i / (n - 1) for i in range(n)]
        vals[0], vals[-1] = self.lo, self.hi
        return tuple(vals)

    def value(self, raw: GridValue) -> KnobValue:
        """The knob value (`derive`'s input) of a sampled value."""
        if self.choices:
            return dict(self.choices)[str(raw)]
        if self.is_side:
            return (int(raw), int(raw))
        return float(raw) * self.unit if self.unit else float(raw)

    def label(self, raw: GridValue) -> str:
        """The text a table shows for a sampled value (`4x4`, `3.5MiB`, `mix`)."""
        if self.choices:
            return str(raw)
        if self.is_side:
            return f"{int(raw)}x{int(raw)}"
        v = self.value(raw)
        assert isinstance(v, float)
        return human(v, KNOBS[self.key].kind)


Space = tuple[Dim, ...]


def grid_size(space: Space) -> int:
    """Points of the full grid (1 for an empty space)."""
    return math.prod(len(d.grid()) for d in space)


def _unit_of(text: str) -> str:
    m = _UNIT_TEXT.search(text.strip())
    return m.group(0).strip() if m else ""


def _side(key: str, text: str) -> int:
    v = parse_value(key, text)
    assert isinstance(v, tuple)
    if v[0] != v[1]:
        raise MapcError(f"--vary {key}: a range of {key} takes square sides (`{key}=2..8` or `{key}=2x2..8x8`), "
                        f"got {text!r}", hint=f"list rectangular shapes instead: --vary {key}=4x8,8x8")
    return v[0]


def parse_range(key: str, body: str) -> Dim:
    """`LO..HI[:log][:int][:N]` of knob `key` (see the module doc)."""
    knob = KNOBS[key]
    given = f"--vary {key}={body}"
    if knob.kind in ("dataflow", "onoff"):
        raise MapcError(f"{given}: {key} takes a list of values, not a range", hint=f"e.g. --vary {key}={knob.example}")
    rng, *mods = body.split(":")
    lo_t, _, hi_t = rng.partition("..")
    if not lo_t.strip() or not hi_t.strip():
        raise MapcError(f"{given}: empty range (a bound is missing)", hint=f"e.g. --vary {key}=LO..HI")
    log = whole = False
    points = DEFAULT_GRID_POINTS
    for m in (x.strip().lower() for x in mods):
        if m == "log":
            log = True
        elif m == "int":
            whole = True
        elif m.isdigit() and 2 <= int(m) <= MAX_GRID_POINTS:
            points = int(m)
        else:
            raise MapcError(f"{given}: unknown range modifier {m!r}",
                            hint=f"modifiers: log, int, N (grid points, 2..{MAX_GRID_POINTS}), e.g. :log:6")
    if knob.kind == "dims":
        lo, hi = float(_side(key, lo_t)), float(_side(key, hi_t))
        unit = 1.0
    else:
        lu, hu = _unit_of(lo_t), _unit_of(hi_t)
        if not lu and hu:
            lo_t, lu = lo_t + hu, hu
        elif lu and not hu:
            hi_t, hu = hi_t + lu, lu
        kinds = {UNITS[u][0] for u in (lu, hu) if u in UNITS}
        if len(kinds) > 1:
            raise MapcError(f"{given}: unit mismatch: {lu} and {hu} are different kinds of unit",
                            hint=f"both bounds take {knob.kind} units, e.g. {knob.example.split(',')[0]}")
        lo, hi = float(parse_value(key, lo_t)), float(parse_value(key, hi_t))    # type: ignore[arg-type]
        unit = float(parse_value(key, "1" + lu)) if whole else 0.0              # type: ignore[arg-type]
    if lo == hi:
        raise MapcError(f"{given}: empty range ({lo_t.strip()} = {hi_t.strip()})",
                        hint=f"give one value as a list: --vary {key}={lo_t.strip()}")
    if lo > hi:
        raise MapcError(f"{given}: {lo_t.strip()} is above {hi_t.strip()}", hint="write it low..high")
    d = Dim(key, body, (), lo, hi, log, unit, points)
    if unit:
        a, b = d.int_bounds
        if a > b or a < 1:
            raise MapcError(f"{given}: no whole multiple of 1 {_unit_of(lo_t)} inside the range")
        if knob.kind == "dims" and b > (MAX_DIM if key == "grid" else MAX_PE_SIDE):
            raise MapcError(f"{given}: each side must be between 1 and {MAX_DIM if key == 'grid' else MAX_PE_SIDE}")
    return d


def parse_space(texts: Iterable[str] | None) -> Space:
    """`--vary` texts -> the space, axes in the order given (module doc); `MapcError` (exit 2) on any error."""
    out: list[Dim] = []
    for text in texts or ():
        key, eq, body = text.partition("=")
        key = key.strip().lower()
        if eq and key not in KNOBS:
            close = difflib.get_close_matches(key, list(KNOBS), n=1)
            raise MapcError(f"--vary: unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                            hint=keys_hint())
        if any(d.key == key for d in out):
            raise MapcError(f"--vary {key} given twice", hint=f"list every value once: --vary {key}=A,B,C")
        if eq and ".." in body:
            out.append(parse_range(key, body.strip()))
        else:
            ((k, vals),) = parse_vary([text])
            out.append(Dim(k, body.strip(), vals))
    return tuple(out)
