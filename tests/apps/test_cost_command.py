"""`mapc cost`: one row per distinct operator and chiplet type, the mapc.cost/1 document, a single GEMM on a
1 x 1 grid as a single operator on a single core (the ZigZag comparison setting), bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

from mapc.cli import main

ROOT = Path(__file__).resolve().parents[2]
ONE = """model g = cnn(dtype=int8) { fc l in=1024 out=1024 }
workload w { serve g { forward batch=64 } }
hardware core { grid 1 x 1  chiplet c { pes 32x32 dataflow ws precision int8 freq 1 GHz sram 2 MiB }
                dram d { at west bandwidth 8 GB/s } }
"""


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_single_gemm_is_one_row_with_every_field(tmp_path, capsys):
    f = tmp_path / "one.dsl"
    f.write_text(ONE)
    code, out, err = run(capsys, "cost", str(f), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["schema"] == "mapc.cost/1" and doc["hardware"] == "core"
    (row,) = doc["ops"]
    assert row["shape"] == {"M": 64, "K": 1024, "N": 1024, "count": 1, "taps": 1}
    assert row["chiplet"] == "c" and row["dataflow"] == "ws" and row["count"] == 1
    for key in ("name", "kind", "cycles", "latency_s", "utilization", "bound", "energy_j", "energy_by_level_j"):
        assert key in row
    assert set(row["energy_by_level_j"]) == {"mac", "rf", "sram", "dram", "nop"}
    assert abs(sum(row["energy_by_level_j"].values()) - row["energy_j"]) <= 1e-12 * row["energy_j"]
    # 1 MiB of int8 weights over an 8 B/cycle port: DRAM-bound at >= 131,072 cycles (1 GHz)
    assert row["bound"] == "dram" and row["cycles"] >= 131072
    assert row["latency_s"] == row["cycles"] / 1e9


def test_each_chiplet_type_prices_each_operator(capsys):
    code, out, _ = run(capsys, "cost", str(ROOT / "examples" / "arvr_mix.dsl"), "--hw", "mcm6x6", "--json")
    assert code == 0
    ops = json.loads(out)["ops"]
    per_type = {}
    for r in ops:
        per_type.setdefault(r["chiplet"], []).append((r["name"], json.dumps(r["shape"])))
    assert set(per_type) == {"ws_core", "os_core"} and sorted(per_type["ws_core"]) == sorted(per_type["os_core"])
    assert len(set(per_type["ws_core"])) == len(per_type["ws_core"])     # distinct shapes only


def test_attention_rows_say_fused_or_spills(capsys):
    code, out, _ = run(capsys, "cost", str(ROOT / "examples" / "llama2_7b_chat.dsl"), "--hw", "mcm6x6", "--json")
    assert code == 0
    att = [r for r in json.loads(out)["ops"] if r["kind"] in ("attn_score", "attn_value")]
    assert att and all(r["attention"] in ("fused", "spills") for r in att)
    assert all(r["attention"] is None for r in json.loads(out)["ops"] if r["kind"] == "gemm")


def test_bad_input_exits_2_with_location(tmp_path, capsys):
    f = tmp_path / "bad.dsl"
    f.write_text(ONE.replace("dataflow ws", "dataflow xx"))
    code, _, err = run(capsys, "cost", str(f))
    assert code == 2 and "bad.dsl:3:" in err and "unknown dataflow" in err
    code, _, err = run(capsys, "cost", str(tmp_path / "missing.dsl"))
    assert code == 2 and "no such file" in err


def test_presets_name_shows_every_figure_and_its_sources(capsys):
    code, out, _ = run(capsys, "presets", "mcm6x6", "--json")
    assert code == 0
    d = json.loads(out)["preset"]
    ws = d["types"]["ws_core"]
    for key in ("rf_bytes_per_pe", "rf_energy_j_per_byte", "sram_write_energy_j_per_byte", "mac_energy_j"):
        assert ws[key] > 0
    assert all(abs(ch["energy_per_bit"] - 3.9e-12) < 1e-18 for ch in d["dram_channels"])   # HBM2, O'Connor
    assert abs(d["nop"]["energy_per_bit"] - 1.3e-12) < 1e-18                                  # Simba GRS mid
    assert any("Compass" in s and "10.5" in s for s in d["sources"])                 # the re-check is recorded
    code, out, _ = run(capsys, "presets", "mcm6x6")
    assert code == 0 and "register file per PE" in out and "sources:" in out
    code, _, err = run(capsys, "presets", "mcm7x7")
    assert code == 2 and "unknown hardware preset" in err
