"""Built-in models, with the numbers of their published configurations (sources beside each entry).

`MODELS[name]` is a frozen `TransformerModel` or `CNNModel`; `get(name)` returns it or raises `DslError` (never
KeyError) with a close match and the list of names; `param_count(model)` counts parameters (embeddings and an
untied LM head included, biases and norm-free extras excluded, same convention as `mapc.compiler.ops`);
`weight_bytes(model)` is that count times the weight dtype size (`weights=`, else the dtype).

CNN layer lists are generated from each architecture's published table with its real shapes (strides, pads,
groups, feature-map sizes), so a residual network's blocks appear in execution order (residual adds and batch
norms carry no weights here and are not modelled).
"""

from __future__ import annotations

import difflib

from mapc.core.spec import CNNLayer, CNNModel, GraphModel, Model, TransformerModel
from mapc.core.errors import DslError

# ---- transformers ------------------------------------------------------------------------------------------
_T = TransformerModel
_TRANSFORMERS = (
    # meta-llama/Llama-2-7b-hf config.json: 32 layers, hidden 4096, 32 heads, intermediate 11008, vocab 32000,
    # max_position_embeddings 4096; 6.74 B parameters (Touvron et al. 2023, Table 1 / model card).
    _T("llama2_7b", 32, 4096, 32, 32, 11008, 32000, max_seq=4096),
    # meta-llama/Llama-2-13b-hf config.json: 40 layers, hidden 5120, 40 heads, intermediate 13824.
    _T("llama2_13b", 40, 5120, 40, 40, 13824, 32000, max_seq=4096),
    # meta-llama/Llama-2-70b-hf config.json: 80 layers, hidden 8192, 64 heads, 8 KV heads (GQA), 28672.
    _T("llama2_70b", 80, 8192, 64, 8, 28672, 32000, max_seq=4096),
    # meta-llama/Meta-Llama-3-8B config.json: 32 layers, 4096, 32 heads, 8 KV heads, 14336, vocab 128256, 8192 ctx.
    _T("llama3_8b", 32, 4096, 32, 8, 14336, 128256, dtype="bf16", max_seq=8192),
    # meta-llama/Meta-Llama-3-70B config.json: 80 layers, 8192, 64 heads, 8 KV heads, 28672, vocab 128256.
    _T("llama3_70b", 80, 8192, 64, 8, 28672, 128256, dtype="bf16", max_seq=8192),
    # facebook/opt-66b config.json: 64 layers, hidden 9216, 72 heads, ffn_dim 36864 (ReLU, 2 matrices),
    # vocab 50272, max_position_embeddings 2048 (Zhang et al. 2022, Table 1).
    _T("opt_66b", 64, 9216, 72, 72, 36864, 50272, gated_ffn=False, max_seq=2048),
    # GPT-3 175B (Brown et al. 2020, Table 2.1): 96 layers, d_model 12288, 96 heads, d_ff = 4 d_model = 49152,
    # BPE vocab 50257, context 2048.
    _T("gpt3_175b", 96, 12288, 96, 96, 49152, 50257, gated_ffn=False, max_seq=2048),
    # bert-large-uncased config.json: 24 layers, hidden 1024, 16 heads, intermediate 4096 (GELU), vocab 30522,
    # max_position_embeddings 512; ~335 M parameters (Devlin et al. 2019).
    _T("bert_large", 24, 1024, 16, 16, 4096, 30522, gated_ffn=False, encoder_only=True, max_seq=512),
    # mistralai/Mixtral-8x7B-v0.1 config.json: 32 layers, hidden 4096, 32 heads, 8 KV heads, intermediate 14336,
    # num_local_experts 8, num_experts_per_tok 2, vocab 32000; 46.7 B total, 12.9 B active (Jiang et al. 2024).
    _T("mixtral_8x7b", 32, 4096, 32, 8, 14336, 32000, dtype="bf16", experts=8, top_k=2, max_seq=32768),
)


