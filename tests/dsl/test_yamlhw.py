"""ZigZag and Stream hardware in (`hardware NAME = zigzag("core.yaml")`, `stream("accelerator.yaml")`): every YAML in
shared/peer, the other cores zigzag-dse 3.9.1 ships (tests/data/zigzag, MIT licence beside them), the tpu_like core
against its hand-written description (bench/validate/mapc/tpu_like.dsl), and unsupported keys exit 2 at file:line."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import peer_dir
from mapc import api
from mapc.core.errors import DslError
from mapc.core.options import SolveOptions
from mapc.dsl.stream import stream_hardware, zigzag_hardware
from mapc.dsl.zigzag import load_core

ROOT = Path(__file__).resolve().parents[2]
ZZ = ROOT / "tests" / "data" / "zigzag"
PEER = peer_dir()
need_peer = pytest.mark.skipif(PEER is None, reason="shared/peer is not on this machine")
SHIPPED = sorted(p.name for p in ZZ.glob("*.yaml") if p.name != "aimc.yaml")


@pytest.mark.parametrize("name", SHIPPED)
def test_zigzag_shipped_cores_import(name):
    hw = zigzag_hardware(str(ZZ / name), "core")
    t = hw.chiplets[0].type
    assert (hw.rows, hw.cols) == (1, 1) and t.macs_per_cycle >= 64 and t.sram > 0 and t.mac_energy > 0
    assert hw.dram[0].bandwidth > 0 and hw.dram[0].energy_per_bit > 0


def test_dataflow_and_array_from_the_core():
    eye = load_core(str(ZZ / "eyeriss_like.yaml")).type       # I, W and O registers in every PE
    assert (eye.dataflow, eye.pe_rows, eye.pe_cols, eye.rf) == ("rs", 12, 14, 64 + 64 + 16)
    edge = load_core(str(ZZ / "edge_tpu_like.yaml")).type      # [8, 8, 4, 4]: 16 arrays of 8 x 8
    assert (edge.dataflow, edge.pe_rows, edge.pe_cols, edge.arrays) == ("ws", 8, 8, 16)
    cacti = zigzag_hardware(str(ZZ / "generic_array_cacti.yaml"), "g")   # "DRAM @ 400 GB/s": 2048-bit port
    assert cacti.dram[0].bandwidth == pytest.approx(256e9)


def test_imported_tpu_like_equals_the_hand_written_description():
    """bench/validate/mapc/tpu_like.dsl maps ZigZag's tpu_like figure by figure; the importer must agree on every
    chiplet field and so on every operator's cost (`mapc cost` on the 14 validation shapes). The hand-written file
    rounds the SRAM energies to four decimals (1.6256 for 416.16 pJ / 256 B = 1.625625 pJ/B): hence 1e-4."""
    hand_hw = api.hardware(str(ROOT / "bench" / "validate" / "mapc" / "tpu_like.dsl"))
    imported = zigzag_hardware(str(ZZ / "tpu_like.yaml"), "zigzag_tpu_like")
    a = dataclasses.replace(hand_hw.chiplets[0].type, name="tpu_like")
    b = imported.chiplets[0].type
    for f in dataclasses.fields(a):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        assert va == pytest.approx(vb, rel=1e-4, abs=0) if isinstance(va, float) else va == vb, f.name
    assert (imported.dram[0].bandwidth, imported.dram[0].energy_per_bit) == pytest.approx(
        (hand_hw.dram[0].bandwidth, hand_hw.dram[0].energy_per_bit), rel=1e-12, abs=0)
    spec = api.load(ROOT / "bench" / "validate" / "mapc" / "shapes.dsl")
    hand = api.costs(spec, hand_hw)
    mine = api.costs(spec, imported)
    assert len(hand) == len(mine) >= 12
    for x, y in zip(hand, mine):
        assert x.shape == y.shape and (x.bound, x.dataflow) == (y.bound, y.dataflow)
        assert y.cycles == pytest.approx(x.cycles, rel=1e-9) and y.energy_j == pytest.approx(x.energy_j, rel=1e-4)
    assert any("`ports` given twice" in n for n in imported.notes)       # the YAML repeats `ports`


@need_peer
def test_every_peer_yaml_imports():
    hw_dir = PEER / "stream-inputs" / "hardware"
    simba = stream_hardware(str(hw_dir / "simba.yaml"), "simba")
    assert (simba.rows, simba.cols, simba.n) == (6, 6, 36)
    assert [ch.attach for ch in simba.dram] == [(i,) for i in range(6)]     # one DRAM link per top-row chiplet
    assert simba.nop.link_bw == pytest.approx(256 / 8 * 1e9)               # 256 bits per cycle
    assert not any("not neighbours" in n for n in simba.notes)
    small = stream_hardware(str(hw_dir / "simba_small.yaml"), "small")
    assert (small.rows, small.cols) == (2, 2) and small.dram[0].attach == (0, 1, 2, 3)   # the shared bus
    quad = stream_hardware(str(hw_dir / "tpu_like_quad_core.yaml"), "quad")
    assert (quad.rows, quad.cols) == (2, 3)                                # from core_coordinates
    assert sorted({c.type.name for c in quad.chiplets}) == ["pooling", "simd", "tpu_like"]
    assert any("not neighbours" in n for n in quad.notes)                  # the pooling/SIMD cores' links
    for core in sorted((hw_dir / "cores").glob("*.yaml")):
        if "offchip" in core.name:
            with pytest.raises(DslError, match="off-chip memory core"):
                zigzag_hardware(str(core), "x")
        else:
            assert zigzag_hardware(str(core), "x").chiplets[0].type.macs_per_cycle > 0
    for core in sorted((PEER / "zigzag-inputs" / "hardware").glob("*.yaml")):
        assert load_core(str(core)).type == load_core(str(ZZ / core.name)).type   # ZigZag ships the same files


def test_unsupported_keys_exit_2_at_their_line(tmp_path):
    with pytest.raises(DslError, match="unsupported key `is_imc`") as ei:
        load_core(str(ZZ / "aimc.yaml"))
    assert ei.value.loc.line == 127 and ei.value.loc.file.endswith("aimc.yaml")
    text = (ZZ / "tpu_like.yaml").read_text().replace("    latency: 1\n", "    latency: 1\n    bank_count: 4\n", 1)
    (tmp_path / "core.yaml").write_text(text)
    (tmp_path / "hw.dsl").write_text('hardware h = zigzag("core.yaml")\nworkload w { serve resnet50 { forward '
                                     'batch=1 } }\n')
    r = subprocess.run([sys.executable, "-m", "mapc.cli", "check", str(tmp_path / "hw.dsl")], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "core.yaml:10:5: error: unsupported key `bank_count`" in r.stderr
    assert "Traceback" not in r.stderr
    (tmp_path / "hw.dsl").write_text('hardware h = gem5("core.yaml")\n')
    with pytest.raises(DslError, match="unknown hardware importer `gem5`"):
        api.load(tmp_path / "hw.dsl")
    (tmp_path / "bad.yaml").write_text("name: x\nmemories: [\n")
    with pytest.raises(DslError, match="invalid YAML"):
        load_core(str(tmp_path / "bad.yaml"))


def test_imported_hardware_compiles(tmp_path):
    (tmp_path / "tpu.yaml").write_text((ZZ / "tpu_like.yaml").read_text())
    (tmp_path / "m.dsl").write_text('hardware tpu = zigzag("tpu.yaml")\nworkload w { serve resnet50 '
                                    '{ forward batch=2 } }\nparallel { segment 8 }\n')
    r = api.solve(api.lower(api.load(tmp_path / "m.dsl")), SolveOptions(solver="greedy", time_limit=5))
    assert r.problem.hw.name == "tpu" and r.metrics.makespan > 0
    if PEER is not None:
        acc = PEER / "stream-inputs" / "hardware" / "simba.yaml"
        (tmp_path / "s.dsl").write_text(f'hardware simba = stream("{acc}")\nworkload w {{ serve mobilenet_v2 '
                                        '{ forward batch=8  microbatches 4 } }\n')
        r = api.solve(api.lower(api.load(tmp_path / "s.dsl")), SolveOptions(solver="greedy", time_limit=5))
        assert r.problem.hw.n == 36 and r.metrics.makespan > 0


def test_hw_option_takes_a_yaml_file(tmp_path):
    spec = api.load(ROOT / "examples" / "peer_gemm.dsl")
    hw = api.hardware(str(ZZ / "tpu_like.yaml"), spec)
    assert (hw.name, hw.n, hw.chiplets[0].type.dataflow) == ("tpu_like", 1, "ws")
    if PEER is not None:
        acc = api.hardware(str(PEER / "stream-inputs" / "hardware" / "simba_small.yaml"), spec)
        assert (acc.name, acc.n) == ("simba_small", 4)
