"""The parallel block given meaning -> `ParallelSpec` (every setting at most once, with its location kept in
`ParallelSpec.locs` so that `mapc.dsl.validate` can point at it when the hardware rejects it)."""

from __future__ import annotations

from mapc.core.errors import Loc
from mapc.core.spec import ParallelSpec
from mapc.dsl import syntax as S
from mapc.dsl.parser import error_at
from mapc.dsl.values import kwargs, need_int, whole

PLACEMENTS = ("block", "row", "column", "snake", "auto")
PD_MODES = ("fused", "disaggregated", "auto")


def build_parallel(node: S.Parallel | None) -> ParallelSpec:
    """The `ParallelSpec` of a parallel block (the defaults when there is none)."""
    if node is None:
        return ParallelSpec()
    vals: dict[str, int | str | None] = {}
    locs: dict[str, Loc] = {}
    for it in node.items:
        key = "pd" if isinstance(it, S.Pd) else it.key.text
        if key in locs:
            raise error_at(f"`{key}` given twice", it.loc)
        locs[key] = it.loc
        if isinstance(it, S.ParNum):
            vals[key] = whole(it.value, f"`{key}`")
        elif isinstance(it, S.ParWord):
            _word(it, key, vals)
        else:
            _pd(it, vals)
    return ParallelSpec(**vals, loc=node.loc, locs=locs)    # type: ignore[arg-type]


def _word(it: S.ParWord, key: str, vals: dict[str, int | str | None]) -> None:
    """`pipeline N|auto`, `placement WORD`, `tp 1d|2d` into `vals`."""
    text, tloc = it.value.text, it.value.loc
    if key == "pipeline":
        if isinstance(it.value, S.Number):
            vals["pipeline"] = whole(it.value, "`pipeline`")
        elif text != "auto":
            raise error_at(f"`pipeline` takes a number of stages or `auto`, got `{text}`", tloc)
    elif key == "placement":
        if text not in PLACEMENTS:
            raise error_at(f"unknown placement `{text}`", tloc, hint="one of " + ", ".join(PLACEMENTS))
        vals["placement"] = None if text == "auto" else text
    else:   # tp
        if text not in ("1d", "2d"):
            raise error_at(f"`tp` takes `1d` or `2d`, got `{text}`", tloc)
        vals["tp_scheme"] = text


def _pd(it: S.Pd, vals: dict[str, int | str | None]) -> None:
    """`pd fused|auto` or `pd disaggregated(prefill=N, decode=M)` into `vals`."""
    mode, mloc = it.mode.text, it.mode.loc
    if mode not in PD_MODES:
        raise error_at(f"unknown pd mode `{mode}`", mloc, hint="one of fused, disaggregated(prefill=N, "
                                                                "decode=M), auto")
    kw = kwargs(it.args, ("prefill", "decode"), f"pd {mode}")
    if mode == "disaggregated":
        vals["pd_prefill"] = need_int(kw, "prefill", "`pd disaggregated(...)`", mloc)
        vals["pd_decode"] = need_int(kw, "decode", "`pd disaggregated(...)`", mloc)
    elif kw:
        raise error_at(f"`pd {mode}` takes no arguments", mloc)
    vals["pd"] = mode
