"""From syntax trees (one per file, imports first) to the frozen `Spec`, plus the checks that need hardware.

`resolve(units, main_file)` gives meaning to the trees: model definitions (transformer kwargs, zoo aliases,
Hugging Face configs, CNN layer lists), the workload, the parallel block and hardware blocks (built into
`mapc.core.hardware.Hardware`). `validate(spec, hw)` checks parallelism and sizes against a hardware.
Every error is a `DslError` located at the offending token, with its source line.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os

from lark import Token, Tree

from mapc.core import units as U
from mapc.dsl import zoo
from mapc.dsl.hfconfig import load_hf_config
from mapc.dsl.parser import error_at
from mapc.dsl.requests import DISTRIBUTIONS, read_requests_csv, sample_lengths
from mapc.core.spec import (DTYPE_BYTES, CNNLayer, CNNModel, Model, ParallelSpec, PhaseSpec, ServeSpec, Spec,
                           TransformerModel, WorkloadSpec)
from mapc.core.errors import DslError, Loc, MapcError
from mapc.hw import constants as K
from mapc.hw import presets
from mapc.core.hardware import Chiplet, ChipletType, DramChannel, Hardware, NoP, PimUnit


MAX_MICROBATCHES = 65536   # beyond this a graph cannot be scheduled anyway; keeps resolution bounded
MAX_CELLS = 65536          # grid / PE-array cells (a 256x256 wafer mesh or PE array at most)
MAX_BATCH = 2**20          # requests per phase: lowering walks every request, so the batch is bounded


# ---- small helpers ----------------------------------------------------------------------------------------
class _Val:
    """A literal value with its location: kind is number | word | range | list | string."""

    __slots__ = ("kind", "v", "loc", "text")

    def __init__(self, kind, v, loc, text):
        self.kind, self.v, self.loc, self.text = kind, v, loc, text


def _loc(file: str, node) -> Loc:
    if isinstance(node, Token):
        return Loc(file, node.line or 1, node.column or 1)
    meta = getattr(node, "meta", None)
    line = getattr(meta, "line", None) if meta is not None else None
    if line is None:   # an empty rule has no position: use its first token if any
        for c in getattr(node, "children", ()):
            if c is not None:
                return _loc(file, c)
        return Loc(file, 1, 1)
    return Loc(file, line, getattr(meta, "column", 1) or 1)


def _num(tok: Token, file: str) -> float:
    try:
        v = float(tok)
    except ValueError:
        raise error_at(f"not a number: `{tok}`", _loc(file, tok)) from None
    if not math.isfinite(v):
        raise error_at(f"number out of range: `{tok}`", _loc(file, tok))
    return v


def _int_of(v: float, what: str, loc: Loc, minimum: int = 1) -> int:
    if v != int(v):
        raise error_at(f"{what} must be a whole number, got {v:g}", loc)
    if v < minimum:
        cond = "positive" if minimum == 1 else f">= {minimum}"
        raise error_at(f"{what} must be {cond}, got {v:g}", loc)
    if v > 2**53:
        raise error_at(f"{what} is too large: {v:g}", loc)
    return int(v)


def _value(node: Tree, file: str) -> _Val:
    loc = _loc(file, node)
    if node.data == "number":
        return _Val("number", _num(node.children[0], file), loc, str(node.children[0]))
    if node.data == "word":
        return _Val("word", str(node.children[0]), loc, str(node.children[0]))
    if node.data == "string":
        return _Val("string", str(node.children[0])[1:-1], loc, str(node.children[0]))
    if node.data == "range":
        a, b = node.children
        return _Val("range", (_num(a, file), _num(b, file)), loc, f"{a}..{b}")
    if node.data == "list":
        items = tuple(_num(t, file) for t in node.children if t is not None)
        return _Val("list", items, loc, "[" + ", ".join(str(t) for t in node.children if t is not None) + "]")
    raise error_at(f"unexpected value `{node.data}`", loc)


def _kwargs(nodes, file: str, allowed: tuple[str, ...], what: str) -> dict[str, tuple[_Val, Loc]]:
    """name -> (value, location of the name) for `kwarg` trees; unknown or repeated names are errors."""
    out: dict[str, tuple[_Val, Loc]] = {}
    for kw in nodes:
        if kw is None:
            continue
        if kw.data == "kwargs":
            out.update(_kwargs(kw.children, file, allowed, what))
            continue
        name_tok, val = kw.children
        name, loc = str(name_tok), _loc(file, name_tok)
        if name not in allowed:
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = (f"did you mean `{close[0]}`? " if close else "") + f"{what} takes: " + ", ".join(allowed)
            raise error_at(f"unknown parameter `{name}` for {what}", loc, hint=hint)
        if name in out:
            raise error_at(f"`{name}` given twice", loc)
        out[name] = (_value(val, file), loc)
    return out


def _kint(kw: dict, key: str, what: str, default=None, minimum: int = 1, required_loc: Loc | None = None):
    if key not in kw:
        if default is None and required_loc is not None:
            raise error_at(f"{what} needs `{key}=`", required_loc)
        return default
    v, _ = kw[key]
    if v.kind != "number":
        raise error_at(f"`{key}` must be a number, got `{v.text}`", v.loc)
    return _int_of(v.v, f"`{key}`", v.loc, minimum)


def _kbool(kw: dict, key: str, default: bool) -> bool:
    if key not in kw:
        return default
    v, _ = kw[key]
    if v.kind == "word" and v.v in ("true", "false"):
        return v.v == "true"
    raise error_at(f"`{key}` must be `true` or `false`, got `{v.text}`", v.loc)


def _kword(kw: dict, key: str, choices, default):
    if key not in kw:
        return default
    v, _ = kw[key]
    if v.kind not in ("word", "string") or v.v not in choices:
        raise error_at(f"`{key}` must be one of {', '.join(choices)}; got `{v.text}`", v.loc)
    return v.v


def _quantity(node: Tree, kind: str, file: str, name: str | None = None) -> float:
    num_tok, unit_tree = node.children
    loc = _loc(file, node)
    value = _num(num_tok, file)
    unit_tok = unit_tree.children[0] if unit_tree is not None else None
    unit = "/".join(str(t) for t in unit_tree.children if t is not None) if unit_tree is not None else None
    try:
        si = U.to_si(value, unit, kind)
    except U.UnitError as e:
        raise error_at(e.message, _loc(file, unit_tok) if unit_tok is not None else loc, hint=e.hint) from None
    if si <= 0:
        what = f"`{name}` " if name else ""
        raise error_at(f"{what}must be positive, got `{num_tok}{' ' + unit if unit else ''}`", loc)
    return si


def _duplicate(kind: str, name: str, loc: Loc, first: Loc | None) -> DslError:
    where = f"first defined at {first.file}:{first.line}:{first.col}" if first else "it is a built-in name"
    return error_at(f"duplicate {kind} `{name}`", loc, hint=where)


# ---- models -----------------------------------------------------------------------------------------------
_TRANSFORMER_KEYS = ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab", "dtype", "experts", "top_k",
                     "gated", "encoder_only", "max_seq", "weights")


def _transformer(name: str, node: Tree, file: str, loc: Loc) -> TransformerModel:
    kw = _kwargs(node.children, file, _TRANSFORMER_KEYS, "transformer(...)")
    what = f"transformer `{name}`"
    layers, hidden, heads, ffn, vocab = (_kint(kw, k, what, required_loc=loc)
                                         for k in ("layers", "hidden", "heads", "ffn", "vocab"))
    kv = _kint(kw, "kv_heads", what, default=heads)
    experts = _kint(kw, "experts", what, default=0, minimum=0)
    top_k = _kint(kw, "top_k", what, default=2 if experts else 0, minimum=0)
    dtype = _kword(kw, "dtype", tuple(DTYPE_BYTES), "fp16")
    if hidden % heads:
        raise error_at(f"hidden={hidden} is not a multiple of heads={heads}", kw["hidden"][1])
    if heads % kv:
        raise error_at(f"kv_heads={kv} does not divide heads={heads}", kw.get("kv_heads", kw["heads"])[1])
    if experts and not 1 <= top_k <= experts:
        raise error_at(f"top_k={top_k} must be between 1 and experts={experts}", kw.get("top_k", kw["experts"])[1])
    if top_k and not experts:
        raise error_at("top_k needs experts > 0", kw["top_k"][1])
    return TransformerModel(name=name, layers=layers, hidden=hidden, heads=heads, kv_heads=kv, ffn=ffn,
                            vocab=vocab, dtype=dtype, gated_ffn=_kbool(kw, "gated", True), experts=experts,
                            top_k=top_k, encoder_only=_kbool(kw, "encoder_only", False),
                            max_seq=_kint(kw, "max_seq", what, default=4096),
                            weight_dtype=_kword(kw, "weights", tuple(DTYPE_BYTES), None), loc=loc)


_LAYER_KEYS = {"conv": ("in", "out", "k", "kh", "kw", "stride", "pad", "groups", "hw", "h", "w"),
               "pool": ("k", "kh", "kw", "stride", "pad", "hw", "h", "w"),
               "fc": ("in", "out")}


def _cnn(name: str, node: Tree, file: str, loc: Loc) -> CNNModel:
    opts, *layer_nodes = node.children
    kw = _kwargs([opts] if opts is not None else [], file, ("dtype",), "cnn(...)")
    dtype = _kword(kw, "dtype", tuple(DTYPE_BYTES), "fp16")
    layers: list[CNNLayer] = []
    seen: dict[str, Loc] = {}
    c = h = w = None
    for ln in layer_nodes:
        kind_tree, name_tok, *kws = ln.children
        kind, lname, lloc = str(kind_tree.children[0]), str(name_tok), _loc(file, name_tok)
        if lname in seen:
            raise _duplicate("layer", lname, lloc, seen[lname])
        seen[lname] = lloc
        kw = _kwargs(kws, file, _LAYER_KEYS[kind], f"a {kind} layer")
        what = f"{kind} layer `{lname}`"
        if kind == "fc":
            prev = c * h * w if c is not None else None
            in_ch = _kint(kw, "in", what, default=prev, required_loc=lloc)
            L = CNNLayer(lname, "fc", in_ch, _kint(kw, "out", what, required_loc=lloc), 1, 1)
        else:
            in_ch = _kint(kw, "in", what, default=c, required_loc=lloc) if kind == "conv" else c
            if in_ch is None:
                raise error_at(f"{what} cannot be the first layer (no input channels)", lloc)
            hw = _kint(kw, "hw", what)
            ih = _kint(kw, "h", what, default=hw if hw is not None else h, required_loc=lloc)
            iw = _kint(kw, "w", what, default=hw if hw is not None else w, required_loc=lloc)
            k = _kint(kw, "k", what)
            kh = _kint(kw, "kh", what, default=k, required_loc=lloc)
            kwd = _kint(kw, "kw", what, default=k, required_loc=lloc)
            stride = _kint(kw, "stride", what, default=1 if kind == "conv" else kh)
            pad = _kint(kw, "pad", what, default=kh // 2 if kind == "conv" else 0, minimum=0)
            groups = _kint(kw, "groups", what, default=1)
            out = _kint(kw, "out", what, required_loc=lloc) if kind == "conv" else in_ch
            if in_ch % groups or out % groups:
                raise error_at(f"groups={groups} does not divide in={in_ch} and out={out}",
                               kw.get("groups", (None, lloc))[1])
            L = CNNLayer(lname, kind, in_ch, out, ih, iw, kh, kwd, stride, pad, groups)
            if L.out_h < 1 or L.out_w < 1:
                raise error_at(f"{what}: a {kh}x{kwd} window with stride {stride} and pad {pad} does not fit "
                               f"a {ih}x{iw} input", lloc)
        layers.append(L)
        c, h, w = L.out_ch, L.out_h, L.out_w
    if not layers:
        raise error_at(f"cnn `{name}` has no layers", loc, hint="e.g. `conv c1 in=3 out=64 k=7 stride=2 hw=224`")
    return CNNModel(name, tuple(layers), dtype=dtype, loc=loc)


class _Resolver:
    def __init__(self, main_file: str):
        self.main = main_file
        self.model_nodes: dict[str, tuple[str, Tree, Loc]] = {}
        self.models: dict[str, Model] = {}
        self.workload: tuple[str, Tree] | None = None
        self.parallel: tuple[str, Tree] | None = None
        self.hardware: dict[str, tuple[Hardware, str]] = {}   # name -> (hw, file)
        self.hw_locs: dict[str, Loc] = {}

    # -- collection --
    def collect(self, file: str, tree: Tree) -> None:
        for node in tree.children:
            d = node.data
            if d == "model_def":
                name_tok = node.children[0]
                name, loc = str(name_tok), _loc(file, name_tok)
                if name in self.model_nodes:
                    raise _duplicate("model", name, loc, self.model_nodes[name][2])
                self.model_nodes[name] = (file, node.children[1], loc)
            elif d == "workload_def":
                if self.workload is not None:
                    f0, n0 = self.workload
                    raise error_at(f"a second workload `{node.children[0]}`", _loc(file, node.children[0]),
                                   hint=f"one workload per compilation; `{n0.children[0]}` is defined at "
                                        f"{f0}:{n0.children[0].line}")
                self.workload = (file, node)
            elif d == "parallel_def":
                if self.parallel is not None:
                    f0, n0 = self.parallel
                    raise error_at("a second parallel block", _loc(file, node),
                                   hint=f"the first one is at {f0}:{n0.meta.line}")
                self.parallel = (file, node)
            elif d in ("hardware_block", "hardware_preset"):
                name_tok = node.children[0]
                name, loc = str(name_tok), _loc(file, name_tok)
                if name in self.hardware:
                    raise _duplicate("hardware", name, loc, self.hw_locs[name])
                hw = _hardware(node, file) if d == "hardware_block" else _preset(node, file)
                self.hardware[name] = (hw, file)
                self.hw_locs[name] = loc

    # -- models --
    def model(self, name: str, loc: Loc, stack: tuple[str, ...] = ()) -> Model:
        if name in self.models:
            return self.models[name]
        if name not in self.model_nodes:
            if name in zoo.MODELS:
                return zoo.MODELS[name]
            known = list(self.model_nodes) + list(zoo.MODELS)
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = (f"did you mean `{close[0]}`? " if close else "") + "define it with `model` or use one of: " \
                + ", ".join(known)
            raise error_at(f"unknown model `{name}`", loc, hint=hint)
        file, expr, mloc = self.model_nodes[name]
        if name in stack:
            raise error_at(f"model `{name}` is defined in terms of itself", mloc)
        if expr.data == "transformer":
            m = _transformer(name, expr, file, mloc)
        elif expr.data == "cnn":
            m = _cnn(name, expr, file, mloc)
        elif expr.data == "hf":
            tok = expr.children[0]
            base = os.path.dirname(file) if not file.startswith("<") else os.getcwd()
            path = os.path.join(base, str(tok)[1:-1])
            try:
                m = load_hf_config(path, name=name, loc=_loc(file, tok))
            except DslError as e:
                raise error_at(e.message, _loc(file, tok), hint=e.hint) from None
        else:   # alias
            tok = expr.children[0]
            target = str(tok)
            if target == name and name in zoo.MODELS:
                m = zoo.MODELS[name]
            else:
                m = dataclasses.replace(self.model(target, _loc(file, tok), stack + (name,)), name=name, loc=mloc)
        self.models[name] = m
        return m

    def resolve_models(self) -> None:
        for name, (_, _, loc) in self.model_nodes.items():
            self.model(name, loc)

    # -- workload --
    def build_workload(self) -> WorkloadSpec | None:
        if self.workload is None:
            return None
        file, node = self.workload
        name_tok, *items = node.children
        wname, wloc = str(name_tok), _loc(file, name_tok)
        serves: list[dict] = []
        current: dict | None = None      # the serve that flat phases attach to
        ttft = tpot = None
        for it in items:
            d = it.data
            if d == "serve":
                mtok, block = it.children
                sloc = _loc(file, it)
                if mtok is None:
                    raise error_at("`serve` names no model", sloc, hint="e.g. `serve llama2_7b`")
                mname = str(mtok)
                model = self.model(mname, _loc(file, mtok))
                for s in serves:
                    if s["model"] == mname:
                        raise error_at(f"model `{mname}` is served twice in workload `{wname}`", _loc(file, mtok),
                                       hint=f"first served at line {s['loc'].line}; define an alias "
                                            f"(`model {mname}_b = {mname}`) to serve a second copy")
                s = {"model": mname, "m": model, "loc": sloc, "phases": [], "mb": None}
                serves.append(s)
                if block is not None:
                    for sub in block.children:
                        self._serve_item(s, sub, file)
                    current = None
                else:
                    current = s
            elif d in ("phase", "microbatches", "requests"):
                if current is None:
                    msg = "before any `serve`" if not serves else "after a `serve { ... }` block"
                    raise error_at(f"`{self._kw_text(it)}` {msg} belongs to no model", _loc(file, it),
                                   hint="put it after `serve MODEL` or inside `serve MODEL { ... }`")
                self._serve_item(current, it, file)
            elif d == "slo":
                for item in it.children:
                    kind_tree, q = item.children
                    v = _quantity(q, "time", file, str(kind_tree.children[0]))
                    if str(kind_tree.children[0]) == "ttft":
                        ttft = v
                    else:
                        tpot = v
        if not serves:
            raise error_at(f"workload `{wname}` names no model", wloc, hint="add `serve MODEL` (e.g. `serve llama2_7b`)")
        out = []
        for s in serves:
            if s.get("requests") is not None:
                self._request_mix(s)
            if not s["phases"]:
                raise error_at(f"`serve {s['model']}` has no phases", s["loc"],
                               hint="add `prefill ...`, `decode ...` or `forward ...`")
            mb = s["mb"] or 1
            phases = tuple(p if isinstance(p, PhaseSpec) else self._phase(s, p, mb, file) for p in s["phases"])
            out.append(ServeSpec(s["model"], phases, mb, loc=s["loc"]))
        return WorkloadSpec(wname, tuple(out), ttft, tpot, loc=wloc)

    @staticmethod
    def _kw_text(it: Tree) -> str:
        return str(it.children[0].children[0]) if it.data == "phase" else it.data

    def _serve_item(self, s: dict, it: Tree, file: str) -> None:
        if it.data == "requests":
            if s.get("requests") is not None:
                raise error_at(f"`requests` given twice for `{s['model']}`", _loc(file, it))
            s["requests"] = (it, file)
            return
        if it.data == "microbatches":
            tok = it.children[0]
            if s["mb"] is not None:
                raise error_at(f"`microbatches` given twice for `{s['model']}`", _loc(file, it))
            s["mb"] = _int_of(_num(tok, file), "microbatches", _loc(file, tok))
            if s["mb"] > MAX_MICROBATCHES:
                raise error_at(f"microbatches {s['mb']} is more than the {MAX_MICROBATCHES} mapc supports",
                               _loc(file, tok))
        else:
            kind = str(it.children[0].children[0])
            for p in s["phases"]:
                if str(p.children[0].children[0]) == kind:
                    raise error_at(f"phase `{kind}` given twice for `{s['model']}`", _loc(file, it))
            s["phases"].append(it)

    def _request_mix(self, s: dict) -> None:
        """`requests "file.csv" [steps=N] [width=W]`: a prefill phase with every request's prompt length and a
        linked decode phase (request j continues its prefill; its context starts at prompt + width and it leaves
        the batch after its output length; the graph holds `steps` decode iterations, default min(max output, 4))."""
        it, file = s["requests"]
        loc = _loc(file, it)
        if isinstance(s["m"], CNNModel) or s["m"].encoder_only:
            raise error_at(f"`requests` needs a decoder model; `{s['model']}` is not one", loc)
        if s["phases"]:
            raise error_at(f"`requests` replaces the `prefill`/`decode` lines of `{s['model']}`; give one or the "
                           "other", loc)
        path_tok, *kws = it.children
        kw = _kwargs(kws, file, ("steps", "width"), "`requests`")
        path = os.path.join(os.path.dirname(os.path.abspath(file)), str(path_tok)[1:-1])
        rows = read_requests_csv(path, _loc(file, path_tok))
        width = _kint(kw, "width", "`requests`", default=1)
        outs = tuple(o for _, o in rows)
        steps = _kint(kw, "steps", "`requests`", default=min(max(outs), 4))
        prompts = tuple(p for p, _ in rows)
        m = s["m"]
        longest = max(p + o for p, o in rows)
        if longest > m.max_seq:
            j = max(range(len(rows)), key=lambda i: sum(rows[i]))
            raise error_at(f"request {j + 1} of {path} needs {longest} tokens (prompt + output), more than the "
                           f"{m.max_seq}-token context of `{s['model']}`", _loc(file, path_tok))
        n = len(rows)
        s["phases"] = [PhaseSpec("prefill", n, prompts, loc=loc),
                       PhaseSpec("decode", n, tuple(p + width for p in prompts), steps, width, loc=loc,
                                 outputs=tuple(-(-o // width) for o in outs), linked=True)]

    def _lengths(self, v: _Val, key: str, n: int, dist: str = "even", seed: int = 0,
                 batch: int = 1) -> tuple[int, ...]:
        if v.kind == "range" and dist != "even":
            a, b = (_int_of(x, f"`{key}`", v.loc) for x in v.v)
            if a > b:
                raise error_at(f"empty range {v.text}: the first length must not exceed the last", v.loc)
            return sample_lengths(dist, a, b, batch, seed)     # one length per request
        if v.kind == "number":
            return (_int_of(v.v, f"`{key}`", v.loc),)
        if v.kind == "range":
            a, b = (_int_of(x, f"`{key}`", v.loc) for x in v.v)
            if a > b:
                raise error_at(f"empty range {v.text}: the first length must not exceed the last", v.loc)
            if n == 1:
                return (round((a + b) / 2),)
            return tuple(round(a + (b - a) * i / (n - 1)) for i in range(n))
        if v.kind == "list":
            if not v.v:
                raise error_at(f"`{key}` list is empty", v.loc)
            return tuple(_int_of(x, f"`{key}`", v.loc) for x in v.v)
        raise error_at(f"`{key}` must be a number, a range `a..b` or a list `[a, b]`; got `{v.text}`", v.loc)

    def _phase(self, s: dict, node: Tree, mb: int, file: str) -> PhaseSpec:
        kind_tree, *kws = node.children
        phase, ploc, m = str(kind_tree.children[0]), _loc(file, node), s["m"]
        keys = {"prefill": ("batch", "seq", "dist", "seed"), "decode": ("batch", "context", "steps", "width",
                "dist", "seed"), "forward": ("batch", "seq", "dist", "seed")}[phase]
        kw = _kwargs(kws, file, keys, f"`{phase}`")
        is_cnn = isinstance(m, CNNModel)
        if is_cnn and phase != "forward":
            raise error_at(f"`{s['model']}` is a CNN: it runs `forward`, not `{phase}`", ploc)
        if isinstance(m, TransformerModel) and m.encoder_only and phase == "decode":
            raise error_at(f"`{s['model']}` is encoder-only: it has no `decode` phase", ploc,
                           hint="use `forward batch=.. seq=..`")
        if isinstance(m, TransformerModel) and not m.encoder_only and phase == "forward":
            raise error_at(f"`{s['model']}` is a decoder: use `prefill` and `decode`, not `forward`", ploc)
        batch = _kint(kw, "batch", f"`{phase}`", required_loc=ploc)
        if batch > MAX_BATCH:
            raise error_at(f"batch {batch} is more than the {MAX_BATCH} requests per phase mapc supports",
                           kw["batch"][1], hint="a serving iteration rarely holds more than a few thousand requests")
        n = min(mb, batch)
        lkey = "context" if phase == "decode" else "seq"
        if is_cnn:
            if "seq" in kw:
                raise error_at("a CNN takes no `seq`", kw["seq"][1])
            lengths = (1,)
        else:
            if lkey not in kw:
                raise error_at(f"`{phase}` needs `{lkey}=`", ploc)
            dist = _kword(kw, "dist", DISTRIBUTIONS, "even")
            if dist != "even" and kw[lkey][0].kind != "range":
                raise error_at(f"`dist={dist}` needs a range `{lkey}=a..b`", kw["dist"][1])
            seed = _kint(kw, "seed", f"`{phase}`", default=0, minimum=0)
            lengths = self._lengths(kw[lkey][0], lkey, n, dist, seed, _kint(kw, "batch", f"`{phase}`", default=1))
        steps = _kint(kw, "steps", "`decode`", default=1)
        width = _kint(kw, "width", "`decode`", default=1)
        if isinstance(m, TransformerModel):
            # decode: `context` already counts the first step's tokens; step t attends to context + t*width
            longest = max(lengths) + ((steps - 1) * width if phase == "decode" else 0)
            if longest > m.max_seq:
                raise error_at(f"{lkey} {longest} exceeds "
                               f"the {m.max_seq}-token context of `{s['model']}`", kw[lkey][0].loc)
        return PhaseSpec(phase, batch, lengths, steps, width, loc=ploc)

    # -- parallel --
    def build_parallel(self) -> ParallelSpec:
        if self.parallel is None:
            return ParallelSpec()
        file, node = self.parallel
        vals: dict = {}
        locs: dict[str, Loc] = {}
        for it in node.children:
            loc = _loc(file, it)
            key = "pd" if it.data == "pd" else str(it.children[0].children[0])
            if key in locs:
                raise error_at(f"`{key}` given twice", loc)
            locs[key] = loc
            if it.data == "par_num":
                vals[key] = _int_of(_num(it.children[1], file), f"`{key}`", _loc(file, it.children[1]))
            elif it.data == "par_word":
                tok = it.children[1]
                text, tloc = str(tok), _loc(file, tok)
                if key == "pipeline":
                    if tok.type == "NUMBER":
                        vals["pipeline"] = _int_of(_num(tok, file), "`pipeline`", tloc)
                    elif text != "auto":
                        raise error_at(f"`pipeline` takes a number of stages or `auto`, got `{text}`", tloc)
                elif key == "placement":
                    choices = ("block", "row", "column", "snake", "auto")
                    if text not in choices:
                        raise error_at(f"unknown placement `{text}`", tloc, hint="one of " + ", ".join(choices))
                    vals["placement"] = None if text == "auto" else text
                else:   # tp
                    if text not in ("1d", "2d"):
                        raise error_at(f"`tp` takes `1d` or `2d`, got `{text}`", tloc)
                    vals["tp_scheme"] = text
            else:   # pd
                mode_tok, args = it.children
                mode, mloc = str(mode_tok), _loc(file, mode_tok)
                if mode not in ("fused", "disaggregated", "auto"):
                    raise error_at(f"unknown pd mode `{mode}`", mloc, hint="one of fused, disaggregated(prefill=N, "
                                                                            "decode=M), auto")
                kw = _kwargs([args] if args is not None else [], file, ("prefill", "decode"), f"pd {mode}")
                if mode == "disaggregated":
                    vals["pd_prefill"] = _kint(kw, "prefill", "`pd disaggregated(...)`", required_loc=mloc)
                    vals["pd_decode"] = _kint(kw, "decode", "`pd disaggregated(...)`", required_loc=mloc)
                elif kw:
                    raise error_at(f"`pd {mode}` takes no arguments", mloc)
                vals["pd"] = mode
        return ParallelSpec(**vals, loc=_loc(file, node), locs=locs)


# ---- hardware ---------------------------------------------------------------------------------------------
_EDGES = ("west", "east", "north", "south")
_CHIP_KINDS = {"freq": "frequency", "sram": "size", "mac": "energy_mac", "sram_energy": "energy_byte",
               "static": "power", "sram_bw": "bandwidth"}
_NOP_KINDS = {"link": "bandwidth", "hop": "time", "energy": "energy_bit"}
_DRAM_KINDS = {"bandwidth": "bandwidth", "energy": "energy_bit", "capacity": "size"}
_PIM_KINDS = {"bandwidth": "bandwidth", "energy": "energy_bit", "capacity": "size", "compute": "compute",
              "mac": "energy_mac"}


def _settings(items, file: str, kinds: dict[str, str], what: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for it in items:
        key = str(it.children[0].children[0])
        loc = _loc(file, it)
        if key not in kinds:
            raise error_at(f"`{key}` is not a setting of {what}", loc, hint="settings: " + ", ".join(kinds))
        if key in out:
            raise error_at(f"`{key}` given twice", loc)
        out[key] = _quantity(it.children[1], kinds[key], file, key)
    return out


def _dims(children, file: str, what: str) -> tuple[int, int]:
    toks = [c for c in children if isinstance(c, Token)]
    loc = _loc(file, toks[0])
    if len(toks) == 1:
        a, b = str(toks[0]).split("x")
        vals = (float(a), float(b))
    else:
        vals = (_num(toks[0], file), _num(toks[1], file))
    r, c = (_int_of(v, what, loc) for v in vals)
    if r * c > MAX_CELLS:
        raise error_at(f"{what} {r}x{c} is too large", loc)
    return r, c


def _chiplet_type(node: Tree, file: str) -> ChipletType:
    name_tok, *items = node.children
    name, loc = str(name_tok), _loc(file, name_tok)
    pes = dataflow = None
    precision = "fp16"
    settings = []
    seen: set[str] = set()
    for it in items:
        if it.data == "pes":
            if "pes" in seen:
                raise error_at("`pes` given twice", _loc(file, it))
            seen.add("pes")
            pes = _dims(it.children, file, "pes")
        elif it.data == "word_setting":
            key, val = str(it.children[0].children[0]), str(it.children[1])
            vloc = _loc(file, it.children[1])
            if key in seen:
                raise error_at(f"`{key}` given twice", _loc(file, it))
            seen.add(key)
            if key == "dataflow":
                if val not in ("ws", "os", "rs"):
                    raise error_at(f"unknown dataflow `{val}`", vloc,
                                   hint="ws (weight-stationary), os (output-stationary), rs (row-stationary)")
                dataflow = val
            else:
                if val not in K.MAC_ENERGY:
                    raise error_at(f"unknown precision `{val}`", vloc, hint="one of " + ", ".join(K.MAC_ENERGY))
                precision = val
        else:
            settings.append(it)
    s = _settings(settings, file, _CHIP_KINDS, f"chiplet `{name}`")
    for need, example in (("pes", "pes 32x32"), ("dataflow", "dataflow ws")):
        if need not in seen:
            raise error_at(f"chiplet `{name}` needs `{need}`", loc, hint=f"e.g. `{example}`")
    for need, example in (("freq", "freq 1 GHz"), ("sram", "sram 2 MiB")):
        if need not in s:
            raise error_at(f"chiplet `{name}` needs `{need}`", loc, hint=f"e.g. `{example}`")
    r, c = pes
    # Defaults from the cited constant table (mapc.hw.constants): fp16 MAC 0.0873 pJ (Gemini main.cpp
    # LR_mac_cost), SRAM energy scaled from Gemini's 1 MiB read cost, static power scaled from Simba.
    return ChipletType(name=name, pe_rows=r, pe_cols=c, dataflow=dataflow, freq=s["freq"], sram=s["sram"],
                       mac_energy=s.get("mac", K.MAC_ENERGY[precision]),
                       sram_energy=s.get("sram_energy", K.sram_energy_per_byte(s["sram"])),
                       static_power=s.get("static", K.static_power(r * c, s["freq"])),
                       precision=precision, sram_bw=s.get("sram_bw"))


def _edge_runs(rows: int, cols: int, edge: str, n: int) -> list[tuple[int, ...]]:
    """`n` equal runs of the chiplet ids along `edge` (row-major ids `y*cols+x`)."""
    length = rows if edge in ("west", "east") else cols
    out = []
    for i in range(n):
        lo, hi = i * length // n, (i + 1) * length // n
        if edge == "west":
            ids = tuple(y * cols for y in range(lo, hi))
        elif edge == "east":
            ids = tuple(y * cols + cols - 1 for y in range(lo, hi))
        elif edge == "north":
            ids = tuple(range(lo, hi))
        else:
            ids = tuple((rows - 1) * cols + x for x in range(lo, hi))
        out.append(ids)
    return out


def _memory(node: Tree, file: str, rows: int, cols: int, kinds: dict[str, str], what: str):
    """(name, edges, channels per edge, settings) of a dram/pim block."""
    name_tok, *items = node.children
    name, loc = str(name_tok), _loc(file, name_tok)
    edges: list[str] = []
    channels = None
    settings = []
    for it in items:
        if it.data == "at":
            if edges:
                raise error_at("`at` given twice", _loc(file, it))
            for e in it.children:
                if str(e) not in _EDGES:
                    raise error_at(f"unknown package edge `{e}`", _loc(file, e), hint="edges: " + ", ".join(_EDGES))
                if str(e) in edges:
                    raise error_at(f"edge `{e}` named twice", _loc(file, e))
                edges.append(str(e))
        elif it.data == "channels":
            if channels is not None:
                raise error_at("`channels` given twice", _loc(file, it))
            tok = it.children[0]
            channels = _int_of(_num(tok, file), "`channels`", _loc(file, tok))
            edge_len = min(rows if e in ("west", "east") else cols for e in (edges or ["west"]))
            if channels > max(rows, cols) or channels > edge_len and edges:
                raise error_at(f"{channels} channels per edge but an edge has only {edge_len} chiplets",
                               _loc(file, tok))
        else:
            settings.append(it)
    s = _settings(settings, file, kinds, f"{what} `{name}`")
    if not edges:
        raise error_at(f"{what} `{name}` needs `at EDGE, ...`", loc, hint="e.g. `at west, east`")
    if "bandwidth" not in s:
        raise error_at(f"{what} `{name}` needs `bandwidth`", loc, hint="e.g. `bandwidth 256 GB/s`")
    return name, edges, channels or 1, s, loc


def _hardware(node: Tree, file: str) -> Hardware:
    name_tok, *items = node.children
    name, hloc = str(name_tok), _loc(file, name_tok)
    grids = [it for it in items if it.data == "grid"]
    if not grids:
        raise error_at(f"hardware `{name}` needs `grid ROWS x COLS`", hloc, hint="e.g. `grid 6 x 6`")
    if len(grids) > 1:
        raise error_at("`grid` given twice", _loc(file, grids[1]))
    rows, cols = _dims(grids[0].children, file, "grid")
    types: dict[str, ChipletType] = {}
    type_locs: dict[str, Loc] = {}
    for it in items:
        if it.data == "chiplet":
            t = _chiplet_type(it, file)
            tl = _loc(file, it.children[0])
            if t.name in types:
                raise _duplicate("chiplet", t.name, tl, type_locs[t.name])
            types[t.name], type_locs[t.name] = t, tl
    if not types:
        raise error_at(f"hardware `{name}` defines no chiplet", hloc,
                       hint="e.g. `chiplet core { pes 32x32 dataflow ws freq 1 GHz sram 2 MiB }`")
    # placement: every cell exactly once
    cell: dict[tuple[int, int], tuple[str, Loc]] = {}
    places = [it for it in items if it.data == "place"]
    if not places and len(types) == 1:
        only = next(iter(types))
        cell = {(x, y): (only, hloc) for y in range(rows) for x in range(cols)}
    for it in places:
        tname_tok, where = it.children
        tname, ploc = str(tname_tok), _loc(file, it)
        if tname not in types:
            raise error_at(f"unknown chiplet `{tname}`", _loc(file, tname_tok),
                           hint="chiplets: " + ", ".join(types))
        if where.data == "place_all":
            cells = [(x, y) for y in range(rows) for x in range(cols)]
        else:
            axis, span = str(where.children[0].children[0]), where.children[1]
            sv = _value(span, file)
            lo, hi = (sv.v if sv.kind == "range" else (sv.v, sv.v))
            lim = rows if axis == "rows" else cols
            for v in (lo, hi):
                if v != int(v) or not 0 <= v < lim:
                    raise error_at(f"{axis} {sv.text} outside the grid (0..{lim - 1})", sv.loc)
            if lo > hi:
                raise error_at(f"empty range {sv.text}", sv.loc)
            idx = range(int(lo), int(hi) + 1)
            cells = [(x, y) for y in idx for x in range(cols)] if axis == "rows" else \
                [(x, y) for y in range(rows) for x in idx]
        for xy in cells:
            if xy in cell:
                prev, pl = cell[xy]
                raise error_at(f"cell (x={xy[0]}, y={xy[1]}) is placed twice: `{prev}` (line {pl.line}) and "
                               f"`{tname}`", ploc)
            cell[xy] = (tname, ploc)
    missing = [(x, y) for y in range(rows) for x in range(cols) if (x, y) not in cell]
    if missing:
        shown = ", ".join(f"({x},{y})" for x, y in missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise error_at(f"{len(missing)} cell(s) of the {rows}x{cols} grid have no chiplet: {shown}", hloc,
                       hint="place every cell exactly once: `place TYPE rows A..B`, `cols A..B` or `all`")
    chiplets = tuple(Chiplet(y * cols + x, x, y, types[cell[(x, y)][0]]) for y in range(rows) for x in range(cols))
    # network-on-package: defaults are mapc.hw.constants' Simba-class NoP (100 GB/s, 20 ns/hop, 1.3 pJ/bit)
    nops = [it for it in items if it.data == "nop"]
    if len(nops) > 1:
        raise error_at("`nop` given twice", _loc(file, nops[1]))
    topo, ns = "mesh", {}
    if nops:
        topo_tok, *nitems = nops[0].children
        topo = str(topo_tok)
        if topo not in ("mesh", "torus", "ring"):
            raise error_at(f"unknown topology `{topo}`", _loc(file, topo_tok), hint="mesh, torus or ring")
        ns = _settings([i for i in nitems if i is not None], file, _NOP_KINDS, "nop")
    nop = NoP(topo, ns.get("link", K.TABLE["nop_link_bw_mcm"].value), ns.get("hop", K.NOP_HOP_LATENCY),
              ns.get("energy", K.NOP_MCM_E_BIT))
    # DRAM: `bandwidth`/`capacity` are the block's totals, split evenly over edges x channels.
    # Defaults: HBM2 3.9 pJ/bit (O'Connor MICRO 2017), 16 GiB per block.
    dram, pims, mem_names = [], [], {}
    for it in items:
        if it.data not in ("dram", "pim"):
            continue
        kinds, what = (_DRAM_KINDS, "dram") if it.data == "dram" else (_PIM_KINDS, "pim")
        mname, edges, per_edge, s, mloc = _memory(it, file, rows, cols, kinds, what)
        if mname in mem_names:
            raise _duplicate("memory", mname, mloc, mem_names[mname])
        mem_names[mname] = mloc
        n = len(edges) * per_edge
        runs = [(e, i, ids) for e in edges for i, ids in enumerate(_edge_runs(rows, cols, e, per_edge))]
        if what == "dram":
            for e, i, ids in runs:
                dram.append(DramChannel(f"{mname}_{e}{i}" if n > 1 else mname, e, s["bandwidth"] / n,
                                        s.get("energy", K.HBM2_E_BIT), s.get("capacity", 16 * K.GiB) / n, ids))
        else:   # AttAcc-style HBM-PIM defaults (mapc.hw.constants: bank-level energy, 0.32 pJ/op ALU, 1 FLOP/B)
            for e, i, ids in runs:
                bw = s["bandwidth"] / n
                pims.append(PimUnit(f"{mname}_{e}{i}" if n > 1 else mname, bw,
                                    s["compute"] / n if "compute" in s else bw * K.PIM_OPS_PER_BYTE,
                                    s.get("energy", K.PIM_BANK_E_BIT), s.get("mac", K.PIM_MAC_ENERGY),
                                    s.get("capacity", 16 * K.GiB) / n, ids))
    if not dram:
        raise error_at(f"hardware `{name}` has no `dram` block", hloc,
                       hint="e.g. `dram hbm { at west, east  bandwidth 256 GB/s  energy 3.9 pJ/bit }`")
    sources = (f"hardware block `{name}` at {file}:{hloc.line}",
               "unstated figures: mapc.hw.constants (MAC 0.0873 pJ Gemini; SRAM from Gemini 1 MiB read cost; "
               "static from Simba; NoP 100 GB/s / 20 ns / 1.3 pJ/bit Simba-class; HBM2 3.9 pJ/bit O'Connor 2017)")
    return Hardware(name, rows, cols, chiplets, nop, tuple(dram), tuple(pims), sources)


def _preset(node: Tree, file: str) -> Hardware:
    tok = node.children[1]
    pname = str(tok).strip('"')
    try:
        return presets.get(pname)
    except MapcError as e:
        raise error_at(f"unknown hardware preset `{pname}`", _loc(file, tok), hint=e.hint) from None


# ---- entry points -----------------------------------------------------------------------------------------
def resolve(units: list[tuple[str, Tree]], main_file: str) -> Spec:
    """The `Spec` of `main_file` given (file, tree) for it and its imports (imports first)."""
    r = _Resolver(main_file)
    for file, tree in units:
        r.collect(file, tree)
    r.resolve_models()
    workload = r.build_workload()
    parallel = r.build_parallel()
    models = dict(r.models)
    if workload is not None:
        for s in workload.serves:
            models.setdefault(s.model, zoo.MODELS.get(s.model))
    hw_all = {n: hw for n, (hw, _) in r.hardware.items()}
    in_main = [hw for hw, f in r.hardware.values() if f == main_file]
    hardware = in_main[0] if len(in_main) == 1 else (next(iter(hw_all.values())) if len(hw_all) == 1 else None)
    return Spec(file=main_file, models=models, workload=workload, parallel=parallel, hardware=hardware,
                hardware_blocks=hw_all)


def validate(spec: Spec, hw: Hardware) -> None:
    """Checks of `spec` against `hw` (parallel degrees against chiplets, heads and layers; the PD split); DslError
    at the offending line. Memory capacity is not checked here: `mapc.compiler.memory.check_memory` is the one
    memory check (weights plus the peak KV cache, `InfeasibleError`, exit 3)."""
    p, n = spec.parallel, hw.n

    def at(key: str) -> Loc | None:
        return p.locs.get(key, p.loc)

    if p.tensor > n:
        raise error_at(f"tensor {p.tensor} needs more chiplets than the {n} of `{hw.name}`", at("tensor"))
    if p.pipeline is not None and p.pipeline > n // p.tensor:
        what = f"{n} chiplets" if p.tensor == 1 else f"{n} chiplets / tensor {p.tensor} = {n // p.tensor} groups"
        raise error_at(f"pipeline {p.pipeline} has more stages than {what} of `{hw.name}`", at("pipeline"))
    used = p.tensor * (p.pipeline or 1) * p.data
    if used > n:
        raise error_at(f"tensor {p.tensor} x pipeline {p.pipeline or 1} x data {p.data} = {used} chiplets, but "
                       f"`{hw.name}` has {n}", at("data") if "data" in p.locs else at("tensor"))
    if p.pd == "disaggregated":
        total = (p.pd_prefill or 0) + (p.pd_decode or 0)
        if total > n:
            raise error_at(f"disaggregated split prefill={p.pd_prefill} + decode={p.pd_decode} = {total} chiplets, "
                           f"but `{hw.name}` has {n}", at("pd"))
        if p.tensor > min(p.pd_prefill or n, p.pd_decode or n):
            raise error_at(f"tensor {p.tensor} does not fit in the disaggregated split (prefill={p.pd_prefill}, "
                           f"decode={p.pd_decode})", at("tensor"))
    if spec.workload is None:
        return
    for s in spec.workload.serves:
        m = spec.models.get(s.model) or zoo.MODELS.get(s.model)
        if m is None:
            raise error_at(f"unknown model `{s.model}`", s.loc)
        if isinstance(m, TransformerModel):
            if m.heads % p.tensor:
                raise error_at(f"tensor {p.tensor} does not divide heads={m.heads} of `{s.model}`", at("tensor"),
                               hint="tensor parallelism splits attention heads evenly over the chiplets")
            if p.pipeline is not None and p.pipeline > m.layers:
                raise error_at(f"pipeline {p.pipeline} has more stages than the {m.layers} layers of `{s.model}`",
                               at("pipeline"))
        elif p.pipeline is not None and p.pipeline > len(m.layers):
            raise error_at(f"pipeline {p.pipeline} has more stages than the {len(m.layers)} layers of "
                           f"`{s.model}`", at("pipeline"))
