"""Serving workloads: request mixes (CSV, distributions), continuous batching, SLO metrics, memory checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mapc import api
from mapc.compiler.lower import lower
from mapc.compiler.memory import check_memory, kv_peak, require_fit
from mapc.dsl.loader import load
from mapc.core.errors import DslError, InfeasibleError
from mapc.hw.cost import CostModel
from mapc.core.options import SolveOptions
from mapc.hw.presets import get

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, text, csv=None, name="w.dsl"):
    if csv is not None:
        (tmp_path / "r.csv").write_text(csv)
    p = tmp_path / name
    p.write_text(text)
    return str(p)


MIX = """workload w {{
  serve llama2_7b
  requests "r.csv" steps={steps}
  microbatches {mb}
  {slo}
}}
"""


def test_csv_mix_lowers_per_request_lengths_and_drops_finished_requests(tmp_path):
    csv = "prompt_len,output_len\n100,1\n200,3\n300,2\n400,3\n"
    spec = load(write(tmp_path, MIX.format(steps=3, mb=2, slo=""), csv))
    pre, dec = spec.workload.serves[0].phases
    assert pre.lengths == (100, 200, 300, 400) and dec.outputs == (1, 3, 2, 3) and dec.linked
    g = lower(spec, segment=32)
    # micro-batch 0 = requests 0, 2; micro-batch 1 = requests 1, 3 (round robin)
    dec_tasks = [t for t in g.tasks if t.phase == "decode"]
    sizes = {(t.microbatch, t.step): t.batch for t in dec_tasks}
    assert sizes == {(0, 0): 2, (1, 0): 2, (0, 1): 1, (1, 1): 2, (1, 2): 2}   # request 0 leaves after 1, 2 after 2
    ctx = {(t.microbatch, t.step): t.context for t in dec_tasks}
    assert ctx[(0, 0)] == 301 and ctx[(0, 1)] == 302 and ctx[(1, 2)] == 403   # per-request contexts grow
    pre_tasks = [t for t in g.tasks if t.phase == "prefill"]
    assert sorted(t.seq for t in pre_tasks) == [300, 400]                      # longest prompt per micro-batch
    # fused: each decode micro-batch waits for its own prefill (token ids only)
    links = [e for e in g.edges if g.tasks[e.src].phase == "prefill" and g.tasks[e.dst].phase == "decode"]
    assert len(links) == 2 and all(e.kind == "act" and e.bytes == 2 * 4 for e in links)


def test_csv_bad_row_is_located_in_the_csv(tmp_path):
    csv = "prompt_len,output_len\n100,10\n200,x\n"
    with pytest.raises(DslError) as ei:
        load(write(tmp_path, MIX.format(steps=2, mb=1, slo=""), csv))
    e = ei.value
    assert e.loc.file.endswith("r.csv") and e.loc.line == 3 and e.loc.col == 5 and "x" in e.message
    assert "200,x" in e.render()
    with pytest.raises(DslError, match="expected 2 fields") as ei:
        load(write(tmp_path, MIX.format(steps=2, mb=1, slo=""), "1,2\n3,4,5\n"))
    assert ei.value.loc.line == 2
    with pytest.raises(DslError, match="not found"):
        load(write(tmp_path, MIX.format(steps=2, mb=1, slo="").replace("r.csv", "nope.csv")))


def test_length_distributions_are_seeded(tmp_path):
    def lengths(dist, seed):
        t = f"workload w {{ serve llama2_7b prefill batch=64 seq=100..900 dist={dist} seed={seed} microbatches 4 }}"
        return load(write(tmp_path, t)).workload.serves[0].phases[0].lengths
    u1, u2, u3 = lengths("uniform", 1), lengths("uniform", 1), lengths("uniform", 2)
    assert u1 == u2 != u3 and len(u1) == 64 and min(u1) >= 100 and max(u1) <= 900
    n = np.array(lengths("normal", 0))
    assert abs(n.mean() - 500) < 60 and n.std() < 200 and n.min() >= 100 and n.max() <= 900
    with pytest.raises(DslError, match="needs a range"):
        load(write(tmp_path, "workload w { serve llama2_7b prefill batch=4 seq=100 dist=normal }"))


def test_slo_attainment_counts_requests(tmp_path):
    csv = "\n".join(f"{p},4" for p in (64, 128, 1024, 2048)) + "\n"
    base = MIX.format(steps=2, mb=4, slo="slo ttft TT ms tpot PP ms")
    spec = load(write(tmp_path, base.replace("TT", "1000000").replace("PP", "1000000"), csv))
    cr = api.solve(api.lower(spec, get("npu4x4")), SolveOptions(solver="greedy", time_limit=2))
    m = cr.metrics
    assert m.slo_attainment == 1.0 and m.ttft_attainment == 1.0 and m.tpot_attainment == 1.0
    assert m.ttft_mean > 0 and m.tpot > 0 and m.requests_per_s > 0 and m.throughput > 0
    # a TTFT target between the fastest and the slowest request's first token: some, not all, meet it
    spec2 = load(write(tmp_path, base.replace("TT", f"{(m.ttft_max + min_ttft(cr)) / 2 * 1e3:.6f}").replace("PP", "1000000"), csv, "w2.dsl"))
    m2 = api.solve(api.lower(spec2, get("npu4x4")), SolveOptions(solver="greedy", time_limit=2)).metrics
    assert 0 < m2.slo_attainment < 1 and m2.ttft_attainment == m2.slo_attainment
    assert m2.to_dict()["slo_attainment"] == m2.slo_attainment


def min_ttft(cr):
    g, s = cr.problem.graph, cr.schedule
    last = max(t.layers[1] for t in g.tasks)
    return min(s.tasks[t.id].end for t in g.tasks if t.phase == "prefill" and t.layers[1] == last)


def test_hbm_overflow_is_rejected_with_numbers(tmp_path):
    # Llama-2-70B in fp16 (128.5 GiB of weights) does not fit npu4x4's 4 x 16 GiB HBM3
    spec = load(write(tmp_path, "workload w { serve llama2_70b decode batch=8 context=2048 }"))
    g = lower(spec, segment=80)
    with pytest.raises(InfeasibleError) as ei:
        check_memory(128.5 * 2**30, g, get("npu4x4"))
    msg = ei.value.message
    assert "128.50 GiB" in msg and "64.00 GiB" in msg and "weights alone" in msg
    # KV alone grows with context: 8 sequences x 2048 positions x 80 layers x 2 x 8 heads x 128 x 2 B
    assert kv_peak(g) == pytest.approx(8 * 2048 * 80 * 2 * 8 * 128 * 2, rel=1e-9)
    # weights that fit alone but not with the KV cache (60 GiB + 5 GiB > 64 GiB): the message names both
    with pytest.raises(InfeasibleError) as ei:
        check_memory(60 * 2**30, g, get("npu4x4"))
    msg = ei.value.message
    assert "60.00 GiB" in msg and "KV cache 5.00 GiB" in msg and "65.00 GiB" in msg and "64.00 GiB" in msg
    # int4 weights fit (34 GiB) with the same KV
    check_memory(34.3 * 2**30, g, get("npu4x4"))


def test_sram_overflow_is_rejected_with_numbers(tmp_path):
    spec = load(write(tmp_path, "workload w { serve llama2_7b decode batch=1 context=128 }"))
    g = lower(spec, segment=1)
    cm = CostModel(get("npu4x4"), g, group_sizes=(1, 16))
    one = cm.placements.index((0,))
    with pytest.raises(InfeasibleError) as ei:
        require_fit(cm, 1, one)                 # one Llama-2-7B layer (386 MiB) on one 8 MiB core
    assert "MiB per core" in ei.value.message and "6.00 MiB" in ei.value.message
    assert np.isinf(cm.lat_resident[1, one])
    sixteen = int(np.argmax(cm.group_size == 16))
    assert np.isinf(cm.lat_resident[1, sixteen])   # 24 MiB per core still exceeds 6 MiB: streamed instead
    assert np.isfinite(cm.lat_stream[1, one])


def test_weight_only_quantisation_shrinks_weights_not_kv(tmp_path):
    t = ("model q = transformer(layers=2, hidden=1024, heads=8, ffn=2816, vocab=32000, weights=int4)\n"
         "model f = transformer(layers=2, hidden=1024, heads=8, ffn=2816, vocab=32000)\n"
         "workload w { serve {m} decode batch=2 context=64 }")
    gq = lower(load(write(tmp_path, t.replace("{m}", "q"))))
    gf = lower(load(write(tmp_path, t.replace("{m}", "f"), name="f.dsl")))
    assert gq.weight_bytes.sum() == pytest.approx(gf.weight_bytes.sum() / 4, rel=1e-9)
    assert gq.meta["kv_read_bytes"] == gf.meta["kv_read_bytes"]


def test_placement_auto_carries_every_policy(tmp_path):
    t = "workload w { serve llama2_7b decode batch=4 context=128 }\nparallel { tensor 4 placement auto tp 2d }"
    spec = load(write(tmp_path, t))
    p = api.lower(spec, get("npu4x4"), segment=32)
    assert p.cost.tp_scheme == "2d"
    fours = {pl for pl in p.cost.placements if len(pl) == 4}
    assert (0, 1, 2, 3) in fours and (0, 4, 8, 12) in fours and (0, 1, 5, 4) in fours