# ---- CNNs --------------------------------------------------------------------------------------------------
class _Net:
    """Builds a CNN layer list while tracking the feature-map shape (channels, size)."""

    def __init__(self, in_ch: int, hw: int):
        self.c, self.hw = in_ch, hw
        self.layers: list[CNNLayer] = []

    def conv(self, name: str, out: int, k: int, stride: int = 1, pad: int | None = None, groups: int = 1,
             in_ch: int | None = None, hw: int | None = None) -> None:
        L = CNNLayer(name, "conv", in_ch or self.c, out, hw or self.hw, hw or self.hw, k, k, stride,
                     k // 2 if pad is None else pad, groups)
        self.layers.append(L)
        self.c, self.hw = out, L.out_h

    def pool(self, name: str, k: int, stride: int, pad: int = 0) -> None:
        L = CNNLayer(name, "pool", self.c, self.c, self.hw, self.hw, k, k, stride, pad)
        self.layers.append(L)
        self.hw = L.out_h

    def fc(self, name: str, out: int) -> None:
        self.layers.append(CNNLayer(name, "fc", self.c * self.hw * self.hw, out, 1, 1))
        self.c, self.hw = out, 1


def _resnet50() -> CNNModel:
    """ResNet-50 v1.5 at 224x224 (He et al. 2016, Table 1; torchvision: stride on the 3x3 conv): 25.6 M params."""
    n = _Net(3, 224)
    n.conv("conv1", 64, 7, 2, 3)
    n.pool("maxpool", 3, 2, 1)
    for s, (mid, out, blocks, stride) in enumerate(((64, 256, 3, 1), (128, 512, 4, 2), (256, 1024, 6, 2),
                                                    (512, 2048, 3, 2)), start=2):
        for b in range(blocks):
            st = stride if b == 0 else 1
            c_in, hw_in = n.c, n.hw
            n.conv(f"conv{s}_{b}a", mid, 1)
            n.conv(f"conv{s}_{b}b", mid, 3, st)
            n.conv(f"conv{s}_{b}c", out, 1)
            if b == 0:   # projection shortcut
                n.conv(f"conv{s}_{b}down", out, 1, st, 0, in_ch=c_in, hw=hw_in)
    n.pool("avgpool", n.hw, 1)
    n.fc("fc", 1000)
    return CNNModel("resnet50", tuple(n.layers))


def _resnet18_hand() -> CNNModel:
    """Hand-pose regressor: ResNet-18 body (He et al. 2016, Table 1) on a 128x128 grayscale crop, as in
    single-camera hand tracking (e.g. MediaPipe Hands' 2D->3D lifting, 21 keypoints x 3 coordinates = 63)."""
    n = _Net(1, 128)
    n.conv("conv1", 64, 7, 2, 3)
    n.pool("maxpool", 3, 2, 1)
    for s, (out, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2)), start=2):
        for b in range(2):
            st = stride if b == 0 else 1
            c_in, hw_in = n.c, n.hw
            n.conv(f"conv{s}_{b}a", out, 3, st)
            n.conv(f"conv{s}_{b}b", out, 3)
            if b == 0 and (st != 1 or c_in != out):
                n.conv(f"conv{s}_{b}down", out, 1, st, 0, in_ch=c_in, hw=hw_in)
    n.pool("avgpool", n.hw, 1)
    n.fc("keypoints", 63)
    return CNNModel("handtrack_resnet18", tuple(n.layers))


def _mobilenet_v2() -> CNNModel:
    """MobileNetV2 1.0 at 224x224 (Sandler et al. 2018, Table 2: t, c, n, s): 3.5 M params."""
    n = _Net(3, 224)
    n.conv("conv1", 32, 3, 2)
    i = 0
    for t, c, reps, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                          (6, 160, 3, 2), (6, 320, 1, 1)):
        for r in range(reps):
            hidden = n.c * t
            if t != 1:
                n.conv(f"b{i}_expand", hidden, 1)
            n.conv(f"b{i}_dw", hidden, 3, s if r == 0 else 1, groups=hidden)
            n.conv(f"b{i}_project", c, 1)
            i += 1
    n.conv("conv_last", 1280, 1)
    n.pool("avgpool", n.hw, 1)
    n.fc("fc", 1000)
    return CNNModel("mobilenet_v2", tuple(n.layers))


def _unet_depth() -> CNNModel:
    """Monocular depth / segmentation U-Net for AR passthrough (Ronneberger et al. 2015 layout, 4 levels,
    channels 32..512, 256x256 RGB in, 1-channel depth out). Each 2x2 up-convolution is modelled as nearest
    upsampling + a 1x1 conv at the finer resolution; decoder convs take the skip concatenation (2x channels)."""
    n = _Net(3, 256)
    skips = []
    for lvl, c in enumerate((32, 64, 128, 256), start=1):
        n.conv(f"enc{lvl}a", c, 3)
        n.conv(f"enc{lvl}b", c, 3)
        skips.append((c, n.hw))
        n.pool(f"down{lvl}", 2, 2)
    n.conv("mid_a", 512, 3)
    n.conv("mid_b", 512, 3)
    for lvl in (4, 3, 2, 1):
        c, hw = skips[lvl - 1]
        n.conv(f"up{lvl}", c, 1, hw=hw)
        n.conv(f"dec{lvl}a", c, 3, in_ch=2 * c)
        n.conv(f"dec{lvl}b", c, 3)
    n.conv("depth_head", 1, 1)
    return CNNModel("unet_depth", tuple(n.layers))


MODELS: dict[str, Model] = {m.name: m for m in _TRANSFORMERS}
for _m in (_resnet50(), _mobilenet_v2(), _resnet18_hand(), _unet_depth()):
    MODELS[_m.name] = _m


