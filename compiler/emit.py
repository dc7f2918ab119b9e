"""Output files of a compile: schedule.json (+ its JSON Schema), trace.json (Perfetto), tasks.csv, gantt.png, and
the terminal summary.

`schedule.json` is the contract with downstream simulators: SI units (s, J, B), stable field names, every field
documented in `schedule.schema.json` (shipped next to this module). It holds enough to replay the schedule
alone: the hardware (chiplets, NoP links, DRAM, PIM, static power), every task with its chiplets, times,
residency, dependencies and byte counts, and every transfer with its route.

`write_outputs` is atomic (`write_dir_atomic`, also used by `mapc compare` and `mapc bench`): it writes
everything into a temporary directory next to the target, then moves it into place, so an error or Ctrl-C
never leaves a half-written output directory behind.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

import mapc
from mapc.core.errors import MapcError

SCHEMA_ID = "mapc.schedule/1"
SCHEMA_PATH = Path(__file__).with_name("schedule.schema.json")
OUTPUT_FILES = ("schedule.json", "trace.json", "tasks.csv", "gantt.png")
PARETO_FILES = ("pareto.csv", "pareto.png")  # cpsat with a Pareto front only
GANTT_MAX_TASKS = 20_000        # above this the PNG is unreadable and slow to draw: skipped with a note
PRETTY_MAX_TASKS = 2_000        # schedule.json is indented up to this many tasks, compact above
VALIDATE_MAX_RECORDS = 300      # write_outputs validates at most this many tasks/transfers against the schema
CSV_COLUMNS = ("id", "name", "model", "phase", "microbatch", "step", "layers", "chiplets", "start_s", "end_s",
               "energy_j", "resident")


# ---- JSON helpers ------------------------------------------------------------------------------------------
def jsonable(x):
    """Plain-JSON copy of `x`: NumPy scalars/arrays to Python, tuples to lists, non-finite floats to None."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return [jsonable(v) for v in x.tolist()]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        return f if math.isfinite(f) else None
    if x is None or isinstance(x, str):
        return x
    return str(x)


@lru_cache(maxsize=1)
def load_schema() -> dict:
    """The JSON Schema of schedule.json (draft 2020-12)."""
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return json.load(f)


@lru_cache(maxsize=1)
def _validator():
    import jsonschema
    return jsonschema.Draft202012Validator(load_schema())


def validate_schedule_document(doc: dict, max_records: int | None = None) -> None:
    """Raise `MapcError` naming the first schema violation of a schedule document.

    With `max_records`, only the first `max_records` tasks and transfers are checked (jsonschema costs about
    0.4 ms per record; every record is built by the same code, so a sample catches structural mistakes).
    """
    import jsonschema

    if max_records is not None and (len(doc.get("tasks", ())) > max_records
                                    or len(doc.get("transfers", ())) > max_records):
        doc = {**doc, "tasks": doc["tasks"][:max_records], "transfers": doc["transfers"][:max_records]}
    err = jsonschema.exceptions.best_match(_validator().iter_errors(doc))
    if err is not None:
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        raise MapcError(f"schedule document does not match {SCHEMA_ID}: at {where}: {err.message}")


