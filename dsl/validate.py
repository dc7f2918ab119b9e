"""Checks of a resolved `Spec` against the hardware it will run on (known only after `--hw` is chosen), each a
`DslError` at the offending setting of the parallel block (or the serve line)."""

from __future__ import annotations

from mapc.core.errors import Loc
from mapc.core.hardware import Hardware
from mapc.core.spec import Spec, TransformerModel
from mapc.dsl import zoo
from mapc.dsl.parser import error_at


def validate(spec: Spec, hw: Hardware) -> None:
    """Checks of `spec` against `hw` (parallel degrees against chiplets, heads and layers; the PD split); DslError
    at the offending line. Memory capacity is not checked here: `mapc.compiler.memory.check_memory` is the one
    memory check (weights plus the peak KV cache, `InfeasibleError`, exit 3)."""
    p, n = spec.parallel, hw.n

    def at(key: str) -> Loc | None:
        """Where setting `key` was given (the parallel block itself if it was not)."""
        return p.locs.get(key, p.loc)

    T, P, D = p.tensor or 1, p.pipeline or 1, p.data or 1        # auto counts as 1 in the arithmetic below
    if T > n:
        raise error_at(f"tensor {T} needs more chiplets than the {n} of `{hw.name}`", at("tensor"))
    if p.pipeline is not None and P > n // T:
        what = f"{n} chiplets" if T == 1 else f"{n} chiplets / tensor {T} = {n // T} groups"
        raise error_at(f"pipeline {P} has more stages than {what} of `{hw.name}`", at("pipeline"))
    used = T * P * D
    if used > n:
        raise error_at(f"tensor {T} x pipeline {P} x data {D} = {used} chiplets, but `{hw.name}` has {n}",
                       at("data") if "data" in p.locs else at("pipeline") if "pipeline" in p.locs else at("tensor"),
                       hint="a stage runs on `tensor` chiplets, each replica has `pipeline` stages: lower one of "
                            "them or use `auto`")
    if p.pd == "disaggregated":
        total = (p.pd_prefill or 0) + (p.pd_decode or 0)
        if total > n:
            raise error_at(f"disaggregated split prefill={p.pd_prefill} + decode={p.pd_decode} = {total} chiplets, "
                           f"but `{hw.name}` has {n}", at("pd"))
        if T * P * D > min(p.pd_prefill or n, p.pd_decode or n):
            raise error_at(f"tensor {T} x pipeline {P} x data {D} = {T * P * D} chiplets do not fit in the "
                           f"disaggregated split (prefill={p.pd_prefill}, decode={p.pd_decode})", at("tensor"))
    if spec.workload is None:
        return
    for s in spec.workload.serves:
        m = spec.models.get(s.model) or zoo.MODELS.get(s.model)
        if m is None:
            raise error_at(f"unknown model `{s.model}`", s.loc)
        if isinstance(m, TransformerModel):
            if m.heads % T:
                raise error_at(f"tensor {T} does not divide heads={m.heads} of `{s.model}`", at("tensor"),
                               hint="tensor parallelism splits attention heads evenly over the chiplets")
            if p.pipeline is not None and p.pipeline > m.layers:
                raise error_at(f"pipeline {p.pipeline} has more stages than the {m.layers} layers of `{s.model}`",
                               at("pipeline"))
        elif p.pipeline is not None and p.pipeline > len(m.layers):
            raise error_at(f"pipeline {p.pipeline} has more stages than the {len(m.layers)} layers of "
                           f"`{s.model}`", at("pipeline"))
