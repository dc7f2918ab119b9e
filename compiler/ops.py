"""Operators of transformer and CNN layers, with exact FLOPs and bytes (SI: FLOPs, bytes).

Conventions (each one a decision the tests pin down):

- FLOPs are 2 per multiply-accumulate. Bytes use the model's dtype (`TransformerModel.dtype_bytes`).
  Biases, rotary embeddings, dropout and batch-norm (folded into the conv) are not counted: each is < 0.1 % of
  a layer's FLOPs and bytes.
- Tokens of a task: prefill / forward: `T = batch * seq`; decode: `T = batch * width` (width new tokens per
  sequence per step, 1 for plain decoding).
- Causal prefill attention counts only the lower triangle (a causal kernel skips the masked blocks): each of
  the `seq` query rows attends on average to `(seq + 1) / 2` keys, so the score and value products have
  FLOPs `2 * batch * heads * head_dim * seq * (seq + 1) / 2` exactly, and the GEMM shape handed to the tiling
  model is the rectangle of equal area `seq x head_dim x ceil((seq + 1) / 2)`. Encoder (`forward`) attention
  is full: `seq x seq`.
- Decode attention: the `width` new query rows of each sequence attend to `context` keys, where `context` is
  the KV length after the new tokens are appended. K and V of all `context` positions are read from the cache:
  `kv_read = batch * context * 2 * kv_heads * head_dim * dtype` per layer (split evenly between the score and
  the value product). Grouped-query attention changes KV bytes (kv_heads) but not attention FLOPs (heads).
- KV written: the K and V of every new token, `T * 2 * kv_heads * head_dim * dtype` per layer, charged to the
  QKV projection that produces them (prefill and decode; an encoder keeps no cache).
- Gated FFN (SwiGLU): gate and up projections are one fused GEMM of width `2 * ffn`, then the activation and
  gating product, then the down projection (3 matrices). Classic FFN: up (width ffn), activation, down.
- MoE: a router GEMM (hidden x experts), then the experts. `T * top_k` token-expert pairs are computed
  (FLOPs of top_k experts per token). The weights read (compute and DRAM traffic) are those of the experts
  the batch is expected to touch, `E * (1 - (1 - top_k/E)^T)` (`expected_experts`: uniform routing); the
  weights held (`Operator.stored_weight_bytes`: SRAM residency, DRAM capacity) are every expert's. The GEMM
  shape is `count = touched experts` products of `ceil(T * top_k / touched)` rows each (balanced routing).
- Shared experts (`shared_ffn`) run on every token beside the routed ones, like a dense FFN; a MoE model's first
  `dense_layers` layers have a dense FFN of `dense_ffn` (DeepSeek's `first_k_dense_replace`).
- Multi-head latent attention (`kv_lora_rank > 0`, DeepSeek-V2): the cache holds the latent plus the RoPE key
  (`kv_width` per token and layer); the latent's up-projection (`kv_up`) runs on the new tokens. Prefill attends
  with full-width heads (`head_dim` keys, `v_head_dim` values); decode attends in the latent space (the
  up-projections absorbed into the query and the output, as MLA kernels do), so every head reads the compressed
  cache once.
- Weight-only quantisation (`quant_bits`, AWQ/GPTQ/bitsandbytes): the blocks' linear layers read
  `linear_weight_bytes` per parameter (quantised weight plus its group's scale and zero point); embeddings, the
  LM head, norms and the router read `weight_dtype_bytes`.
- Embedding: the first layer's task gathers `T` rows of the table (weight bytes `T * hidden * dtype`, no FLOPs).
- LM head: the final norm and the vocabulary projection are appended to the ops of the last layer's task
  (not a task of their own: they only ever run right after the last layer on the same micro-batch). Prefill
  computes logits for the last position of each sequence only (what serving engines do: only the next token
  is needed), decode for every new token. Encoder-only models have no LM head.
- Norms, softmax and activations are elementwise operators with K = 1 and FLOPs given per element below.
"""

from __future__ import annotations

import math
from functools import lru_cache

from mapc.core.graph import OpKind, Operator
from mapc.core.spec import CNNLayer, CNNModel, Phase, TransformerModel
from mapc.core.errors import DslError

# FLOPs per element of the non-GEMM operators (operation counts, not hardware constants).
NORM_FLOPS = 5.0      # residual add, square, accumulate, normalise, scale by gamma (RMSNorm; LayerNorm ~ same)
SOFTMAX_FLOPS = 5.0   # running max, subtract, exp, accumulate, divide
ACT_FLOPS = 4.0       # SiLU / GELU approximated as 4 FLOPs per element
GATE_FLOPS = 1.0      # the gating product of a gated FFN
TOKEN_ID_BYTES = 4    # int32 token ids: what the embedding reads in and a decode step hands to the next


