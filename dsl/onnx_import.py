"""A `GraphModel` from an ONNX file: `model NAME = onnx("file.onnx", batch=.., seq=..)` and `mapc models file.onnx`.

What the importer does, and decides:

- Shapes come from `onnx.shape_inference` (with data propagation, so Reshape targets computed in the graph
  resolve), after every symbolic dimension of the graph inputs is fixed: `batch=` sets the dimensions whose
  name says batch (`batch`, `batch_size`, `N`, `B`, ...; default 1), `seq=` those that say sequence (`seq`,
  `sequence_length`, `tokens`, `S`, ...); any other symbol is given by its own name (`past_len=128`). A symbol
  left without a value is an error naming it. `dtype=` prices the graph at another precision (default: the
  graph's own floating-point type).
- Weights are never read, only their shapes: a model whose external data file is absent (Stream's
  `resnet18.onnx`) imports from the initializers' dimensions alone, and a note says so. When the file is there,
  only its small integer tensors are loaded (shape constants that shape inference may need).
- A weight is an initializer, a Constant, a graph input used only as the second operand of Gemm/MatMul/Conv
  (Stream passes its attention projections that way), or a layout op (Transpose, Reshape, Cast, ...) of weights.
- Operators (`GraphOp`, priced by `mapc.compiler.graph_ops`): Conv (groups, strides, pads, dilations: the output
  size comes from shape inference) in im2col view; Gemm and MatMul against weights as GEMMs; a MatMul of two
  activations as `count` batched products, and as the attention pattern when its output reaches a Softmax
  (`attn_score`) or its first operand comes from one (`attn_value`); Max/Average/Global pooling; Gather from a
  2-D weight table as an embedding; normalisations, Softmax, reductions and elementwise ops per element; layout
  and indexing ops (Reshape, Transpose, Concat, Slice, Split, Gather of activations, Cast, Dropout, ...) are free.
- Layers: every Conv, Gemm, MatMul, pooling and embedding starts a layer; the cheap ops after it join it (ops
  before the first compute node join the first layer). A layer is mapc's unit of segmentation, and the bytes
  between segments are the last operator's output (a residual branch's second input is not added).
- `params` counts every floating-point initializer and weight input (biases and folded batch norms included,
  as published parameter counts do).
- Anything else (control flow, recurrent cells, quantised or custom ops) exits 2 naming the node, its op type
  and the supported ones.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from typing import Any

from mapc.core.errors import DslError, Loc
from mapc.core.spec import DTYPE_BYTES, GraphLayer, GraphModel, GraphOp, GraphOpKind

CONV = frozenset({"Conv"})
GEMM = frozenset({"Gemm", "MatMul"})
POOL = frozenset({"MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"})
NORM = frozenset({"BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
                  "SimplifiedLayerNormalization", "RMSNormalization", "LpNormalization", "MeanVarianceNormalization"})
SOFTMAX = frozenset({"Softmax", "LogSoftmax"})
REDUCE = frozenset({"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                    "ReduceSumSquare", "ReduceLogSumExp", "ArgMax", "ArgMin"})
ELEMENTWISE = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Neg", "Abs", "Max", "Min",
                         "Sum", "Mean", "Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish",
                         "Tanh", "Gelu", "FastGelu", "BiasGelu", "QuickGelu", "Erf", "Silu", "Swish", "Exp", "Log",
                         "Softplus", "Softsign", "Mish", "Elu", "Selu", "Celu", "Where", "Equal", "Less", "Greater",
                         "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "Floor", "Ceil", "Round",
                         "Sign", "Mod", "IsNaN", "IsInf", "Resize", "Upsample"})
FREE = frozenset({"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice",
                  "Identity", "Shape", "Size", "Constant", "ConstantOfShape", "Expand", "Range", "Cast", "CastLike",
                  "Dropout", "Gather", "GatherElements", "GatherND", "Tile", "Pad", "Trilu", "DepthToSpace",
                  "SpaceToDepth"})
SUPPORTED = CONV | GEMM | POOL | NORM | SOFTMAX | REDUCE | ELEMENTWISE | FREE
LAYOUT = frozenset({"Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast", "CastLike", "Identity",
                    "Dropout"})
# ONNX TensorProto element types -> mapc dtypes (float64 priced as fp32: mapc has no wider type)
ONNX_DTYPES = {1: "fp32", 11: "fp32", 10: "fp16", 16: "bf16", 3: "int8", 2: "int8", 17: "fp8", 18: "fp8",
               19: "fp8", 20: "fp8"}
FLOAT_TYPES = frozenset({1, 10, 11, 16, 17, 18, 19, 20})
BATCH_RE = re.compile(r"(?i)^(n|b|bs|batch.*|.*_batch|.*batch_size.*)$")
SEQ_RE = re.compile(r"(?i)^(s|t|l|seq.*|.*sequence.*|.*seq_len.*|.*_len|.*length|.*tokens?)$")
ATTN_PATH = frozenset({"Div", "Mul", "Add", "Sub", "Where", "Cast", "Identity", "Reshape", "Squeeze",
                       "Unsqueeze", "Dropout"})


def load_onnx(path: str, name: str | None = None, *, batch: int | None = None, seq: int | None = None,
              dims: dict[str, int] | None = None, dtype: str | None = None, loc: Loc | None = None) -> GraphModel:
    """Import the ONNX file at `path` (module docstring). `dims` gives symbolic dimensions by name."""
    import onnx      # heavy (about 0.5 s): only when a model is imported

    if not os.path.isfile(path):
        raise DslError(f"ONNX file not found: {path}", loc=loc)
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as e:           # a protobuf decode error has no common base class
        raise DslError(f"{path}: not an ONNX model ({type(e).__name__}: {e})", loc=loc) from None
    notes = _external_data(onnx, model, path)
    given = dict(dims or {})
    symbols = _symbols(model)
    used = _fix_symbols(model, path, batch, seq, given, loc)
    unused = sorted(set(given) - used)
    if unused:
        raise DslError(f"{path}: the graph has no symbolic dimension `{unused[0]}`", loc=loc,
                       hint="its symbolic dimensions: " + (", ".join(sorted(symbols)) or "none"))
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as e:
        raise DslError(f"{path}: ONNX shape inference failed: {e}", loc=loc) from None
    g = _Graph(onnx, inferred, path, loc)
    layers = g.layers()
    dt = dtype or g.dtype()
    if dt not in DTYPE_BYTES:
        raise DslError(f"{path}: unsupported dtype {dt!r}", loc=loc, hint="one of " + ", ".join(DTYPE_BYTES))
    if name is None:
        name = os.path.splitext(os.path.basename(path))[0]
    gb = batch if batch is not None else g.graph_batch()
    return GraphModel(name=name, layers=layers, dtype=dt, params=g.params(), batch=gb, source=path,
                      notes=tuple(notes), loc=loc)


def _external_data(onnx: Any, model: Any, path: str) -> list[str]:
    """Check the external data files the initializers name; load only their small integer tensors (shape
    constants) when present. Returns the notes for the user."""
    base = os.path.dirname(os.path.abspath(path))
    missing: dict[str, int] = {}
    for t in model.graph.initializer:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        loc = next((e.value for e in t.external_data if e.key == "location"), "")
        if not os.path.isfile(os.path.join(base, loc)):
            missing[loc] = missing.get(loc, 0) + 1
        elif t.data_type in (6, 7):      # int32 / int64: shape constants shape inference may need
            onnx.external_data_helper.load_external_data_for_tensor(t, base)
            t.data_location = onnx.TensorProto.DEFAULT
    return [f"{os.path.basename(path)}: external weights file `{f}` is absent ({n} initializer(s)): imported from "
            "the initializers' shapes alone (mapc prices shapes and never reads weight values)"
            for f, n in sorted(missing.items())]


def _symbols(model: Any) -> set[str]:
    """The named symbolic dimensions of the graph's inputs."""
    return {d.dim_param for vi in model.graph.input for d in vi.type.tensor_type.shape.dim if d.dim_param}


