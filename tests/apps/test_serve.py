"""`mapc serve` (mapc.apps.serve): tied to compile at low load and at saturation, outputs, errors, PD and PIM."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest

from mapc import api
from mapc.apps import serve as sv
from mapc.cli import main
from mapc.compiler import traffic as tr
from mapc.core.options import SolveOptions
from mapc.core.spec import PhaseSpec, ServeSpec, WorkloadSpec

SMALL = """model small = transformer(layers=4, hidden=1024, heads=8, ffn=2816, vocab=32000)
workload chat {
  serve small
  prefill batch=1 seq=512
  decode batch=8 context=512
  microbatches 2
  slo ttft 50 ms tpot 5 ms
}
parallel { segment 1 %s }
"""
LATENCY = SolveOptions(solver="greedy", objective="latency", threads=1)


@pytest.fixture()
def small(tmp_path) -> Path:
    f = tmp_path / "small.dsl"
    f.write_text(SMALL % "")
    return f


def trace(tmp_path, rows, name="t.csv") -> str:
    f = tmp_path / name
    f.write_text("arrival_s,prompt_tokens,output_tokens\n" + "".join(f"{t},{p},{o}\n" for t, p, o in rows))
    return str(f)


def compiled(spec, hw, phases) -> api.Result:
    """api.solve of the file's model with exactly `phases` (objective latency, greedy)."""
    wl = WorkloadSpec("one", (ServeSpec("small", tuple(phases), 2),))
    return api.solve(api.lower(replace(spec, workload=wl), hw), LATENCY)


def test_low_rate_ttft_is_the_compiled_single_request_prefill(tmp_path, small):
    spec, hw = api.load(small), api.hardware("npu4x4")
    rows = [(0.0, 512, 4), (10.0, 512, 4), (20.0, 700, 3)]       # far apart: nothing queues
    r = sv.serve(spec, hw, sv.ServeOptions(tr.parse_arrivals(trace(tmp_path, rows))))
    res = r.runs[0][1].requests
    c512 = compiled(spec, hw, [PhaseSpec("prefill", 1, (512,))])
    assert res[0].ttft == pytest.approx(c512.metrics.makespan, rel=1e-9)      # on the grid: that very schedule
    assert res[0].ttft == pytest.approx(c512.metrics.ttft_mean, rel=1e-9)
    assert res[1].ttft == pytest.approx(res[0].ttft, rel=1e-12)
    c700 = compiled(spec, hw, [PhaseSpec("prefill", 1, (700,))]).metrics.makespan
    assert res[2].ttft == pytest.approx(c700, rel=0.05)                       # between grid points: bucketed
    ex = sv.serve(spec, hw, sv.ServeOptions(tr.parse_arrivals(trace(tmp_path, rows)), exact=True))
    assert ex.runs[0][1].requests[2].ttft == pytest.approx(c700, rel=1e-9)     # --exact: the shape itself


def test_saturation_throughput_is_compiles_steady_state(tmp_path, small):
    spec, hw = api.load(small), api.hardware("npu4x4")
    rows = [(0.0, 64, 256)] * 32                                  # all at once, 4 rounds of a batch of 8
    r = sv.serve(spec, hw, sv.ServeOptions(tr.parse_arrivals(trace(tmp_path, rows)), max_batch=8))
    s = r.summaries[0]
    assert s["pools"][0]["mean_decode_batch"] == 8.0
    mid = compiled(spec, hw, [PhaseSpec("decode", 8, (64 + 128,))]).metrics   # the batch at its mean context
    assert s["throughput_output_tokens_per_s"] == pytest.approx(mid.throughput, rel=0.05)


def test_cli_writes_requests_and_json_and_is_deterministic(tmp_path, small, capsys):
    out = [tmp_path / "a", tmp_path / "b"]
    for o in out:
        rc = main(["serve", str(small), "--hw", "npu4x4", "--arrivals", "poisson:20", "--requests", "60",
                   "--seed", "3", "-o", str(o), "--json"])
        assert rc == 0
    doc = json.loads(capsys.readouterr().out.split("\n}\n")[0] + "\n}")
    assert doc["schema"] == "mapc.serve/1" and doc["engine"]["max_batch"] == 8 and doc["slo"]["ttft_s"] == 0.05
    run = doc["runs"][0]
    assert run["requests"] == 60 and run["ttft_s"]["p50"] <= run["ttft_s"]["p90"] <= run["ttft_s"]["p99"]
    assert 0 <= run["slo"]["attainment"] <= 1 and run["slo"]["goodput_requests_per_s"] <= \
        run["throughput_requests_per_s"]
    a, b = ((o / "requests.csv").read_text() for o in out)
    assert a == b
    rows = list(csv.DictReader(a.splitlines()))
    assert len(rows) == 60 and all(float(x["e2e_s"]) >= float(x["ttft_s"]) > 0 for x in rows)
    assert sorted(p.name for p in out[0].iterdir()) == ["requests.csv", "serve.json"]


