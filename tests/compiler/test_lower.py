"""Lowering a Spec to the execution graph (compiler/lower.py); Specs are built directly, without the parser."""

import time

import pytest

from mapc.compiler.lower import lower, segments, split_batch
from mapc.compiler.ops import param_count
from mapc.core.spec import (CNNLayer, CNNModel, ParallelSpec, PhaseSpec, ServeSpec, Spec, TransformerModel,
                           WorkloadSpec)
from mapc.core.errors import DslError

LLAMA7 = TransformerModel("llama2_7b", layers=32, hidden=4096, heads=32, kv_heads=32, ffn=11008, vocab=32000)
LLAMA70 = TransformerModel("llama2_70b", layers=80, hidden=8192, heads=64, kv_heads=8, ffn=28672, vocab=32000)
TINY_CNN = CNNModel("tiny", (CNNLayer("c1", "conv", 3, 16, 32, 32, kh=3, kw=3, pad=1),
                             CNNLayer("p1", "pool", 16, 16, 32, 32, kh=2, kw=2, stride=2),
                             CNNLayer("c2", "conv", 16, 32, 16, 16, kh=3, kw=3, pad=1),
                             CNNLayer("fc", "fc", 32 * 16 * 16, 10, 1, 1)))


def spec_of(models, serves, segment=1):
    return Spec("test.dsl", {m.name: m for m in models}, WorkloadSpec("w", tuple(serves)),
                ParallelSpec(segment=segment))


def chat(prefill_batch=4, lengths=(512, 1024), decode_batch=8, ctx=(1024,), mb=2, steps=1, width=1):
    return ServeSpec("llama2_7b", (PhaseSpec("prefill", prefill_batch, lengths),
                                   PhaseSpec("decode", decode_batch, ctx, steps=steps, width=width)), mb)


def test_split_batch_and_segments():
    assert split_batch(10, 4) == (3, 3, 2, 2)
    assert split_batch(3, 8) == (1, 1, 1)
    assert sum(split_batch(1001, 64)) == 1001
    assert segments(10, 4) == ((0, 3), (4, 7), (8, 9))
    with pytest.raises(DslError):
        split_batch(0, 2)


def test_tasks_edges_and_weight_keys():
    g = lower(spec_of([LLAMA7], [chat()]), segment=8)
    # prefill: 2 mb x 4 segments; decode: 2 mb x 4 segments
    assert g.n == 16
    assert len(g.edges) == 2 * 2 * 3
    assert all(e.src < e.dst for e in g.edges)
    pre = [t for t in g.tasks if t.phase == "prefill"]
    dec = [t for t in g.tasks if t.phase == "decode"]
    assert {t.weight_key for t in pre} == {t.weight_key for t in dec} == {
        "llama2_7b/L0-7", "llama2_7b/L8-15", "llama2_7b/L16-23", "llama2_7b/L24-31"}
    # variable lengths: micro-batch i gets lengths[i % 2]
    assert [t.seq for t in pre if t.layers == (0, 7)] == [512, 1024]
    # tokens only on the last segment: prefill 1 per sequence, decode batch*width
    assert sum(t.tokens for t in pre) == 4 and sum(t.tokens for t in dec) == 8
    assert all(t.tokens == 0 for t in g.tasks if t.layers[1] != 31)
    e = next(e for e in g.edges if e.src == pre[0].id)
    assert e.dst == pre[1].id and e.bytes == 2 * 512 * 4096 * 2      # activations of mb0 (2 seqs of 512)
    assert g.meta["total_flops"] == pytest.approx(sum(t.flops for t in g.tasks))
    assert g.meta["models"] == ["llama2_7b"] and g.meta["tasks"] == 16


def test_identical_microbatches_share_op_tuples():
    g = lower(spec_of([LLAMA7], [chat(prefill_batch=8, lengths=(256,), mb=4)]))
    pre = [t for t in g.tasks if t.phase == "prefill" and t.layers == (5, 5)]
    assert len(pre) == 4 and all(t.ops is pre[0].ops for t in pre)


