"""Whole-model sanity against the roofline of an A100-like description (examples/a100_like.dsl: the datasheet's
312 TFLOP/s dense FP16 and 2.039 TB/s): a compute-bound prefill lands within 10 % of FLOPs / peak, and a batch-1
decode step is never faster than reading every weight once (REFERENCE.md: 13.5 GB / 2.039 TB/s ~ 6.6 ms)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mapc import api
from mapc.core.options import SolveOptions
from mapc.dsl import zoo

A100 = Path(__file__).resolve().parents[2] / "examples" / "a100_like.dsl"
PEAK, HBM = 312e12, 2.039e12


def test_llama2_7b_prefill_2048_within_ten_percent_of_roofline():
    spec = api.load(A100)
    r = api.solve(api.lower(spec), SolveOptions(solver="greedy", objective="latency", time_limit=2))
    roofline = 2 * zoo.param_count(zoo.MODELS["llama2_7b"]) * 2048 / PEAK          # 88.6 ms
    assert roofline < r.metrics.makespan <= 1.10 * roofline


def test_batch1_decode_step_reads_every_weight_once():
    text = A100.read_text().replace("prefill batch=1 seq=2048", "decode batch=1 context=1024")
    spec = api.load(text)
    r = api.solve(api.lower(spec, api.hardware("a100_like", spec)),
                  SolveOptions(solver="greedy", objective="latency", time_limit=2))
    floor = zoo.weight_bytes(zoo.MODELS["llama2_7b"]) / HBM                        # ~6.6 ms
    assert floor <= r.metrics.makespan <= 1.15 * floor
    assert r.metrics.tpot == pytest.approx(r.metrics.makespan)