# ---- schedule.json -----------------------------------------------------------------------------------------
def hardware_summary(hw, cost=None) -> dict:
    """Chiplets (id, position, type, dataflow, PE array, frequency, SRAM), NoP (figures and links), DRAM, PIM."""
    cap = None if cost is None else np.asarray(cost.weight_capacity)
    chips = []
    for c in hw.chiplets:
        t = c.type
        chips.append({"id": c.id, "x": c.x, "y": c.y, "type": t.name, "dataflow": t.dataflow,
                      "pes": [t.pe_rows, t.pe_cols], "freq": t.freq, "sram": t.sram,
                      "weight_capacity": float(cap[c.id]) if cap is not None else t.sram,
                      "precision": t.precision, "peak_flops": t.peak_flops, "mac_energy": t.mac_energy,
                      "sram_energy": t.sram_energy, "static_power": t.static_power})
    nop = hw.nop
    return {
        "name": hw.name, "rows": hw.rows, "cols": hw.cols,
        "chiplets": chips,
        "nop": {"topology": nop.topology, "link_bw": nop.link_bw, "hop_latency": nop.hop_latency,
                "energy_per_bit": nop.energy_per_bit,
                "links": sorted([min(u, v), max(u, v)] for u, v in hw.graph.edges())},
        "dram": [{"name": ch.name, "edge": ch.edge, "bandwidth": ch.bandwidth, "energy_per_bit": ch.energy_per_bit,
                  "capacity": ch.capacity, "attach": list(ch.attach)} for ch in hw.dram],
        "pim": [{"name": p.name, "bandwidth": p.bandwidth, "peak_flops": p.peak_flops,
                 "energy_per_bit": p.energy_per_bit, "mac_energy": p.mac_energy, "capacity": p.capacity,
                 "attach": list(p.attach)} for p in hw.pim],
        "static_power": float(cost.static_power) if cost is not None
        else float(sum(c.type.static_power for c in hw.chiplets)),
        "peak_flops": hw.peak_flops,
    }


def _dram_bytes(cr) -> np.ndarray:
    """[n] DRAM bytes each task moves at its placement and residency (from the cost tables)."""
    from mapc.compiler.evaluate import placement_indices

    cost, sched = cr.problem.cost, cr.result.schedule
    n = cost.graph.n
    if n == 0:
        return np.zeros(0)
    pi = placement_indices(sched, cost)
    res = np.array([t.resident for t in sched.tasks], dtype=bool)
    rows = np.arange(n)
    try:
        r, s = cost.breakdown(True)["dram_bytes"], cost.breakdown(False)["dram_bytes"]
    except (KeyError, AttributeError):
        return np.zeros(n)
    return np.where(res, r[rows, pi], s[rows, pi])


def task_records(cr) -> list[dict]:
    """Task records with plain Python values (built directly: this is the bulk of a large document)."""
    g, sched = cr.problem.graph, cr.result.schedule
    dram = _dram_bytes(cr).tolist()
    preds = g.preds
    out = []
    for t, st in zip(g.tasks, sched.tasks):
        out.append({
            "id": int(t.id), "name": t.name, "model": t.model, "phase": t.phase, "microbatch": int(t.microbatch),
            "step": int(t.step), "layers": [int(t.layers[0]), int(t.layers[1])],
            "chiplets": [int(c) for c in st.placement], "start": float(st.start), "end": float(st.end),
            "energy": float(st.energy), "resident": bool(st.resident),
            "deps": sorted(set(int(p) for p in preds[t.id])),
            "flops": float(t.flops), "weight_bytes": float(t.weight_bytes), "weight_key": t.weight_key,
            "dram_bytes": float(dram[t.id]), "in_bytes": float(t.in_bytes), "out_bytes": float(t.out_bytes),
            "kv_read_bytes": float(t.kv_read_bytes), "kv_write_bytes": float(t.kv_write_bytes),
            "batch": int(t.batch), "seq": int(t.seq), "context": int(t.context), "tokens": int(t.tokens),
        })
    return out


def transfer_records(cr) -> list[dict]:
    return [{"src_task": int(x.src_task), "dst_task": int(x.dst_task), "src_chiplet": int(x.src_chiplet),
             "dst_chiplet": int(x.dst_chiplet), "bytes": float(x.bytes), "route": [int(c) for c in x.route],
             "start": float(x.start), "end": float(x.end), "energy": float(x.energy), "kind": str(x.kind)}
            for x in cr.result.schedule.transfers]


def solver_record(cr) -> dict:
    r, b = cr.result, cr.budget
    return {"name": r.solver or "", "status": r.status, "objective": r.objective,
            "objective_name": cr.problem.objective, "bound": r.bound, "gap": r.gap, "wall_time": r.wall_time,
            "budget": {"time_limit": b.time_limit, "seed": b.seed, "threads": b.threads,
                       "deterministic": b.deterministic},
            "seed": b.seed, "stats": dict(r.stats), "message": r.message,
            "anytime": [[float(t), float(v)] for t, v in r.trace]}


