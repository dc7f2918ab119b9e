"""The search engine of `mapc explore`: an Optuna study whose trials are scored on Dask, durable in a journal.

Who does what. This process (the client) owns the study: it asks the sampler for a trial (`study.ask`), builds
the design and checks the constraints, submits the scoring (`mapc.apps.explore_trial.score`) to a pool, and tells
the outcome (`study.tell`) as results come back. Workers only score; only the client touches the storage, so a
remote Dask cluster needs no shared folder (its workers need mapc installed, at the same version). Pools: the
client itself (`workers` 1, the serial reference), a `distributed.LocalCluster` of N single-threaded worker
processes, or an existing cluster (`scheduler` = `tcp://HOST:8786`). The spec and the base hardware are sent to
the workers once.

Samplers: grid (Optuna's GridSampler over the lists and each range's N points; trial k takes grid point k of a
seeded shuffle), random, tpe and nsga2. grid and random keep 2 x workers trials in flight; tpe and nsga2 ask
`batch` trials at a time and tell all of them before asking again (nsga2's population is the batch), so what
they sample never depends on which worker finished first. Hence the same seed gives the same trials, and the
same table, serially and on any number of workers (tpe and nsga2: for the same `batch`). Trials repeating an
evaluated design (random, tpe and nsga2 on lists can) reuse its scores instead of scheduling it again.

Durability. With a folder, the study lives in `folder/study.journal` (Optuna's JournalStorage on a file), written
as trials progress; the folder is locked (flock) while a run uses it. `resume=True` loads it: the run settings
must match those recorded in the study (the space, sampler, objectives, seed, solver options, constraints;
`trials`, `refine` and the pool may change), trials that were running when the process died are scored again
under their own numbers and parameters (a trial killed before its parameters were all drawn is marked failed,
`interrupted`, and the grid point it would have had stays unvisited), and the study goes on up to `trials`.
So a `kill -9` loses no trial and repeats none. A torn last journal line (a write cut by the kill) is dropped.

Trials are FAIL in Optuna unless scheduled; the user attribute `status` says why (skipped, no_solution,
rejected, pruned by `max_area`/`max_power` before scheduling, error). The study's front is refined by
re-scoring its `refine` best points (lowest objective, or lowest EDP with several objectives) with
`refine_options` (cpsat); the re-scores are stored in the study as they complete (with one objective: its `refine` best points).
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from mapc.apps.explore_pool import DaskPool, SerialPool, open_pool
from mapc.apps.explore_trial import OBJECTIVE_KEYS, Point, design_of, objective_values, pareto_mask, score
from mapc.core.errors import MapcError
from mapc.core.hardware import Hardware
from mapc.core.options import SolveOptions
from mapc.core.spec import Spec
from mapc.hw.space import GridValue, Space, grid_size

SAMPLERS = ("grid", "random", "tpe", "nsga2")
OBJECTIVES = tuple(OBJECTIVE_KEYS)
JOURNAL = "study.journal"
STUDY = "mapc-explore"
DEFAULT_BATCH = 8
MAX_GRID = 1_000_000          # grid points the grid sampler may enumerate
FINISHED = ("ok", "skipped", "no_solution", "rejected", "pruned", "error")
Progress = Callable[[int, int, str], None]      # (done, total, message)


@dataclass(frozen=True)
class Search:
    """What to search and how to score: the space, the sampler, the objectives (minimised), the trial budget,
    the seed, the batch of tpe/nsga2, the fast-path and refinement solver options, the constraints (m^2, W)."""

    space: Space
    sampler: str = "grid"
    objectives: tuple[str, ...] = ("edp",)
    trials: int = 64
    seed: int = 0
    batch: int = DEFAULT_BATCH
    options: SolveOptions = SolveOptions(solver="greedy", time_limit=5.0, threads=1)
    refine: int = 0
    refine_options: SolveOptions = SolveOptions(solver="cpsat", time_limit=10.0, threads=1)
    max_area: float | None = None
    max_power: float | None = None
    segment: int | None = None

    @property
    def budget(self) -> int:
        """Trials to finish: `trials`, at most the grid's size for the grid sampler."""
        return min(self.trials, grid_size(self.space)) if self.sampler == "grid" else self.trials

    def settings_record(self, spec: Spec, base: Hardware) -> dict[str, Any]:
        """What a resumed study must have been started with (JSON-ready)."""
        o, r = self.options, self.refine_options
        digest = hashlib.sha256(repr(replace(base, sources=())).encode()).hexdigest()[:16]
        return {"input_sha256": spec.sha256, "base": base.name, "base_digest": digest,
                "space": [[d.key, d.text] for d in self.space], "sampler": self.sampler,
                "objectives": list(self.objectives), "seed": self.seed,
                "batch": self.batch if self.sampler in ("tpe", "nsga2") else None,
                "solver": [o.solver, o.objective, o.time_limit, o.seed],
                "refine_solver": [r.solver, r.objective, r.time_limit, r.seed],
                "max_area": self.max_area, "max_power": self.max_power, "segment": self.segment}