def get(name: str) -> Model:
    """The zoo model `name`; DslError (no location: callers add it) naming a close match and all models."""
    if isinstance(name, str) and name in MODELS:
        return MODELS[name]
    close = difflib.get_close_matches(str(name), list(MODELS), n=1, cutoff=0.6)
    hint = (f"did you mean `{close[0]}`? " if close else "") + "built-in models: " + ", ".join(MODELS)
    raise DslError(f"unknown model `{name}`", hint=hint)


def param_count(model: Model) -> int:
    """Parameters: transformer = layers x (attention + FFN/experts + router + 2 norms) + embedding + untied LM
    head + final norm (no head for encoder-only); CNN = conv and fc weights. Biases are not counted, except in
    an ONNX graph (`GraphModel.params`: every floating-point initializer, as published counts do)."""
    if isinstance(model, GraphModel):
        return model.params
    if isinstance(model, CNNModel):
        total = 0
        for L in model.layers:
            if L.kind == "conv":
                total += L.out_ch * (L.in_ch // L.groups) * L.kh * L.kw
            elif L.kind == "fc":
                total += L.in_ch * L.in_h * L.in_w * L.out_ch
        return total
    return sum(param_groups(model).values())


def param_groups(m: TransformerModel) -> dict[str, int]:
    """A transformer's parameters by group: `linear` (the blocks' attention and FFN projections and experts: what
    AWQ/GPTQ/bitsandbytes quantise), `router`, `norms`, `embedding`, `head` (0 when tied or encoder-only)."""
    h, hd, H = m.hidden, m.head_dim, m.heads
    mats = 3 if m.gated_ffn else 2
    norms = 2 * h
    if m.kv_lora_rank:          # MLA: query (direct or low-rank), KV down to latent + RoPE key, up, output
        r, rope = m.kv_lora_rank, m.rope_head_dim
        q = h * m.q_lora_rank + m.q_lora_rank * H * hd if m.q_lora_rank else h * H * hd
        attn = q + h * (r + rope) + r * H * (hd - rope + m.value_dim) + H * m.value_dim * h
        norms += r + m.q_lora_rank
    else:
        attn = h * H * hd + 2 * h * m.kv_heads * hd + H * hd * h
    dense = min(m.dense_layers, m.layers) if m.experts > 0 else m.layers
    moe = m.layers - dense
    ffn = dense * mats * h * (m.dense_ffn or m.ffn) if m.experts > 0 else m.layers * mats * h * m.ffn
    ffn += moe * (m.experts * mats * h * m.ffn + mats * h * m.shared_ffn)
    return {"linear": m.layers * attn + ffn, "router": moe * h * m.experts, "norms": m.layers * norms
            + (0 if m.encoder_only else h), "embedding": m.vocab * h,
            "head": 0 if m.encoder_only or m.tied_embeddings else m.vocab * h}


def active_param_count(model: Model) -> int:
    """Parameters touched per token: for MoE only `top_k` of the routed experts count."""
    if isinstance(model, TransformerModel) and model.experts > 0:
        mats = 3 if model.gated_ffn else 2
        moe = model.layers - min(model.dense_layers, model.layers)
        idle = (model.experts - model.top_k) * mats * model.hidden * model.ffn * moe
        return param_count(model) - idle
    return param_count(model)


def weight_bytes(model: Model) -> float:
    """Bytes of all parameters at the weight dtype (`weights=` quantisation, else the model's dtype); with a
    quantisation config the blocks' linear layers count their quantised bytes, group scales and zero points
    included (`TransformerModel.linear_weight_bytes`)."""
    if isinstance(model, TransformerModel) and model.quant_bits:
        g = param_groups(model)
        return float(g["linear"] * model.linear_weight_bytes
                     + (sum(g.values()) - g["linear"]) * model.weight_dtype_bytes)
    return float(param_count(model) * getattr(model, "weight_dtype_bytes", model.dtype_bytes))


def summary(model: Model) -> dict:
    """A JSON-ready description (for `mapc models`)."""
    d = {"name": model.name, "kind": "cnn" if isinstance(model, CNNModel) else
         "onnx" if isinstance(model, GraphModel) else "transformer",
         "dtype": model.dtype, "params": param_count(model), "weight_bytes": weight_bytes(model)}
    if isinstance(model, TransformerModel):
        d.update(layers=model.layers, hidden=model.hidden, heads=model.heads, kv_heads=model.kv_heads,
                 ffn=model.ffn, vocab=model.vocab, experts=model.experts, top_k=model.top_k,
                 gated_ffn=model.gated_ffn, encoder_only=model.encoder_only,
                 active_params=active_param_count(model))
    else:
        d.update(layers=len(model.layers))
    return d
