"""`mapc simulate`: replay of schedule.json with NoP link and DRAM channel contention."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from mapc import api, cli
from mapc.compiler import emit
from mapc.compiler.schedule_file import ScheduleFileError, load_schedule, validate_document
from mapc.compiler.simulate import max_min_fair, simulate
from mapc.core.errors import MapcError
from mapc.core.options import SolveOptions

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples" / "arvr_mix.dsl")
US = 1e-6


@pytest.fixture(scope="module")
def doc():
    """schedule.json of a real compile (greedy on mcm6x6), as plain JSON values."""
    cr = api.compile(EXAMPLE, "mcm6x6", SolveOptions(solver="greedy", time_limit=1))   # no `out`: nothing written
    return json.loads(json.dumps(emit.schedule_document(cr)))


def _task(tpl: dict, i: int, chips, start, end, deps=(), dram=0.0) -> dict:
    """A task like `tpl` without a `dram_channels` record (a file written before it existed: the replay then
    splits its DRAM bytes over the members' nearest channels)."""
    out = {**tpl, "id": i, "name": f"t{i}", "chiplets": list(chips), "start": start, "end": end,
           "deps": list(deps), "dram_bytes": float(dram)}
    out.pop("dram_channels", None)
    return out


def _xfer(tpl: dict, src, dst, route, nbytes, start, end) -> dict:
    return {**tpl, "src_task": src, "dst_task": dst, "src_chiplet": route[0], "dst_chiplet": route[-1],
            "route": list(route), "bytes": float(nbytes), "start": start, "end": end}


def _two_transfers(doc, second_start: float) -> dict:
    """Tasks 0 (chiplet 0) and 1 (chiplet 1) end at 1 us; transfer 0->2 along 0-1-2 and 1->3 along 1-2-3 both
    need the link 1->2 for 1 us; tasks 2 (chiplet 2) and 3 (chiplet 3) start when their input arrives."""
    d = copy.deepcopy(doc)
    hw = d["hardware"]
    bw, hop = hw["nop"]["link_bw"], hw["nop"]["hop_latency"]
    tt, xt = doc["tasks"][0], doc["transfers"][0]
    nb = bw * US                                      # 1 us of serialisation at link bandwidth
    dur = 2 * hop + nb / bw                           # the cost model's transfer time over 2 hops
    a0, a1 = 1 * US, second_start
    d["tasks"] = [_task(tt, 0, [0], 0.0, US), _task(tt, 1, [1], 0.0, US),
                  _task(tt, 2, [2], a0 + dur, a0 + dur + US, deps=[0]),
                  _task(tt, 3, [3], a1 + dur, a1 + dur + US, deps=[1])]
    d["transfers"] = [_xfer(xt, 0, 2, [0, 1, 2], nb, a0, a0 + dur), _xfer(xt, 1, 3, [1, 2, 3], nb, a1, a1 + dur)]
    validate_document(d)
    return d


# ---- the solvers' model is reproduced exactly --------------------------------------------------------------
def test_replay_without_contention_reproduces_the_schedule_exactly(doc):
    r = simulate(doc, contention=False)
    assert r.makespan == r.schedule_makespan == doc["metrics"]["makespan_s"]
    assert list(r.task_end) == [t["end"] for t in doc["tasks"]]
    assert list(r.task_start) == [t["start"] for t in doc["tasks"]]


def test_contention_never_shortens_anything(doc):
    r = simulate(doc)
    assert r.makespan >= r.schedule_makespan
    assert all(e >= t["end"] for e, t in zip(r.task_end, doc["tasks"]))
    assert all(s >= t["start"] for s, t in zip(r.task_start, doc["tasks"]))


def test_transfers_that_do_not_share_links_in_time_replay_exactly(doc):
    d = _two_transfers(doc, second_start=5 * US)       # the second transfer starts after the first arrived
    r = simulate(d)
    assert r.makespan == r.schedule_makespan
    assert list(r.task_end) == [t["end"] for t in d["tasks"]]
    assert not r.contended()


# ---- contention ------------------------------------------------------------------------------------------
def test_two_transfers_on_one_link_share_its_bandwidth(doc):
    """Both stream 1 us worth of bytes over link 1->2 at the same time: each gets half of it, so both arrive
    1 us late and their consumers end 1 us late."""
    d = _two_transfers(doc, second_start=1 * US)
    r = simulate(d)
    assert r.task_end[2] == pytest.approx(d["tasks"][2]["end"] + US, rel=1e-9)
    assert r.task_end[3] == pytest.approx(d["tasks"][3]["end"] + US, rel=1e-9)
    assert r.makespan == pytest.approx(r.schedule_makespan + US, rel=1e-9)
    top = r.contended()
    assert top[0].name == "1->2" and top[0].max_flows == 2 and top[0].shared_s == pytest.approx(2 * US, rel=1e-9)
    assert top[0].peak_utilisation == pytest.approx(1.0)
    assert simulate(d, contention=False).makespan == r.schedule_makespan


def test_concurrent_tasks_share_a_dram_channel(doc):
    """Two 10 us tasks on chiplets 0 and 6 (both nearest the same west channel) each need 75% of its
    bandwidth: each gets 50%, so both take 15 us."""
    d = copy.deepcopy(doc)
    hw = d["hardware"]
    near = [i for i, ch in enumerate(hw["dram"]) if 0 in ch["attach"] and 6 in ch["attach"]]
    assert near, "mcm6x6 has a west channel attached to chiplets 0 and 6"
    bw = hw["dram"][near[0]]["bandwidth"]
    others = [i for i, ch in enumerate(hw["dram"]) if i != near[0] and ({0, 6} & set(ch["attach"]))]
    assert not others
    tt = doc["tasks"][0]
    dram = 0.75 * bw * 10 * US
    d["tasks"] = [_task(tt, 0, [0], 0.0, 10 * US, dram=dram), _task(tt, 1, [6], 0.0, 10 * US, dram=dram)]
    d["transfers"] = []
    r = simulate(d)
    assert r.task_end[0] == pytest.approx(15 * US, rel=1e-9) and r.task_end[1] == pytest.approx(15 * US, rel=1e-9)
    dram_stats = {x.name: x for x in r.resources if x.kind == "dram"}
    assert dram_stats[hw["dram"][near[0]]["name"]].peak_utilisation == pytest.approx(1.0)
    d["tasks"][1]["dram_bytes"] = 0.25 * bw * 10 * US                # 75% + 25%: fits, nobody slows
    assert simulate(d).makespan == 10 * US


def test_delay_propagates_along_the_chiplet_order(doc):
    """A later task on the same chiplet cannot start before the delayed one ends."""
    d = _two_transfers(doc, second_start=1 * US)
    tt = doc["tasks"][0]
    t2 = d["tasks"][2]
    d["tasks"].append(_task(tt, 4, [2], t2["end"], t2["end"] + US))   # no deps: only the chiplet order
    validate_document(d)
    r = simulate(d)
    assert r.task_start[4] == pytest.approx(r.task_end[2]) and r.task_start[4] > t2["end"]


def test_max_min_fair_allocation():
    # three flows: a on r1, b on r1+r2, c on r2 with cap 1; r1 = 2, r2 = 3  ->  a = b = 1 ... b limited by r1
    rates = max_min_fair([10, 10, 1], [("r1",), ("r1", "r2"), ("r2",)], {"r1": 2.0, "r2": 3.0})
    assert rates == pytest.approx([1.0, 1.0, 1.0])
    rates = max_min_fair([10, 10, 10], [("r1",), ("r1", "r2"), ("r2",)], {"r1": 2.0, "r2": 3.0})
    assert rates == pytest.approx([1.0, 1.0, 2.0])


# ---- bad files -------------------------------------------------------------------------------------------
def test_bad_files_are_clear_errors(tmp_path, doc):
    p = tmp_path / "s.json"
    p.write_text('{"schema": ')
    with pytest.raises(ScheduleFileError, match=r"s.json:1:\d+: not valid JSON"):
        load_schedule(p)
    bad = copy.deepcopy(doc)
    del bad["tasks"][0]["chiplets"]
    p.write_text(json.dumps(bad))
    with pytest.raises(ScheduleFileError, match="chiplets"):
        load_schedule(p)
    bad = copy.deepcopy(doc)
    bad["transfers"] = [_xfer(doc["transfers"][0], 0, 1, [0, 7], 1.0, 0.0, 1.0)]     # 0-7 is no mesh link
    with pytest.raises(ScheduleFileError, match="route"):
        validate_document(bad)
    with pytest.raises(ScheduleFileError, match="no such file"):
        load_schedule(tmp_path / "missing.json")
    with pytest.raises(ScheduleFileError, match="not a file"):
        load_schedule(tmp_path)


def test_cycle_is_reported_not_hung(doc):
    d = copy.deepcopy(doc)
    tt = doc["tasks"][0]
    d["tasks"] = [_task(tt, 0, [0], 0.0, US, deps=[1]), _task(tt, 1, [1], 0.0, US, deps=[0])]
    d["transfers"] = []
    with pytest.raises(MapcError, match="cycle"):
        simulate(d)


# ---- command line ----------------------------------------------------------------------------------------
def test_cli_simulate_json_and_files(tmp_path, doc, capsys):
    d = _two_transfers(doc, second_start=1 * US)
    p = tmp_path / "schedule.json"
    p.write_text(json.dumps(d))
    rc = cli.main(["simulate", str(p), "--json", "-o", str(tmp_path / "sim")])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["ok"] and out["slowdown"] > 1
    assert out["most_contended"][0]["name"] == "1->2"
    assert out["tasks"][0]["delay_s"] == pytest.approx(US, rel=1e-9)
    sim = json.loads((tmp_path / "sim" / "simulated.json").read_text())
    assert sim["simulated_makespan_s"] == out["simulated_makespan_s"]
    tr = json.loads((tmp_path / "sim" / "trace.json").read_text())
    assert any(e.get("ph") == "X" for e in tr["traceEvents"])
    rc = cli.main(["simulate", str(p)])
    text = capsys.readouterr().out
    assert rc == 0 and "1->2" in text and "simulated makespan" in text


def test_cli_simulate_bad_file_exit_2(tmp_path, capsys):
    p = tmp_path / "x.json"
    p.write_text('{"schema": "mapc.schedule/1"}')
    assert cli.main(["simulate", str(p)]) == 2
    err = capsys.readouterr().err
    assert "does not match mapc.schedule/1" in err and "Traceback" not in err
    assert cli.main(["simulate", str(p), "-o", str(tmp_path)]) == 2       # would overwrite its own folder
