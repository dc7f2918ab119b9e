"""`mapc simulate SCHEDULE.json`: replay a schedule file alone with NoP-link and DRAM-channel contention
(`mapc.compiler.simulate`), print simulated vs scheduled makespan, the most contended links and channels and
the most delayed tasks, and (with -o) write simulated.json and a trace with named tracks."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from mapc.apps.common import console, nonempty, positive_int, print_json
from mapc.compiler.emit import PID_CHIPLETS, PID_LINKS
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


def trace_document(doc: dict[str, Any], res: SimResult) -> dict[str, Any]:
    """Chrome trace of the replay: one track per chiplet (pid 1) with the simulated task times, one per
    directed link (pid 2) with the simulated transfer times (`ts`/`dur` in microseconds)."""
    us = 1e6
    ev: list[dict[str, Any]] = [{"ph": "M", "pid": PID_CHIPLETS, "tid": 0, "ts": 0, "name": "process_name",
                       "args": {"name": f"chiplets ({doc['hardware']['name']}, simulated)"}},
                      {"ph": "M", "pid": PID_LINKS, "tid": 0, "ts": 0, "name": "process_name",
                       "args": {"name": "NoP links (simulated)"}}]
    for c in doc["hardware"]["chiplets"]:
        ev.append({"ph": "M", "pid": PID_CHIPLETS, "tid": c["id"], "ts": 0, "name": "thread_name",
                   "args": {"name": f"chiplet {c['id']} ({c['x']},{c['y']}) {c['type']}"}})
    for t in doc["tasks"]:
        i = t["id"]
        args = {"task": i, "scheduled_start_s": t["start"], "scheduled_end_s": t["end"],
                "delay_s": res.task_end[i] - t["end"]}
        for c in t["chiplets"]:
            ev.append({"name": t.get("name", str(i)), "cat": f"{t.get('model', '')}/{t.get('phase', '')}", "ph": "X",
                       "pid": PID_CHIPLETS, "tid": c, "ts": res.task_start[i] * us,
                       "dur": (res.task_end[i] - res.task_start[i]) * us, "args": args})
    tids: dict[tuple[int, int], int] = {}
    for j, x in enumerate(doc["transfers"]):
        r = x["route"]
        for u, v in zip(r, r[1:]):
            tid = tids.setdefault((u, v), len(tids))
            ev.append({"name": f"{x['src_task']}->{x['dst_task']}", "cat": "transfer", "ph": "X", "pid": PID_LINKS,
                       "tid": tid, "ts": res.transfer_start[j] * us,
                       "dur": (res.transfer_end[j] - res.transfer_start[j]) * us, "args": {"bytes": x["bytes"]}})
    for (u, v), tid in tids.items():
        ev.append({"ph": "M", "pid": PID_LINKS, "tid": tid, "ts": 0, "name": "thread_name",
                   "args": {"name": f"link {u}->{v}"}})
    return {"traceEvents": ev, "displayTimeUnit": "ms"}


def write_outputs(out_dir: str | os.PathLike[str], doc: dict[str, Any], res: SimResult, source: str = "") -> list[str]:
    """Write simulated.json (`SimResult.to_dict` + the source path) and trace.json atomically into out_dir."""
    def build(tmp: Path) -> None:
        body = {"source": str(source), **res.to_dict()}
        (tmp / "simulated.json").write_text(json.dumps(jsonable(body), indent=1, allow_nan=False) + "\n",
                                            encoding="utf-8")
        (tmp / "trace.json").write_text(json.dumps(jsonable(trace_document(doc, res)), separators=(",", ":"),
                                                   allow_nan=False), encoding="utf-8")

    return write_dir_atomic(out_dir, build, SIM_FILES)
