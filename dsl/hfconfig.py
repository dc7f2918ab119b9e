"""A `TransformerModel` from a local Hugging Face `config.json` (no network access, ever).

Understood key families:
  llama / mistral / mixtral / qwen2-style: num_hidden_layers, hidden_size, num_attention_heads,
      num_key_value_heads (default: num_attention_heads), intermediate_size, vocab_size, num_local_experts,
      num_experts_per_tok, max_position_embeddings; gated (SwiGLU) FFN.
  opt: ffn_dim instead of intermediate_size; classic 2-matrix FFN.
  gpt2: n_layer, n_embd, n_head, n_inner (default 4 x n_embd), n_positions; classic FFN.
  bert / roberta: intermediate_size, encoder-only, classic FFN.
  head_dim (Gemma, Gemma-2, Qwen3, Mistral-Nemo): the head width when it is not hidden / heads.
  tie_word_embeddings: the LM head is the embedding table, counted once; when the key is absent, the default
      of the model type's transformers config class applies (True for gpt2, opt, gemma*, bloom, falcon,
      gpt_bigcode; False for llama, mistral, mixtral, qwen2*, phi3, deepseek*, ...).
  MoE: num_local_experts / num_experts / n_routed_experts, num_experts_per_tok, moe_intermediate_size (the expert
      width; intermediate_size is then the dense layers' width), shared experts (Qwen-MoE
      shared_expert_intermediate_size; DeepSeek n_shared_experts x moe_intermediate_size), dense layers
      (DeepSeek first_k_dense_replace; Qwen-MoE mlp_only_layers and decoder_sparse_step: their count, modelled
      as the first layers).
  DeepSeek-V2/V3 multi-head latent attention: kv_lora_rank, q_lora_rank, qk_nope_head_dim, qk_rope_head_dim,
      v_head_dim.
  quantization_config (weight-only, the blocks' linear layers; embeddings, LM head and norms stay at the dtype):
      awq and gptq: `bits`, `group_size` (-1: one group per input row), an fp16 scale and a bits-wide zero point
      per group; bitsandbytes: 4-bit in blocks of 64 with an fp32 absmax per block (8-bit absmax plus one fp32
      per 256 blocks with double quantisation), or 8-bit with an fp32 scale per output row.
`torch_dtype` (or `dtype`) float16/bfloat16/float32 maps to fp16/bf16/fp32 (default fp16). A missing key raises
DslError naming the key and the file.
"""

from __future__ import annotations

import json
import os

from mapc.core.spec import TransformerModel
from mapc.core.errors import DslError, Loc

_DTYPES = {"float16": "fp16", "half": "fp16", "bfloat16": "bf16", "float32": "fp32", "float": "fp32",
           "int8": "int8", "float8_e4m3fn": "fp8"}
_GATED_TYPES = {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2",
                "gemma3_text", "phi3", "olmo", "deepseek", "deepseek_v2", "deepseek_v3", "internlm2", "yi"}
# model types whose transformers config class ties the LM head to the embedding table by default
_TIED_TYPES = {"gpt2", "opt", "gemma", "gemma2", "gemma3_text", "bloom", "falcon", "gpt_bigcode", "bert", "roberta"}
_CLASSIC_TYPES = {"opt", "gpt2", "gpt_neox", "gptj", "bert", "roberta", "falcon", "bloom", "gpt_bigcode"}
_ENCODER_TYPES = {"bert", "roberta", "distilbert", "electra", "deberta", "deberta-v2"}


def _get(cfg: dict, keys: tuple[str, ...], path: str, loc: Loc | None, default=None, required=True):
    for k in keys:
        if cfg.get(k) is not None:
            v = cfg[k]
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise DslError(f"{path}: `{k}` must be a positive integer, got {v!r}", loc=loc)
            return v
    if required and default is None:
        raise DslError(f"{path}: missing key `{keys[0]}`" + (f" (or {', '.join(keys[1:])})" if keys[1:] else ""),
                       loc=loc, hint="a Hugging Face transformer config.json (llama/mistral/mixtral/opt/gpt2/bert)")
    return default


