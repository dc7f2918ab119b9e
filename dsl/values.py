"""Literal values of the syntax tree given meaning: numbers, whole numbers, `key=value` arguments, quantities.

The syntax tree keeps every literal as written; these functions convert them where the resolver uses them and
raise a `DslError` at the literal's own location when one is wrong (not a finite number, not a whole or positive
number, an unknown or repeated parameter, a unit of the wrong kind). `duplicate` is the one message for a name
defined twice (models, layers, chiplets, memories, hardware blocks).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

from mapc.core import units as U
from mapc.core.errors import DslError, Loc
from mapc.dsl import syntax as S
from mapc.dsl.parser import error_at


@dataclass(frozen=True)
class Value:
    """A converted `key=value` literal: `kind` is number | word | range | list | string and `v` is a float,
    a str (a word, or a string without its quotes), (lo, hi) or the list's floats; `text` is as written."""

    kind: str
    v: float | str | tuple[float, ...]
    loc: Loc
    text: str


# name -> (its value, the location of the name), from `kwargs`
KwArgs = dict[str, tuple[Value, Loc]]


def number(n: S.Number) -> float:
    """The value of a number literal; an infinite one (`1e999`) is an error at the literal."""
    try:
        v = float(n.text)
    except ValueError:
        raise error_at(f"not a number: `{n.text}`", n.loc) from None
    if not math.isfinite(v):
        raise error_at(f"number out of range: `{n.text}`", n.loc)
    return v


def int_of(v: float, what: str, loc: Loc, minimum: int = 1) -> int:
    """`v` as an int, or an error at `loc` if it is fractional, below `minimum` or beyond 2**53."""
    if v != int(v):
        raise error_at(f"{what} must be a whole number, got {v:g}", loc)
    if v < minimum:
        cond = "positive" if minimum == 1 else f">= {minimum}"
        raise error_at(f"{what} must be {cond}, got {v:g}", loc)
    if v > 2**53:
        raise error_at(f"{what} is too large: {v:g}", loc)
    return int(v)


def whole(n: S.Number, what: str, minimum: int = 1) -> int:
    """A number literal that must be a whole number >= `minimum` (counts, sizes), located at the literal."""
    return int_of(number(n), what, n.loc, minimum)


def value(node: S.Value) -> Value:
    """The converted value of a `key=value` right-hand side."""
    if isinstance(node, S.Number):
        return Value("number", number(node), node.loc, node.text)
    if isinstance(node, S.Name):
        return Value("word", node.text, node.loc, node.text)
    if isinstance(node, S.Str):
        return Value("string", node.value, node.loc, node.text)
    if isinstance(node, S.Range):
        return Value("range", (number(node.lo), number(node.hi)), node.loc, node.text)
    return Value("list", tuple(number(n) for n in node.items), node.loc, node.text)


def kwargs(args: tuple[S.KwArg, ...], allowed: tuple[str, ...], what: str) -> KwArgs:
    """name -> (value, location of the name) for `args`, in order; unknown or repeated names are errors (an
    unknown name gets a close match and the list of what `what` takes)."""
    out: KwArgs = {}
    for kw in args:
        name, loc = kw.name.text, kw.name.loc
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = (f"did you mean `{close[0]}`? " if close else "") + f"{what} takes: " + ", ".join(allowed)
            raise error_at(f"unknown parameter `{name}` for {what}", loc, hint=hint)
        if name in out:
            raise error_at(f"`{name}` given twice", loc)
        out[name] = (value(kw.value), loc)
    return out


def kint(kw: KwArgs, key: str, what: str, default: int | None = None, minimum: int = 1,
         required_loc: Loc | None = None) -> int | None:
    """`key=` as a whole number >= `minimum`; if absent, `default`, or (no default and a `required_loc`) an error
    there saying that `what` needs it."""
    if key not in kw:
        if default is None and required_loc is not None:
            raise error_at(f"{what} needs `{key}=`", required_loc)
        return default
    v, _ = kw[key]
    if v.kind != "number":
        raise error_at(f"`{key}` must be a number, got `{v.text}`", v.loc)
    assert isinstance(v.v, float)
    return int_of(v.v, f"`{key}`", v.loc, minimum)


def need_int(kw: KwArgs, key: str, what: str, loc: Loc, default: int | None = None, minimum: int = 1) -> int:
    """`kint` for a value that must end up known: absent and without a default is an error at `loc`."""
    v = kint(kw, key, what, default=default, minimum=minimum, required_loc=loc)
    assert v is not None
    return v


def kbool(kw: KwArgs, key: str, default: bool) -> bool:
    """`key=true|false`, else `default`."""
    if key not in kw:
        return default
    v, _ = kw[key]
    if v.kind == "word" and v.v in ("true", "false"):
        return v.v == "true"
    raise error_at(f"`{key}` must be `true` or `false`, got `{v.text}`", v.loc)


def kword(kw: KwArgs, key: str, choices: tuple[str, ...], default: str | None) -> str | None:
    """`key=WORD` (or a quoted string) that must be one of `choices`, else `default`."""
    if key not in kw:
        return default
    v, _ = kw[key]
    if v.kind not in ("word", "string") or v.v not in choices:
        raise error_at(f"`{key}` must be one of {', '.join(choices)}; got `{v.text}`", v.loc)
    assert isinstance(v.v, str)
    return v.v


def need_word(kw: KwArgs, key: str, choices: tuple[str, ...], default: str) -> str:
    """`kword` with a default, so always a word."""
    v = kword(kw, key, choices, default)
    assert v is not None
    return v


def quantity(q: S.Quantity, kind: str, name: str | None = None) -> float:
    """A positive quantity of `kind` (see `mapc.core.units`) in SI units. A missing or wrong unit is an error at
    the unit (or the number if there is none), a value <= 0 an error at the number naming setting `name`."""
    v = number(q.number)
    unit = q.unit.text if q.unit is not None else None
    try:
        si = U.to_si(v, unit, kind)
    except U.UnitError as e:
        raise error_at(e.message, q.unit.loc if q.unit is not None else q.loc, hint=e.hint) from None
    if si <= 0:
        what = f"`{name}` " if name else ""
        raise error_at(f"{what}must be positive, got `{q.number.text}{' ' + unit if unit else ''}`", q.loc)
    return si


def duplicate(kind: str, name: str, loc: Loc, first: Loc | None) -> DslError:
    """The error for a `kind` named `name` defined again at `loc` (`first`: where it was first, None: built in)."""
    where = f"first defined at {first.file}:{first.line}:{first.col}" if first else "it is a built-in name"
    return error_at(f"duplicate {kind} `{name}`", loc, hint=where)
