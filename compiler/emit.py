"""Output files of a compile: schedule.json (+ its JSON Schema), trace.json (Perfetto, streamed by
`mapc.compiler.trace`), tasks.csv, gantt.png (`mapc.compiler.plots`), Chakra execution traces (chakra.RANK.et,
`mapc.compiler.chakra`, on request) and, for cpsat, the latency-energy Pareto front (pareto.csv, pareto.png).

`schedule.json` is the contract with downstream simulators: SI units (s, J, B), stable field names, every field
documented in `schedule.schema.json` (shipped next to this module). It holds enough to replay the schedule
alone: the hardware (chiplets, NoP links, DRAM, PIM, static power), every task with its chiplets, times,
residency, dependencies and byte counts, and every transfer with its route.

`write_outputs` is atomic (`mapc.compiler.files.write_dir_atomic`, also used by the other commands): it writes
everything into a temporary directory next to the target, then moves it into place, so an error or Ctrl-C
never leaves a half-written output directory behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Iterator

import jsonschema
import numpy as np

from mapc import __version__
from mapc.compiler import plots
from mapc.compiler.chakra import chakra_files, require_chakra, write_chakra
from mapc.compiler.evaluate import placement_indices
from mapc.compiler.files import jsonable, write_dir_atomic
from mapc.compiler.parallel import describe
from mapc.compiler.result import Result
from mapc.compiler.trace import PID_CHIPLETS, PID_DRAM, PID_LINKS, PID_PIM, TraceTask, TraceTransfer, write_trace
from mapc.core.errors import MapcError
from mapc.core.hardware import Hardware
from mapc.hw.cost import CostModel

SCHEMA_ID = "mapc.schedule/1"
SCHEMA_PATH = Path(__file__).with_name("schedule.schema.json")
FORMATS = {"json": ("schedule.json",), "trace": ("trace.json",), "csv": ("tasks.csv",), "png": ("gantt.png",),
           "chakra": ("chakra.RANK.et",)}     # chakra: one Chakra ET per chiplet (`mapc.compiler.chakra`)
DEFAULT_FORMATS = ("json", "trace", "csv", "png")
OUTPUT_FILES = ("schedule.json", "trace.json", "tasks.csv", "gantt.png")
PARETO_FILES = ("pareto.csv", "pareto.png")  # cpsat with a Pareto front only (with the json / png formats)
PRETTY_MAX_TASKS = 2_000        # schedule.json is indented up to this many tasks, compact above
VALIDATE_MAX_RECORDS = 300      # write_outputs validates at most this many tasks/transfers against the schema
CSV_COLUMNS = ("id", "name", "model", "phase", "microbatch", "step", "layers", "chiplets", "start_s", "end_s",
               "energy_j", "resident")


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The JSON Schema of schedule.json (draft 2020-12)."""
    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return json.load(f)


@lru_cache(maxsize=1)
def _validator() -> Any:
    return jsonschema.Draft202012Validator(load_schema())


def validate_schedule_document(doc: dict[str, Any], max_records: int | None = None) -> None:
    """Raise `MapcError` naming the first schema violation of a schedule document.

    With `max_records`, only the first `max_records` tasks and transfers are checked (jsonschema costs about
    0.4 ms per record; every record is built by the same code, so a sample catches structural mistakes).
    """
    if max_records is not None and (len(doc.get("tasks", ())) > max_records
                                    or len(doc.get("transfers", ())) > max_records):
        doc = {**doc, "tasks": doc["tasks"][:max_records], "transfers": doc["transfers"][:max_records]}
    err = jsonschema.exceptions.best_match(_validator().iter_errors(doc))
    if err is not None:
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        raise MapcError(f"schedule document does not match {SCHEMA_ID}: at {where}: {err.message}")


# ---- schedule.json -----------------------------------------------------------------------------------------
def hardware_summary(hw: Hardware, cost: CostModel | None = None) -> dict[str, Any]:
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


def _dram_bytes(r: Result) -> np.ndarray:
    """[n] DRAM bytes each task moves at its placement and residency (from the cost tables)."""
    cost, sched = r.problem.cost, r.schedule
    n = cost.graph.n
    if n == 0:
        return np.zeros(0)
    res = np.array([t.resident for t in sched.tasks], dtype=bool)
    return cost.part_at("dram_bytes", res, placement_indices(sched, cost))


def _channel_bytes(r: Result) -> np.ndarray:
    """[n, channels] DRAM bytes each task moves through each channel (`CostModel.channel_bytes`)."""
    cost, sched = r.problem.cost, r.schedule
    if cost.graph.n == 0:
        return np.zeros((0, len(r.problem.hw.dram)))
    res = np.array([t.resident for t in sched.tasks], dtype=bool)
    return cost.channel_bytes(placement_indices(sched, cost), res)


