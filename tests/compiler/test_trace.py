"""trace.json of compile and of simulate: streamed, valid JSON, and every track named (chiplets, NoP links, DRAM
channels, PIM units); the DRAM counters add up to the DRAM bytes of the schedule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mapc import api
from mapc.compiler import trace as T
from mapc.compiler.schedule_file import load_schedule
from mapc.compiler.simulate import simulate
from mapc.apps.simulate import trace_document as sim_trace
from mapc.core.options import SolveOptions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pim_run(tmp_path_factory):
    """examples/decode_pim.dsl on npu-pim (4 HBM-PIM stacks the decode kernels use), scheduled by the baseline
    pipeline (single chiplets, transfers between them)."""
    out = tmp_path_factory.mktemp("pim")
    r = api.solve(api.lower(api.load(ROOT / "examples" / "decode_pim.dsl")),
                  SolveOptions(solver="baseline", time_limit=5))
    r = api.write(r, out, ("json", "trace"))
    return r, out


def _names(ev, pid):
    procs = [e["args"]["name"] for e in ev if e["ph"] == "M" and e["pid"] == pid and e["name"] == "process_name"]
    threads = {e["tid"]: e["args"]["name"] for e in ev if e["ph"] == "M" and e["pid"] == pid
               and e["name"] == "thread_name"}
    return procs, threads


def _check_named(ev, hw):
    procs, chips = _names(ev, T.PID_CHIPLETS)
    assert procs and set(chips) == set(range(len(hw["chiplets"])))
    _, links = _names(ev, T.PID_LINKS)
    used = {e["tid"] for e in ev if e["ph"] == "X" and e["pid"] == T.PID_LINKS}
    assert used and used <= set(links) and all(n.startswith("link ") for n in links.values())
    procs, drams = _names(ev, T.PID_DRAM)
    assert procs == [procs[0]] and procs[0].startswith("DRAM channels")
    assert [drams[i] for i in sorted(drams)] == [f"DRAM {c['name']}" for c in hw["dram"]]
    procs, pims = _names(ev, T.PID_PIM)
    assert procs and procs[0].startswith("PIM") and len(pims) == len(hw["pim"]) > 0
    counters = [e for e in ev if e["ph"] == "C" and e["pid"] == T.PID_DRAM]
    assert counters and all(e["tid"] in drams and e["args"]["GB/s"] >= 0 for e in counters)


def test_compile_trace_names_every_track_and_counts_dram_and_pim(pim_run):
    r, out = pim_run
    doc = json.loads((out / "trace.json").read_text())
    hw = json.loads((out / "schedule.json").read_text())["hardware"]
    ev = doc["traceEvents"]
    _check_named(ev, hw)
    pim = [e for e in ev if e["ph"] == "C" and e["pid"] == T.PID_PIM]
    assert pim and max(e["args"]["kernels"] for e in pim) >= 1            # the decode kernels ran on PIM
    # the DRAM counters integrate to the schedule's DRAM bytes
    tasks = json.loads((out / "schedule.json").read_text())["tasks"]
    total = 0.0
    for tid in {e["tid"] for e in ev if e["ph"] == "C" and e["pid"] == T.PID_DRAM}:
        series = sorted((e["ts"], e["args"]["GB/s"]) for e in ev if e["ph"] == "C" and e["pid"] == T.PID_DRAM
                        and e["tid"] == tid)
        total += sum(v * 1e9 * (t1 - t0) * 1e-6 for (t0, v), (t1, _) in zip(series, series[1:]))
    assert total == pytest.approx(sum(t["dram_bytes"] for t in tasks if t["end"] > t["start"]), rel=1e-3)
    # group tasks: the lead's event has the arguments, every member one event
    x = [e for e in ev if e["ph"] == "X" and e["pid"] == T.PID_CHIPLETS]
    assert len(x) == sum(len(t.placement) for t in r.schedule.tasks)
    assert sum(1 for e in x if "model" in e["args"]) == r.problem.graph.n


def test_simulate_trace_names_every_track(pim_run):
    _, out = pim_run
    doc = load_schedule(str(out / "schedule.json"))
    tr = sim_trace(doc, simulate(doc))
    json.dumps(tr, allow_nan=False)
    _check_named(tr["traceEvents"], doc["hardware"])
    assert any("simulated" in n for n in _names(tr["traceEvents"], T.PID_CHIPLETS)[0])