def schedule_document(cr) -> dict:
    """The schedule.json document of a `CompileResult` (plain JSON values, non-finite numbers as null in the
    summary parts; task and transfer times of a checked schedule are always finite)."""
    head = jsonable({
        "schema": SCHEMA_ID,
        "mapc_version": mapc.__version__,
        "input": {"file": str(cr.input_path), "sha256": cr.input_sha256},
        "hardware": hardware_summary(cr.hw, cr.problem.cost),
        "workload": dict(cr.problem.graph.meta),
        "solver": solver_record(cr),
        "metrics": cr.metrics.to_dict(),
    })
    return {**head, "tasks": task_records(cr), "transfers": transfer_records(cr),
            "units": {"time": "s", "energy": "J", "bytes": "B", "power": "W", "frequency": "Hz",
                      "bandwidth": "B/s", "flops": "FLOP"}}


# ---- trace.json (Chrome trace events / Perfetto) -----------------------------------------------------------
PID_CHIPLETS, PID_LINKS = 1, 2


def trace_document(cr) -> dict:
    """Chrome trace: one track per chiplet (pid 1, tid = chiplet id), one per directed NoP link that carries a
    transfer (pid 2); complete events (`ph: "X"`) with `ts`/`dur` in microseconds."""
    g, sched, hw = cr.problem.graph, cr.result.schedule, cr.hw
    def meta(pid: int, tid: int, name: str, args: dict) -> dict:
        # metadata events carry ts/tid too: strict trace readers want them on every event
        return {"ph": "M", "pid": pid, "tid": tid, "ts": 0, "name": name, "args": args}

    ev: list[dict] = [
        meta(PID_CHIPLETS, 0, "process_name", {"name": f"chiplets ({hw.name})"}),
        meta(PID_LINKS, 0, "process_name", {"name": "NoP links"}),
        meta(PID_CHIPLETS, 0, "process_sort_index", {"sort_index": 0}),
        meta(PID_LINKS, 0, "process_sort_index", {"sort_index": 1}),
    ]
    for c in hw.chiplets:
        ev.append(meta(PID_CHIPLETS, c.id, "thread_name", {"name": f"chiplet {c.id} ({c.x},{c.y}) {c.type.name}"}))
        ev.append(meta(PID_CHIPLETS, c.id, "thread_sort_index", {"sort_index": c.id}))
    us = 1e6
    for t, st in zip(g.tasks, sched.tasks):
        chips = [int(c) for c in st.placement]
        args = {"task": int(t.id), "model": t.model, "phase": t.phase, "microbatch": int(t.microbatch),
                "step": int(t.step), "layers": f"{t.layers[0]}-{t.layers[1]}", "chiplets": chips,
                "energy_j": float(st.energy), "resident": bool(st.resident)}
        ts, dur = float(st.start) * us, float(st.end - st.start) * us
        cat = f"{t.model}/{t.phase}"
        for c in chips:
            ev.append({"name": t.name, "cat": cat, "ph": "X", "pid": PID_CHIPLETS, "tid": c, "ts": ts, "dur": dur,
                       "args": args})
    links: dict[tuple[int, int], int] = {}
    for x in sched.transfers:
        route = [int(c) for c in x.route]
        args = {"src_task": int(x.src_task), "dst_task": int(x.dst_task), "bytes": float(x.bytes), "route": route,
                "energy_j": float(x.energy)}
        ts, dur = float(x.start) * us, float(x.end - x.start) * us
        for u, v in zip(route, route[1:]):
            tid = links.setdefault((u, v), len(links))
            ev.append({"name": f"{x.src_task}->{x.dst_task}", "cat": f"transfer/{x.kind}", "ph": "X",
                       "pid": PID_LINKS, "tid": tid, "ts": ts, "dur": dur, "args": args})
    for (u, v), tid in links.items():
        ev.append(meta(PID_LINKS, tid, "thread_name", {"name": f"link {u}->{v}"}))
    return {"traceEvents": ev, "displayTimeUnit": "ms",
            "otherData": {"mapc_version": mapc.__version__, "input": str(cr.input_path), "hardware": hw.name,
                          "solver": cr.result.solver}}