def task_records(r: Result) -> list[dict[str, Any]]:
    """Task records with plain Python values (built directly: this is the bulk of a large document)."""
    g, sched = r.problem.graph, r.schedule
    dram = _dram_bytes(r).tolist()
    names = [ch.name for ch in r.problem.hw.dram]
    per_ch = _channel_bytes(r).tolist()
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
            "dram_bytes": float(dram[t.id]),
            "dram_channels": {names[h]: float(b) for h, b in enumerate(per_ch[t.id]) if b > 0}, "in_bytes": float(t.in_bytes), "out_bytes": float(t.out_bytes),
            "kv_read_bytes": float(t.kv_read_bytes), "kv_write_bytes": float(t.kv_write_bytes),
            "batch": int(t.batch), "seq": int(t.seq), "context": int(t.context), "tokens": int(t.tokens),
        })
    return out


def transfer_records(r: Result) -> list[dict[str, Any]]:
    return [{"src_task": int(x.src_task), "dst_task": int(x.dst_task), "src_chiplet": int(x.src_chiplet),
             "dst_chiplet": int(x.dst_chiplet), "bytes": float(x.bytes), "route": [int(c) for c in x.route],
             "start": float(x.start), "end": float(x.end), "energy": float(x.energy), "kind": str(x.kind)}
            for x in r.schedule.transfers]


def solver_record(r: Result) -> dict[str, Any]:
    """The solver part of schedule.json: name, status, objective, proven bound, gap, budget, stats, anytime."""
    s, o = r.solution, r.options
    return {"name": s.solver or "", "status": s.status, "objective": s.objective,
            "objective_name": o.goal, "bound": s.bound, "gap": s.gap, "wall_time": s.wall_time,
            "budget": {"time_limit": o.time_limit, "seed": o.seed, "threads": o.threads,
                       "deterministic": o.deterministic},
            "seed": o.seed, "stats": s.stats.to_dict(), "message": s.message,
            "anytime": [[float(t), float(v)] for t, v in s.trace]}


def proven_bound_record(r: Result) -> dict[str, Any]:
    """The strongest proven makespan bound of the problem as solved (`Result.proven_makespan_bound`), its
    source and makespan / it: the bound the solver's gap and the benchmarks judge a schedule against."""
    b, src = r.proven_makespan_bound
    return {"proven_makespan_bound_s": b, "proven_bound_source": src,
            "makespan_over_proven_bound": r.metrics.makespan / b if b > 0 else None}


def parallel_record(r: Result) -> dict[str, Any]:
    """schedule.json's `parallel` block (`mapc.compiler.parallel.describe`)."""
    cost = r.problem.cost
    return describe(r.problem.plan, cost, placement_indices(r.schedule, cost))


def schedule_document(r: Result) -> dict[str, Any]:
    """The schedule.json document of a `Result` (plain JSON values, non-finite numbers as null in the
    summary parts; task and transfer times of a checked schedule are always finite)."""
    head = jsonable({
        "schema": SCHEMA_ID,
        "mapc_version": __version__,
        "input": {"file": r.source_file, "sha256": r.source_sha256},
        "hardware": hardware_summary(r.problem.hw, r.problem.cost),
        "workload": dict(r.problem.graph.meta),
        "solver": solver_record(r),
        "parallel": parallel_record(r),
        "metrics": {**r.metrics.to_dict(), **proven_bound_record(r)},
    })
    return {**head, "tasks": task_records(r), "transfers": transfer_records(r),
            "units": {"time": "s", "energy": "J", "bytes": "B", "power": "W", "frequency": "Hz",
                      "bandwidth": "B/s", "flops": "FLOP"}}


# ---- trace.json (Chrome trace events / Perfetto, streamed: `mapc.compiler.trace`) ------------------------------
def _trace_tasks(r: Result) -> Iterator[TraceTask]:
    g, sched, cost = r.problem.graph, r.schedule, r.problem.cost
    dram = _dram_bytes(r)
    per_ch = _channel_bytes(r)
    res = np.array([t.resident for t in sched.tasks], dtype=bool)
    pim = cost.part_at("pim", res, placement_indices(sched, cost)) if r.problem.hw.pim and g.n else np.zeros(g.n)
    for t, st in zip(g.tasks, sched.tasks):
        chips = tuple(int(c) for c in st.placement)
        args = {"model": t.model, "phase": t.phase, "microbatch": int(t.microbatch), "step": int(t.step),
                "layers": f"{t.layers[0]}-{t.layers[1]}", "chiplets": list(chips), "energy_j": float(st.energy),
                "resident": bool(st.resident), "dram_bytes": float(dram[t.id])}
        yield TraceTask(int(t.id), t.name, f"{t.model}/{t.phase}", chips, float(st.start), float(st.end),
                        float(dram[t.id]), float(pim[t.id]), args,
                        {h: float(b) for h, b in enumerate(per_ch[t.id]) if b > 0})