def test_rates_sweep_writes_the_curve(tmp_path, small, capsys):
    o = tmp_path / "sweep"
    rc = main(["serve", str(small), "--hw", "npu4x4", "--arrivals", "gamma:10,2", "--requests", "40",
               "--rates", "5,50,500", "--chunk", "256", "-o", str(o)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "compiled schedules" in printed
    assert sorted(p.name for p in o.iterdir()) == ["latency_throughput.png", "requests.csv", "serve.json",
                                                   "sweep.csv"]
    sweep = list(csv.DictReader((o / "sweep.csv").read_text().splitlines()))
    assert [float(x["rate_per_s"]) for x in sweep] == [5, 50, 500]
    tp = [float(x["throughput_requests_per_s"]) for x in sweep]
    assert tp[0] < tp[1] <= tp[2] * 1.05                          # more load, more throughput until saturation
    assert float(sweep[2]["ttft_s_p99"]) > float(sweep[0]["ttft_s_p99"])      # and queueing at saturation
    assert (o / "latency_throughput.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_trace_row_exits_2_with_its_line_and_writes_nothing(tmp_path, small, capsys):
    f = tmp_path / "bad.csv"
    f.write_text("arrival_s,prompt_tokens,output_tokens\n0,10,5\n0.5,ten,5\n")
    o = tmp_path / "o"
    rc = main(["serve", str(small), "--hw", "npu4x4", "--arrivals", str(f), "-o", str(o)])
    err = capsys.readouterr().err
    assert rc == 2 and f"{f}:3:5: error" in err and "ten" in err and not o.exists()


@pytest.mark.parametrize("argv, needle", [
    (["--arrivals", "poisson:2"], "--duration S or --requests N"),
    (["--arrivals", "poisson:-1", "--requests", "5"], "> 0"),
    (["--arrivals", "weibull:1", "--requests", "5"], "no such trace file"),
])
def test_bad_options_exit_2(tmp_path, small, capsys, argv, needle):
    rc = main(["serve", str(small), "--hw", "npu4x4", *argv, "-o", str(tmp_path / "o")])
    assert rc == 2 and needle in capsys.readouterr().err


def test_no_decoder_is_an_input_error(tmp_path, capsys):
    f = tmp_path / "cnn.dsl"
    f.write_text("workload w { serve resnet50 { forward batch=4 } }\n")
    rc = main(["serve", str(f), "--hw", "npu4x4", "--arrivals", "poisson:1", "--requests", "3"])
    assert rc == 2 and "no decoder" in capsys.readouterr().err


def test_disaggregated_pools_on_the_parallel_block(tmp_path):
    f = tmp_path / "dis.dsl"
    f.write_text(SMALL % "pd disaggregated(prefill=8, decode=8)")
    spec, hw = api.load(f), api.hardware("npu4x4")
    r = sv.serve(spec, hw, sv.ServeOptions(tr.parse_arrivals(trace(tmp_path, [(0.0, 512, 4)]))))
    st = r.setup
    assert st.engine.disaggregated and st.engine.link_bw == 4 * hw.nop.link_bw
    req = r.runs[0][1].requests[0]
    pre = api.solve(api.lower(sv.iteration_spec(st, sv.Point("small", 0, 0, 1, (512,))), hw), LATENCY)
    assert req.ttft == pytest.approx(pre.metrics.makespan, rel=1e-9)
    assert all(t.placement[0] < 8 for t in pre.schedule.tasks)             # the prefill pool's chiplets
    assert [p["name"] for p in r.summaries[0]["pools"]] == ["prefill", "decode"]
    assert r.summaries[0]["kv_transfers"] == 1


def test_pim_policy_changes_decode_not_prefill(tmp_path, small):
    spec, hw = api.load(small), api.hardware("npu-pim")
    on = sv.setup(spec, hw, sv.ServeOptions(tr.parse_arrivals("poisson:1"), requests=1))
    off = replace(on, pim="off")
    assert on.pim == "policy"
    times = {}
    for name, st in (("on", on), ("off", off)):
        pr = sv.make_pricer(st, sv.ServeOptions(tr.parse_arrivals("poisson:1"), requests=1), 512)
        times[name] = (pr.point(sv.Point("small", 0, 0, 1, (512,))), pr.point(sv.Point("small", 1, 512, 1, ())))
    assert times["on"][0] == pytest.approx(times["off"][0])                 # prefill stays on the chiplets
    assert times["on"][1] < times["off"][1]                                 # a batch-1 decode step goes to PIM
    npu = sv.setup(spec, api.hardware("npu4x4"), sv.ServeOptions(tr.parse_arrivals("poisson:1"), requests=1))
    assert npu.pim == "off" and any("no PIM" in n for n in npu.notes)


def test_static_pim_mapping_sits_between_off_and_all(tmp_path, small, capsys):
    spec, hw = api.load(small), api.hardware("npu-pim")
    opts = sv.ServeOptions(tr.parse_arrivals("poisson:1"), requests=1)
    base = sv.setup(spec, hw, opts)
    step = {}
    for mode in ("off", "attention", "all"):
        pr = sv.make_pricer(replace(base, pim=mode), opts, 512)
        step[mode] = pr.point(sv.Point("small", 1, 2048, 1, ()))
    assert len(set(step.values())) == 3                       # each mapping prices the step differently
    rc = main(["serve", str(small), "--hw", "npu-pim", "--arrivals", "poisson:1", "--requests", "2",
               "--pim", "attention,bogus", "-o", str(tmp_path / "o")])
    assert rc == 2 and "bogus" in capsys.readouterr().err


def test_duration_bounds_the_arrivals(tmp_path, small):
    spec, hw = api.load(small), api.hardware("npu4x4")
    r = sv.serve(spec, hw, sv.ServeOptions(tr.parse_arrivals("poisson:50"), duration=2.0))
    reqs = r.runs[0][1].requests
    assert 60 < len(reqs) < 140 and max(x.arrival for x in reqs) < 2.0


def test_pd_auto_simulates_the_split_compile_chooses(tmp_path):
    f = tmp_path / "auto.dsl"
    f.write_text(SMALL % "pd auto")
    spec, hw = api.load(f), api.hardware("npu4x4")
    st = sv.setup(spec, hw, sv.ServeOptions(tr.parse_arrivals("poisson:1"), requests=1))
    chosen = api.solve(api.lower(spec, hw), SolveOptions(solver="greedy", threads=1)).problem.parallel
    assert st.parallel.pd == chosen.pd != "auto" and (st.parallel.pd_prefill, st.parallel.pd_decode) == \
        (chosen.pd_prefill, chosen.pd_decode)
    assert any(n.startswith("pd auto:") for n in st.notes)


def test_a_file_compile_refuses_is_refused_with_the_same_code(tmp_path, capsys):
    f = tmp_path / "big.dsl"
    f.write_text("workload w { serve llama2_70b  prefill batch=1 seq=128  decode batch=1 context=128 }\n"
                 "parallel { segment 8 }\n")
    rc = main(["serve", str(f), "--hw", "npu4x4", "--arrivals", "poisson:1", "--requests", "3",
               "-o", str(tmp_path / "o")])
    assert rc == 3 and "GiB" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_overload_with_only_a_tpot_target_is_not_goodput(tmp_path, capsys):
    """With only a TPOT target, an overloaded run meets it while its queue grows: the run is marked as falling
    behind (most requests still waiting at the last arrival) and its rate is not goodput; a light load is."""
    f = tmp_path / "tpot.dsl"
    f.write_text((SMALL % "").replace("slo ttft 50 ms tpot 5 ms", "slo tpot 50 ms"))
    o = tmp_path / "o"
    rc = main(["serve", str(f), "--hw", "npu4x4", "--arrivals", "poisson:1", "--requests", "60",
               "--rates", "1,100000", "--json", "-o", str(o)])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    light, heavy = doc["runs"]
    assert light["keeps_up"] and light["backlog"] <= 6
    assert not heavy["keeps_up"] and heavy["backlog"] > 30
    assert heavy["slo"]["attainment"] >= 0.9                      # TPOT alone does not see the queue ...
    assert doc["rate_goodput_per_s"] == 1                         # ... but the rate goodput does