# ---- tasks.csv ---------------------------------------------------------------------------------------------
def tasks_csv(cr) -> str:
    """One row per task; `layers` as first-last, `chiplets` separated by ';', times in s, energy in J."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for t, st in zip(cr.problem.graph.tasks, cr.result.schedule.tasks):
        w.writerow([t.id, t.name, t.model, t.phase, t.microbatch, t.step, f"{t.layers[0]}-{t.layers[1]}",
                    ";".join(str(c) for c in st.placement), repr(float(st.start)), repr(float(st.end)),
                    repr(float(st.energy)), int(bool(st.resident))])
    return buf.getvalue()


# ---- gantt.png ---------------------------------------------------------------------------------------------
def render_gantt(cr, path: str | os.PathLike, max_tasks: int = GANTT_MAX_TASKS) -> str | None:
    """Draw chiplets (y) over time (x, ms), one colour per (model, phase). Returns a note instead of drawing
    when the schedule has more than `max_tasks` tasks."""
    g, sched, hw = cr.problem.graph, cr.result.schedule, cr.hw
    if g.n > max_tasks:
        return f"gantt.png skipped: {g.n} tasks (more than {max_tasks}); open trace.json in Perfetto instead"
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib import colormaps
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Patch

    keys = list(dict.fromkeys((t.model, t.phase) for t in g.tasks))
    cmap = colormaps["tab20" if len(keys) > 10 else "tab10"]
    colour = {k: cmap(i % cmap.N) for i, k in enumerate(keys)}
    boxes: dict[tuple, list] = {k: [] for k in keys}
    for t, st in zip(g.tasks, sched.tasks):
        x0, x1 = st.start * 1e3, st.end * 1e3
        for c in st.placement:
            boxes[(t.model, t.phase)].append(((x0, c - 0.4), (x0, c + 0.4), (x1, c + 0.4), (x1, c - 0.4)))
    height = min(20.0, 1.5 + 0.22 * hw.n)
    fig = Figure(figsize=(12, height), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    thin = sum(len(b) for b in boxes.values()) <= 2000       # outlines only while bars are wide enough to see
    for key, verts in boxes.items():
        ax.add_collection(PolyCollection(verts, facecolors=colour[key], edgecolors="black" if thin else "none",
                                         linewidths=0.2 if thin else 0.0))
    ax.set_ylim(-0.6, hw.n - 0.4)
    ax.invert_yaxis()
    if hw.n <= 64:
        ax.set_yticks(range(hw.n))
        ax.set_yticklabels([f"{c.id} {c.type.dataflow}" for c in hw.chiplets], fontsize=6)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("chiplet")
    ms = sched.makespan * 1e3
    ax.set_xlim(0, ms * 1.01 if ms > 0 else 1)
    ax.set_title(f"{Path(str(cr.input_path)).name or 'schedule'} on {hw.name}: {cr.result.solver}, "
                 f"makespan {fmt_si(sched.makespan, 's')}", fontsize=9)
    ax.legend(handles=[Patch(color=colour[k], label=f"{k[0]} {k[1]}") for k in keys], fontsize=7,
              loc="upper left", bbox_to_anchor=(1.005, 1.0), borderaxespad=0.0,
              ncol=max(1, len(keys) // 24))
    fig.tight_layout()
    fig.savefig(path)
    return None


def _umask() -> int:
    um = os.umask(0)
    os.umask(um)
    return um


# ---- atomic directory writes -------------------------------------------------------------------------------
COMMIT_LOCK = threading.Lock()   # held while finished files move into place (Ctrl-C handling waits for it)
_PENDING: set[Path] = set()      # temporary directories of writes in progress (removed on a hard exit)


def check_output_dir(out_dir: str | os.PathLike) -> Path:
    """Raise `MapcError` when `out_dir` cannot become an output directory: it is an existing regular file, a
    path component is a file, or the nearest existing folder is not writable. Called before a long solve, so
    a bad `-o` costs nothing; `write_dir_atomic` checks again."""
    target = Path(out_dir)
    if target.exists() and not target.is_dir():
        raise MapcError(f"output path {target} exists and is not a directory",
                        hint="pass -o with a directory path (it is created if missing)")
    anc = target.absolute()
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise MapcError(f"cannot create the output directory {target}: {anc} is a file, not a directory",
                        hint="pass -o with a directory path")
    # the files are written beside the target first, so its parent must be writable too
    for d in {anc, target.absolute().parent} if anc == target.absolute() else {anc}:
        if not os.access(d, os.W_OK | os.X_OK):
            raise MapcError(f"cannot write to the output directory {target}: {d} is not writable",
                            hint="pass -o with a directory you can write to")
    return target


def write_dir_atomic(out_dir: str | os.PathLike, build, managed: tuple[str, ...]) -> list[str]:
    """Write a set of files into `out_dir` all at once or not at all.

    `build(tmp)` writes files into a fresh temporary directory beside `out_dir`. Then, under `COMMIT_LOCK`, a
    new `out_dir` is created by one rename; an existing one gets each file moved in with `os.replace`, and the
    `managed` names that `build` did not write this time are removed (stale outputs of an earlier run); other
    files are left alone. On any error (or Ctrl-C) the temporary directory is deleted and `out_dir` is
    untouched; `OSError` becomes `MapcError`. Returns the paths written, in `managed` order.
    """
    target = check_output_dir(out_dir)
    parent = target.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=parent))
    except OSError as e:
        raise MapcError(f"cannot create the output directory {target}: {e.strerror or e}") from None
    _PENDING.add(tmp)
    try:
        build(tmp)
        written = [n for n in managed if (tmp / n).exists()]
        with COMMIT_LOCK:
            if not target.exists():
                os.chmod(tmp, 0o777 & ~_umask())         # mkdtemp makes it 0700; a normal mkdir would not
                os.rename(tmp, target)
            else:
                for n in managed:
                    if n in written:
                        os.replace(tmp / n, target / n)
                    elif (target / n).is_file():
                        (target / n).unlink()
    except OSError as e:
        raise MapcError(f"cannot write outputs to {target}: {e.strerror or e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        _PENDING.discard(tmp)
    return [str(target / n) for n in written]


def abort_pending(timeout: float = 5.0) -> None:
    """Delete the temporary directories of writes in progress; for a hard exit on Ctrl-C. Waits up to
    `timeout` s for a commit in progress to finish (and keeps the lock, so no new one starts)."""
    COMMIT_LOCK.acquire(timeout=timeout)
    for tmp in list(_PENDING):
        shutil.rmtree(tmp, ignore_errors=True)


# ---- writing -----------------------------------------------------------------------------------------------
def write_outputs(out_dir: str | os.PathLike, cr, *, gantt: bool = True, validate: bool = True
                  ) -> tuple[list[str], list[str]]:
    """Write schedule.json, trace.json, tasks.csv, gantt.png (and, when the solver found a latency-energy
    Pareto front, pareto.csv and pareto.png) into `out_dir` atomically (`write_dir_atomic`).

    The document is validated against the schema first (the first `VALIDATE_MAX_RECORDS` tasks and
    transfers). Returns (paths written, notes).
    """
    notes: list[str] = []

    def build(tmp: Path) -> None:
        doc = schedule_document(cr)
        if validate:
            validate_schedule_document(doc, VALIDATE_MAX_RECORDS)
        with open(tmp / "schedule.json", "w", encoding="utf-8") as f:
            # indented while a person may read it; compact (and 10x faster: json's C encoder) above that
            # (json.dumps, not json.dump: only dumps reaches the C encoder)
            f.write(json.dumps(doc, indent=1 if len(doc["tasks"]) <= PRETTY_MAX_TASKS else None, allow_nan=False))
            f.write("\n")
        with open(tmp / "trace.json", "w", encoding="utf-8") as f:
            f.write(json.dumps(trace_document(cr), separators=(",", ":"), allow_nan=False))
        (tmp / "tasks.csv").write_text(tasks_csv(cr), encoding="utf-8")
        if gantt:
            note = render_gantt(cr, tmp / "gantt.png")
            if note:
                notes.append(note)
        else:
            notes.append("gantt.png not drawn (disabled)")
        pts = (cr.result.stats or {}).get("pareto") if isinstance(cr.result.stats, dict) else None
        if pts:                              # cpsat's latency-energy front, written with the rest
            from mapc.solvers.pareto import write_pareto
            write_pareto(pts, tmp)

    return write_dir_atomic(out_dir, build, OUTPUT_FILES + PARETO_FILES), notes


# ---- terminal summary --------------------------------------------------------------------------------------
_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"))


def fmt_si(x: float | None, unit: str, digits: int = 4) -> str:
    """`0.01234, "s"` -> `12.34 ms`; None or non-finite -> `n/a`."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if x == 0:
        return f"0 {unit}"
    a = abs(x)
    for scale, p in _PREFIXES:
        if a >= scale * 0.9995:
            return f"{x / scale:.{digits}g} {p}{unit}"
    return f"{x:.{digits}g} {unit}"


