"""The per-operator cost model against its peers, on the committed reference table (bench/validate/: ZigZag 3.9.1
and SCALE-Sim 3.0.0 run on 14 operator shapes; the shapes and the peers' cores described in mapc's language).

Asserted per shape: cycles within 10 % of ZigZag's latency-optimal mapping on its tpu_like core, except where
ZigZag reports fewer cycles than its own DRAM traffic needs on its single 8-byte port (it overlaps part of the
output write-back for free): there mapc must sit on that port floor; energy within 30 % of ZigZag's
energy-optimal mapping; and every pair of dataflows SCALE-Sim separates by more than 2 % in the same order,
with array cycles within 1 % of SCALE-Sim's."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("compare_mapc", ROOT / "bench" / "validate" / "compare_mapc.py")
compare_mapc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_mapc)


@pytest.fixture(scope="module")
def records() -> dict[str, dict]:
    return {r["shape"]: r for r in compare_mapc.compare()}


def test_at_least_twelve_shapes_of_every_required_kind(records):
    assert len(records) >= 12
    for need in ("gemm_large", "gemm_small", "gemv_4096", "conv1x1_256_64_56", "dwconv3x3_32_112", "attn_score",
                 "attn_value", "conv3x3_64_56"):
        assert need in records


@pytest.mark.parametrize("shape", sorted(compare_mapc.peer_rows()))
def test_cycles_within_ten_percent_of_zigzag(records, shape):
    r = records[shape]
    if r["zz_cycles"] < r["zz_port_floor"] * 0.98:            # ZigZag clearly below its own DRAM-port floor
        assert r["mapc_cycles"] == pytest.approx(r["zz_port_floor"], rel=0.01), r
        assert r["mapc_cycles"] <= r["zz_cycles"] * 1.25, r
    else:
        assert abs(r["cycles_ratio"] - 1) <= compare_mapc.LATENCY_TOL, r


@pytest.mark.parametrize("shape", sorted(compare_mapc.peer_rows()))
def test_energy_within_thirty_percent_of_zigzag(records, shape):
    r = records[shape]
    assert abs(r["energy_ratio"] - 1) <= compare_mapc.ENERGY_TOL, r


@pytest.mark.parametrize("shape", sorted(compare_mapc.peer_rows()))
def test_dataflow_ordering_and_cycles_of_scalesim(records, shape):
    ss, mc = records[shape]["ss"], records[shape]["mapc_ss"]
    for a in ss:
        assert mc[a] == pytest.approx(ss[a], rel=0.01), (a, ss, mc)
        for b in ss:
            if ss[a] < ss[b] * 0.98:
                assert mc[a] < mc[b], (a, b, ss, mc)


def test_dataflow_moves_latency_on_most_shapes(records):
    """The issue's symptom, reversed: SCALE-Sim separates ws from os by > 10 % on most shapes; so does mapc."""
    sep = lambda d: abs(d["ws"] / d["os"] - 1) > 0.10
    assert sum(sep(r["mapc_ss"]) for r in records.values()) == sum(sep(r["ss"]) for r in records.values()) >= 10
