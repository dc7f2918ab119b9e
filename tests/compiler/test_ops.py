"""Operator FLOPs and bytes against hand-computed values (compiler/ops.py)."""

import pytest

from mapc.compiler.ops import (cnn_layer, cnn_segment, param_count, transformer_layer,
                               transformer_segment)
from mapc.core.spec import CNNLayer, CNNModel, TransformerModel
from mapc.core.errors import DslError

LLAMA7 = TransformerModel("llama2_7b", layers=32, hidden=4096, heads=32, kv_heads=32, ffn=11008, vocab=32000)
LLAMA70 = TransformerModel("llama2_70b", layers=80, hidden=8192, heads=64, kv_heads=8, ffn=28672, vocab=32000)
MIXTRAL = TransformerModel("mixtral", layers=32, hidden=4096, heads=32, kv_heads=8, ffn=14336, vocab=32000,
                           experts=8, top_k=2)
BERT = TransformerModel("bert", layers=24, hidden=1024, heads=16, kv_heads=16, ffn=4096, vocab=30522,
                        gated_ffn=False, encoder_only=True)


def by_name(ops):
    return {o.name: o for o in ops}


def test_llama7b_prefill_layer_flops_by_hand():
    ops = by_name(transformer_layer(LLAMA7, "prefill", 1, 512))
    assert ops["qkv"].flops == 51_539_607_552          # 2*512*4096*(3*4096)
    assert ops["attn_out"].flops == 17_179_869_184     # 2*512*4096*4096
    assert ops["ffn_up"].flops == 92_341_796_864       # 2*512*4096*(2*11008), gate+up fused
    assert ops["ffn_down"].flops == 46_170_898_432     # 2*512*11008*4096
    # causal: 32 heads * (512*513/2) score entries * 128 * 2
    assert ops["attn_score"].flops == 1_075_838_976
    assert ops["attn_value"].flops == 1_075_838_976
    assert ops["attn_score"].count == 32 and ops["attn_score"].N == 257
    assert ops["qkv"].weight_bytes == 4096 * 12288 * 2
    assert ops["qkv"].kv_write_bytes == 512 * 2 * 4096 * 2
    assert sum(o.kv_read_bytes for o in ops.values()) == 0


def test_llama7b_decode_layer_flops_and_kv_by_hand():
    ops = by_name(transformer_layer(LLAMA7, "decode", 8, 1, 1024))
    assert ops["qkv"].flops == 805_306_368              # 2*8*4096*12288
    assert ops["attn_score"].flops == 67_108_864        # 2*8*32*1*1024*128
    assert ops["attn_score"].M == 1 and ops["attn_score"].N == 1024
    kv = sum(o.kv_read_bytes for o in ops.values())
    assert kv == 134_217_728                            # 8*1024*2*32*128*2 B
    assert ops["qkv"].kv_write_bytes == 8 * 2 * 4096 * 2
    # weights read by a decode step do not depend on the batch
    w8 = sum(o.weight_bytes for o in ops.values())
    w1 = sum(o.weight_bytes for o in transformer_layer(LLAMA7, "decode", 1, 1, 1024))
    assert w8 == w1 == (4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096) * 2


def test_gqa_reduces_kv_bytes_by_heads_over_kv_heads():
    mha = TransformerModel("mha", 80, 8192, 64, 64, 28672, 32000)
    kv_gqa = sum(o.kv_read_bytes for o in transformer_layer(LLAMA70, "decode", 4, 1, 2048))
    kv_mha = sum(o.kv_read_bytes for o in transformer_layer(mha, "decode", 4, 1, 2048))
    assert kv_gqa == 4 * 2048 * 2 * 8 * 128 * 2
    assert kv_mha / kv_gqa == 64 / 8
    # attention FLOPs follow heads, not kv_heads
    f = lambda m: by_name(transformer_layer(m, "decode", 4, 1, 2048))["attn_score"].flops
    assert f(mha) == f(LLAMA70)


def test_prefill_total_flops_close_to_2_params_tokens():
    seq = 2048
    total = sum(o.flops for l in range(32) for o in transformer_segment(LLAMA7, "prefill", 1, seq, 0, l, l))
    params = param_count(LLAMA7)
    assert params == pytest.approx(6.74e9, rel=0.002)   # model card: 6.74 B
    assert total == pytest.approx(2 * params * seq, rel=0.03)
    # exact GEMM part: every matrix but the embedding on every token, the LM head on the last token only
    attn = 32 * 2 * (2 * 32 * 128 * seq * (seq + 1) / 2)
    mats = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008)
    gemm = sum(o.flops for l in range(32) for o in transformer_segment(LLAMA7, "prefill", 1, seq, 0, l, l)
               if o.kind in ("gemm", "attn_score", "attn_value"))
    assert gemm == 2 * mats * seq + attn + 2 * 4096 * 32000 * 1


