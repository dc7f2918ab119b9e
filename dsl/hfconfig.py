"""A `TransformerModel` from a local Hugging Face `config.json` (no network access, ever).

Understood key families:
  llama / mistral / mixtral / qwen2-style: num_hidden_layers, hidden_size, num_attention_heads,
      num_key_value_heads (default: num_attention_heads), intermediate_size, vocab_size, num_local_experts,
      num_experts_per_tok, max_position_embeddings; gated (SwiGLU) FFN.
  opt: ffn_dim instead of intermediate_size; classic 2-matrix FFN.
  gpt2: n_layer, n_embd, n_head, n_inner (default 4 x n_embd), n_positions; classic FFN.
  bert / roberta: intermediate_size, encoder-only, classic FFN.
`torch_dtype` float16/bfloat16/float32 maps to fp16/bf16/fp32 (default fp16). A missing key raises DslError
naming the key and the file.
"""

from __future__ import annotations

import json
import os

from mapc.core.spec import TransformerModel
from mapc.core.errors import DslError, Loc

_DTYPES = {"float16": "fp16", "half": "fp16", "bfloat16": "bf16", "float32": "fp32", "float": "fp32",
           "int8": "int8", "float8_e4m3fn": "fp8"}
_GATED_TYPES = {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "gemma", "gemma2", "phi3",
                "olmo", "deepseek", "internlm2", "yi"}
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
    experts = _get(cfg, ("num_local_experts", "num_experts"), path, loc, required=False) or 0
    top_k = _get(cfg, ("num_experts_per_tok",), path, loc, required=False) or (2 if experts else 0)
    max_seq = _get(cfg, ("max_position_embeddings", "n_positions", "n_ctx"), path, loc, required=False) or 4096
    raw_dt = cfg.get("torch_dtype") or "float16"
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
    if hidden % heads:
        raise DslError(f"{path}: hidden_size {hidden} is not a multiple of num_attention_heads {heads}", loc=loc)
    if heads % kv:
        raise DslError(f"{path}: num_key_value_heads {kv} does not divide num_attention_heads {heads}", loc=loc)
    if experts and not 0 < top_k <= experts:
        raise DslError(f"{path}: num_experts_per_tok {top_k} must be in 1..{experts}", loc=loc)
    return TransformerModel(name=name, layers=layers, hidden=hidden, heads=heads, kv_heads=kv, ffn=ffn,
                            vocab=vocab, dtype=dtype, gated_ffn=gated, experts=experts, top_k=top_k,
                            encoder_only=mtype in _ENCODER_TYPES, max_seq=max_seq, loc=loc)


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
