"""Real model graphs built with `onnx.helper` (no download), as PyTorch/torchvision export them: ResNet-18/50 and
MobileNetV2 (batch norm folded into the convs' biases, ReLU / ReLU6 as Clip, residual Adds, global average pooling,
Flatten + Gemm) and a GPT-2 block (LayerNormalization, MatMul + bias Add, Split, Reshape/Transpose to heads,
scaled Q.K^T, Softmax, P.V, Gelu), with symbolic batch / sequence dimensions where the exporters put them.

Weights are external data in a file that is never written (`weights.bin`): the importer works from shapes alone,
which keeps these 100 MB models at a few kB in memory.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper


class Builder:
    """Nodes, initializers (shape-only, external) and the running feature-map shape (C, H, W)."""

    def __init__(self, name: str) -> None:
        self.name, self.nodes, self.inits, self.n = name, [], [], 0

    def _id(self, kind: str) -> str:
        self.n += 1
        return f"{kind}_{self.n}"

    def weight(self, dims: list[int], dtype: int = TensorProto.FLOAT) -> str:
        t = TensorProto()
        t.name, t.data_type = self._id("w"), dtype
        t.dims.extend(dims)
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", "weights.bin"), ("offset", "0"), ("length", str(4 * max(1, _prod(dims))))):
            e = t.external_data.add()
            e.key, e.value = k, v
        self.inits.append(t)
        return t.name

    def const(self, values: list[int]) -> str:
        name = self._id("shape")
        self.inits.append(helper.make_tensor(name, TensorProto.INT64, [len(values)], values))
        return name

    def node(self, op: str, inputs: list[str], n_out: int = 1, **attrs) -> list[str]:
        outs = [self._id(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=f"/{op}_{self.n}", **attrs))
        return outs

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, pad: int | None = None
             ) -> str:
        p = k // 2 if pad is None else pad
        w, b = self.weight([cout, cin // groups, k, k]), self.weight([cout])
        return self.node("Conv", [x, w, b], kernel_shape=[k, k], strides=[stride, stride], pads=[p] * 4,
                         group=groups, dilations=[1, 1])[0]

    def model(self, inputs, outputs, opset: int = 17) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, self.name, inputs, outputs, initializer=self.inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _prod(xs) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


def _classifier(b: Builder, x: str, c: int) -> onnx.ModelProto:
    x = b.node("GlobalAveragePool", [x])[0]
    x = b.node("Flatten", [x], axis=1)[0]
    y = b.node("Gemm", [x, b.weight([1000, c]), b.weight([1000])], alpha=1.0, beta=1.0, transB=1)[0]
    return b.model([helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch_size", 3, 224, 224])],
                   [helper.make_tensor_value_info(y, TensorProto.FLOAT, ["batch_size", 1000])])


def resnet(depth: int) -> onnx.ModelProto:
    """torchvision resnet18 / resnet50 (v1.5: stride on the 3x3 conv) at 224x224."""
    b = Builder(f"resnet{depth}")
    x = b.node("Relu", [b.conv("input", 3, 64, 7, 2)])[0]
    x = b.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])[0]
    c = 64
    stages = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3)}[depth]
    for s, (width, blocks) in enumerate(zip((64, 128, 256, 512), stages)):
        for i in range(blocks):
            stride = 2 if s > 0 and i == 0 else 1
            if depth == 18:
                out = width
                y = b.node("Relu", [b.conv(x, c, width, 3, stride)])[0]
                y = b.conv(y, width, width, 3)
            else:
                out = 4 * width
                y = b.node("Relu", [b.conv(x, c, width, 1)])[0]
                y = b.node("Relu", [b.conv(y, width, width, 3, stride)])[0]
                y = b.conv(y, width, out, 1)
            short = b.conv(x, c, out, 1, stride, pad=0) if stride != 1 or c != out else x
            x = b.node("Relu", [b.node("Add", [y, short])[0]])[0]
            c = out
    return _classifier(b, x, c)


def mobilenet_v2() -> onnx.ModelProto:
    """torchvision mobilenet_v2 (Sandler et al. 2018, Table 2) at 224x224, ReLU6 as Clip(0, 6)."""
    b = Builder("mobilenet_v2")
    b.inits.append(helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]))
    b.inits.append(helper.make_tensor("six", TensorProto.FLOAT, [], [6.0]))

    def relu6(t: str) -> str:
        return b.node("Clip", [t, "zero", "six"])[0]

    x = relu6(b.conv("input", 3, 32, 3, 2))
    c = 32
    for t, out, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                         (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = c * t
            y = relu6(b.conv(x, c, hidden, 1)) if t != 1 else x
            y = relu6(b.conv(y, hidden, hidden, 3, stride, groups=hidden))
            y = b.conv(y, hidden, out, 1)
            x = b.node("Add", [x, y])[0] if stride == 1 and c == out else y
            c = out
    x = relu6(b.conv(x, c, 1280, 1))
    return _classifier(b, x, 1280)


def gpt2_block(hidden: int = 768, heads: int = 12, opset: int = 20) -> onnx.ModelProto:
    """One GPT-2 transformer block as torch.onnx exports it (dynamic batch and sequence axes)."""
    b = Builder("gpt2_block")
    hd = hidden // heads

    def linear(x: str, n_in: int, n_out: int) -> str:
        return b.node("Add", [b.node("MatMul", [x, b.weight([n_in, n_out])])[0], b.weight([n_out])])[0]

    def to_heads(t: str, perm: list[int]) -> str:
        r = b.node("Reshape", [t, b.const([0, 0, heads, hd])])[0]
        return b.node("Transpose", [r], perm=perm)[0]

    x = "hidden_states"
    ln = b.node("LayerNormalization", [x, b.weight([hidden]), b.weight([hidden])], axis=-1, epsilon=1e-5)[0]
    qkv = linear(ln, hidden, 3 * hidden)
    q, k, v = b.node("Split", [qkv, b.const([hidden] * 3)], n_out=3, axis=2)
    q, kt, v = to_heads(q, [0, 2, 1, 3]), to_heads(k, [0, 2, 3, 1]), to_heads(v, [0, 2, 1, 3])
    b.inits.append(helper.make_tensor("scale", TensorProto.FLOAT, [], [float(hd) ** 0.5]))
    scores = b.node("Div", [b.node("MatMul", [q, kt])[0], "scale"])[0]
    probs = b.node("Softmax", [scores], axis=-1)[0]
    ctx = b.node("Transpose", [b.node("MatMul", [probs, v])[0]], perm=[0, 2, 1, 3])[0]
    ctx = b.node("Reshape", [ctx, b.const([0, 0, hidden])])[0]
    x = b.node("Add", [x, linear(ctx, hidden, hidden)])[0]
    ln = b.node("LayerNormalization", [x, b.weight([hidden]), b.weight([hidden])], axis=-1, epsilon=1e-5)[0]
    h = b.node("Gelu", [linear(ln, hidden, 4 * hidden)], approximate="tanh")[0]
    y = b.node("Add", [x, linear(h, 4 * hidden, hidden)])[0]
    shape = ["batch_size", "sequence_length", hidden]
    return b.model([helper.make_tensor_value_info("hidden_states", TensorProto.FLOAT, shape)],
                   [helper.make_tensor_value_info(y, TensorProto.FLOAT, shape)], opset=opset)


def save(model: onnx.ModelProto, path) -> str:
    onnx.save(model, str(path))
    return str(path)
