"""`mapc explore` on its engine: samplers, objectives, refinement, errors in a trial, the journal and --resume
(also after kill -9), and the Dask pools (a LocalCluster, an existing scheduler) giving the serial table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from mapc import api
from mapc.apps import explore as E
from mapc.apps import explore_study as X
from mapc.cli import main
from mapc.core.options import SolveOptions
from mapc.hw import presets
from mapc.hw import space as S

ROOT = Path(__file__).resolve().parents[2]
ARVR = str(ROOT / "examples" / "arvr_mix.dsl")
CHAT = str(ROOT / "examples" / "llama2_7b_chat.dsl")
GREEDY = SolveOptions(solver="greedy", time_limit=2.0, threads=1)
SPACE = ["sram=1MiB,2MiB,4MiB", "dataflow=ws,os,mix"]


@pytest.fixture(scope="module")
def arvr():
    return api.load(ARVR)


def search(axes=SPACE, **kw):
    kw.setdefault("options", GREEDY)
    return X.Search(space=S.parse_space(axes), **kw)


def table(ex):
    """The rows without wall times (what must not depend on the machine or the pool)."""
    rows = []
    for p in ex.points:
        d = p.record()
        d.pop("wall_s")
        d["refined"] = None if d["refined"] is None else {k: v for k, v in d["refined"].items() if k != "wall_s"}
        rows.append(d)
    return rows


def load_study(folder: Path):
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(folder / X.JOURNAL)))
    return optuna.load_study(study_name=X.STUDY, storage=storage)


# ---- samplers and objectives --------------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", ["random", "tpe", "nsga2"])
def test_samplers_run_their_budget_deterministically(arvr, sampler):
    s = search(sampler=sampler, trials=12, batch=4, objectives=("latency", "energy"))
    ex = E.explore(arvr, presets.get("mcm6x6"), s)
    assert sorted(p.trial for p in ex.points) == list(range(12))           # the budget exactly
    assert all(p.ok for p in ex.points)
    distinct = {p.raw for p in ex.points}
    assert ex.run.evaluations == len(distinct)                        # a repeated design is scored once
    for p in ex.points:
        if p.cached_from is not None:
            src = next(q for q in ex.points if q.trial == p.cached_from)
            assert src.raw == p.raw and src.fast == p.fast
    assert table(E.explore(arvr, presets.get("mcm6x6"), s)) == table(ex)


def test_ranges_are_sampled_inside_their_bounds(arvr):
    ex = E.explore(arvr, presets.get("mcm6x6"), search(["sram=1MiB..8MiB:log", "link=50..400GB/s"],
                                                         sampler="random", trials=6, objectives=("edp",)))
    for p in ex.points:
        v = dict(p.raw)
        assert 2**20 <= v["sram"] <= 8 * 2**20 and 50e9 <= v["link"] <= 400e9
        assert p.hw["link_bw"] == pytest.approx(v["link"])


def test_area_objective_front(arvr):
    ex = E.explore(arvr, presets.get("mcm6x6"), search(["sram=1MiB,2MiB,8MiB", "pes=16x16,32x32"],
                                                         objectives=("edp", "area")))
    ok = [p for p in ex.points if p.ok]
    front = [p for p in ok if p.pareto]
    assert front and [p.pareto for p in ok] == [p.pareto_edp_area for p in ok]
    for p in front:
        assert not any(q.get("edp_js") <= p.get("edp_js") and q.get("area_m2") <= p.get("area_m2")
                       and (q.get("edp_js") < p.get("edp_js") or q.get("area_m2") < p.get("area_m2")) for q in ok)


def test_refine_rescores_the_best_points_with_cpsat(arvr):
    s = search(objectives=("edp",), refine=2, refine_options=SolveOptions(solver="cpsat", time_limit=1.0, threads=1))
    ex = E.explore(arvr, presets.get("mcm6x6"), s)
    refined = [p for p in ex.points if p.refined]
    assert [p.trial for p in refined] == [p.trial for p in ex.points[:2]]        # the two best by EDP
    for p in refined:
        assert p.refined["solver"] == "cpsat" and p.refined["status"] == "ok"
        assert p.refined["edp_js"] <= p.get("edp_js") * (1 + 1e-9)              # cpsat never worse than greedy
        assert p.fast["solver"] == "greedy"                                      # both scores recorded
    doc = E.to_doc(ex)
    assert sum(1 for r in doc["points"] if r["refined"]) == 2


def test_an_evaluation_that_raises_fails_its_trial_only(arvr, monkeypatch):
    real = X.score

    def flaky(spec, base, settings, name, options, segment=None):
        if settings["sram"] == 2 * 2**20:
            raise RuntimeError("boom")
        return real(spec, base, settings, name, options, segment)

    monkeypatch.setattr(X, "score", flaky)
    ex = E.explore(arvr, presets.get("mcm6x6"), search())
    bad = [p for p in ex.points if p.status == "error"]
    assert len(ex.points) == 9 and len(bad) == 3 and all("boom" in p.reason for p in bad)
    assert all(p.ok for p in ex.points if p not in bad)
    assert any("evaluation error" in n for n in ex.notes)


# ---- command line: bad input, the journal, --resume ---------------------------------------------------------
@pytest.mark.parametrize("args, needle", [
    (["--vary", "sram=4MiB..2MiB"], "is above"), (["--vary", "sram=1MiB..8GB/s"], "unit mismatch"),
    (["--vary", "sram=..8MiB"], "empty range"), (["--vary", "wat=1,2"], "unknown key"),
    (["--objectives", "latency,cost"], "--objectives"), (["--objectives", "edp,edp"], "--objectives"),
    (["--vary", "grid=1..64:64", "--vary", "pes=1..64:64", "--vary", "sram=1MiB..8MiB:64", "--vary",
      "link=1..64GB/s:64"], "grid has"),
])
def test_bad_space_exits_2_before_any_trial(tmp_path, capsys, args, needle):
    out = tmp_path / "o"
    assert main(["explore", ARVR, "--hw", "mcm6x6", "--workers", "1", "-o", str(out), *args]) == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


def cli(out, *extra, vary=("sram=1MiB,2MiB", "link=50GB/s,400GB/s")):
    argv = ["explore", ARVR, "--hw", "mcm6x6", "--workers", "1", "-o", str(out), "--json"]
    for v in vary:
        argv += ["--vary", v]
    return main(argv + list(extra))


def test_resume_rules_and_extending_a_study(tmp_path, capsys):
    out = tmp_path / "s"
    assert cli(out, "--resume") == 2 and "no study" in capsys.readouterr().err
    assert not out.exists()
    assert cli(out, "--trials", "2") == 0
    capsys.readouterr()
    assert cli(out) == 2 and "already holds a study" in capsys.readouterr().err
    assert cli(out, "--resume", vary=("sram=1MiB,4MiB",)) == 2
    assert "other settings (space)" in capsys.readouterr().err
    assert cli(out, "--resume", "--trials", "4") == 0                      # a larger budget goes on
    doc = json.loads(capsys.readouterr().out)
    assert sorted(p["trial"] for p in doc["points"]) == [0, 1, 2, 3]
    assert len({tuple(p["params"].values()) for p in doc["points"]}) == 4


def test_resume_scores_a_trial_left_running(tmp_path, arvr):
    """A trial asked but never told (the client died between ask and tell) is scored under its own number."""
    out = tmp_path / "r"
    s = search(trials=3)
    E.explore(arvr, presets.get("mcm6x6"), s, out)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(out / X.JOURNAL)))
    study = optuna.load_study(study_name=X.STUDY, storage=storage, sampler=X._sampler(optuna, s))
    study.ask()                                                              # trial 3: its grid point, no params
    ex = E.explore(arvr, presets.get("mcm6x6"), search(trials=9), out, resume=True)
    assert sorted(p.trial for p in ex.points) == list(range(9)) and ex.run.resumed == 1
    assert len({p.raw for p in ex.points}) == 9                              # the whole grid, nothing twice
    whole = E.explore(arvr, presets.get("mcm6x6"), search(trials=9))
    assert table(ex) == table(whole)


@pytest.mark.slow
def test_kill_9_then_resume_loses_and_repeats_no_trial(tmp_path):
    out = tmp_path / "k"
    vary = ["sram=1MiB,2MiB,4MiB,8MiB", "link=50GB/s,100GB/s,200GB/s,400GB/s"]     # 16 trials of ~0.2 s
    argv = [sys.executable, "-m", "mapc.cli", "explore", CHAT, "--hw", "mcm6x6", "--workers", "1", "-o", str(out),
            "--json", *(a for v in vary for a in ("--vary", v))]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        done = 0
        while done < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if (out / X.JOURNAL).exists():
                try:
                    done = sum(1 for t in load_study(out).get_trials() if t.state.is_finished())
                except KeyError:       # the journal file exists before the study's record is written in it
                    continue
        assert proc.poll() is None and done >= 4, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    before = load_study(out).get_trials()
    assert 4 <= sum(1 for t in before if t.state.is_finished()) < 16
    assert main(["explore", CHAT, "--hw", "mcm6x6", "--workers", "1", "-o", str(out), "--resume", "--json",
                 *(a for v in vary for a in ("--vary", v))]) == 0
    trials = load_study(out).get_trials()
    assert [t.number for t in trials] == list(range(len(trials)))           # contiguous numbers
    scored = [t for t in trials if t.user_attrs.get("status") in X.FINISHED]
    assert len(scored) == 16
    assert len({tuple(sorted(t.params.items())) for t in scored}) == 16     # every grid point once
    for t in before:                                                        # finished trials kept as they were
        if t.state.is_finished():
            assert trials[t.number].params == t.params and trials[t.number].values == t.values


# ---- Dask --------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_local_workers_give_the_serial_table(arvr):
    s = search(trials=9)
    serial = E.explore(arvr, presets.get("mcm6x6"), s, workers=1)
    par = E.explore(arvr, presets.get("mcm6x6"), s, workers=2)
    assert par.run.engine.startswith("dask LocalCluster, 2")
    assert table(par) == table(serial)
    nsga = search(sampler="nsga2", trials=8, batch=4)
    assert table(E.explore(arvr, presets.get("mcm6x6"), nsga, workers=2)) == \
        table(E.explore(arvr, presets.get("mcm6x6"), nsga, workers=1))


@pytest.mark.slow
def test_an_existing_scheduler(arvr):
    import distributed
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        ex = E.explore(arvr, presets.get("mcm6x6"), search(trials=4), scheduler=c.scheduler_address)
    assert ex.run.engine == f"dask cluster at {c.scheduler_address}"
    assert table(ex) == table(E.explore(arvr, presets.get("mcm6x6"), search(trials=4)))


@pytest.mark.slow
def test_an_unreachable_scheduler_exits_2(tmp_path, capsys):
    rc = main(["explore", ARVR, "--hw", "mcm6x6", "--scheduler", "tcp://127.0.0.1:9", "--vary", "sram=1MiB,2MiB",
               "-o", str(tmp_path / "u")])
    assert rc == 2 and "Dask" in capsys.readouterr().err


def test_duplicates_waiting_in_flight_count_toward_the_budget(arvr):
    """random on a 2-point space repeats designs while the first is still in flight: still exactly the budget."""
    ex = E.explore(arvr, presets.get("mcm6x6"), search(["sram=1MiB,2MiB"], sampler="random", trials=10))
    assert sorted(p.trial for p in ex.points) == list(range(10)) and ex.run.evaluations == 2