@dataclass(frozen=True)
class StudyRun:
    """A finished (or resumed and finished) study: its points in trial order and what ran them."""

    points: tuple[Point, ...]
    engine: str
    budget: int
    evaluations: int             # designs scheduled by the fast path (not reused, not pruned)
    interrupted: int             # trials lost to a kill before their parameters were drawn
    resumed: int                 # trials re-run after a kill under their own numbers
    errors: tuple[str, ...] = ()


# ---- the study ---------------------------------------------------------------------------------------------
def _optuna() -> Any:
    """The optuna package, imported on first use (0.2 s), its per-trial INFO logging turned down."""
    import optuna                               # heavy optional dependency, see the function doc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _sampler(optuna: Any, s: Search) -> Any:
    if s.sampler == "grid":
        class Grid(optuna.samplers.GridSampler):
            """GridSampler without its `study.stop()` when the grid is done: that only works inside
            `study.optimize`, and the runner stops at the budget itself."""

            def after_trial(self, *_args: Any) -> None:
                return None

        return Grid({d.key: list(d.grid()) for d in s.space}, seed=s.seed)
    if s.sampler == "random":
        return optuna.samplers.RandomSampler(seed=s.seed)
    if s.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=s.seed, n_startup_trials=max(s.batch, 8))
    return optuna.samplers.NSGAIISampler(population_size=max(2, s.batch), seed=s.seed)


def _storage(optuna: Any, journal: Path | None) -> Any:
    """A JournalStorage on `journal` (in memory without one). Optuna's own file lock is not used: the run holds
    an flock on the folder's journal, which the kernel releases when the process dies, even by `kill -9`."""
    if journal is None:
        return optuna.storages.InMemoryStorage()

    class FolderLocked(optuna.storages.journal.JournalFileOpenLock):
        def acquire(self) -> bool:
            return True

        def release(self) -> None:
            return None

    backend = optuna.storages.journal.JournalFileBackend(str(journal), lock_obj=FolderLocked(str(journal)))
    return optuna.storages.journal.JournalStorage(backend)


@contextmanager
def _locked(journal: Path | None) -> Iterator[None]:
    """Hold an exclusive flock on `journal` (created if missing) and drop a torn last line."""
    if journal is None:
        yield
        return
    with open(journal, "a+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise MapcError(f"{journal.parent} is in use by another mapc explore",
                            hint="wait for it to finish, or pass -o another folder") from None
        f.seek(0)
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)
        yield


def has_study(folder: Path) -> bool:
    """Whether `folder` holds a study journal with something in it."""
    j = folder / JOURNAL
    return j.is_file() and j.stat().st_size > 0


def _suggest(trial: Any, s: Search) -> dict[str, GridValue]:
    """Draw (or, for a resumed trial, read back) every parameter of the space."""
    out: dict[str, GridValue] = {}
    for d in s.space:
        if d.choices:
            out[d.key] = trial.suggest_categorical(d.key, [lbl for lbl, _ in d.choices])
        elif d.unit:
            a, b = d.int_bounds
            out[d.key] = trial.suggest_int(d.key, a, b, log=d.log)
        else:
            out[d.key] = trial.suggest_float(d.key, d.lo, d.hi, log=d.log)
    return out


