"""The parallel block given meaning -> `ParallelSpec` (every setting at most once, with its location kept in
`ParallelSpec.locs` so that `mapc.dsl.validate` can point at it when the hardware rejects it)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, TypedDict

from mapc.core.errors import Loc
from mapc.core.spec import ParallelSpec
from mapc.dsl import syntax as S
from mapc.dsl.parser import error_at
from mapc.dsl.values import kwargs, need_int, whole

Placement = Literal["block", "row", "column", "snake"]
TpScheme = Literal["1d", "2d"]
PdMode = Literal["fused", "disaggregated", "auto"]

# the words each setting takes, in the order hints list them, and what they mean (`placement auto`: None)
PLACEMENTS: Mapping[str, Placement | None] = MappingProxyType(
    {"block": "block", "row": "row", "column": "column", "snake": "snake", "auto": None})
TP_SCHEMES: Mapping[str, TpScheme] = MappingProxyType({"1d": "1d", "2d": "2d"})
PD_MODES: Mapping[str, PdMode] = MappingProxyType({"fused": "fused", "disaggregated": "disaggregated",
                                                   "auto": "auto"})


class _Given(TypedDict, total=False):
    """The `ParallelSpec` fields a parallel block sets (the others keep their defaults)."""

    tensor: int | None
    pipeline: int | None
    data: int | None
    placement: Placement | None
    tp_scheme: TpScheme | None
    pd: PdMode
    pd_prefill: int | None
    pd_decode: int | None
    segment: int


def build_parallel(node: S.Parallel | None) -> ParallelSpec:
    """The `ParallelSpec` of a parallel block (the defaults when there is none)."""
    if node is None:
        return ParallelSpec()
    vals: _Given = {}
    locs: dict[str, Loc] = {}
    for it in node.items:
        key = "pd" if isinstance(it, S.Pd) else it.key.text
        if key in locs:
            raise error_at(f"`{key}` given twice", it.loc)
        locs[key] = it.loc
        if isinstance(it, S.ParNum):
            vals["segment"] = whole(it.value, f"`{key}`")
        elif isinstance(it, S.ParWord):
            _word(it, key, vals)
        else:
            _pd(it, vals)
    return ParallelSpec(**vals, loc=node.loc, locs=locs)


def _word(it: S.ParWord, key: str, vals: _Given) -> None:
    """`tensor|pipeline|data N|auto`, `placement WORD`, `tp 1d|2d` into `vals` (auto: None, the solver's choice)."""
    text, tloc = it.value.text, it.value.loc
    if key in ("tensor", "pipeline", "data"):
        what = {"tensor": "chiplets per stage", "pipeline": "stages", "data": "replicas"}[key]
        if isinstance(it.value, S.Number):
            vals[key] = whole(it.value, f"`{key}`")     # type: ignore[literal-required]
        elif text != "auto":
            raise error_at(f"`{key}` takes a number of {what} or `auto`, got `{text}`", tloc)
    elif key == "placement":
        if text not in PLACEMENTS:
            raise error_at(f"unknown placement `{text}`", tloc, hint="one of " + ", ".join(PLACEMENTS))
        vals["placement"] = PLACEMENTS[text]
    else:   # tp
        if text not in TP_SCHEMES:
            raise error_at(f"`tp` takes `1d` or `2d`, got `{text}`", tloc)
        vals["tp_scheme"] = TP_SCHEMES[text]


def _pd(it: S.Pd, vals: _Given) -> None:
    """`pd fused|auto` or `pd disaggregated(prefill=N, decode=M)` into `vals`."""
    mode, mloc = it.mode.text, it.mode.loc
    if mode not in PD_MODES:
        raise error_at(f"unknown pd mode `{mode}`", mloc, hint="one of fused, disaggregated(prefill=N, "
                                                                "decode=M), auto")
    kw = kwargs(it.args, ("prefill", "decode"), f"pd {mode}")
    if mode == "disaggregated":
        miss = [k for k in ("prefill", "decode") if k not in kw]
        if miss:
            raise error_at(f"`pd disaggregated` needs {' and '.join(f'`{k}=`' for k in miss)}: how many chiplets "
                           f"each pool gets", mloc, hint="e.g. `pd disaggregated(prefill=12, decode=24)`, or "
                                                         "`pd auto` to let mapc choose the split")
        vals["pd_prefill"] = need_int(kw, "prefill", "`pd disaggregated(...)`", mloc)
        vals["pd_decode"] = need_int(kw, "decode", "`pd disaggregated(...)`", mloc)
    elif kw:
        raise error_at(f"`pd {mode}` takes no arguments", mloc)
    vals["pd"] = PD_MODES[mode]