def from_config(cfg: dict, name: str, path: str = "<config>", loc: Loc | None = None) -> TransformerModel:
    """A model from an already-loaded config dict (see the module docstring for the keys)."""
    if not isinstance(cfg, dict):
        raise DslError(f"{path}: expected a JSON object at the top level", loc=loc)
    mtype = str(cfg.get("model_type", "")).lower()
    layers = _get(cfg, ("num_hidden_layers", "n_layer", "num_layers"), path, loc)
    hidden = _get(cfg, ("hidden_size", "n_embd", "d_model"), path, loc)
    heads = _get(cfg, ("num_attention_heads", "n_head"), path, loc)
    kv = _get(cfg, ("num_key_value_heads", "multi_query_group_num"), path, loc, default=heads)
    ffn = _get(cfg, ("intermediate_size", "ffn_dim", "n_inner"), path, loc,
               default=4 * hidden if mtype in ("gpt2", "gpt_bigcode") or "n_embd" in cfg else None)
    vocab = _get(cfg, ("vocab_size",), path, loc)
    experts = _get(cfg, ("num_local_experts", "num_experts", "n_routed_experts"), path, loc, required=False) or 0
    top_k = _get(cfg, ("num_experts_per_tok",), path, loc, required=False) or (2 if experts else 0)
    max_seq = _get(cfg, ("max_position_embeddings", "n_positions", "n_ctx"), path, loc, required=False) or 4096
    raw_dt = cfg.get("torch_dtype") or cfg.get("dtype") or "float16"
    dtype = _DTYPES.get(str(raw_dt).replace("torch.", ""))
    if dtype is None:
        raise DslError(f"{path}: unsupported torch_dtype {raw_dt!r}", loc=loc,
                       hint="one of " + ", ".join(_DTYPES))
    if mtype in _GATED_TYPES:
        gated = True
    elif mtype in _CLASSIC_TYPES:
        gated = False
    else:
        gated = str(cfg.get("hidden_act", cfg.get("activation_function", "silu"))).lower() in ("silu", "swiglu",
                                                                                                 "swish")
    mla = _mla(cfg, path, loc)
    head_dim = mla.pop("head_dim", 0) or _get(cfg, ("head_dim",), path, loc, required=False) or 0
    if hidden % heads and not head_dim:
        raise DslError(f"{path}: hidden_size {hidden} is not a multiple of num_attention_heads {heads}", loc=loc,
                       hint="give `head_dim`")
    if heads % kv:
        raise DslError(f"{path}: num_key_value_heads {kv} does not divide num_attention_heads {heads}", loc=loc)
    if experts and not 0 < top_k <= experts:
        raise DslError(f"{path}: num_experts_per_tok {top_k} must be in 1..{experts}", loc=loc)
    moe = _moe(cfg, path, loc, layers, ffn) if experts else {}
    tied = cfg.get("tie_word_embeddings", mtype in _TIED_TYPES)
    return TransformerModel(name=name, layers=layers, hidden=hidden, heads=heads, kv_heads=kv,
                            ffn=moe.pop("ffn", ffn), vocab=vocab, dtype=dtype, gated_ffn=gated, experts=experts,
                            top_k=top_k, encoder_only=mtype in _ENCODER_TYPES, max_seq=max_seq, loc=loc,
                            head_dim_set=head_dim if head_dim != hidden // heads or hidden % heads else 0,
                            tied_embeddings=bool(tied), **moe, **mla, **_quantisation(cfg, hidden, path, loc))


def _moe(cfg: dict, path: str, loc: Loc | None, layers: int, ffn: int) -> dict:
    """Expert width, shared experts and dense layers of a MoE config (module docstring)."""
    expert = _get(cfg, ("moe_intermediate_size",), path, loc, required=False)
    out: dict = {"ffn": expert or ffn}
    if expert:
        out["dense_ffn"] = ffn if ffn != expert else 0
    shared = _get(cfg, ("shared_expert_intermediate_size",), path, loc, required=False)
    n_shared = _get(cfg, ("n_shared_experts",), path, loc, required=False)
    if shared or n_shared:
        out["shared_ffn"] = (shared or 0) + (n_shared or 0) * (expert or ffn)
    dense = _get(cfg, ("first_k_dense_replace",), path, loc, required=False) or 0
    only = cfg.get("mlp_only_layers") or []
    step = _get(cfg, ("decoder_sparse_step", "moe_layer_freq"), path, loc, required=False) or 1
    qwen = "decoder_sparse_step" in cfg      # Qwen-MoE: (i + 1) % step == 0; DeepSeek: i % moe_layer_freq == 0
    sparse = [i for i in range(dense, layers) if i not in only and (i + int(qwen)) % step == 0]
    if len(sparse) < layers:
        out["dense_layers"] = layers - len(sparse)
    return out