def _key(raw: dict[str, GridValue]) -> str:
    return repr(sorted(raw.items()))


def run_study(spec: Spec, base: Hardware, s: Search, folder: Path | None = None, *, resume: bool = False,
              workers: int = 1, scheduler: str | None = None, progress: Progress | None = None) -> StudyRun:
    """Run (or resume) the study of `s` (module doc); the points of every finished trial, in trial order."""
    say = progress or (lambda _d, _t, _m: None)
    journal = None if folder is None else folder / JOURNAL
    if folder is not None:
        if has_study(folder) and not resume:
            raise MapcError(f"{folder} already holds a study ({JOURNAL})",
                            hint="pass --resume to continue it, or -o another folder")
        if resume and not has_study(folder):
            raise MapcError(f"--resume: no study in {folder} (no {JOURNAL})", hint="run without --resume to start one")
        folder.mkdir(parents=True, exist_ok=True)
    optuna = _optuna()
    with _locked(journal):
        storage = _storage(optuna, journal)
        settings = s.settings_record(spec, base)
        if resume:
            study = optuna.load_study(study_name=STUDY, storage=storage, sampler=_sampler(optuna, s))
            was = study.user_attrs.get("mapc_settings", {})
            diff = [k for k in settings if was.get(k) != settings[k]]
            if diff:
                raise MapcError(f"--resume: the study in {folder} was started with other settings ({', '.join(diff)})",
                                hint="rerun the command that started it (FILE, --hw, --vary, --sampler, --objectives, "
                                     "--seed, solver options, constraints) with --resume, or -o another folder")
        else:
            study = optuna.create_study(study_name=STUDY, storage=storage, sampler=_sampler(optuna, s),
                                        directions=["minimize"] * len(s.objectives))
            study.set_user_attr("mapc_settings", settings)
        with open_pool(workers, scheduler) as pool:
            run = _Runner(optuna, study, storage, spec, base, s, pool, say)
            run.trials()
            run.refine()
            return run.result()