def summary_rows(cr) -> list[tuple[str, str]]:
    """(label, value) rows of the terminal summary, in human units."""
    m, r, g = cr.metrics, cr.result, cr.problem.graph
    meta = g.meta or {}
    rows = [
        ("input", f"{cr.input_path}" if cr.input_path else "(built in memory)"),
        ("hardware", f"{cr.hw.name} ({cr.hw.n} chiplets, {fmt_si(cr.hw.peak_flops, 'FLOP/s')} peak)"),
        ("workload", f"{meta.get('workload', '?')}: {g.n} tasks, {len(g.edges)} edges, "
                     f"{fmt_si(float(g.flops.sum()) if g.n else 0.0, 'FLOP')}"),
        ("solver", f"{r.solver} ({r.status}), objective {cr.problem.objective}"
                   + (f", gap {r.gap:.1%}" if r.gap is not None else "")),
        ("latency (makespan)", fmt_si(m.makespan, "s")),
        ("lower bound", f"{fmt_si(m.bound.value, 's')} (makespan / bound = "
                        + (f"{m.bound_ratio:.3f}x)" if math.isfinite(m.bound_ratio) else "n/a)")),
        ("energy", fmt_si(m.energy, "J")),
        ("EDP", fmt_si(m.edp, "J*s")),
    ]
    if m.tokens:
        rows.append(("throughput", f"{m.throughput:,.1f} tokens/s ({m.tokens} tokens)"))
    if m.requests_per_s:
        rows.append(("requests", f"{m.requests_per_s:,.2f} requests/s"))
    if m.ttft_mean is not None:
        rows.append(("TTFT", f"mean {fmt_si(m.ttft_mean, 's')}, max {fmt_si(m.ttft_max, 's')}"))
    if m.tpot is not None:
        rows.append(("TPOT", fmt_si(m.tpot, "s")))
    rows.append(("utilisation", f"{m.utilisation:.1%}"))
    rows.append(("transfers", f"{len(r.schedule.transfers)}"))
    wall = cr.timings.get("total")
    rows.append(("wall time", f"solver {fmt_si(r.wall_time, 's')}" + (f", total {fmt_si(wall, 's')}" if wall else "")))
    if cr.out_dir:
        rows.append(("output", str(cr.out_dir)))
    for n in cr.notes:
        rows.append(("note", n))
    return rows


def print_summary(cr, console=None) -> None:
    """Print the summary table with rich (to stdout unless `console` says otherwise)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    tab = Table(title="mapc compile", show_header=False, box=None, pad_edge=False)
    tab.add_column(style="bold")
    tab.add_column()
    for k, v in summary_rows(cr):
        tab.add_row(k, v)
    console.print(tab)
