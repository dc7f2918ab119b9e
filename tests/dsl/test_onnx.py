"""ONNX import (`model NAME = onnx("file.onnx", batch=.., seq=..)`, `mapc models file.onnx`): Stream's own ONNX
workloads in shared/peer and real models built with onnx.helper (ResNet-18/50, MobileNetV2, a GPT-2 block)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")

import onnx_models as om  # noqa: E402  (tests/onnx_models.py)

from mapc import api  # noqa: E402
from mapc.compiler.graph_ops import graph_segment  # noqa: E402
from mapc.compiler.ops import cnn_segment  # noqa: E402
from mapc.core.errors import DslError  # noqa: E402
from mapc.core.options import SolveOptions  # noqa: E402
from mapc.dsl import zoo  # noqa: E402
from mapc.dsl.onnx_import import load_onnx  # noqa: E402

from conftest import peer_dir  # noqa: E402

PEER = (peer_dir() or Path("/nonexistent")) / "stream-inputs" / "workload"
need_peer = pytest.mark.skipif(not PEER.is_dir(), reason="shared/peer (Stream's inputs) is not on this machine")
MAIN = ("conv", "gemm", "pool", "attn_score", "attn_value")


def _ops(m, batch=1):
    return graph_segment(m, batch, 0, len(m.layers) - 1)


def _flops(m, kinds=MAIN, batch=1):
    return sum(o.flops for o in _ops(m, batch) if o.kind in kinds)


@need_peer
def test_streams_onnx_workloads():
    gemm = load_onnx(str(PEER / "gemm_512_4096_4096.onnx"))
    assert (gemm.dtype, gemm.params, _flops(gemm)) == ("bf16", 4096 * 4096, 2 * 512 * 4096 * 4096)
    sw = load_onnx(str(PEER / "swiglu_512_4096_14336.onnx"))
    assert [o.kind for o in _ops(sw)] == ["gemm", "gemm", "elementwise", "elementwise", "gemm"]
    assert _flops(sw) == 3 * 2 * 512 * 4096 * 14336
    att = load_onnx(str(PEER / "attention_head.onnx"))
    kinds = [(o.kind, o.M, o.K, o.N) for o in _ops(att)]
    # the projection weights are graph inputs used as MatMul's second operand: weights, not activations
    assert kinds[:3] == [("gemm", 128, 512, 64)] * 3 and att.params == 3 * 512 * 64
    assert ("attn_score", 128, 64, 128) in kinds and ("attn_value", 128, 128, 64) in kinds
    assert "softmax" in [o.name for o in _ops(att)]


@need_peer
def test_resnet18_without_its_weights_file_imports_from_shapes_and_says_so(save):
    m = load_onnx(str(PEER / "resnet18.onnx"))
    assert m.params == 11_684_712                       # torchvision resnet18: 11.69 M
    assert _flops(m) == pytest.approx(3.63e9, rel=0.01)  # 1.82 GMACs
    assert len(m.notes) == 1 and "resnet18.external" in m.notes[0] and "shapes alone" in m.notes[0]
    # the same network built here with onnx.helper prices identically
    assert _flops(m, kinds=("conv", "gemm", "pool")) == _flops(load_onnx(save(om.resnet(18))), ("conv", "gemm",
                                                                                                   "pool"))


@pytest.fixture
def save(tmp_path):
    """Write a model into the test's folder and return its path."""
    return lambda model, name="m.onnx": om.save(model, tmp_path / name)


def test_resnet50_and_mobilenet_match_the_zoo_operator_for_operator(save):
    """The zoo builds these from the papers' tables; the ONNX graphs as torchvision exports them give the same
    conv, fc and pooling shapes and FLOPs, and the published parameter counts (biases = folded batch norm)."""
    for build, name, published in ((lambda: om.resnet(50), "resnet50", 25.557e6),
                                   (om.mobilenet_v2, "mobilenet_v2", 3.505e6)):
        m = load_onnx(save(build(), f"{name}.onnx"))
        z = zoo.MODELS[name]
        zops = cnn_segment(z, 1, 0, len(z.layers) - 1)
        mine = [(o.kind, o.M, o.K, o.N, o.count) for o in _ops(m) if o.kind in ("conv", "gemm", "pool")]
        assert sorted(mine) == sorted((o.kind, o.M, o.K, o.N, o.count) for o in zops), name
        assert _flops(m) == sum(o.flops for o in zops)
        assert m.params == pytest.approx(published, rel=0.01)
        assert all(layer.ops[0].kind in ("conv", "gemm", "pool") for layer in m.layers)