def test_fewer_microbatches_than_lengths_keep_the_mix():
    from mapc.compiler.ops import transformer_segment
    g = lower(spec_of([LLAMA7], [chat(prefill_batch=4, lengths=(512, 1024), decode_batch=4, ctx=(100, 300), mb=1)]),
              segment=32)
    pre, dec = g.tasks
    assert pre.seq == 1024 and pre.batch == 4
    want = sum(o.flops for o in transformer_segment(LLAMA7, "prefill", 2, 512, 0, 0, 31)) + \
        sum(o.flops for o in transformer_segment(LLAMA7, "prefill", 2, 1024, 0, 0, 31))
    assert pre.flops == want
    # ragged batch: weights read once for all 3072 tokens (not once per length group)
    assert pre.weight_bytes == sum(o.weight_bytes for o in transformer_segment(LLAMA7, "prefill", 4, 768, 0, 0, 31))
    assert [o.M for o in pre.ops if o.name == "qkv"] == [3072] * 32
    assert sorted({o.M for o in pre.ops if o.name == "attn_score"}) == [512, 1024]
    assert dec.kv_read_bytes == 2 * (100 + 300) * 2 * 32 * 128 * 2 * 32
    g2 = lower(spec_of([LLAMA7], [chat(prefill_batch=4, lengths=(512, 1024), mb=1)]), segment=16)
    assert g2.edges[0].bytes == (2 * 512 + 2 * 1024) * 4096 * 2


def test_decode_steps_chain_with_kv_edges():
    g = lower(spec_of([LLAMA7], [ServeSpec("llama2_7b", (PhaseSpec("decode", 2, (100,), steps=3, width=2),), 1)]),
              segment=16)
    assert g.n == 3 * 2
    ctx = [t.context for t in g.tasks if t.layers == (0, 15)]
    assert ctx == [100, 102, 104]
    kv = [e for e in g.edges if e.kind == "kv"]
    assert len(kv) == 2 * 2
    assert kv[0].bytes == 2 * 2 * 2 * 32 * 128 * 2 * 16     # batch*width new tokens, K+V, 16 layers
    s0_last = next(t for t in g.tasks if t.step == 0 and t.layers == (16, 31))
    s1_first = next(t for t in g.tasks if t.step == 1 and t.layers == (0, 15))
    assert any(e.src == s0_last.id and e.dst == s1_first.id for e in g.edges)
    assert sum(t.tokens for t in g.tasks) == 3 * 2 * 2
    # decode KV read of a step: batch * context * 2 * kv_heads * head_dim * dtype per layer
    t0 = g.tasks[0]
    assert t0.kv_read_bytes == 2 * 100 * 2 * 32 * 128 * 2 * 16


def test_single_segment_decode_has_one_edge_per_step():
    g = lower(spec_of([LLAMA7], [ServeSpec("llama2_7b", (PhaseSpec("decode", 1, (10,), steps=2),), 1)]),
              segment=32)
    assert g.n == 2 and len(g.edges) == 1


def test_multi_model_cnn_and_errors():
    serves = [chat(mb=1), ServeSpec("tiny", (PhaseSpec("forward", 6, (1,)),), 3)]
    g = lower(spec_of([LLAMA7, TINY_CNN], serves), segment=32)
    cnn = [t for t in g.tasks if t.model == "tiny"]
    assert len(cnn) == 3 and all(t.batch == 2 and t.tokens == 2 for t in cnn)
    assert cnn[0].flops == pytest.approx(2 * (2 * 32 * 32 * 16 * 27 + 2 * 16 * 16 * 32 * 144 + 2 * 8192 * 10)
                                         + 2 * 16 * 16 * 16 * 4)
    assert g.models == ("llama2_7b", "tiny")
    with pytest.raises(DslError, match="unknown model"):
        lower(spec_of([TINY_CNN], [chat()]))
    with pytest.raises(DslError, match="forward"):
        lower(spec_of([TINY_CNN], [ServeSpec("tiny", (PhaseSpec("decode", 1, (4,)),))]))
    with pytest.raises(DslError, match="segment"):
        lower(spec_of([LLAMA7], [chat()]), segment=0)
    with pytest.raises(DslError, match="no workload"):
        lower(Spec("x.dsl", {}, None, ParallelSpec()))


def test_meta_weight_bytes_near_model_size():
    g = lower(spec_of([LLAMA7], [chat()]))
    # every matrix but the full embedding table: only gathered rows count (the largest gather: 2 x 1024 tokens)
    assert g.meta["weight_bytes"] == (param_count(LLAMA7) - 32000 * 4096) * 2 + 2 * 1024 * 4096 * 2


LLAMA70_64MB = ServeSpec("llama2_70b", (PhaseSpec("prefill", 64, (512, 1024, 2048)), PhaseSpec("decode", 64, (1024,))),
                         64)


def test_llama70b_64_microbatches_lowers():
    g = lower(spec_of([LLAMA70], [LLAMA70_64MB]))
    assert g.n == 80 * 64 * 2


@pytest.mark.benchmark
def test_llama70b_64_microbatches_lowers_under_one_second():
    t0 = time.perf_counter()
    g = lower(spec_of([LLAMA70], [LLAMA70_64MB]))
    dt = time.perf_counter() - t0
    assert g.n == 80 * 64 * 2
    assert dt < 1.0, f"lowering took {dt:.2f} s"
