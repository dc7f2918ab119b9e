"""`mapc cost FILE [--hw HW] [--json]`: the per-operator cost table (`mapc.api.costs`): every distinct operator
shape of the workload on one core of each chiplet type, alone with its operands in DRAM, with the bound that
limits it and its energy by level. A one-layer model on a 1 x 1 grid is a single operator on a single core:
that is how to compare mapc with ZigZag (bench/validate/)."""

from __future__ import annotations

import argparse

from rich import box
from rich.table import Table

from mapc import api
from mapc.apps.common import console, nonempty, positive_int, print_json
from mapc.compiler.report import fmt_si
from mapc.core.errors import EXIT_OK


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=nonempty, help="mapc source file with a workload")
    p.add_argument("--hw", type=nonempty, default=None, help="preset or hardware file (default: the file's own)")
    p.add_argument("--segment", type=positive_int, default=None, metavar="N", help="layers per task")
    p.add_argument("--json", action="store_true", help=f"print one JSON document ({'mapc.cost/1'}) on stdout")


def cli_main(args: argparse.Namespace) -> int:
    spec = api.load(args.file)
    rows = api.costs(spec, args.hw, segment=args.segment)
    hw_name = api.hardware(args.hw, spec).name
    if args.json:
        print_json(api.cost_document(rows, hw_name))
        return EXIT_OK
    t = Table(title=f"operators of {args.file} on {hw_name}, each alone on one core (operands in DRAM)",
              box=box.SIMPLE_HEAD)
    for col in ("operator", "kind", "M x K x N (x count, taps)", "chiplet", "dataflow", "cycles", "latency",
                "util", "bound", "energy", "mac / rf / sram / dram", "count", "attention"):
        t.add_column(col, justify="left" if col in ("operator", "kind", "chiplet", "dataflow", "bound",
                                                     "attention") else "right")
    for r in rows:
        s = r.shape
        dims = f"{s['M']} x {s['K']} x {s['N']}" + (f" x{s['count']}" if s["count"] > 1 else "") \
            + (f" ({s['taps']} taps)" if s["taps"] > 1 else "")
        lv = r.energy_by_level_j
        split = " / ".join(f"{lv[k] / r.energy_j:.0%}" if r.energy_j > 0 else "-" for k in ("mac", "rf", "sram", "dram"))
        t.add_row(r.name, r.kind, dims, r.chiplet, r.dataflow, f"{r.cycles:,.0f}", fmt_si(r.latency_s, "s"),
                  f"{r.utilization:.0%}" if r.utilization else "-", r.bound, fmt_si(r.energy_j, "J"), split,
                  str(r.count), r.attention or "")
    console().print(t)
    return EXIT_OK