def test_gpt2_block_needs_its_sequence_length_and_finds_the_attention(save):
    path = save(om.gpt2_block(), "gpt2.onnx")
    with pytest.raises(DslError, match="symbolic dimension `sequence_length`") as ei:
        load_onnx(path)
    assert "seq=" in ei.value.hint
    m = load_onnx(path, batch=2, seq=128)
    assert m.batch == 2 and m.params == 7_087_872          # 12 blocks + embeddings = GPT-2's 124 M
    big = [(o.kind, o.M, o.K, o.N, o.count) for o in _ops(m) if o.kind in MAIN]
    T = 2 * 128
    assert big == [("gemm", T, 768, 2304, 1), ("attn_score", 128, 64, 128, 24), ("attn_value", 128, 128, 64, 24),
                   ("gemm", T, 768, 768, 1), ("gemm", T, 768, 3072, 1), ("gemm", T, 3072, 768, 1)]
    # a micro-batch of 3 runs of the graph: 3x every row or product, the weights read once
    three = _ops(m, 3)
    assert sum(o.flops for o in three) == pytest.approx(3 * sum(o.flops for o in _ops(m)))
    assert sum(o.weight_bytes for o in three) == sum(o.weight_bytes for o in _ops(m))
    assert [o.count for o in three if o.kind == "attn_score"] == [72]
    with pytest.raises(DslError, match="no symbolic dimension `heads`"):
        load_onnx(path, seq=8, dims={"heads": 4})
    assert load_onnx(path, seq=8, dims={"batch_size": 5}).batch == 5


def test_external_data_file_present_or_absent(tmp_path):
    model = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4, 64])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [4, 32])],
        initializer=[onnx.numpy_helper.from_array(__import__("numpy").ones((64, 32), "float32"), "w")]))
    path = tmp_path / "small.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="small.bin", size_threshold=0)
    assert (tmp_path / "small.bin").is_file()
    m = load_onnx(str(path))
    assert m.notes == () and m.params == 64 * 32 and _flops(m) == 2 * 4 * 64 * 32
    (tmp_path / "small.bin").unlink()
    m = load_onnx(str(path))
    assert "small.bin" in m.notes[0] and _flops(m) == 2 * 4 * 64 * 32


def test_unsupported_op_names_the_node_and_what_is_supported(tmp_path):
    g = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["x"], ["r"], name="act"),
         onnx.helper.make_node("LSTM", ["r", "W", "R"], ["y"], name="encoder_lstm", hidden_size=8)], "g",
        [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, s)
         for n, s in (("x", [5, 1, 4]), ("W", [1, 32, 4]), ("R", [1, 32, 8]))],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)])
    path = tmp_path / "lstm.onnx"
    onnx.save(onnx.helper.make_model(g), str(path))
    with pytest.raises(DslError, match=r"node `encoder_lstm` \(LSTM\): op type not supported") as ei:
        load_onnx(str(path))
    assert "Conv" in ei.value.hint and "MatMul" in ei.value.hint
    dsl = tmp_path / "m.dsl"
    dsl.write_text('model m = onnx("lstm.onnx")\nworkload w { serve m { forward batch=1 } }\n')
    r = subprocess.run([sys.executable, "-m", "mapc.cli", "check", str(dsl)], capture_output=True, text=True)
    assert r.returncode == 2 and "m.dsl:1:" in r.stderr and "LSTM" in r.stderr and "Traceback" not in r.stderr
    path.write_bytes(b"not a protobuf at all")
    with pytest.raises(DslError, match="not an ONNX model"):
        load_onnx(str(path))


def test_an_onnx_model_compiles_and_mapc_models_describes_it(tmp_path):
    om.save(om.gpt2_block(), tmp_path / "block.onnx")
    om.save(om.resnet(18), tmp_path / "r18.onnx")
    (tmp_path / "m.dsl").write_text(
        'model block = onnx("block.onnx", batch=1, seq=256)\nmodel r18 = onnx("r18.onnx", dtype=int8)\n'
        "workload w {\n  serve block { forward batch=4  microbatches 2 }\n  serve r18 { forward batch=8 }\n}\n")
    spec = api.load(tmp_path / "m.dsl")
    assert spec.models["r18"].dtype == "int8" and spec.models["block"].batch == 1
    r = api.solve(api.lower(spec, "mcm6x6"), SolveOptions(solver="greedy", time_limit=5))
    assert r.metrics.makespan > 0 and {t.model for t in r.problem.graph.tasks} == {"block", "r18"}
    assert any("weights.bin" in n for n in r.notes)          # the absent weights are reported
    bad = tmp_path / "bad.dsl"
    bad.write_text('model r18 = onnx("r18.onnx")\nworkload w { serve r18 { prefill batch=1 seq=4 } }\n')
    with pytest.raises(DslError, match="is an ONNX graph: it runs `forward`") as ei:
        api.load(bad)
    assert "forward batch=N" in str(ei.value.hint)
    out = subprocess.run([sys.executable, "-m", "mapc.cli", "models", str(tmp_path / "block.onnx"), "--seq", "64",
                          "--json"], capture_output=True, text=True, check=True)
    rec = json.loads(out.stdout)["models"][0]
    assert (rec["kind"], rec["params"], rec["operators"]["attn_score"]) == ("onnx", 7_087_872, 1)
    assert rec["notes"] and "shapes alone" in rec["notes"][0]
