"""`mapc compile` (schedule and write the outputs) and `mapc check` (every check of compile, no solve)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mapc import api
from mapc.apps.common import add_budget_arguments, console, nonempty, options_from, positive_int, print_json, progress
from mapc.compiler.emit import FORMATS, parse_formats, solver_record
from mapc.compiler.report import print_summary
from mapc.core.errors import EXIT_OK
from mapc.core.options import DEFAULT_SOLVER


def add_compile_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("file", type=nonempty, help="mapc source file")
    c.add_argument("--hw", type=nonempty, help="hardware: a preset name (see `mapc presets`), a file with a hardware "
                                               "block, a ZigZag core or Stream accelerator YAML, or a hardware block "
                                               "name of FILE; default: FILE's own block")
    c.add_argument("--solver", default=DEFAULT_SOLVER, help=f"solver name (default {DEFAULT_SOLVER})")
    c.add_argument("-o", "--out", type=nonempty, metavar="DIR", help="output directory (default ./<stem>.schedule/)")
    add_budget_arguments(c)
    c.add_argument("--segment", type=positive_int, default=None, metavar="N",
                   help="layers per task (default: the file's `parallel` setting, else 1)")
    c.add_argument("--emit", default=",".join(api.DEFAULT_FORMATS), metavar="FORMATS",
                   help=f"outputs to write, comma-separated from {', '.join(FORMATS)} (default: "
                        f"{','.join(api.DEFAULT_FORMATS)}; chakra: one Chakra ET per chiplet, needs mlc-chakra)")
    c.add_argument("--json", action="store_true", help="print one JSON document on stdout instead of the table")
    c.add_argument("-q", "--quiet", action="store_true", help="print only the output directory")


def cmd_compile(args: argparse.Namespace) -> int:
    out = args.out if args.out is not None else api.default_out_dir(args.file)
    formats = parse_formats(args.emit)
    with progress(not (args.quiet or args.json), f"compiling {args.file}") as step:
        r = api.compile(args.file, args.hw, options_from(args), out, formats=formats, segment=args.segment,
                        progress=step)
    if args.json:
        print_json({
            "ok": True, "command": "compile", "output_dir": r.out_dir, "files": list(r.files),
            "notes": list(r.notes), "input": {"file": r.source_file, "sha256": r.source_sha256},
            "hardware": r.problem.hw.name, "workload": r.problem.graph.meta, "solver": solver_record(r),
            "metrics": r.metrics.to_dict(), "timings_s": r.timings,
        })
    elif args.quiet:
        print(r.out_dir)
    else:
        print_summary(r, console())
        print(f"wrote {Path(r.out_dir or os.curdir)}{os.sep} ({', '.join(Path(f).name for f in r.files)})")
    return EXIT_OK


def add_check_arguments(k: argparse.ArgumentParser) -> None:
    k.add_argument("file", type=nonempty, help="mapc source file")
    k.add_argument("--hw", type=nonempty, help="also validate against this hardware (preset name or file)")
    k.add_argument("--segment", type=positive_int, default=None, metavar="N", help="layers per task")
    k.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def cmd_check(args: argparse.Namespace) -> int:
    rep = api.check(api.load(args.file), args.hw, segment=args.segment)
    if args.json:
        print_json({"ok": True, "command": "check", **rep.to_dict(), "file": str(args.file)})
        return EXIT_OK
    parts = [f"{len(rep.models)} model(s)"]
    parts.append(f"workload {rep.workload}: {rep.tasks} tasks, {rep.edges} edges" if rep.workload is not None
                 else "no workload")
    parts.append(f"hardware {rep.hardware.name} ({rep.hardware.n} chiplets)" if rep.hardware is not None
                 else "no hardware (pass --hw to check memory and parallel degrees against one)")
    print(f"ok: {args.file}: " + "; ".join(parts))
    return EXIT_OK