def _gemm(name: str, kind: OpKind, M: int, K: int, N: int, count: int, dt: float, *, weights: bool | float,
          in_bytes: float, out_bytes: float, kv_read: float = 0.0, kv_write: float = 0.0,
          flops: float | None = None, taps: int = 1) -> Operator:
    return Operator(name=name, kind=kind, M=int(M), K=int(K), N=int(N), count=int(count),
                    flops=float(2.0 * M * K * N * count if flops is None else flops),
                    weight_bytes=float(K * N * count * (dt if weights is True else weights)) if weights else 0.0,
                    in_bytes=float(in_bytes), out_bytes=float(out_bytes),
                    kv_read_bytes=float(kv_read), kv_write_bytes=float(kv_write), taps=int(taps))


def _elementwise(name: str, kind: OpKind, rows: int, width: int, flops_per: float, dt: float, *,
                 in_width: int | None = None, weight_bytes: float = 0.0) -> Operator:
    return Operator(name=name, kind=kind, M=int(rows), K=1, N=int(width), count=1,
                    flops=float(flops_per * rows * width), weight_bytes=float(weight_bytes),
                    in_bytes=float(rows * (width if in_width is None else in_width) * dt),
                    out_bytes=float(rows * width * dt))


def _check_positive(**kw: int) -> None:
    for k, v in kw.items():
        if v < 1:
            raise DslError(f"{k} must be >= 1, got {v}")


def transformer_layer(m: TransformerModel, phase: Phase, batch: int, seq: int, context: int = 0
                      ) -> tuple[Operator, ...]:
    """The operators of one transformer layer for one micro-batch of `batch` equal sequences.

    prefill / forward: `seq` = prompt (sequence) length. decode: `seq` = width (new tokens per sequence) and
    `context` = attended KV length including them. Cached: equal shapes give the very same tuple.
    """
    return transformer_layer_mixed(m, phase, ((batch, seq, context),))


