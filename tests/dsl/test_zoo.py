"""Model zoo: published parameter totals, layer shapes, HF config loading."""

from __future__ import annotations

import json
import os

import pytest

from mapc.dsl import zoo
from mapc.dsl.hfconfig import load_hf_config
from mapc.core.spec import CNNModel, TransformerModel
from mapc.core.errors import DslError

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")


@pytest.mark.parametrize("name,published", [
    ("llama2_7b", 6.74e9),      # Touvron et al. 2023 / model card
    ("llama2_13b", 13.0e9),
    ("llama2_70b", 69.0e9),
    ("llama3_8b", 8.03e9),      # Meta model card
    ("llama3_70b", 70.6e9),
    ("opt_66b", 66.0e9),        # Zhang et al. 2022
    ("gpt3_175b", 175.0e9),     # Brown et al. 2020
    ("bert_large", 335e6),      # Devlin et al. 2019 (BERT-large ~335 M incl. biases/norms)
    ("mixtral_8x7b", 46.7e9),   # Jiang et al. 2024
    ("resnet50", 25.6e6),       # He et al. 2016 / torchvision (25.557 M incl. batch norm)
    ("mobilenet_v2", 3.5e6),    # Sandler et al. 2018 (3.4-3.5 M)
    ("handtrack_resnet18", 11.2e6),   # ResNet-18 body (11.2 M with its own 1000-way head on 3 channels)
])
def test_param_count_matches_published(name, published):
    assert zoo.param_count(zoo.MODELS[name]) == pytest.approx(published, rel=0.02)


def test_mixtral_active_params_and_weight_bytes():
    m = zoo.MODELS["mixtral_8x7b"]
    assert zoo.active_param_count(m) == pytest.approx(12.9e9, rel=0.02)
    assert zoo.weight_bytes(zoo.MODELS["llama2_7b"]) == pytest.approx(13.48e9, rel=0.01)   # 2 B/param fp16


def test_llama_configs():
    m = zoo.MODELS["llama2_70b"]
    assert (m.layers, m.hidden, m.heads, m.kv_heads, m.ffn, m.vocab) == (80, 8192, 64, 8, 28672, 32000)
    m = zoo.MODELS["llama3_8b"]
    assert (m.kv_heads, m.ffn, m.vocab) == (8, 14336, 128256)
    m = zoo.MODELS["opt_66b"]
    assert (m.layers, m.hidden, m.heads, m.ffn, m.gated_ffn) == (64, 9216, 72, 36864, False)
    assert zoo.MODELS["bert_large"].encoder_only and not zoo.MODELS["gpt3_175b"].gated_ffn


def test_resnet50_shapes():
    m = zoo.MODELS["resnet50"]
    assert isinstance(m, CNNModel)
    convs = [L for L in m.layers if L.kind == "conv"]
    assert len(convs) == 53                                   # 1 + 16 blocks x 3 + 4 projections
    first = m.layers[0]
    assert (first.in_ch, first.out_ch, first.kh, first.stride, first.in_h, first.out_h) == (3, 64, 7, 2, 224, 112)
    assert m.layers[1].out_h == 56                            # 3x3/2 max pool
    last_conv = convs[-1]
    assert (last_conv.out_ch, last_conv.out_h) == (2048, 7)
    fc = m.layers[-1]
    assert (fc.kind, fc.in_ch, fc.out_ch) == ("fc", 2048, 1000)
    for a, b in zip(m.layers, m.layers[1:]):                  # a chain: shapes flow (projections excepted)
        if b.kind == "conv" and "down" not in b.name and "down" not in a.name:
            assert b.in_ch == a.out_ch and b.in_h == a.out_h, (a.name, b.name)


def test_mobilenet_depthwise_and_unet():
    m = zoo.MODELS["mobilenet_v2"]
    dws = [L for L in m.layers if L.name.endswith("_dw")]
    assert len(dws) == 17 and all(L.groups == L.in_ch == L.out_ch for L in dws)
    assert m.layers[-3].out_h == 7 and m.layers[-3].out_ch == 1280
    u = zoo.MODELS["unet_depth"]
    assert u.layers[-1].out_ch == 1 and u.layers[-1].out_h == 256 and u.layers[0].in_h == 256


def test_get_errors_not_keyerror():
    assert zoo.get("llama2_7b") is zoo.MODELS["llama2_7b"]
    with pytest.raises(DslError, match="unknown model `llama2_7`") as ei:
        zoo.get("llama2_7")
    assert "did you mean" in ei.value.hint
    s = zoo.summary(zoo.MODELS["mixtral_8x7b"])
    assert s["params"] == zoo.param_count(zoo.MODELS["mixtral_8x7b"]) and s["kind"] == "transformer"


def test_hf_config_example_and_families(tmp_path):
    m = load_hf_config(os.path.join(EXAMPLES, "hf_config.json"))
    assert isinstance(m, TransformerModel)
    assert (m.name, m.layers, m.kv_heads, m.ffn, m.dtype, m.gated_ffn) == ("hf_config", 32, 8, 14336, "bf16", True)
    assert zoo.param_count(m) == pytest.approx(7.24e9, rel=0.02)        # Mistral-7B: 7.24 B
    mix = {"model_type": "mixtral", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
           "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000, "num_local_experts": 8,
           "num_experts_per_tok": 2, "torch_dtype": "bfloat16"}
    f = tmp_path / "mixtral.json"
    f.write_text(json.dumps(mix))
    m = load_hf_config(str(f))
    assert (m.name, m.experts, m.top_k) == ("mixtral", 8, 2)
    assert zoo.param_count(m) == zoo.param_count(zoo.MODELS["mixtral_8x7b"])
    gpt2 = {"model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12, "vocab_size": 50257,
            "n_positions": 1024}
    f.write_text(json.dumps(gpt2))
    m = load_hf_config(str(f), name="gpt2")
    assert (m.ffn, m.gated_ffn, m.max_seq, m.dtype) == (3072, False, 1024, "fp16")
    opt = {"model_type": "opt", "num_hidden_layers": 64, "hidden_size": 9216, "num_attention_heads": 72,
           "ffn_dim": 36864, "vocab_size": 50272, "torch_dtype": "float16"}
    f.write_text(json.dumps(opt))
    assert load_hf_config(str(f)).ffn == 36864 and not load_hf_config(str(f)).gated_ffn


def test_hf_config_errors(tmp_path):
    f = tmp_path / "config.json"
    f.write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
    with pytest.raises(DslError, match="missing key `num_hidden_layers`"):
        load_hf_config(str(f))
    f.write_text("{not json")
    with pytest.raises(DslError, match="invalid JSON"):
        load_hf_config(str(f))
    with pytest.raises(DslError, match="not found"):
        load_hf_config(str(tmp_path / "nope.json"))
    f.write_text(json.dumps({"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
                             "intermediate_size": 128, "vocab_size": 100, "torch_dtype": "complex64"}))
    with pytest.raises(DslError, match="unsupported torch_dtype"):
        load_hf_config(str(f))
