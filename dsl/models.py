"""Model definitions given meaning: `transformer(...)`, `cnn { layers }`, `hf("config.json")`, `onnx("model.onnx")`
and aliases.

`ModelTable` holds the `model NAME = ...` definitions of a compilation (all files) and resolves a name on first
use: a definition of that name, else a zoo model (`mapc.dsl.zoo`), else an "unknown model" error with a close
match. An alias takes its target's numbers under the new name; `OTHER(key=value, ...)` also overrides
`transformer(...)` keys of a transformer (`model llama2_70b_w4 = llama2_70b(weights=int4)`); a chain of aliases that comes back to itself is an
error at the definition that closes it.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from types import MappingProxyType
from typing import Literal, cast

from mapc.core.errors import DslError, Loc
from mapc.core.spec import DTYPE_BYTES, CNNLayer, CNNModel, GraphModel, Model, TransformerModel
from mapc.dsl import syntax as S
from mapc.dsl import zoo
from mapc.dsl.hfconfig import load_hf_config
from mapc.dsl.onnx_import import load_onnx
from mapc.dsl.parser import error_at
from mapc.dsl.values import duplicate, kbool, kint, kwargs, kword, need_int, need_word

TRANSFORMER_KEYS = ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab", "dtype", "experts", "top_k",
                    "gated", "encoder_only", "max_seq", "weights")
DERIVED_FIELDS = ("name", "layers", "hidden", "heads", "kv_heads", "ffn", "vocab", "dtype", "gated_ffn", "experts",
                  "top_k", "encoder_only", "max_seq", "weight_dtype", "loc")    # what `transformer(...)` sets
LAYER_KEYS = MappingProxyType({"conv": ("in", "out", "k", "kh", "kw", "stride", "pad", "groups", "hw", "h", "w"),
                               "pool": ("k", "kh", "kw", "stride", "pad", "hw", "h", "w"),
                               "fc": ("in", "out")})


def transformer(name: str, node: S.Transformer | S.Alias, loc: Loc,
                base: TransformerModel | None = None) -> TransformerModel:
    """`transformer(...)` named `name` (defined at `loc`): layers, hidden, heads, ffn and vocab are required;
    heads must divide hidden, kv_heads divide heads, and top_k lie in 1..experts. With a `base` (`OTHER(...)`)
    every key defaults to the base's value and the base's other fields (Hugging Face extras) are kept."""
    what = f"transformer `{name}`"
    kw = kwargs(node.args, TRANSFORMER_KEYS, "transformer(...)" if base is None else f"`{base.name}(...)`")
    b = base

    def req(k: str, default: int | None = None, minimum: int = 1) -> int:
        return need_int(kw, k, what, loc, default=getattr(b, k) if b is not None else default, minimum=minimum)

    layers, hidden, heads, ffn, vocab = (req(k) for k in ("layers", "hidden", "heads", "ffn", "vocab"))
    kv = need_int(kw, "kv_heads", what, loc, default=heads if b is None or "heads" in kw else b.kv_heads)
    experts = req("experts", 0, minimum=0)
    top_k = need_int(kw, "top_k", what, loc, default=(2 if experts else 0) if b is None or "experts" in kw
                     else b.top_k, minimum=0)
    dtype = need_word(kw, "dtype", tuple(DTYPE_BYTES), b.dtype if b is not None else "fp16")

    def at(*keys: str) -> Loc:
        """Where the first of `keys` was written (the definition when none was: a base's own value)."""
        return next((kw[k][1] for k in keys if k in kw), loc)

    if hidden % heads:
        raise error_at(f"hidden={hidden} is not a multiple of heads={heads}", at("hidden", "heads"))
    if heads % kv:
        raise error_at(f"kv_heads={kv} does not divide heads={heads}", at("kv_heads", "heads"))
    if experts and not 1 <= top_k <= experts:
        raise error_at(f"top_k={top_k} must be between 1 and experts={experts}", at("top_k", "experts"))
    if top_k and not experts:
        raise error_at("top_k needs experts > 0", at("top_k"))
    m = TransformerModel(name=name, layers=layers, hidden=hidden, heads=heads, kv_heads=kv, ffn=ffn, vocab=vocab,
                         dtype=dtype, gated_ffn=kbool(kw, "gated", b.gated_ffn if b is not None else True),
                         experts=experts, top_k=top_k,
                         encoder_only=kbool(kw, "encoder_only", b.encoder_only if b is not None else False),
                         max_seq=need_int(kw, "max_seq", what, loc, default=b.max_seq if b is not None else 4096),
                         weight_dtype=kword(kw, "weights", tuple(DTYPE_BYTES),
                                            b.weight_dtype if b is not None else None), loc=loc)
    if b is None:
        return m
    own = {f: getattr(m, f) for f in DERIVED_FIELDS}
    return dataclasses.replace(b, **own)        # the base's Hugging Face extras kept


def _layer(node: S.CnnLayer, c: int | None, h: int | None, w: int | None) -> CNNLayer:
    """One CNN layer given the previous layer's output shape (channels c, height h, width w; None: first)."""
    kind = cast(Literal["conv", "pool", "fc"], node.kind.text)     # the grammar allows only these
    lname, lloc = node.name.text, node.name.loc
    kw = kwargs(node.args, LAYER_KEYS[kind], f"a {kind} layer")
    what = f"{kind} layer `{lname}`"
    if kind == "fc":
        prev = c * h * w if c is not None and h is not None and w is not None else None
        return CNNLayer(lname, "fc", need_int(kw, "in", what, lloc, default=prev), need_int(kw, "out", what, lloc),
                        1, 1)
    in_ch = kint(kw, "in", what, default=c, required_loc=lloc) if kind == "conv" else c
    if in_ch is None:
        raise error_at(f"{what} cannot be the first layer (no input channels)", lloc)
    hw = kint(kw, "hw", what)
    ih = need_int(kw, "h", what, lloc, default=hw if hw is not None else h)
    iw = need_int(kw, "w", what, lloc, default=hw if hw is not None else w)
    k = kint(kw, "k", what)
    kh = need_int(kw, "kh", what, lloc, default=k)
    kwd = need_int(kw, "kw", what, lloc, default=k)
    stride = need_int(kw, "stride", what, lloc, default=1 if kind == "conv" else kh)
    pad = need_int(kw, "pad", what, lloc, default=kh // 2 if kind == "conv" else 0, minimum=0)
    groups = need_int(kw, "groups", what, lloc, default=1)
    out = need_int(kw, "out", what, lloc) if kind == "conv" else in_ch
    if in_ch % groups or out % groups:
        raise error_at(f"groups={groups} does not divide in={in_ch} and out={out}",
                       kw["groups"][1] if "groups" in kw else lloc)
    layer = CNNLayer(lname, kind, in_ch, out, ih, iw, kh, kwd, stride, pad, groups)
    if layer.out_h < 1 or layer.out_w < 1:
        raise error_at(f"{what}: a {kh}x{kwd} window with stride {stride} and pad {pad} does not fit "
                       f"a {ih}x{iw} input", lloc)
    return layer


def cnn(name: str, node: S.Cnn, loc: Loc) -> CNNModel:
    """`cnn [(dtype=..)] { layers }` named `name`: each layer's input shape is the previous layer's output
    (a first `conv` needs `in=`, `h`/`w` or `hw`; an `fc` flattens), layer names are unique."""
    kw = kwargs(node.args, ("dtype",), "cnn(...)")
    dtype = need_word(kw, "dtype", tuple(DTYPE_BYTES), "fp16")
    layers: list[CNNLayer] = []
    seen: dict[str, Loc] = {}
    c: int | None = None
    h: int | None = None
    w: int | None = None
    for ln in node.layers:
        lname, lloc = ln.name.text, ln.name.loc
        if lname in seen:
            raise duplicate("layer", lname, lloc, seen[lname])
        seen[lname] = lloc
        layer = _layer(ln, c, h, w)
        layers.append(layer)
        c, h, w = layer.out_ch, layer.out_h, layer.out_w
    if not layers:
        raise error_at(f"cnn `{name}` has no layers", loc, hint="e.g. `conv c1 in=3 out=64 k=7 stride=2 hw=224`")
    return CNNModel(name, tuple(layers), dtype=dtype, loc=loc)


def _hf(name: str, node: S.HfConfig) -> TransformerModel:
    """`hf("path")`: the path is relative to the defining file (to the working directory for `<string>`)."""
    try:
        return load_hf_config(_relative(node.path), name=name, loc=node.path.loc)
    except DslError as e:
        raise error_at(e.message, node.path.loc, hint=e.hint) from None


def _relative(node_path: S.Str) -> str:
    """A path in the language: relative to the defining file (to the working directory for `<string>`)."""
    file = node_path.loc.file
    base = os.path.dirname(file) if not file.startswith("<") else os.getcwd()
    return os.path.join(base, node_path.value)


def _onnx(name: str, node: S.OnnxModel) -> GraphModel:
    """`onnx("path", batch=.., seq=.., dtype=.., SYMBOL=..)` (`mapc.dsl.onnx_import`)."""
    names = tuple(a.name.text for a in node.args)
    kw = kwargs(node.args, ("batch", "seq", "dtype") + tuple(n for n in names if n not in ("batch", "seq", "dtype")),
                "onnx(...)")
    what = f"onnx model `{name}`"
    dims = {k: need_int(kw, k, what, node.loc) for k in kw if k not in ("batch", "seq", "dtype")}
    try:
        return load_onnx(_relative(node.path), name, batch=kint(kw, "batch", what), seq=kint(kw, "seq", what),
                         dims=dims, dtype=kword(kw, "dtype", tuple(DTYPE_BYTES), None), loc=node.path.loc)
    except DslError as e:
        raise error_at(e.message, node.path.loc, hint=e.hint) from None


class ModelTable:
    """The `model` definitions of a compilation by name, each resolved once, on first use."""

    def __init__(self) -> None:
        self.defs: dict[str, S.ModelDef] = {}
        self.resolved: dict[str, Model] = {}      # in the order resolutions finish (an alias after its target)

    def define(self, node: S.ModelDef) -> None:
        """Record a definition; a name defined twice is an error at the second one."""
        name = node.name.text
        if name in self.defs:
            raise duplicate("model", name, node.name.loc, self.defs[name].name.loc)
        self.defs[name] = node

    def get(self, name: str, loc: Loc, stack: tuple[str, ...] = ()) -> Model:
        """The model `name` (used at `loc`); `stack` holds the aliases being resolved, to catch a cycle."""
        if name in self.resolved:
            return self.resolved[name]
        if name not in self.defs:
            if name in zoo.MODELS:
                return zoo.MODELS[name]
            known = list(self.defs) + list(zoo.MODELS)
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = (f"did you mean `{close[0]}`? " if close else "") + "define it with `model` or use one of: " \
                + ", ".join(known)
            raise error_at(f"unknown model `{name}`", loc, hint=hint)
        node = self.defs[name]
        expr, mloc = node.expr, node.name.loc
        if name in stack:
            raise error_at(f"model `{name}` is defined in terms of itself", mloc)
        m: Model
        if isinstance(expr, S.Transformer):
            m = transformer(name, expr, mloc)
        elif isinstance(expr, S.Cnn):
            m = cnn(name, expr, mloc)
        elif isinstance(expr, S.HfConfig):
            m = _hf(name, expr)
        elif isinstance(expr, S.OnnxModel):
            m = _onnx(name, expr)
        elif expr.args:
            base = self.get(expr.target.text, expr.target.loc, stack + (name,))
            if not isinstance(base, TransformerModel):
                raise error_at(f"`{expr.target.text}(...)` overrides transformer keys, but `{expr.target.text}` is "
                               f"not a transformer", expr.target.loc, hint=f"write `model {name} = "
                                                                           f"{expr.target.text}` without arguments")
            m = transformer(name, expr, mloc, base)
        else:
            target = expr.target.text
            if target == name and name in zoo.MODELS:
                m = zoo.MODELS[name]
            else:
                m = dataclasses.replace(self.get(target, expr.target.loc, stack + (name,)), name=name, loc=mloc)
        self.resolved[name] = m
        return m

    def resolve_all(self) -> None:
        """Resolve every definition, in definition order (so that an error in any of them is reported)."""
        for name, node in self.defs.items():
            self.get(name, node.name.loc)