@lru_cache(maxsize=8192)
def transformer_layer_mixed(m: TransformerModel, phase: Phase, groups: tuple[tuple[int, int, int], ...],
                            dense: bool = False) -> tuple[Operator, ...]:
    """One layer for a ragged micro-batch: `groups` of (sequences, seq, context) of different lengths.

    The weight GEMMs, norms and FFN see all `T = sum(count * seq)` tokens at once (one read of the weights);
    attention runs per group with that group's lengths (no padding). `dense`: one of a MoE model's first
    `dense_layers` layers, whose FFN is dense (`dense_ffn`).
    """
    if not groups:
        raise DslError("a micro-batch needs at least one sequence")
    for batch, seq, context in groups:
        _check_positive(batch=batch, seq=seq)
        if phase == "decode":
            _check_positive(context=context)
    dt = m.dtype_bytes
    wdt = m.weight_dtype_bytes           # bytes per parameter of norms (weight-only quantisation)
    lw = m.linear_weight_bytes           # bytes per parameter of the linear layers (AWQ/GPTQ groups included)
    h, hd, H, KVH = m.hidden, m.head_dim, m.heads, m.kv_heads
    kvd = KVH * hd                      # width of K (and of V) under grouped-query attention
    vd = m.value_dim
    T = sum(b * s for b, s, _ in groups)
    cache = phase in ("prefill", "decode")
    ops = [_elementwise("norm_attn", "norm", T, h, NORM_FLOPS, dt, weight_bytes=h * wdt)]
    if m.kv_lora_rank:
        ops.extend(_mla_projections(m, T, dt, cache))
        # decode attends in the latent space (the up-projections absorbed into the query and the output, the
        # `kv_up` GEMM above): every head reads the one cached latent + RoPE key; prefill attends in full width
        score_hd, value_hd = (m.kv_width, m.kv_lora_rank) if phase == "decode" else (hd, vd)
        kv_tok = m.kv_width * dt / 2     # cache bytes per token read by each of the two products
        k_width, v_width = H * hd, H * vd  # prefill: every head's key and value, from the kv_up GEMM
    else:
        ops.append(_gemm("qkv", "gemm", T, h, H * hd + 2 * kvd, 1, dt, weights=lw, in_bytes=T * h * dt,
                         out_bytes=T * (H * hd + 2 * kvd) * dt, kv_write=T * 2 * kvd * dt if cache else 0.0))
        score_hd, value_hd, kv_tok, k_width, v_width = hd, hd, kvd * dt, kvd, kvd
    for batch, seq, context in groups:
        Tg, bh = batch * seq, batch * H
        mac_rows: float                     # query x key pairs per head (causal prefill: a triangle)
        if phase == "decode":
            rows, keys, mac_rows = seq, context, seq * context
            kv_half = batch * context * kv_tok
            q_in, v_in = Tg * H * score_hd * dt, 0.0
        elif phase == "prefill":            # causal: lower triangle only
            rows, keys, mac_rows = seq, math.ceil((seq + 1) / 2), seq * (seq + 1) / 2
            kv_half, q_in, v_in = 0.0, Tg * (H * score_hd + k_width) * dt, Tg * v_width * dt
        else:                               # forward (encoder): full attention
            rows, keys, mac_rows = seq, seq, seq * seq
            kv_half, q_in, v_in = 0.0, Tg * (H * score_hd + k_width) * dt, Tg * v_width * dt
        score_bytes = bh * mac_rows * dt
        ops.append(_gemm("attn_score", "attn_score", rows, score_hd, keys, bh, dt, weights=False, in_bytes=q_in,
                         out_bytes=score_bytes, kv_read=kv_half, flops=2.0 * bh * mac_rows * score_hd))
        ops.append(Operator("softmax", "elementwise", int(rows), 1, int(keys), int(bh),
                            flops=float(SOFTMAX_FLOPS * bh * mac_rows), in_bytes=float(score_bytes),
                            out_bytes=float(score_bytes)))
        ops.append(_gemm("attn_value", "attn_value", rows, keys, value_hd, bh, dt, weights=False,
                         in_bytes=score_bytes + v_in, out_bytes=Tg * H * value_hd * dt, kv_read=kv_half,
                         flops=2.0 * bh * mac_rows * value_hd))
    ops.append(_gemm("attn_out", "gemm", T, H * vd, h, 1, dt, weights=lw, in_bytes=T * H * vd * dt,
                     out_bytes=T * h * dt))
    ops.append(_elementwise("norm_ffn", "norm", T, h, NORM_FLOPS, dt, weight_bytes=h * wdt))
    ops.extend(_ffn(m, T, dt, dense))
    return tuple(ops)


def _mla_projections(m: TransformerModel, T: int, dt: float, cache: bool) -> list[Operator]:
    """Multi-head latent attention's projections (DeepSeek-V2): the query (directly, or through a `q_lora_rank`
    latent and its norm), the KV down-projection to the cached latent + RoPE key (fused with a direct query
    projection, both read the hidden state), its norm, and the up-projection of the latent to every head's
    no-RoPE key and value (`kv_up`, applied to the new tokens: in decode the same weights are absorbed into the
    query and the output, same FLOPs)."""
    h, H, hd, vd, r, lw = m.hidden, m.heads, m.head_dim, m.value_dim, m.kv_lora_rank, m.linear_weight_bytes
    down = r + m.rope_head_dim
    ops: list[Operator] = []
    q_w = 0 if m.q_lora_rank else H * hd
    ops.append(_gemm("q_kv_down", "gemm", T, h, q_w + down, 1, dt, weights=lw, in_bytes=T * h * dt,
                     out_bytes=T * (q_w + down) * dt, kv_write=T * down * dt if cache else 0.0))
    if m.q_lora_rank:
        q = m.q_lora_rank
        ops.append(_gemm("q_down", "gemm", T, h, q, 1, dt, weights=lw, in_bytes=T * h * dt, out_bytes=T * q * dt))
        ops.append(_elementwise("norm_q", "norm", T, q, NORM_FLOPS, dt, weight_bytes=q * m.weight_dtype_bytes))
        ops.append(_gemm("q_up", "gemm", T, q, H * hd, 1, dt, weights=lw, in_bytes=T * q * dt,
                         out_bytes=T * H * hd * dt))
    ops.append(_elementwise("norm_kv", "norm", T, r, NORM_FLOPS, dt, weight_bytes=r * m.weight_dtype_bytes))
    up = H * (hd - m.rope_head_dim + vd)
    ops.append(_gemm("kv_up", "gemm", T, r, up, 1, dt, weights=lw, in_bytes=T * r * dt, out_bytes=T * up * dt))
    return ops


