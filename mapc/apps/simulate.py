"""`mapc simulate SCHEDULE.json`: replay a schedule file alone with NoP-link and DRAM-channel contention
(`mapc.compiler.simulate`), print simulated vs scheduled makespan, the most contended links and channels and
the most delayed tasks, and (with -o) write simulated.json and a trace with named tracks."""

from __future__ import annotations

import argparse
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from rich import box
from rich.table import Table

from mapc.apps.common import console, nonempty, positive_int, print_json
from mapc.compiler.trace import TraceTask, TraceTransfer, write_trace
from mapc.compiler.files import check_output_dir, jsonable, write_dir_atomic
from mapc.compiler.report import fmt_si
from mapc.compiler.schedule_file import load_schedule
from mapc.compiler.simulate import SimResult, simulate
from mapc.core.errors import EXIT_OK, MapcError


def add_arguments(sm: argparse.ArgumentParser) -> None:
    sm.add_argument("schedule", type=nonempty, metavar="SCHEDULE.json", help="schedule.json from `mapc compile`")
    sm.add_argument("-o", "--out", type=nonempty, metavar="DIR", help="also write simulated.json and trace.json here")
    sm.add_argument("--top", type=positive_int, default=10, metavar="N", help="rows of the tables (default 10)")
    sm.add_argument("--no-contention", action="store_true",
                    help="give every flow its full bandwidth (the solvers' model; reproduces the schedule)")
    sm.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def cmd_simulate(args: argparse.Namespace) -> int:
    """`mapc simulate SCHEDULE.json`: replay with link/DRAM contention, compare with the schedule's makespan."""
    if args.out is not None:
        check_output_dir(args.out)
        if Path(args.out).resolve() == Path(args.schedule).resolve().parent:
            raise MapcError(f"-o {args.out} is the folder of {args.schedule}: its trace.json would be replaced",
                            hint="pass another directory, e.g. -o sim/")
    doc = load_schedule(args.schedule)
    res = simulate(doc, contention=not args.no_contention)
    files = write_outputs(args.out, doc, res, args.schedule) if args.out is not None else []
    body = res.to_dict(top=args.top)
    if args.json:
        print_json({"ok": True, "command": "simulate", "schedule": str(args.schedule), "files": files,
                     **{k: v for k, v in body.items() if k not in ("tasks", "transfers", "resources")},
                     "tasks": sorted(body["tasks"], key=lambda r: -r["delay_s"])})
        return EXIT_OK
    con = console()
    head = Table(title=f"mapc simulate {args.schedule}", show_header=False, box=None, pad_edge=False)
    head.add_column(style="bold")
    head.add_column()
    head.add_row("hardware", f"{doc['hardware']['name']} ({len(doc['hardware']['chiplets'])} chiplets), "
                             f"{len(doc['tasks'])} tasks, {len(doc['transfers'])} transfers")
    head.add_row("scheduled makespan", fmt_si(res.schedule_makespan, "s"))
    head.add_row("simulated makespan", f"{fmt_si(res.makespan, 's')} ({res.slowdown:.4f}x"
                                       + (", contention off)" if args.no_contention else ")"))
    head.add_row("tasks delayed", f"{body['tasks_delayed']} (max {fmt_si(body['max_task_delay_s'], 's')}, "
                                  f"max stretch {body['max_stretch']:.3f}x)")
    con.print(head)
    top = res.contended(args.top)
    if top:
        t = Table(title="most contended links / DRAM channels", box=box.SIMPLE_HEAD)
        for col in ("resource", "kind", "peak util", "mean util", "busy", "shared", "max flows", "bytes"):
            t.add_column(col, justify="left" if col in ("resource", "kind") else "right")
        for r in top:
            t.add_row(r.name, r.kind, f"{r.peak_utilisation:.1%}", f"{r.mean_utilisation:.1%}", fmt_si(r.busy_s, "s"),
                      fmt_si(r.shared_s, "s"), str(r.max_flows), fmt_si(r.bytes, "B"))
        con.print(t)
    else:
        print("no link or DRAM channel was shared by two flows at once")
    rows = sorted((r for r in body["tasks"] if r["delay_s"] > 0), key=lambda r: -r["delay_s"])[:args.top]
    if rows:
        t = Table(title=f"most delayed tasks (of {body['tasks_delayed']})", box=box.SIMPLE_HEAD)
        for col in ("task", "name", "scheduled end", "simulated end", "delay", "stretch"):
            t.add_column(col, justify="left" if col == "name" else "right")
        for r in rows:
            t.add_row(str(r["id"]), r["name"], fmt_si(r["end"], "s"), fmt_si(r["sim_end"], "s"),
                      fmt_si(r["delay_s"], "s"), f"{r['stretch']:.3f}x")
        con.print(t)
    if files:
        print(f"wrote {', '.join(files)}")
    return EXIT_OK


# ---- outputs ---------------------------------------------------------------------------------------------
SIM_FILES = ("simulated.json", "trace.json")


def _sim_tasks(doc: dict[str, Any], res: SimResult) -> Iterator[TraceTask]:
    index = {ch["name"]: h for h, ch in enumerate(doc["hardware"]["dram"])}
    for t in doc["tasks"]:
        i = t["id"]
        args = {"scheduled_start_s": t["start"], "scheduled_end_s": t["end"], "delay_s": res.task_end[i] - t["end"],
                "chiplets": t["chiplets"]}
        yield TraceTask(i, t.get("name", str(i)), f"{t.get('model', '')}/{t.get('phase', '')}", tuple(t["chiplets"]),
                        res.task_start[i], res.task_end[i], float(t.get("dram_bytes", 0.0)), 0.0, args,
                        {index[k]: float(b) for k, b in t["dram_channels"].items()} if "dram_channels" in t else None)


def _sim_transfers(doc: dict[str, Any], res: SimResult) -> Iterator[TraceTransfer]:
    for j, x in enumerate(doc["transfers"]):
        yield TraceTransfer(x["src_task"], x["dst_task"], tuple(x["route"]), res.transfer_start[j],
                            res.transfer_end[j], float(x["bytes"]), {"route": x["route"], "kind": x.get("kind", "act")})


def write_trace_file(fh: IO[str], doc: dict[str, Any], res: SimResult) -> int:
    """Stream the replay's trace (`mapc.compiler.trace`: named tracks per chiplet with the simulated task times,
    per directed NoP link with the simulated transfer times, per DRAM channel with the bandwidth drawn, and the PIM
    units of the hardware); returns the number of events."""
    return write_trace(fh, doc["hardware"], _sim_tasks(doc, res), _sim_transfers(doc, res),
                       {"source": "mapc simulate", "hardware": doc["hardware"]["name"]}, label="simulated")


def trace_document(doc: dict[str, Any], res: SimResult) -> dict[str, Any]:
    """The replay's trace as a dict (parsed back from the streamed text)."""
    buf = io.StringIO()
    write_trace_file(buf, doc, res)
    return json.loads(buf.getvalue())


def write_outputs(out_dir: str | os.PathLike[str], doc: dict[str, Any], res: SimResult, source: str = "") -> list[str]:
    """Write simulated.json (`SimResult.to_dict` + the source path) and trace.json atomically into out_dir."""
    def build(tmp: Path) -> None:
        body = {"source": str(source), **res.to_dict()}
        (tmp / "simulated.json").write_text(json.dumps(jsonable(body), indent=1, allow_nan=False) + "\n",
                                            encoding="utf-8")
        with open(tmp / "trace.json", "w", encoding="utf-8") as f:
            write_trace_file(f, doc, res)

    return write_dir_atomic(out_dir, build, SIM_FILES)