def _mla(cfg: dict, path: str, loc: Loc | None) -> dict:
    """Multi-head latent attention dims (DeepSeek-V2/V3) as `TransformerModel` fields; {} without `kv_lora_rank`."""
    rank = _get(cfg, ("kv_lora_rank",), path, loc, required=False)
    if not rank:
        return {}
    nope = _get(cfg, ("qk_nope_head_dim",), path, loc)
    rope = _get(cfg, ("qk_rope_head_dim",), path, loc)
    return {"kv_lora_rank": rank, "q_lora_rank": _get(cfg, ("q_lora_rank",), path, loc, required=False) or 0,
            "rope_head_dim": rope, "v_head_dim": _get(cfg, ("v_head_dim",), path, loc, default=nope + rope),
            "head_dim": nope + rope}


_QUANT_METHODS = ("awq", "gptq", "bitsandbytes")


def _quantisation(cfg: dict, hidden: int, path: str, loc: Loc | None) -> dict:
    """`quantization_config` as (quant_bits, quant_group, quant_group_bytes); {} when there is none."""
    q = cfg.get("quantization_config")
    if not q:
        return {}
    if not isinstance(q, dict):
        raise DslError(f"{path}: `quantization_config` must be an object", loc=loc)
    method = str(q.get("quant_method", "")).lower()
    if method in ("awq", "gptq"):
        bits = _get(q, ("bits", "w_bit"), path, loc)
        group = q.get("group_size", q.get("q_group_size", 128))
        if not isinstance(group, int) or isinstance(group, bool) or group == 0 or group < -1:
            raise DslError(f"{path}: quantization_config `group_size` must be a positive integer or -1, got "
                           f"{group!r}", loc=loc)
        zero = bits / 8 if q.get("zero_point", True) else 0.0
        return {"quant_bits": bits, "quant_group": hidden if group == -1 else group, "quant_group_bytes": 2 + zero}
    if method == "bitsandbytes":
        if q.get("load_in_4bit"):
            double = bool(q.get("bnb_4bit_use_double_quant"))
            return {"quant_bits": 4, "quant_group": 64, "quant_group_bytes": 1 + 4 / 256 if double else 4.0}
        if q.get("load_in_8bit"):
            return {"quant_bits": 8, "quant_group": hidden, "quant_group_bytes": 4.0}
        raise DslError(f"{path}: bitsandbytes quantization_config sets neither load_in_4bit nor load_in_8bit",
                       loc=loc)
    raise DslError(f"{path}: unsupported quantization_config quant_method {q.get('quant_method')!r}", loc=loc,
                   hint="supported: " + ", ".join(_QUANT_METHODS))


def load_hf_config(path: str, name: str | None = None, loc: Loc | None = None) -> TransformerModel:
    """Read a local config.json. The model is named `name`, else after the file's folder (or file stem)."""
    try:
        with open(path, encoding="utf-8") as fh:
            cfg = json.load(fh)
    except FileNotFoundError:
        raise DslError(f"config file not found: {path}", loc=loc) from None
    except (OSError, UnicodeDecodeError) as e:
        raise DslError(f"cannot read {path}: {e}", loc=loc) from None
    except json.JSONDecodeError as e:
        raise DslError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}", loc=loc) from None
    if name is None:
        stem = os.path.splitext(os.path.basename(path))[0]
        name = os.path.basename(os.path.dirname(os.path.abspath(path))) if stem == "config" else stem
    return from_config(cfg, name, path, loc)