def _ffn(m: TransformerModel, T: int, dt: float, dense: bool = False) -> list[Operator]:
    h, f = m.hidden, m.ffn
    wdt = m.linear_weight_bytes
    up_w = 2 * f if m.gated_ffn else f
    act_flops = ACT_FLOPS + (GATE_FLOPS if m.gated_ffn else 0.0)
    if m.experts <= 0 or dense:
        if dense and m.dense_ffn:
            f = m.dense_ffn
            up_w = 2 * f if m.gated_ffn else f
        return [
            _gemm("ffn_up", "gemm", T, h, up_w, 1, dt, weights=wdt, in_bytes=T * h * dt, out_bytes=T * up_w * dt),
            _elementwise("ffn_act", "elementwise", T, f, act_flops, dt, in_width=up_w),
            _gemm("ffn_down", "gemm", T, f, h, 1, dt, weights=wdt, in_bytes=T * f * dt, out_bytes=T * h * dt),
        ]
    E, k = m.experts, m.top_k
    pairs = T * k                               # token-expert pairs computed
    active = expected_experts(E, k, T)          # experts the micro-batch touches (module docstring)
    rows = math.ceil(pairs / active)
    ops = [
        _gemm("moe_router", "gemm", T, h, E, 1, dt, weights=m.weight_dtype_bytes, in_bytes=T * h * dt,
              out_bytes=T * E * dt),
        Operator("moe_up", "moe_gemm", rows, h, up_w, active, flops=2.0 * pairs * h * up_w,
                 weight_bytes=float(active * h * up_w * wdt), in_bytes=float(pairs * h * dt),
                 out_bytes=float(pairs * up_w * dt), stored_weight_bytes=float(E * h * up_w * wdt)),
        _elementwise("moe_act", "elementwise", pairs, f, act_flops, dt, in_width=up_w),
        Operator("moe_down", "moe_gemm", rows, f, h, active, flops=2.0 * pairs * f * h,
                 weight_bytes=float(active * f * h * wdt), in_bytes=float(pairs * f * dt),
                 out_bytes=float(T * h * dt),    # the top_k outputs of a token are summed (weighted) into one
                 stored_weight_bytes=float(E * f * h * wdt)),
    ]
    if m.shared_ffn:                            # shared experts: every token, like a dense FFN beside the routed
        sf = m.shared_ffn
        sw = 2 * sf if m.gated_ffn else sf
        ops += [
            _gemm("shared_up", "gemm", T, h, sw, 1, dt, weights=wdt, in_bytes=T * h * dt, out_bytes=T * sw * dt),
            _elementwise("shared_act", "elementwise", T, sf, act_flops, dt, in_width=sw),
            _gemm("shared_down", "gemm", T, sf, h, 1, dt, weights=wdt, in_bytes=T * sf * dt, out_bytes=T * h * dt),
        ]
    return ops


def expected_experts(experts: int, top_k: int, tokens: int) -> int:
    """Experts a batch of `tokens` is expected to touch when each token picks `top_k` of `experts` uniformly:
    E x (1 - (1 - k/E)^T), rounded, at least 1 (decode at batch 1: top_k; a long prefill: all of them)."""
    untouched = (1.0 - top_k / experts) ** tokens
    return max(1, min(experts, int(round(experts * (1.0 - untouched)))))


def embedding(m: TransformerModel, tokens: int) -> Operator:
    """Gather `tokens` rows of the embedding table: bytes only, no FLOPs."""
    dt = m.dtype_bytes
    return Operator("embed", "embed", int(tokens), 1, m.hidden, 1, flops=0.0,
                    weight_bytes=float(tokens * m.hidden * m.weight_dtype_bytes), in_bytes=float(tokens * TOKEN_ID_BYTES),
                    out_bytes=float(tokens * m.hidden * dt))


def lm_head(m: TransformerModel, rows: int) -> tuple[Operator, ...]:
    """Final norm and vocabulary projection for `rows` positions (logits out)."""
    dt, h = m.dtype_bytes, m.hidden
    wdt = m.weight_dtype_bytes
    return (_elementwise("norm_final", "norm", rows, h, NORM_FLOPS, dt, weight_bytes=h * wdt),
            _gemm("lm_head", "gemm", rows, h, m.vocab, 1, dt, weights=wdt, in_bytes=rows * h * dt,
                  out_bytes=rows * m.vocab * dt))


def transformer_segment(m: TransformerModel, phase: Phase, batch: int, seq: int, context: int,
                        first: int, last: int) -> tuple[Operator, ...]:
    """Operators of layers first..last (inclusive) for one micro-batch of equal sequences, with the embedding
    on layer 0 and the LM head on the model's last layer (see `transformer_segment_mixed`)."""
    return transformer_segment_mixed(m, phase, ((batch, seq, context),), first, last)