class _Runner:
    """The ask / submit / tell loop of one run (module doc)."""

    def __init__(self, optuna: Any, study: Any, storage: Any, spec: Spec, base: Hardware, s: Search,
                 pool: SerialPool | DaskPool, say: Progress) -> None:
        self.optuna, self.study, self.storage, self.s, self.pool, self.say = optuna, study, storage, s, pool, say
        self.base = base
        self.spec_h, self.base_h = pool.put(spec), pool.put(base)
        self.flight: dict[Any, tuple[Any, dict[str, Any]]] = {}     # ticket -> (trial, {settings, name, hw, key})
        self.cache: dict[str, tuple[int, dict[str, Any]]] = {}       # params -> (trial, its fast scores)
        self.errors: list[str] = []
        self.resumed = 0
        self.done = 0
        for t in study.get_trials(deepcopy=False):
            st = t.user_attrs.get("status")
            if st in FINISHED:
                self.done += 1
                fast = t.user_attrs.get("fast")
                if fast and st != "pruned":
                    self.cache.setdefault(_key(dict(t.params)), (t.number, fast))

    # -- one trial
    def _finish(self, trial: Any, status: str, reason: str = "", fast: dict[str, Any] | None = None,
                hw: dict[str, Any] | None = None, cached_from: int | None = None) -> None:
        if fast is not None:
            trial.set_user_attr("fast", fast)
        if cached_from is not None:
            trial.set_user_attr("cached_from", cached_from)
        trial.set_user_attr("reason", reason)
        trial.set_user_attr("status", status)
        if status == "ok":
            assert fast is not None and hw is not None
            self.study.tell(trial, objective_values(self.s.objectives, fast, hw))
        else:
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
        self.done += 1
        self.say(self.done, self.s.budget, f"trial {trial.number}: {status}")

    def _start(self, trial: Any, raw: dict[str, GridValue]) -> None:
        s, base = self.s, self.base
        settings = {d.key: d.value(raw[d.key]) for d in s.space}
        labels = {d.key: d.label(raw[d.key]) for d in s.space}
        name = base.name + ("[" + ",".join(f"{k}={v}" for k, v in labels.items()) + "]" if labels else "")
        trial.set_user_attr("labels", labels)
        try:
            _, hw = design_of(base, settings, name)
        except MapcError as e:
            self._finish(trial, "skipped", e.message)
            return
        trial.set_user_attr("hw", hw)
        over = [f"area {hw['area_m2'] * 1e6:,.1f} mm^2 > --max-area {s.max_area * 1e6:,.1f} mm^2"
                for _ in [0] if s.max_area is not None and hw["area_m2"] > s.max_area]
        over += [f"peak power {hw['peak_power_w']:,.1f} W > --max-power {s.max_power:,.1f} W"
                 for _ in [0] if s.max_power is not None and hw["peak_power_w"] > s.max_power]
        if over:
            self._finish(trial, "pruned", "; ".join(over))
            return
        key = _key(raw)
        if key in self.cache:
            number, fast = self.cache[key]
            self._finish(trial, str(fast["status"]), str(fast.get("reason", "")), fast, hw, cached_from=number)
            return
        for _, info in self.flight.values():
            if info["key"] == key:                          # the same design is being scored: wait for it
                info["followers"].append((trial, hw))
                return
        ticket = self.pool.submit(score, self.spec_h, self.base_h, settings, name, s.options, s.segment)
        self.flight[ticket] = (trial, {"hw": hw, "key": key, "followers": []})

    def _pending(self) -> int:
        """Trials asked and not yet told: in flight, or waiting for an identical design in flight."""
        return sum(1 + len(info["followers"]) for _, info in self.flight.values())

    def _collect(self) -> None:
        done = self.pool.wait(list(self.flight))
        for ticket, ok, value in sorted(done, key=lambda x: self.flight[x[0]][0].number):
            trial, info = self.flight.pop(ticket)
            if not ok:
                self.errors.append(f"trial {trial.number}: {value}")
                for t in [trial] + [o for o, _ in info["followers"]]:
                    self._finish(t, "error", str(value))
                continue
            self.cache.setdefault(info["key"], (trial.number, value))
            self._finish(trial, str(value["status"]), str(value.get("reason", "")), value, info["hw"])
            for other, hw in info["followers"]:
                self._finish(other, str(value["status"]), str(value.get("reason", "")), value, hw,
                             cached_from=trial.number)

    def _resume_running(self) -> None:
        """Score again the trials a killed run left running, under their own numbers (module doc)."""
        state = self.optuna.trial.TrialState
        study_id = self.storage.get_study_id_from_name(STUDY)
        for t in self.study.get_trials(deepcopy=False, states=(state.RUNNING,)):
            trial = self.optuna.trial.Trial(self.study, self.storage.get_trial_id_from_study_id_trial_number(
                study_id, t.number))
            try:
                raw = _suggest(trial, self.s)
            except (ValueError, RuntimeError) as e:          # killed before the sampler chose its point
                trial.set_user_attr("status", "interrupted")
                trial.set_user_attr("reason", f"interrupted before its parameters were drawn ({e})")
                self.study.tell(trial, state=state.FAIL)
                continue
            self.resumed += 1
            self._start(trial, raw)

    def trials(self) -> None:
        """Ask, score and tell until the budget is done."""
        s = self.s
        self._resume_running()
        batched = s.sampler in ("tpe", "nsga2")
        cap = s.batch if batched else 2 * self.pool.slots
        self.say(self.done, s.budget, "starting")
        while True:
            if not batched or not self.flight:
                asked = 0
                while asked < cap and self.done + self._pending() < s.budget and (batched or len(self.flight) < cap):
                    trial = self.study.ask()
                    asked += 1
                    self._start(trial, _suggest(trial, s))
            if not self.flight:
                if self.done >= s.budget:
                    break
                continue                                # every asked trial finished at once (cached, pruned)
            self._collect()

    # -- refinement and the result
    def points(self) -> list[Point]:
        """Every finished trial as a `Point` (trial order), the fronts marked."""
        refined = {k: v for k, v in self.study.user_attrs.items() if k.startswith("refined:")}
        pts = []
        for t in self.study.get_trials(deepcopy=False):
            ua = t.user_attrs
            if ua.get("status") not in FINISHED:
                continue
            labels = ua.get("labels", {})
            name = self.base.name + ("[" + ",".join(f"{k}={v}" for k, v in labels.items()) + "]" if labels else "")
            pts.append(Point(trial=t.number, hardware=name, params=tuple((d.key, labels.get(d.key, ""))
                                                                           for d in self.s.space),
                             raw=tuple((d.key, t.params.get(d.key)) for d in self.s.space), status=ua["status"],
                             reason=ua.get("reason", ""), fast=ua.get("fast", {}), hw=ua.get("hw", {}),
                             refined=refined.get(f"refined:{t.number}", {}), cached_from=ua.get("cached_from")))
        return mark_fronts(pts, self.s.objectives)

    def refine(self) -> None:
        """Re-score the front's `refine` best points with the refinement solver (module doc)."""
        s = self.s
        if s.refine <= 0:
            return
        chosen = best_points(self.points(), s.objectives, s.refine)
        todo = [p for p in chosen if f"refined:{p.trial}" not in self.study.user_attrs]
        dims = {d.key: d for d in s.space}
        tickets: dict[Any, Point] = {}
        for p in todo:
            settings = {k: dims[k].value(v) for k, v in p.raw}
            tickets[self.pool.submit(score, self.spec_h, self.base_h, settings, p.hardware, s.refine_options,
                                     s.segment)] = p
        n = 0
        while tickets:
            for ticket, ok, value in self.pool.wait(list(tickets)):
                p = tickets.pop(ticket)
                out = value if ok else {"status": "error", "reason": str(value), "solver": s.refine_options.solver}
                self.study.set_user_attr(f"refined:{p.trial}", out)
                n += 1
                self.say(n, len(todo), f"refined trial {p.trial} with {s.refine_options.solver}")

    def result(self) -> StudyRun:
        pts = self.points()
        interrupted = sum(1 for t in self.study.get_trials(deepcopy=False)
                          if t.user_attrs.get("status") == "interrupted")
        evaluations = sum(1 for p in pts if p.cached_from is None and p.status not in ("pruned", "error") and p.fast)
        return StudyRun(tuple(pts), self.pool.engine, self.s.budget, evaluations, interrupted, self.resumed,
                        tuple(self.errors))


