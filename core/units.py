"""Units of the mapc language: every physical quantity in a source file carries one, converted here to SI.

`to_si(value, unit, kind)` returns the SI value or raises `UnitError` (a `DslError` without a location; the
resolver adds file:line:col). A missing unit or a unit of another kind is an error, never a guess:
`to_si(100, None, "bandwidth")` -> "expected a bandwidth like `100 GB/s`, got `100`".

Kinds and their SI unit: size (B), bandwidth (B/s), time (s), frequency (Hz), power (W), energy_bit (J/bit),
energy_byte (J/B), energy_mac (J/MAC), compute (FLOP/s), area (m^2, written `mm2`, `um2`, `cm2`, `m2`). Binary prefixes (KiB, MiB, GiB, TiB) are powers of
1024; decimal ones (KB, MB, GB, TB) powers of 1000. Energy per bit and per byte convert into each other (x8).
"""

from __future__ import annotations

from mapc.core.errors import DslError


class UnitError(DslError):
    """A quantity with a missing, unknown or wrong-kind unit (location added by the resolver)."""


_SIZE = {"B": 1.0, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
         "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30, "TiB": 2.0**40}
_ENERGY = {"fJ": 1e-15, "pJ": 1e-12, "nJ": 1e-9, "uJ": 1e-6, "J": 1.0}
_FLOP = {"FLOP": 1.0, "KFLOP": 1e3, "MFLOP": 1e6, "GFLOP": 1e9, "TFLOP": 1e12, "PFLOP": 1e15}

# unit text -> (kind, factor to SI)
UNITS: dict[str, tuple[str, float]] = {}
for _u, _f in _SIZE.items():
    UNITS[_u] = ("size", _f)
    UNITS[_u + "/s"] = ("bandwidth", _f)
UNITS.update({"ps": ("time", 1e-12), "ns": ("time", 1e-9), "us": ("time", 1e-6), "ms": ("time", 1e-3),
              "s": ("time", 1.0),
              "Hz": ("frequency", 1.0), "kHz": ("frequency", 1e3), "MHz": ("frequency", 1e6),
              "GHz": ("frequency", 1e9),
              "uW": ("power", 1e-6), "mW": ("power", 1e-3), "W": ("power", 1.0)})
for _u, _f in _ENERGY.items():
    UNITS[_u + "/bit"] = ("energy_bit", _f)
    UNITS[_u + "/B"] = ("energy_byte", _f)
    UNITS[_u + "/MAC"] = ("energy_mac", _f)
for _u, _f in _FLOP.items():
    UNITS[_u + "/s"] = ("compute", _f)
UNITS["TOPS"] = ("compute", 1e12)
UNITS.update({"um2": ("area", 1e-12), "mm2": ("area", 1e-6), "cm2": ("area", 1e-4), "m2": ("area", 1.0)})

# kind -> (article + noun, example)
KINDS: dict[str, tuple[str, str]] = {
    "size": ("a size", "2 MiB"),
    "bandwidth": ("a bandwidth", "100 GB/s"),
    "time": ("a time", "20 ns"),
    "frequency": ("a frequency", "1 GHz"),
    "power": ("a power", "50 mW"),
    "energy_bit": ("an energy per bit", "1.3 pJ/bit"),
    "energy_byte": ("an energy per byte", "1.7 pJ/B"),
    "energy_mac": ("an energy per MAC", "0.0873 pJ/MAC"),
    "compute": ("a compute rate", "10 TFLOP/s"),
    "count": ("a count", "4"),
    "area": ("an area", "12 mm2"),
}

# kinds that convert into each other: (from, to) -> factor
_CROSS = {("energy_byte", "energy_bit"): 1 / 8, ("energy_bit", "energy_byte"): 8.0}


def _fmt(value: float) -> str:
    return f"{value:g}"


def to_si(value: float, unit: str | None, kind: str) -> float:
    """`value unit` as an SI float of `kind` (see module docstring); UnitError if the unit is missing or wrong."""
    if kind not in KINDS:
        raise ValueError(f"unknown unit kind {kind!r}")   # programming error, not user input
    noun, example = KINDS[kind]
    if kind == "count":                 # a plain number of things: no unit
        if unit is not None:
            raise UnitError(f"expected {noun} like `{example}`, got `{_fmt(value)} {unit}`", hint="drop the unit")
        return value
    if unit is None:
        raise UnitError(f"expected {noun} like `{example}`, got `{_fmt(value)}`",
                        hint=f"add a unit: {', '.join(units_of(kind))}")
    if unit not in UNITS:
        raise UnitError(f"unknown unit `{unit}`: expected {noun} like `{example}`",
                        hint=f"units for {noun}: {', '.join(units_of(kind))}")
    got, factor = UNITS[unit]
    if got == kind:
        return value * factor
    if (got, kind) in _CROSS:
        return value * factor * _CROSS[(got, kind)]
    raise UnitError(f"expected {noun} like `{example}`, got `{_fmt(value)} {unit}` ({KINDS[got][0]})",
                    hint=f"units for {noun}: {', '.join(units_of(kind))}")


def units_of(kind: str) -> list[str]:
    """Unit spellings accepted for `kind`."""
    return [u for u, (k, _) in UNITS.items() if k == kind or (k, kind) in _CROSS]