@lru_cache(maxsize=8192)
def transformer_segment_mixed(m: TransformerModel, phase: Phase, groups: tuple[tuple[int, int, int], ...],
                              first: int, last: int) -> tuple[Operator, ...]:
    """Operators of layers first..last (inclusive) for a micro-batch of (sequences, seq, context) groups, with
    the embedding on layer 0 and the LM head on the model's last layer. Layer indices do not appear in operator
    names, so equal segments of different micro-batches or positions give equal tuples (the cost backend
    dedupes by them)."""
    if not 0 <= first <= last < m.layers:
        raise DslError(f"layer range {first}..{last} outside model {m.name} with {m.layers} layers")
    ops: tuple[Operator, ...] = ()
    T = sum(b * s for b, s, _ in groups)
    if first == 0:
        ops += (embedding(m, T),)
    n_dense = max(0, min(last + 1, m.dense_layers) - first) if m.experts > 0 else 0
    if n_dense:
        ops += transformer_layer_mixed(m, phase, groups, True) * n_dense
    ops += transformer_layer_mixed(m, phase, groups) * (last - first + 1 - n_dense)
    if last == m.layers - 1 and not m.encoder_only and phase != "forward":
        ops += lm_head(m, sum(b for b, _, _ in groups) if phase == "prefill" else T)
    return ops


# ---- CNN ----------------------------------------------------------------------------------------------------

def cnn_layer(layer: CNNLayer, batch: int, dt: float) -> Operator:
    """One CNN layer for `batch` images.

    conv: im2col GEMM, M = batch*out_h*out_w, K = in_ch/groups*kh*kw, N = out_ch/groups, count = groups
    (depthwise: groups = in_ch = out_ch). fc: M = batch, K = in_ch*in_h*in_w, N = out_ch.
    pool: one FLOP (compare or add) per window element, K = 1.
    """
    _check_positive(batch=batch)
    L = layer
    if L.out_h < 1 or L.out_w < 1:
        raise DslError(f"layer {L.name}: output {L.out_h}x{L.out_w} is empty (input {L.in_h}x{L.in_w}, "
                       f"kernel {L.kh}x{L.kw}, stride {L.stride}, pad {L.pad})")
    in_b = batch * L.in_ch * L.in_h * L.in_w * dt
    out_b = batch * L.out_ch * L.out_h * L.out_w * dt
    if L.kind == "conv":
        if L.in_ch % L.groups or L.out_ch % L.groups:
            raise DslError(f"layer {L.name}: groups={L.groups} does not divide in_ch={L.in_ch} and out_ch={L.out_ch}")
        return _gemm(L.name, "conv", batch * L.out_h * L.out_w, L.in_ch // L.groups * L.kh * L.kw,
                     L.out_ch // L.groups, L.groups, dt, weights=True, in_bytes=in_b, out_bytes=out_b,
                     taps=L.kh * L.kw)
    if L.kind == "fc":
        return _gemm(L.name, "gemm", batch, L.in_ch * L.in_h * L.in_w, L.out_ch, 1, dt, weights=True,
                     in_bytes=in_b, out_bytes=batch * L.out_ch * dt)
    if L.kind == "pool":
        elems = batch * L.out_ch * L.out_h * L.out_w
        return Operator(L.name, "pool", batch * L.out_h * L.out_w, 1, L.out_ch, 1,
                        flops=float(elems * L.kh * L.kw), in_bytes=float(in_b), out_bytes=float(out_b))
    raise DslError(f"layer {L.name}: unknown kind {L.kind!r} (expected conv, pool or fc)")


@lru_cache(maxsize=8192)
def cnn_segment(m: CNNModel, batch: int, first: int, last: int) -> tuple[Operator, ...]:
    """Operators of CNN layers first..last (inclusive) for `batch` images."""
    if not 0 <= first <= last < len(m.layers):
        raise DslError(f"layer range {first}..{last} outside model {m.name} with {len(m.layers)} layers")
    return tuple(cnn_layer(m.layers[i], batch, m.dtype_bytes) for i in range(first, last + 1))


# ---- parameter counts ---------------------------------------------------------------------------------------
# One implementation, in the model zoo (it also serves `mapc models`); re-exported here for the lowering.
from mapc.dsl.zoo import param_count, weight_bytes  # noqa: E402,F401