def rank_value(p: Point, objectives: tuple[str, ...]) -> float:
    """What orders points: the objective when there is one, else EDP (a point's fast score; inf if not ok)."""
    if not p.ok:
        return float("inf")
    key = OBJECTIVE_KEYS[objectives[0]] if len(objectives) == 1 else "edp_js"
    return float(p.get(key))


def rank(points: list[Point], objectives: tuple[str, ...]) -> list[Point]:
    """Points ordered by `rank_value`, ties by parameters (never by trial number or completion order)."""
    return sorted(points, key=lambda p: (rank_value(p, objectives), repr(p.raw)))


def best_points(points: list[Point], objectives: tuple[str, ...], n: int) -> list[Point]:
    """The `n` best scheduled points: the front's lowest by `rank_value` with several objectives, the lowest by
    the objective with one."""
    return [p for p in rank(points, objectives) if p.ok and (p.pareto or len(objectives) == 1)][:n]


def mark_fronts(points: list[Point], objectives: tuple[str, ...]) -> list[Point]:
    """Set `pareto` (front of the objectives; with one objective, its best points), `pareto_latency_energy` and
    `pareto_edp_area` on the scheduled points."""
    ok = [p for p in points if p.ok]
    if not ok:
        return points
    cols = [[float(p.get(OBJECTIVE_KEYS[o])) for p in ok] for o in objectives]
    front = pareto_mask(*cols)
    le = pareto_mask([p.get("latency_s") for p in ok], [p.get("energy_j") for p in ok])
    ea = pareto_mask([p.get("edp_js") for p in ok], [p.get("area_m2") for p in ok])
    flags = {p.trial: (bool(a), bool(b), bool(c)) for p, a, b, c in zip(ok, front, le, ea)}
    return [replace(p, pareto=flags[p.trial][0], pareto_latency_energy=flags[p.trial][1],
                    pareto_edp_area=flags[p.trial][2]) if p.trial in flags else p for p in points]
