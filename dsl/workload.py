"""The workload block given meaning: served models, their phases, request mixes and SLOs -> `WorkloadSpec`.

`serve MODEL` starts a flat serve (the `prefill`/`decode`/`forward`/`microbatches`/`requests` lines that follow
belong to it); `serve MODEL { ... }` holds its own. A phase's lengths come from `seq=`/`context=`: a number, a
range `a..b` (spread evenly over the micro-batches, or drawn per request with `dist=uniform|normal`) or a list.
`requests "file.csv"` replaces the phase lines with a prefill and a linked decode phase built from the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import cast

from mapc.core.errors import Loc
from mapc.core.spec import CNNModel, GraphModel, Model, Phase, PhaseSpec, ServeSpec, TransformerModel, WorkloadSpec
from mapc.dsl import syntax as S
from mapc.dsl.models import ModelTable
from mapc.dsl.parser import error_at
from mapc.dsl.requests import DISTRIBUTIONS, read_requests_csv, sample_lengths
from mapc.dsl.values import Value, int_of, kwargs, need_int, need_word, quantity, whole

MAX_MICROBATCHES = 65536   # beyond this a graph cannot be scheduled anyway; keeps resolution bounded
MAX_BATCH = 2**20          # requests per phase: lowering walks every request, so the batch is bounded

PHASE_KEYS = MappingProxyType({"prefill": ("batch", "seq", "dist", "seed"),
                               "decode": ("batch", "context", "steps", "width", "dist", "seed"),
                               "forward": ("batch", "seq", "dist", "seed")})


@dataclass
class _Serve:
    """One `serve` while its workload is read: its lines are collected first, resolved after the block."""

    model: str
    m: Model
    loc: Loc
    phases: list[S.Phase] = field(default_factory=list)
    mb: int | None = None
    requests: S.Requests | None = None
    mix: tuple[PhaseSpec, ...] = ()     # the phases a `requests` line stands for


def build_workload(node: S.Workload, models: ModelTable) -> WorkloadSpec:
    """The `WorkloadSpec` of a workload block; served models are looked up in `models`."""
    wname, wloc = node.name.text, node.name.loc
    serves: list[_Serve] = []
    current: _Serve | None = None      # the serve that flat lines attach to
    ttft = tpot = None
    for it in node.items:
        if isinstance(it, S.Serve):
            if it.model is None:
                raise error_at("`serve` names no model", it.loc, hint="e.g. `serve llama2_7b`")
            mname = it.model.text
            model = models.get(mname, it.model.loc)
            for s in serves:
                if s.model == mname:
                    raise error_at(f"model `{mname}` is served twice in workload `{wname}`", it.model.loc,
                                   hint=f"first served at line {s.loc.line}; define an alias "
                                        f"(`model {mname}_b = {mname}`) to serve a second copy")
            s = _Serve(mname, model, it.loc)
            serves.append(s)
            if it.block is not None:
                for sub in it.block:
                    _serve_item(s, sub)
                current = None
            else:
                current = s
        elif isinstance(it, S.Slo):
            for item in it.items:
                v = quantity(item.value, "time", item.kind.text)
                if item.kind.text == "ttft":
                    ttft = v
                else:
                    tpot = v
        else:
            if current is None:
                msg = "before any `serve`" if not serves else "after a `serve { ... }` block"
                raise error_at(f"`{_keyword(it)}` {msg} belongs to no model", it.loc,
                               hint="put it after `serve MODEL` or inside `serve MODEL { ... }`")
            _serve_item(current, it)
    if not serves:
        raise error_at(f"workload `{wname}` names no model", wloc, hint="add `serve MODEL` (e.g. `serve llama2_7b`)")
    out = []
    for s in serves:
        if s.requests is not None:
            s.mix = _request_mix(s, s.requests)
        if not s.phases and not s.mix:
            raise error_at(f"`serve {s.model}` has no phases", s.loc,
                           hint="add `prefill ...`, `decode ...` or `forward ...`")
        mb = s.mb or 1
        phases = s.mix or tuple(_phase(s, p, mb) for p in s.phases)
        out.append(ServeSpec(s.model, phases, mb, loc=s.loc))
    return WorkloadSpec(wname, tuple(out), ttft, tpot, loc=wloc)


def _keyword(it: S.ServeItem) -> str:
    """The keyword that starts a serve line (`prefill`, `microbatches`, `requests`, ...)."""
    if isinstance(it, S.Phase):
        return it.kind.text
    return "microbatches" if isinstance(it, S.Microbatches) else "requests"


def _serve_item(s: _Serve, it: S.ServeItem) -> None:
    """Attach a phase, `microbatches` or `requests` line to serve `s` (each at most once)."""
    if isinstance(it, S.Requests):
        if s.requests is not None:
            raise error_at(f"`requests` given twice for `{s.model}`", it.loc)
        s.requests = it
    elif isinstance(it, S.Microbatches):
        if s.mb is not None:
            raise error_at(f"`microbatches` given twice for `{s.model}`", it.loc)
        s.mb = whole(it.count, "microbatches")
        if s.mb > MAX_MICROBATCHES:
            raise error_at(f"microbatches {s.mb} is more than the {MAX_MICROBATCHES} mapc supports", it.count.loc)
    else:
        kind = it.kind.text
        for p in s.phases:
            if p.kind.text == kind:
                raise error_at(f"phase `{kind}` given twice for `{s.model}`", it.loc)
        s.phases.append(it)


def _request_mix(s: _Serve, it: S.Requests) -> tuple[PhaseSpec, ...]:
    """`requests "file.csv" [steps=N] [width=W]`: a prefill phase with every request's prompt length and a
    linked decode phase (request j continues its prefill; its context starts at prompt + width and it leaves
    the batch after its output length; the graph holds `steps` decode iterations, default min(max output, 4))."""
    loc, m = it.loc, s.m
    if not isinstance(m, TransformerModel) or m.encoder_only:
        raise error_at(f"`requests` needs a decoder model; `{s.model}` is not one", loc)
    if s.phases:
        raise error_at(f"`requests` replaces the `prefill`/`decode` lines of `{s.model}`; give one or the "
                       "other", loc)
    kw = kwargs(it.args, ("steps", "width"), "`requests`")
    path = os.path.join(os.path.dirname(os.path.abspath(it.path.loc.file)), it.path.value)
    rows = read_requests_csv(path, it.path.loc)
    width = need_int(kw, "width", "`requests`", loc, default=1)
    outs = tuple(o for _, o in rows)
    steps = need_int(kw, "steps", "`requests`", loc, default=min(max(outs), 4))
    prompts = tuple(p for p, _ in rows)
    longest = max(p + o for p, o in rows)
    if longest > m.max_seq:
        j = max(range(len(rows)), key=lambda i: sum(rows[i]))
        raise error_at(f"request {j + 1} of {path} needs {longest} tokens (prompt + output), more than the "
                       f"{m.max_seq}-token context of `{s.model}`", it.path.loc)
    n = len(rows)
    return (PhaseSpec("prefill", n, prompts, loc=loc),
            PhaseSpec("decode", n, tuple(p + width for p in prompts), steps, width, loc=loc,
                      outputs=tuple(-(-o // width) for o in outs), linked=True))


def _span(v: Value, key: str) -> tuple[int, int]:
    """A range value as whole numbers a <= b."""
    assert isinstance(v.v, tuple)
    a, b = (int_of(x, f"`{key}`", v.loc) for x in v.v)
    if a > b:
        raise error_at(f"empty range {v.text}: the first length must not exceed the last", v.loc)
    return a, b


def lengths(v: Value, key: str, n: int, dist: str = "even", seed: int = 0, batch: int = 1) -> tuple[int, ...]:
    """The lengths `key=v` stands for over `n` micro-batches: a number is itself, a range is spread evenly
    (its midpoint for one micro-batch) or, with `dist`, drawn once per request of `batch`; a list is as is."""
    if v.kind == "range" and dist != "even":
        a, b = _span(v, key)
        return sample_lengths(dist, a, b, batch, seed)     # one length per request
    if v.kind == "number":
        assert isinstance(v.v, float)
        return (int_of(v.v, f"`{key}`", v.loc),)
    if v.kind == "range":
        a, b = _span(v, key)
        if n == 1:
            return (round((a + b) / 2),)
        return tuple(round(a + (b - a) * i / (n - 1)) for i in range(n))
    if v.kind == "list":
        assert isinstance(v.v, tuple)
        if not v.v:
            raise error_at(f"`{key}` list is empty", v.loc)
        return tuple(int_of(x, f"`{key}`", v.loc) for x in v.v)
    raise error_at(f"`{key}` must be a number, a range `a..b` or a list `[a, b]`; got `{v.text}`", v.loc)


def _phase(s: _Serve, node: S.Phase, mb: int) -> PhaseSpec:
    """One phase line of serve `s` (with `mb` micro-batches) checked against its model's kind and context."""
    phase, ploc, m = cast(Phase, node.kind.text), node.loc, s.m      # the grammar allows only the three
    kw = kwargs(node.args, PHASE_KEYS[phase], f"`{phase}`")
    is_cnn = isinstance(m, (CNNModel, GraphModel))
    if is_cnn and phase != "forward":
        kind = "a CNN" if isinstance(m, CNNModel) else "an ONNX graph"
        raise error_at(f"`{s.model}` is {kind}: it runs `forward`, not `{phase}`", ploc,
                       hint="write `forward batch=N` (one inference pass per request)" + (
                           "" if isinstance(m, CNNModel) else "; its sequence length is fixed at import: "
                           "onnx(\"...\", seq=N)"))
    if isinstance(m, TransformerModel) and m.encoder_only and phase == "decode":
        raise error_at(f"`{s.model}` is encoder-only: it has no `decode` phase", ploc,
                       hint="use `forward batch=.. seq=..`")
    if isinstance(m, TransformerModel) and not m.encoder_only and phase == "forward":
        raise error_at(f"`{s.model}` is a decoder: use `prefill` and `decode`, not `forward`", ploc)
    batch = need_int(kw, "batch", f"`{phase}`", ploc)
    if batch > MAX_BATCH:
        raise error_at(f"batch {batch} is more than the {MAX_BATCH} requests per phase mapc supports",
                       kw["batch"][1], hint="a serving iteration rarely holds more than a few thousand requests")
    n = min(mb, batch)
    lkey = "context" if phase == "decode" else "seq"
    if is_cnn:
        if "seq" in kw:
            raise error_at("a CNN takes no `seq`" if isinstance(m, CNNModel) else
                           "an ONNX graph takes no `seq` here: fix it at import with onnx(\"...\", seq=N)",
                           kw["seq"][1])
        lens: tuple[int, ...] = (1,)
    else:
        if lkey not in kw:
            raise error_at(f"`{phase}` needs `{lkey}=`", ploc)
        dist = need_word(kw, "dist", DISTRIBUTIONS, "even")
        if dist != "even" and kw[lkey][0].kind != "range":
            raise error_at(f"`dist={dist}` needs a range `{lkey}=a..b`", kw["dist"][1])
        seed = need_int(kw, "seed", f"`{phase}`", ploc, default=0, minimum=0)
        lens = lengths(kw[lkey][0], lkey, n, dist, seed, need_int(kw, "batch", f"`{phase}`", ploc, default=1))
    steps = need_int(kw, "steps", "`decode`", ploc, default=1)
    width = need_int(kw, "width", "`decode`", ploc, default=1)
    if isinstance(m, TransformerModel):
        # decode: `context` already counts the first step's tokens; step t attends to context + t*width
        longest = max(lens) + ((steps - 1) * width if phase == "decode" else 0)
        if longest > m.max_seq:
            raise error_at(f"{lkey} {longest} exceeds "
                           f"the {m.max_seq}-token context of `{s.model}`", kw[lkey][0].loc)
    return PhaseSpec(phase, batch, lens, steps, width, loc=ploc)
