"""Hugging Face import of real configs (tests/data/hf/*.json, written by hand from the published config.json files):
parameter counts within 2 % of the published figures, head_dim, tied embeddings, MoE with shared experts and
dense layers, DeepSeek's multi-head latent attention and weight-only quantisation (AWQ, GPTQ, bitsandbytes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mapc.compiler.ops import lm_head, transformer_layer_mixed, transformer_segment_mixed
from mapc.core.errors import DslError
from mapc.dsl import zoo
from mapc.dsl.hfconfig import from_config, load_hf_config

HF = Path(__file__).resolve().parents[1] / "data" / "hf"

# published parameter counts (model cards / papers) and, for the quantised checkpoints, weight bytes on disk
PUBLISHED = {
    "gpt2.json": 124e6,                       # GPT-2 small: 124 M (Radford et al. 2019; model card)
    "gemma-2-9b.json": 9.24e9,                # Gemma-2-9B: 9.24 B (Gemma 2 report, Table 1 / model card)
    "qwen1.5-moe-a2.7b.json": 14.3e9,         # Qwen1.5-MoE-A2.7B: 14.3 B total, 2.7 B activated (model card)
    "deepseek-v2-lite.json": 15.7e9,          # DeepSeek-V2-Lite: 15.7 B total, 2.4 B activated (model card)
    "phi-3-mini-4k-instruct.json": 3.82e9,    # Phi-3-mini: 3.8 B (report); 3,821,079,552 in the checkpoint
    "llama-2-7b-awq.json": 6.74e9,            # Llama-2-7B: 6.74 B
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_counts_within_2_percent_of_the_published_figures(name):
    m = load_hf_config(str(HF / name))
    assert zoo.param_count(m) == pytest.approx(PUBLISHED[name], rel=0.02)


def test_quantised_llama_weighs_its_checkpoint():
    """TheBloke's Llama-2-7B-AWQ / -GPTQ safetensors hold about 3.9 GB: int4 linear layers with an fp16 scale and
    a 4-bit zero point per group of 128, fp16 embeddings and LM head (13.5 GB before the fix)."""
    for name in ("llama-2-7b-awq.json", "llama-2-7b-gptq.json"):
        m = load_hf_config(str(HF / name))
        assert (m.quant_bits, m.quant_group, m.dtype) == (4, 128, "fp16")
        assert zoo.weight_bytes(m) == pytest.approx(3.89e9, rel=0.02)
        assert m.linear_weight_bytes == pytest.approx(0.5 + 2.5 / 128)


def test_gpt2_ties_its_head_and_gemma_keeps_its_head_dim():
    gpt2 = load_hf_config(str(HF / "gpt2.json"))
    assert gpt2.tied_embeddings and zoo.param_groups(gpt2)["head"] == 0
    gemma = load_hf_config(str(HF / "gemma-2-9b.json"))
    assert (gemma.head_dim, gemma.tied_embeddings, gemma.hidden // gemma.heads) == (256, True, 224)
    ops = {o.name: o for o in transformer_layer_mixed(gemma, "prefill", ((1, 128, 0),))}
    assert ops["qkv"].N == 16 * 256 + 2 * 8 * 256 and ops["attn_out"].K == 16 * 256
    assert ops["attn_score"].K == 256
    # the tied LM head still runs (its GEMM reads the embedding table)
    assert lm_head(gemma, 1)[1].weight_bytes == 256000 * 3584 * 4


def test_moe_shared_experts_and_dense_layers():
    q = load_hf_config(str(HF / "qwen1.5-moe-a2.7b.json"))
    assert (q.experts, q.top_k, q.ffn, q.shared_ffn, q.dense_layers) == (60, 4, 1408, 5632, 0)
    ds = load_hf_config(str(HF / "deepseek-v2-lite.json"))
    assert (ds.experts, ds.top_k, ds.ffn, ds.shared_ffn, ds.dense_layers, ds.dense_ffn) == (64, 6, 1408, 2816, 1,
                                                                                          10944)
    first = {o.name for o in transformer_segment_mixed(ds, "prefill", ((1, 64, 0),), 0, 0)}
    later = {o.name for o in transformer_segment_mixed(ds, "prefill", ((1, 64, 0),), 1, 1)}
    assert "ffn_up" in first and "moe_up" not in first
    assert {"moe_up", "shared_up", "moe_router"} <= later and "ffn_up" not in later


def test_deepseek_multi_head_latent_attention():
    ds = load_hf_config(str(HF / "deepseek-v2-lite.json"))
    assert (ds.kv_lora_rank, ds.rope_head_dim, ds.head_dim, ds.value_dim, ds.kv_width) == (512, 64, 192, 128, 576)
    dec = {o.name: o for o in transformer_layer_mixed(ds, "decode", ((4, 1, 1000),))}
    # the cache holds the 576-wide latent, not 2 x 16 heads x 192
    assert dec["attn_score"].kv_read_bytes + dec["attn_value"].kv_read_bytes == pytest.approx(4 * 1000 * 576 * 2)
    assert dec["q_kv_down"].kv_write_bytes == 4 * 576 * 2
    pre = {o.name: o for o in transformer_layer_mixed(ds, "prefill", ((1, 256, 0),))}
    assert pre["attn_score"].K == 192 and pre["attn_value"].N == 128


def test_ops_hold_the_counted_weights():
    """One pass over every layer plus the LM head holds what `param_groups` counts (the embedding is gathered
    row by row, so its table is left out unless the head is tied to it)."""
    for name in ("qwen1.5-moe-a2.7b.json", "deepseek-v2-lite.json", "llama-2-7b-awq.json", "gemma-2-9b.json"):
        m = load_hf_config(str(HF / name))
        ops = transformer_segment_mixed(m, "prefill", ((1, 8, 0),), 0, m.layers - 1)
        held = sum(o.held_weight_bytes for o in ops if o.kind != "embed")
        table = m.vocab * m.hidden * m.weight_dtype_bytes
        expect = zoo.weight_bytes(m) - (0 if m.tied_embeddings else table)
        assert held == pytest.approx(expect, rel=1e-9), name


def test_bitsandbytes_and_unsupported_quantisation(tmp_path):
    base = json.loads((HF / "llama-2-7b-awq.json").read_text())
    nf4 = dict(base, quantization_config={"quant_method": "bitsandbytes", "load_in_4bit": True,
                                          "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": False})
    m = from_config(nf4, "nf4")
    assert (m.quant_bits, m.quant_group) == (4, 64) and m.linear_weight_bytes == pytest.approx(0.5 + 4 / 64)
    int8 = dict(base, quantization_config={"quant_method": "bitsandbytes", "load_in_8bit": True})
    assert from_config(int8, "int8").linear_weight_bytes == pytest.approx(1 + 4 / 4096)
    with pytest.raises(DslError, match="unsupported quantization_config quant_method 'fp8'") as ei:
        from_config(dict(base, quantization_config={"quant_method": "fp8"}), "x")
    assert "awq" in ei.value.hint
    with pytest.raises(DslError, match="group_size"):
        from_config(dict(base, quantization_config={"quant_method": "gptq", "bits": 4, "group_size": 0}), "x")


def test_a_quantised_and_a_latent_attention_model_compile():
    """The new fields flow through the whole pipeline (lowering, pricing, a schedule)."""
    from mapc import api
    from mapc.core.options import SolveOptions
    text = (f'model ds = hf("{HF / "deepseek-v2-lite.json"}")\nmodel q = hf("{HF / "llama-2-7b-awq.json"}")\n'
            "workload w {\n serve ds { prefill batch=1 seq=256  decode batch=4 context=512 }\n"
            " serve q { decode batch=2 context=256 }\n}\nparallel { segment 9 }\n")
    r = api.solve(api.lower(api.load(text), "npu4x4"), SolveOptions(solver="greedy", time_limit=5))
    assert r.metrics.makespan > 0 and r.problem.graph.n > 0