def test_segment_reuses_equal_tuples_and_places_embed_and_head():
    a = transformer_segment(LLAMA7, "prefill", 2, 128, 0, 4, 7)
    b = transformer_segment(LLAMA7, "prefill", 2, 128, 0, 8, 11)
    assert a == b and len(a) == 4 * len(transformer_layer(LLAMA7, "prefill", 2, 128))
    first = transformer_segment(LLAMA7, "prefill", 2, 128, 0, 0, 3)
    assert first[0].kind == "embed" and first != a
    last = by_name(transformer_segment(LLAMA7, "prefill", 2, 128, 0, 28, 31))
    assert last["lm_head"].M == 2                       # prefill: logits of the last position only
    dec = by_name(transformer_segment(LLAMA7, "decode", 2, 3, 512, 31, 31))
    assert dec["lm_head"].M == 6                        # decode: every new token
    assert "lm_head" not in by_name(transformer_segment(BERT, "forward", 2, 128, 0, 23, 23))


def test_encoder_forward_is_full_attention_without_kv():
    ops = by_name(transformer_layer(BERT, "forward", 2, 128))
    assert ops["attn_score"].flops == 2 * 2 * 16 * 128 * 128 * 64
    assert sum(o.kv_write_bytes + o.kv_read_bytes for o in ops.values()) == 0
    assert ops["ffn_up"].N == 4096                      # classic FFN: 2 matrices
    assert param_count(BERT) == pytest.approx(3.3e8, rel=0.05)   # BERT-large ~ 335 M (with pooler, biases)


def test_moe_flops_top_k_and_touched_experts():
    ops = by_name(transformer_layer(MIXTRAL, "prefill", 1, 64))
    T = 64
    assert ops["moe_up"].flops == 2 * T * 2 * 4096 * 2 * 14336
    assert ops["moe_up"].weight_bytes == 8 * 4096 * 2 * 14336 * 2            # all 8 experts touched
    assert ops["moe_router"].flops == 2 * T * 4096 * 8
    one = by_name(transformer_layer(MIXTRAL, "decode", 1, 1, 100))
    assert one["moe_up"].count == 2                                        # one token touches top_k = 2
    assert one["moe_down"].weight_bytes == 2 * 14336 * 4096 * 2
    assert param_count(MIXTRAL) == pytest.approx(46.7e9, rel=0.01)


def test_resnet50_convs_by_hand():
    conv1 = CNNLayer("conv1", "conv", 3, 64, 224, 224, kh=7, kw=7, stride=2, pad=3)
    op = cnn_layer(conv1, 1, 2)
    assert (op.M, op.K, op.N) == (112 * 112, 3 * 49, 64)
    assert op.flops == 236_027_904                      # 2 * 112*112*64*3*7*7
    assert op.weight_bytes == 64 * 3 * 49 * 2
    assert op.out_bytes == 64 * 112 * 112 * 2
    c3 = cnn_layer(CNNLayer("res2a_b", "conv", 64, 64, 56, 56, kh=3, kw=3, pad=1), 4, 2)
    assert c3.flops == 4 * 231_211_008                  # 2 * 56*56*64*64*9 per image
    dw = cnn_layer(CNNLayer("dw", "conv", 32, 32, 56, 56, kh=3, kw=3, pad=1, groups=32), 1, 2)
    assert dw.count == 32 and dw.K == 9 and dw.N == 1 and dw.flops == 2 * 56 * 56 * 32 * 9
    pool = cnn_layer(CNNLayer("pool", "pool", 64, 64, 112, 112, kh=3, kw=3, stride=2, pad=1), 1, 2)
    assert pool.flops == 64 * 56 * 56 * 9 and pool.weight_bytes == 0
    fc = cnn_layer(CNNLayer("fc", "fc", 2048, 1000, 1, 1), 8, 2)
    assert fc.flops == 2 * 8 * 2048 * 1000 and fc.weight_bytes == 2048 * 1000 * 2


def test_bad_cnn_layers_raise_dsl_errors():
    with pytest.raises(DslError, match="groups"):
        cnn_layer(CNNLayer("g", "conv", 30, 64, 8, 8, kh=3, kw=3, groups=4), 1, 2)
    with pytest.raises(DslError, match="empty"):
        cnn_layer(CNNLayer("e", "conv", 3, 8, 2, 2, kh=5, kw=5), 1, 2)
    with pytest.raises(DslError):
        cnn_segment(CNNModel("m", (CNNLayer("fc", "fc", 4, 4, 1, 1),)), 1, 0, 3)
    with pytest.raises(DslError, match="batch"):
        transformer_layer(LLAMA7, "prefill", 0, 16)