def _fix_symbols(model: Any, path: str, batch: int | None, seq: int | None, given: dict[str, int],
                 loc: Loc | None) -> set[str]:
    """Replace every symbolic dimension of the graph's inputs and outputs by its value (module docstring);
    returns the names of the symbols given by name that were used."""
    inits = {t.name for t in model.graph.initializer}
    used: set[str] = set()
    for vi in list(model.graph.input) + list(model.graph.output):
        if vi.name in inits:
            continue
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_value") and d.dim_value > 0:
                continue
            sym = d.dim_param if d.HasField("dim_param") else ""
            if sym in given:
                v = given[sym]
                used.add(sym)
            elif BATCH_RE.match(sym) or not sym and batch is not None:
                v = batch if batch is not None else 1
            elif SEQ_RE.match(sym) and seq is not None:
                v = seq
            elif vi in model.graph.output:
                continue         # an output's symbol follows from the inputs
            else:
                what = "seq" if SEQ_RE.match(sym) else (sym or "the dimension")
                raise DslError(f"{path}: input `{vi.name}` has a symbolic dimension `{sym or '?'}` without a value",
                               loc=loc, hint=f"give it in onnx(\"...\", {what}=N)" if sym else
                               "give batch=N (an unnamed dimension is taken as the batch)")
            d.Clear()
            d.dim_value = int(v)
    return used


