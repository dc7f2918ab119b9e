"""The dynamic PIM dispatch policy (mapc.apps.policy)."""

from __future__ import annotations

import json

import pytest

from pathlib import Path

from mapc.apps.policy import SCHEMA, compare_dispatch, dispatch_policy, policy_for_file, write_policy
from mapc.core.errors import HardwareError, MapcError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def pol7b():
    return dispatch_policy("llama2_7b", "npu-pim", schedules=False)


def _thr(pol, cls):
    return {r.width: r.pim_below_batch for r in pol.rules if r.op_class == cls}


def test_thresholds_are_monotone_in_batch(pol7b):
    assert pol7b.batches == tuple(range(1, 257)) and pol7b.widths == tuple(range(1, 9))
    assert all(r.monotone for r in pol7b.rules)
    for r in pol7b.rules:
        for b in (1, 2, 5, 40, 255):
            assert (r.op_class in pol7b.classes_for(b, r.width)) == (b < r.pim_below_batch)


def test_thresholds_do_not_grow_with_width(pol7b):
    for cls in ("qkv", "out_proj", "ffn", "lm_head"):
        t = _thr(pol7b, cls)
        ws = sorted(t)
        assert all(t[a] >= t[b] for a, b in zip(ws, ws[1:])), (cls, t)
        assert 1 < t[8] < t[1] <= 256            # FC kernels leave PIM inside the sweep, sooner when wider


def test_decode_attention_at_batch_1_goes_to_pim(pol7b):
    assert "attention" in pol7b.classes_for(1, 1)
    # MHA decode attention has ~width FLOP/B whatever the batch: it stays on PIM at every batch
    assert _thr(pol7b, "attention")[1] == 257


def test_gqa_attention_leaves_pim_as_width_grows():
    pol = dispatch_policy("llama2_70b", "npu-pim", widths=(1, 8, 64), batches=(1, 16, 256), schedules=False)
    t = _thr(pol, "attention")
    assert t[1] == 257 and t[64] == 1         # leaves PIM only once the width makes it compute-heavy
    assert t[1] >= t[8] >= t[64]
    i = {r.width: r.intensity_at_batch1 for r in pol.rules if r.op_class == "attention"}
    assert i[1] == pytest.approx(8.0, rel=0.02)   # 8 query heads per KV head: ~8 x width FLOP/B


def test_no_pim_hardware_keeps_everything_on_the_cores():
    pol = dispatch_policy("llama2_7b", "npu4x4", widths=(1, 4), batches=(1, 8, 64), schedules=False)
    assert all(r.pim_below_batch == 1 for r in pol.rules)
    assert [(g.width, g.batch_lo, g.batch_hi, g.pim_classes) for g in pol.regimes] == [(1, 1, 64, ()), (4, 1, 64, ())]


def test_policy_json_and_regime_schedules(tmp_path):
    pol = dispatch_policy("llama2_7b", "npu-pim", widths=(1, 8), batches=(1, 4, 64, 256))
    assert len(pol.regimes) >= 4
    for g in pol.regimes:
        assert g.schedules and all(s["makespan_s"] > 0 and s["energy_j"] > 0 for s in g.schedules)
        assert {s["batch"] for s in g.schedules} == {g.batch_lo, g.batch_hi}
    rows = compare_dispatch("llama2_7b", "npu-pim", batches=(1, 256), policy=pol)
    files = write_policy(pol, tmp_path / "out", rows)
    doc = json.loads((tmp_path / "out" / "policy.json").read_text())
    assert doc["schema"] == SCHEMA and doc["hardware"] == "npu-pim" and doc["model"] == "llama2_7b"
    assert {"op_class", "width", "pim_below_batch"} <= set(doc["rules"][0])
    assert doc["regimes"][0]["schedules"][0]["makespan_s"] > 0
    assert len(files) == 2 and (tmp_path / "out" / "dispatch_sweep.csv").exists()
    # dynamic dispatch beats all-on-NPU at batch 1 and all-on-PIM at batch 256
    assert rows[0]["speedup_vs_npu"] > 2 and rows[1]["speedup_vs_pim"] > 2
    assert all(r["speedup_vs_npu"] >= 0.999 and r["speedup_vs_pim"] >= 0.999 for r in rows)


def test_bad_inputs_raise_mapc_errors():
    with pytest.raises(MapcError):
        dispatch_policy("llama9_7b", "npu-pim", schedules=False)
    with pytest.raises(MapcError):
        dispatch_policy("bert_large", "npu-pim", schedules=False)
    with pytest.raises(MapcError):
        dispatch_policy("llama2_7b", "npu-pim", batches=(0, 4), schedules=False)
    with pytest.raises(MapcError):
        dispatch_policy("llama2_7b", "no-such-hw", schedules=False)
    with pytest.raises(MapcError):
        dispatch_policy("llama2_7b", "npu-pim", group_size=64, schedules=False)


def test_command_line_on_the_example(tmp_path, capsys):
    from mapc.cli import main as cli_main

    def main(argv):
        return cli_main(["policy", *argv])
    ex = EXAMPLES / "decode_pim.dsl"
    rc = main([str(ex), "-o", str(tmp_path / "p"), "--widths", "1,8", "--batches", "1..4,64,256",
               "--compare", "1,256"])
    assert rc == 0
    doc = json.loads((tmp_path / "p" / "policy.json").read_text())
    assert doc["context"] == 2048 and doc["widths"] == [1, 8] and doc["comparison"]["rows"]
    assert "attention" in capsys.readouterr().out
    assert main([str(tmp_path / "missing.dsl")]) == 2
    assert main([str(ex), "--widths", "1,x"]) == 2          # a bad list is a user error, not a traceback


def test_hardware_without_pim_is_refused_and_nothing_is_written(tmp_path, capsys, monkeypatch):
    """`mapc policy` on hardware without PIM units has no dispatch to decide: exit 2 naming the hardware,
    before any sweep, and no output folder (neither -o nor the default ./<stem>.policy/)."""
    from mapc.cli import main

    monkeypatch.chdir(tmp_path)
    ex = str(EXAMPLES / "decode_pim.dsl")
    assert main(["policy", ex, "--hw", "npu4x4"]) == 2
    err = capsys.readouterr().err
    assert "npu4x4 has no PIM units" in err and "npu-pim" in err and "Traceback" not in err
    assert main(["policy", ex, "--hw", "npu4x4", "-o", str(tmp_path / "p"), "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["error"]["exit_code"] == 2 and "no PIM units" in doc["error"]["message"]
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(HardwareError, match="npu4x4 has no PIM units"):
        policy_for_file(ex, "npu4x4", tmp_path / "q")
    assert list(tmp_path.iterdir()) == []