def _trace_transfers(r: Result) -> Iterator[TraceTransfer]:
    for x in r.schedule.transfers:
        yield TraceTransfer(int(x.src_task), int(x.dst_task), tuple(int(c) for c in x.route), float(x.start),
                            float(x.end), float(x.bytes), {"route": [int(c) for c in x.route],
                                                           "energy_j": float(x.energy), "kind": str(x.kind)})


def write_trace_file(fh: IO[str], r: Result) -> int:
    """Stream the trace of `r` into `fh` (named tracks per chiplet, NoP link, DRAM channel and PIM unit; see
    `mapc.compiler.trace`); returns the number of events."""
    hw = r.problem.hw
    other = {"mapc_version": __version__, "input": r.source_file, "hardware": hw.name, "solver": r.solution.solver}
    return write_trace(fh, jsonable(hardware_summary(hw, r.problem.cost)), _trace_tasks(r), _trace_transfers(r),
                       other)


def trace_document(r: Result) -> dict[str, Any]:
    """The trace as a dict (parsed back from the streamed text: for small schedules and tests)."""
    buf = io.StringIO()
    write_trace_file(buf, r)
    return json.loads(buf.getvalue())


# ---- tasks.csv ---------------------------------------------------------------------------------------------
def tasks_csv(r: Result) -> str:
    """One row per task; `layers` as first-last, `chiplets` separated by ';', times in s, energy in J."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for t, st in zip(r.problem.graph.tasks, r.schedule.tasks):
        w.writerow([t.id, t.name, t.model, t.phase, t.microbatch, t.step, f"{t.layers[0]}-{t.layers[1]}",
                    ";".join(str(c) for c in st.placement), repr(float(st.start)), repr(float(st.end)),
                    repr(float(st.energy)), int(bool(st.resident))])
    return buf.getvalue()


# ---- writing -----------------------------------------------------------------------------------------------
def parse_formats(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """`"json,trace"` (or a sequence) -> ("json", "trace"); `MapcError` naming an unknown format."""
    items = [x.strip() for x in (text.split(",") if isinstance(text, str) else text) if x.strip()]
    bad = [x for x in items if x not in FORMATS]
    if bad or not items:
        raise MapcError(f"unknown output format(s): {', '.join(bad) or '(none given)'}",
                        hint="--emit takes a comma-separated list of: " + ", ".join(FORMATS))
    return tuple(dict.fromkeys(items))


def write_outputs(out_dir: str | os.PathLike, r: Result, formats: tuple[str, ...] = DEFAULT_FORMATS, *,
                  gantt_max_tasks: int = plots.GANTT_MAX_TASKS, validate: bool = True
                  ) -> tuple[list[str], list[str]]:
    """Write the chosen `formats` (json: schedule.json, trace: trace.json, csv: tasks.csv, png: gantt.png, chakra:
    chakra.RANK.et per chiplet; the cpsat Pareto front goes with json and png) into `out_dir` atomically
    (`write_dir_atomic`).

    schedule.json is validated against the schema first (the first `VALIDATE_MAX_RECORDS` tasks and
    transfers). Returns (paths written, notes).
    """
    formats = parse_formats(formats)
    if "chakra" in formats:
        require_chakra()
    notes: list[str] = []
    pts = [tuple(p) for p in getattr(r.solution.stats, "pareto", ())]

    def build(tmp: Path) -> None:
        if "json" in formats:
            doc = schedule_document(r)
            if validate:
                validate_schedule_document(doc, VALIDATE_MAX_RECORDS)
            with open(tmp / "schedule.json", "w", encoding="utf-8") as f:
                # indented while a person may read it; compact (and 10x faster: json's C encoder) above that
                # (json.dumps, not json.dump: only dumps reaches the C encoder)
                f.write(json.dumps(doc, indent=1 if len(doc["tasks"]) <= PRETTY_MAX_TASKS else None,
                                   allow_nan=False))
                f.write("\n")
            if pts:
                (tmp / "pareto.csv").write_text(pareto_csv(pts), encoding="utf-8")
        if "trace" in formats:
            with open(tmp / "trace.json", "w", encoding="utf-8") as f:
                write_trace_file(f, r)
        if "csv" in formats:
            (tmp / "tasks.csv").write_text(tasks_csv(r), encoding="utf-8")
        if "png" in formats:
            note = plots.render_gantt(r, tmp / "gantt.png", gantt_max_tasks)
            if note:
                notes.append(note)
            if pts:
                plots.render_pareto(pts, tmp / "pareto.png")
        if "chakra" in formats:
            write_chakra(tmp, r)

    managed = OUTPUT_FILES + PARETO_FILES + chakra_files(r.problem.hw.n)
    return write_dir_atomic(out_dir, build, managed), notes


def pareto_csv(points: list[tuple[float, float]]) -> str:
    """makespan_s, energy_j, edp_js rows of a latency-energy front."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["makespan_s", "energy_j", "edp_js"])
    for t, e in points:
        w.writerow([f"{t:.9g}", f"{e:.9g}", f"{t * e:.9g}"])
    return buf.getvalue()