def _numel(shape: tuple[int, ...]) -> int:
    return int(math.prod(shape))


def _broadcast(shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    rank = max((len(s) for s in shapes), default=0)
    out = [1] * rank
    for s in shapes:
        for i, d in enumerate(s, start=rank - len(s)):
            out[i] = max(out[i], d)
    return tuple(out)


def _rows(shape: tuple[int, ...]) -> tuple[int, int]:
    """(rows, width) of an activation: NCHW (NCDHW) feature maps are rows of C channels, others rows of the last
    axis."""
    if len(shape) in (4, 5):
        return _numel(shape) // max(shape[1], 1), shape[1]
    if not shape:
        return 1, 1
    return _numel(shape) // max(shape[-1], 1), shape[-1]


class _Graph:
    """The inferred graph with its shapes, weights, producers and consumers; builds the layers."""

    def __init__(self, onnx: Any, model: Any, path: str, loc: Loc | None) -> None:
        self.onnx, self.path, self.loc = onnx, path, loc      # the onnx module, imported by load_onnx
        g = model.graph
        self.nodes = list(g.node)
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.types: dict[str, int] = {}
        for t in g.initializer:
            self.shapes[t.name], self.types[t.name] = tuple(int(d) for d in t.dims), t.data_type
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            tt = vi.type.tensor_type
            if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
                self.shapes.setdefault(vi.name, tuple(int(d.dim_value) for d in tt.shape.dim))
            self.types.setdefault(vi.name, tt.elem_type)
        self.inits = {t.name for t in g.initializer}
        self.inputs = [vi.name for vi in g.input if vi.name not in self.inits]
        self.producer = {o: n for n in self.nodes for o in n.output}
        self.consumers: dict[str, list[Any]] = {}
        for n in self.nodes:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.weights = set(self.inits)
        for name in self.inputs:          # graph inputs used only as the second operand of a GEMM / conv
            uses = [(n, list(n.input).index(name)) for n in self.consumers.get(name, [])]
            if uses and all(n.op_type in GEMM | CONV and i >= 1 for n, i in uses):
                self.weights.add(name)
        for n in self.nodes:              # constants and layout ops of weights are weights
            if n.op_type == "Constant" or n.op_type in LAYOUT and n.input and all(i in self.weights
                                                                                   for i in n.input if i):
                self.weights.update(n.output)

    # -- helpers --
    def _fail(self, node: Any, msg: str, hint: str | None = None) -> DslError:
        return DslError(f"{self.path}: node `{self._name(node)}` ({node.op_type}): {msg}", loc=self.loc, hint=hint)

    def _name(self, node: Any) -> str:
        return node.name or f"{node.op_type}_{self.nodes.index(node)}"

    def shape(self, node: Any, tensor: str) -> tuple[int, ...]:
        if tensor not in self.shapes:
            raise self._fail(node, f"the shape of `{tensor}` is unknown after shape inference",
                             hint="fix the graph's symbolic dimensions with onnx(\"...\", batch=N, seq=N, NAME=N)")
        return self.shapes[tensor]

    def _attr(self, node: Any, key: str, default: Any = None) -> Any:
        for a in node.attribute:
            if a.name == key:
                return self.onnx.helper.get_attribute_value(a)
        return default

    def _act_in(self, node: Any) -> int:
        return sum(_numel(self.shapes.get(i, ())) for i in node.input if i and i not in self.weights)

    def _w(self, node: Any, start: int = 0) -> int:
        return sum(_numel(self.shapes.get(i, ())) for i in list(node.input)[start:] if i and i in self.weights)

    def dtype(self) -> str:
        counts = Counter(self.types[n] for n in list(self.inputs) + list(self.inits)
                         if self.types.get(n) in ONNX_DTYPES and (n in self.inputs or self.types[n] in FLOAT_TYPES))
        return ONNX_DTYPES[counts.most_common(1)[0][0]] if counts else "fp32"

    def graph_batch(self) -> int:
        acts = [self.shapes[n] for n in self.inputs if n not in self.weights and self.shapes.get(n)]
        return int(acts[0][0]) if acts and len(acts[0]) >= 3 else 1

    def params(self) -> int:
        """Floating-point initializers and weight inputs with at least one axis (scalars are constants)."""
        return sum(_numel(self.shapes[n]) for n in self.weights if (n in self.inits or n in self.inputs)
                   and self.types.get(n) in FLOAT_TYPES and self.shapes.get(n))

    # -- attention pattern --
    def _reaches_softmax(self, tensor: str, depth: int = 4) -> bool:
        for n in self.consumers.get(tensor, []):
            if n.op_type in SOFTMAX:
                return True
            if depth and n.op_type in ATTN_PATH and any(self._reaches_softmax(o, depth - 1) for o in n.output):
                return True
        return False

    def _from_softmax(self, tensor: str, depth: int = 4) -> bool:
        n = self.producer.get(tensor)
        if n is None:
            return False
        if n.op_type in SOFTMAX:
            return True
        return bool(depth and n.op_type in ATTN_PATH and n.input and self._from_softmax(n.input[0], depth - 1))

    # -- operators --
    def ops(self, node: Any) -> tuple[list[GraphOp], bool]:
        """(operators of `node`, whether it starts a layer)."""
        t, name = node.op_type, self._name(node)
        if t not in SUPPORTED:
            raise self._fail(node, "op type not supported by mapc's ONNX import",
                             hint="supported: " + ", ".join(sorted(SUPPORTED)))
        if t in CONV:
            return [self._conv(node, name)], True
        if t in GEMM:
            return [self._gemm(node, name)], True
        if t in POOL:
            x, y = self.shape(node, node.input[0]), self.shape(node, node.output[0])
            taps = _numel(x[2:]) if t.startswith("Global") else _numel(tuple(self._attr(node, "kernel_shape", [1])))
            return [GraphOp(name, t, "pool", y[0] * _numel(y[2:]), 1, y[1], taps=taps, in_elements=_numel(x))], True
        if t == "Gather" and node.input[0] in self.weights and len(self.shapes.get(node.input[0], ())) == 2 \
                and node.input[1] not in self.weights:
            rows = _numel(self.shape(node, node.input[1]))
            return [GraphOp(name, t, "embed", rows, 1, self.shapes[node.input[0]][1])], True
        if t in FREE or all(i in self.weights for i in node.input if i):
            if any(i in self.weights for i in node.input if i) and t not in FREE:
                self.weights.update(node.output)     # arithmetic on weights only: folded at load time
            return [], False
        out = self._out_shape(node)
        shape = self.shape(node, node.input[0]) if t in REDUCE else out
        rows, width = _rows(shape)
        kind: GraphOpKind = "norm" if t in NORM else "softmax" if t in SOFTMAX else "elementwise"
        return [GraphOp(name, t, kind, rows, 1, width, weights=self._w(node), in_elements=self._act_in(node))], False

    def _out_shape(self, node: Any) -> tuple[int, ...]:
        """The inferred output shape; for an elementwise op unknown to shape inference (a custom Silu), the
        broadcast of its input shapes."""
        out = node.output[0]
        if out not in self.shapes:
            ins = [self.shape(node, i) for i in node.input if i]
            self.shapes[out] = _broadcast(ins)
        return self.shapes[out]

    def _conv(self, node: Any, name: str) -> GraphOp:
        x, w = self.shape(node, node.input[0]), self.shape(node, node.input[1])
        y = self.shape(node, node.output[0])
        groups = int(self._attr(node, "group", 1))
        if len(w) < 3 or x[1] != w[1] * groups or w[0] % groups:
            raise self._fail(node, f"input {x}, weight {w} and group={groups} do not fit together")
        taps = _numel(w[2:])
        return GraphOp(name, "Conv", "conv", y[0] * _numel(y[2:]), w[1] * taps, w[0] // groups, groups, taps,
                       weights=self._w(node, 1), in_elements=_numel(x))

    def _gemm(self, node: Any, name: str) -> GraphOp:
        a_name, b_name = node.input[0], node.input[1]
        a, b = list(self.shape(node, a_name)), list(self.shape(node, b_name))
        if node.op_type == "Gemm":
            if self._attr(node, "transA", 0):
                a = a[::-1]
            if self._attr(node, "transB", 0):
                b = b[::-1]
        a = [1] + a if len(a) == 1 else a
        b = b + [1] if len(b) == 1 else b
        if a[-1] != b[-2]:
            raise self._fail(node, f"operand shapes {tuple(a)} and {tuple(b)} do not multiply")
        M, K, N = a[-2], a[-1], b[-1]
        wa, wb = a_name in self.weights, b_name in self.weights
        batch = _numel(_broadcast([tuple(a[:-2]), tuple(b[:-2])]))
        if wb and not wa:            # activation x weights: every row of every leading dimension at once
            if len(b) == 2:
                return GraphOp(name, node.op_type, "gemm", M * _numel(tuple(a[:-2])), K, N, weights=self._w(node, 1),
                               in_elements=self._act_in(node))
            return GraphOp(name, node.op_type, "gemm", M, K, N, batch, weights=self._w(node, 1),
                           in_elements=self._act_in(node))
        if wa and not wb:            # weights x activation: the same product, transposed
            return GraphOp(name, node.op_type, "gemm", N * _numel(tuple(b[:-2])), K, M, weights=self._w(node),
                           in_elements=self._act_in(node))
        kind: GraphOpKind = "attn_score" if self._reaches_softmax(node.output[0]) else \
            "attn_value" if self._from_softmax(a_name) else "matmul"
        return GraphOp(name, node.op_type, kind, M, K, N, batch, weights=self._w(node, 2),
                       in_elements=self._act_in(node), per_count=True)

    # -- layers --
    def layers(self) -> tuple[GraphLayer, ...]:
        out: list[tuple[str, list[GraphOp]]] = []
        pending: list[GraphOp] = []
        for node in self.nodes:
            ops, starts = self.ops(node)
            if starts:
                out.append((self._name(node), pending + ops))
                pending = []
            elif out:
                out[-1][1].extend(ops)
            else:
                pending.extend(ops)
        if pending:
            out.append(("graph", pending))
        if not out:
            raise DslError(f"{self.path}: the graph has no operator mapc can price", loc=self.loc)
        return tuple(GraphLayer(n, tuple(ops)) for n, ops in out)
