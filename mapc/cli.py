"""The `mapc` command line: compile, check, simulate, policy, compare, bench, explore, presets, models.

`main(argv)` never raises: user errors (`MapcError`) print `file:line:col: error: ...` with the source line and a
caret to stderr and return their exit code; anything else is a bug and returns 70 with a one-line report
(the traceback only with MAPC_DEBUG=1). With `--json` the command prints exactly one JSON document on stdout,
also on error (`{"ok": false, "error": {...}}`). Ctrl-C exits 130 within `INTERRUPT_GRACE_S` and leaves no output
(`sigint_guard`), also while a native solver (CP-SAT) runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import threading
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path

import mapc
from mapc.core.errors import MapcError

EXIT_OK, EXIT_INPUT, EXIT_INFEASIBLE, EXIT_NO_SOLUTION, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 2, 3, 4, 70, 130

EPILOG = """\
exit codes:
  0    success
  2    input error: syntax or meaning error in a source file (file:line:col is printed), unknown preset,
       model, solver or option; nothing is written
  3    infeasible: no schedule exists (the message names the constraint and the numbers)
  4    no schedule found within the time budget (raise --time-limit)
  70   internal error: a bug in mapc (please report it; MAPC_DEBUG=1 prints the traceback)
  130  interrupted (Ctrl-C)

examples:
  mapc compile model.dsl --hw mcm6x6            writes ./model.schedule/
  mapc compile examples/llama2_7b_chat.dsl --hw mcm6x6 --solver greedy -o out/
  mapc check model.dsl
  mapc simulate model.schedule/schedule.json    replay with link/DRAM contention
  mapc policy examples/decode_pim.dsl --hw npu-pim
  mapc explore examples/llama2_7b_chat.dsl --hw mcm6x6 --vary sram=1MiB,2MiB,8MiB --vary link=50GB/s,400GB/s
  mapc presets
  mapc models path/to/config.json
"""


# ---- output helpers ----------------------------------------------------------------------------------------
def _print_json(doc) -> None:
    from mapc.compiler.emit import jsonable
    sys.stdout.write(json.dumps(jsonable(doc), indent=1, allow_nan=False) + "\n")


def _console(stderr: bool = False):
    """A rich console; when piped (no TTY) it is wide enough that tables are never cut to 80 columns."""
    from rich.console import Console
    stream = sys.stderr if stderr else sys.stdout
    tty = hasattr(stream, "isatty") and stream.isatty()
    return Console(file=stream, highlight=False, width=None if tty else 160)


@contextmanager
def _progress(enabled: bool, first: str):
    """A rich status spinner on stderr (only on a TTY); yields a callback that updates its text."""
    if not enabled or not sys.stderr.isatty():
        yield lambda _msg: None
        return
    con = _console(stderr=True)
    with con.status(first) as st:
        yield lambda msg: st.update(msg)


def _positive(kind):
    """argparse type: a finite number > 0 of `kind` (float or int); `inf`, `nan` and 1e400 are refused."""
    def parse(s: str):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {'number' if kind is float else 'whole number'}, got {s!r}")
        if not (v > 0 and math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {s}")
        return v
    return parse


positive_float, positive_int = _positive(float), _positive(int)   # shared with `mapc compare` / `mapc bench`


def nonempty(s: str) -> str:
    """argparse type for paths and names: refuses "" (an unset shell variable, `-o $OUT`), which would
    otherwise mean the current directory."""
    if not s.strip():
        raise argparse.ArgumentTypeError("expected a path or name, got an empty string")
    return s


MAX_SEED = 2**31 - 1      # CP-SAT's random_seed is a 32-bit int; a larger seed crashed the solver
MAX_THREADS = 64          # more workers than this only add memory (CP-SAT at 500 workers: 0.6 GB, 5x the budget)


def _bounded_int(lo: int, hi: int, what: str):
    """argparse type: a whole number in [lo, hi]."""
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}")
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be between {lo} and {hi}, got {s}")
        return v
    return parse


seed_int = _bounded_int(0, MAX_SEED, "a seed")          # seeds: 0 .. 2**31 - 1
threads_int = _bounded_int(1, MAX_THREADS, "the thread count")


# ---- commands ----------------------------------------------------------------------------------------------
def cmd_compile(args) -> int:
    from mapc.compiler import driver, emit
    from mapc.solvers.base import Budget

    budget = Budget(time_limit=args.time_limit, seed=args.seed, threads=args.threads,
                    deterministic=not args.wall_clock)
    emit.check_output_dir(args.out if args.out is not None else driver.default_out_dir(args.file))  # before the solve
    with _progress(not (args.quiet or args.json), f"compiling {args.file}") as progress:
        cr = driver.compile_file(args.file, args.hw, args.solver, budget, args.objective, args.out,
                                 segment=args.segment, progress=progress)
    files = list(dict.fromkeys(cr.files))       # each path once (pareto files may be reported twice)
    if args.json:
        _print_json({
            "ok": True, "command": "compile", "output_dir": cr.out_dir, "files": files,
            "notes": list(cr.notes), "input": {"file": cr.input_path, "sha256": cr.input_sha256},
            "hardware": cr.hw.name, "workload": cr.graph.meta, "solver": emit.solver_record(cr),
            "metrics": cr.metrics.to_dict(), "timings_s": cr.timings,
        })
    elif args.quiet:
        print(cr.out_dir)
    else:
        emit.print_summary(cr, _console())
        print(f"wrote {cr.out_dir}{os.sep} ({', '.join(Path(f).name for f in files)})")
    return EXIT_OK


def cmd_check(args) -> int:
    from mapc.compiler import driver

    spec, hw = driver.load_inputs(args.file, args.hw, required=False)
    report = {"ok": True, "command": "check", "file": str(args.file), "models": sorted(spec.models),
              "workload": None, "tasks": None, "edges": None,
              "hardware": None if hw is None else {"name": hw.name, "chiplets": hw.n}}
    if spec.workload is not None:
        from mapc.compiler.lower import lower
        g = lower(spec, segment=args.segment)
        report.update(workload=spec.workload.name, tasks=g.n, edges=len(g.edges),
                      total_flops=float(g.flops.sum()) if g.n else 0.0)
    if args.json:
        _print_json(report)
        return EXIT_OK
    parts = [f"{len(spec.models)} model(s)"]
    if report["workload"] is not None:
        parts.append(f"workload {report['workload']}: {report['tasks']} tasks, {report['edges']} edges")
    else:
        parts.append("no workload")
    if hw is not None:
        parts.append(f"hardware {hw.name} ({hw.n} chiplets)")
    print(f"ok: {args.file}: " + "; ".join(parts))
    return EXIT_OK


def cmd_simulate(args) -> int:
    """`mapc simulate SCHEDULE.json`: replay with link/DRAM contention, compare with the schedule's makespan."""
    from mapc.compiler import simulate as sim
    from mapc.compiler.emit import check_output_dir, fmt_si

    if args.out is not None:
        check_output_dir(args.out)
        if Path(args.out).resolve() == Path(args.schedule).resolve().parent:
            raise MapcError(f"-o {args.out} is the folder of {args.schedule}: its trace.json would be replaced",
                            hint="pass another directory, e.g. -o sim/")
    doc = sim.load_schedule(args.schedule)
    res = sim.simulate(doc, contention=not args.no_contention)
    files = sim.write_outputs(args.out, doc, res, args.schedule) if args.out is not None else []
    body = res.to_dict(top=args.top)
    if args.json:
        _print_json({"ok": True, "command": "simulate", "schedule": str(args.schedule), "files": files,
                     **{k: v for k, v in body.items() if k not in ("tasks", "transfers", "resources")},
                     "tasks": sorted(body["tasks"], key=lambda r: -r["delay_s"])})
        return EXIT_OK
    from rich import box
    from rich.table import Table
    con = _console()
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


def cmd_policy(args) -> int:
    """`mapc policy FILE --hw HW`: PIM dispatch thresholds per kernel class and decoding width
    (`mapc.compiler.policy.policy_for_file`)."""
    from mapc.compiler import policy as pol_mod

    widths, batches, cmp = (pol_mod._int_list(a) for a in (args.widths, args.batches, args.compare))
    if args.out is not None:
        from mapc.compiler.emit import check_output_dir
        check_output_dir(args.out)
    with _progress(not args.json, f"reading {args.file}") as progress:
        pol, rows, files = pol_mod.policy_for_file(args.file, args.hw, args.out, model=args.model, widths=widths,
                                                   batches=batches, compare_batches=cmp, progress=progress)
    if args.json:
        _print_json({"ok": True, "command": "policy", "files": files, "policy": pol.to_dict(), "comparison": rows})
        return EXIT_OK
    from rich import box
    from rich.table import Table
    classes = list(dict.fromkeys(r.op_class for r in pol.rules))
    t = Table(title=f"{pol.model} on {pol.hardware}: run on PIM while batch < N", box=box.SIMPLE_HEAD)
    t.add_column("width", justify="right")
    for c in classes:
        t.add_column(c, justify="right")
    for w in pol.widths:
        th = {r.op_class: r for r in pol.rules if r.width == w}
        t.add_row(str(w), *(str(th[c].pim_below_batch) + ("" if th[c].monotone else "*") if c in th else "-"
                            for c in classes))
    _console().print(t)
    if any(not r.monotone for r in pol.rules):
        print("* not monotone in batch: see pim_batches in policy.json")
    if rows:
        print(f"decode step, width 1: dynamic vs all-on-NPU x{pol_mod.geomean(r['speedup_vs_npu'] for r in rows):.2f},"
              f" vs all-on-PIM x{pol_mod.geomean(r['speedup_vs_pim'] for r in rows):.2f} (geomean over batches "
              f"{','.join(str(r['batch']) for r in rows)})")
    print("wrote " + ", ".join(files))
    return EXIT_OK


def cmd_presets(args) -> int:
    from mapc.hw import presets

    descs = [presets.describe(presets.get(name)) for name in presets.PRESETS]
    if args.json:
        _print_json({"ok": True, "command": "presets", "presets": descs})
        return EXIT_OK
    from rich import box
    from rich.table import Table
    tab = Table(title="hardware presets (mapc compile --hw NAME)", box=box.SIMPLE_HEAD)
    for col in ("name", "grid", "chiplets", "PEs", "TFLOP/s", "SRAM MiB", "DRAM GB/s", "link GB/s", "PIM"):
        tab.add_column(col, justify="left" if col in ("name", "types") else "right", no_wrap=col != "types")
    for d in descs:
        types = "+".join(f"{t['count']}{t['dataflow']}" for t in d["types"].values())
        pes = ",".join(dict.fromkeys(f"{t['pes'][0]}x{t['pes'][1]}" for t in d["types"].values()))
        tab.add_row(d["name"], f"{d['grid'][0]}x{d['grid'][1]}", types, pes, f"{d['peak_flops'] / 1e12:,.1f}",
                    f"{d['sram_total_bytes'] / 2**20:,.0f}", f"{d['dram_bandwidth'] / 1e9:,.0f}",
                    f"{d['nop']['link_bw'] / 1e9:,.0f}", str(len(d["pim"])) if d["pim"] else "-")
    _console().print(tab)
    return EXIT_OK


def _model_record(name: str, m) -> dict:
    from mapc.dsl import zoo
    from mapc.core.spec import CNNModel
    rec = {"name": name, "kind": "cnn" if isinstance(m, CNNModel) else "transformer",
           "dtype": getattr(m, "dtype", None), "params": int(zoo.param_count(m)),
           "weight_bytes": float(zoo.weight_bytes(m))}
    if rec["kind"] == "cnn":
        rec["layers"] = len(m.layers)
    else:
        for k in ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab", "experts", "top_k", "encoder_only"):
            rec[k] = getattr(m, k, None)
    return rec


def _count(n: int) -> str:
    """6738415616 -> '6.74B', 25557032 -> '25.6M' (parameter counts, not bytes)."""
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def cmd_models(args) -> int:
    from mapc.dsl import zoo

    if args.path is not None:
        from mapc.dsl.hfconfig import load_hf_config
        if not Path(args.path).is_file():
            raise MapcError(f"{'not a file' if Path(args.path).exists() else 'no such file'}: {args.path}",
                            hint="give the path of a Hugging Face config.json, or no path to list the model zoo")
        m = load_hf_config(args.path)
        recs = [_model_record(m.name, m)]
    else:
        recs = [_model_record(name, m) for name, m in zoo.MODELS.items()]
    if args.json:
        _print_json({"ok": True, "command": "models", "models": recs})
        return EXIT_OK
    from rich.table import Table
    tab = Table(title="models" if args.path is None else f"model from {args.path}")
    for col in ("name", "kind", "layers", "hidden", "heads", "kv", "ffn", "experts", "params", "weights"):
        tab.add_column(col, justify="left" if col in ("name", "kind") else "right")
    dash = lambda v: "-" if v in (None, 0) else str(v)
    for r in recs:
        moe = f"{r['experts']} (top {r['top_k']})" if r.get("experts") else "-"
        tab.add_row(r["name"], r["kind"], dash(r.get("layers")), dash(r.get("hidden")), dash(r.get("heads")),
                    dash(r.get("kv_heads")), dash(r.get("ffn")), moe, _count(r["params"]),
                    f"{r['weight_bytes'] / 1e9:.2f} GB")
    _console().print(tab)
    return EXIT_OK


# ---- Ctrl-C ------------------------------------------------------------------------------------------------
INTERRUPT_GRACE_S = 2.0   # after Ctrl-C, how long the main thread has to unwind before a hard exit


@contextmanager
def sigint_guard(grace: float = INTERRUPT_GRACE_S):
    """Make Ctrl-C stop the command promptly with exit 130 and no output, also inside a native solver.

    CP-SAT installs its own SIGINT handler during a solve (it stops the search and returns a schedule as if
    the time ran out, then resets SIGINT to the default), so Python's KeyboardInterrupt would never be seen
    and the run would finish and write its files. Instead, SIGINT is blocked in every thread and a watcher
    thread takes it with `sigwait`: it raises KeyboardInterrupt in the main thread (never in the middle of
    moving output files into place: it waits for `emit.COMMIT_LOCK`), and if the main thread is still busy in
    native code `grace` seconds later, it deletes the temporary output directories and exits with 130.
    Only active in the main thread with Python's default SIGINT handler (not when SIGINT is ignored).
    """
    if (threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask")
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    import _thread

    # block first, then import: NumPy's BLAS threads started by the imports below inherit the blocked mask
    # (a thread that does not block SIGINT would receive it and run CP-SAT's handler there, which aborts)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    done = threading.Event()

    def watch() -> None:
        signal.sigwait({signal.SIGINT})
        if done.is_set():
            return
        emit = sys.modules.get("mapc.compiler.emit")      # None when nothing can be writing yet
        got = emit is not None and emit.COMMIT_LOCK.acquire(timeout=grace)
        try:
            _thread.interrupt_main()
        finally:
            if got:
                emit.COMMIT_LOCK.release()
        if not done.wait(grace):             # stuck in native code: clean up and leave
            if emit is not None:
                emit.abort_pending(timeout=grace)
            try:
                sys.stderr.write("interrupted\n")
                sys.stderr.flush()
            finally:
                os._exit(EXIT_INTERRUPTED)

    watcher = threading.Thread(target=watch, name="mapc-sigint", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        if watcher.is_alive():
            try:
                signal.pthread_kill(watcher.ident, signal.SIGINT)    # wakes sigwait; the watcher then returns
            except (ProcessLookupError, OSError):
                pass
            watcher.join(1.0)
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


# ---- parser ------------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors with exit 2 by raising instead of calling sys.exit directly."""

    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_INPUT)


def build_parser() -> argparse.ArgumentParser:
    from mapc.compiler.driver import DEFAULT_SOLVER, OBJECTIVES

    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(prog="mapc", description="mapc: a scheduling compiler for AI workloads on multi-chiplet modules, "
                                         "multi-core NPUs and PIM systems.", epilog=EPILOG, formatter_class=fmt)
    p.add_argument("--version", action="version", version=f"mapc {mapc.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    c = sub.add_parser("compile", help="schedule a workload and write schedule.json, trace.json, tasks.csv, gantt.png",
                       description="Compile FILE (any name or extension) to a schedule. Without -o the outputs go "
                                   "to ./<stem>.schedule/ in the current directory (model.dsl -> ./model.schedule/); "
                                   "the path is printed. An existing output directory is updated in place (mapc's "
                                   "files are replaced, other files are left alone).",
                       epilog=EPILOG, formatter_class=fmt)
    c.add_argument("file", type=nonempty, help="mapc source file")
    c.add_argument("--hw", type=nonempty, help="hardware: a preset name (see `mapc presets`), a file with a hardware block, or a "
                                "hardware block name of FILE; default: FILE's own hardware block")
    c.add_argument("--solver", default=DEFAULT_SOLVER, help=f"solver name (default {DEFAULT_SOLVER})")
    c.add_argument("-o", "--out", type=nonempty, metavar="DIR", help="output directory (default ./<stem>.schedule/)")
    c.add_argument("--objective", choices=OBJECTIVES, default="edp", help="what to minimise (default edp)")
    c.add_argument("--time-limit", type=positive_float, default=10.0, metavar="S",
                   help="solver wall-time budget in seconds (default 10)")
    c.add_argument("--threads", type=threads_int, default=2, metavar="N",
                   help="solver threads (default 2; cpsat uses them with --wall-clock)")
    c.add_argument("--seed", type=seed_int, default=0, metavar="N", help="random seed (default 0)")
    c.add_argument("--wall-clock", action="store_true",
                   help="stop solvers on wall time and let cpsat run --threads parallel workers: often better "
                        "within the budget, but the schedule may differ between runs (default: deterministic)")
    c.add_argument("--segment", type=positive_int, default=None, metavar="N",
                   help="layers per task (default: the file's `parallel` setting, else 1)")
    c.add_argument("--json", action="store_true", help="print one JSON document on stdout instead of the table")
    c.add_argument("-q", "--quiet", action="store_true", help="print only the output directory")
    c.set_defaults(func=cmd_compile)

    k = sub.add_parser("check", help="parse and validate a file (and lower its workload); writes nothing",
                       epilog=EPILOG, formatter_class=fmt)
    k.add_argument("file", type=nonempty, help="mapc source file")
    k.add_argument("--hw", type=nonempty, help="also validate against this hardware (preset name or file)")
    k.add_argument("--segment", type=positive_int, default=None, metavar="N", help="layers per task")
    k.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    k.set_defaults(func=cmd_check)

    r = sub.add_parser("presets", help="list the built-in hardware presets", epilog=EPILOG, formatter_class=fmt)
    r.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    r.set_defaults(func=cmd_presets)

    m = sub.add_parser("models", help="list the model zoo, or describe a Hugging Face config.json",
                       epilog=EPILOG, formatter_class=fmt)
    m.add_argument("path", nargs="?", default=None, type=nonempty, metavar="PATH/config.json",
                   help="a Hugging Face config.json (read locally)")
    m.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    m.set_defaults(func=cmd_models)

    sm = sub.add_parser("simulate", help="replay a schedule.json with NoP link and DRAM contention",
                        description="Replay SCHEDULE (a schedule.json written by `mapc compile`, read alone) as a "
                                    "discrete-event simulation in which transfers share NoP links and tasks share "
                                    "DRAM channels (max-min fair), and compare its makespan with the schedule's.",
                        epilog=EPILOG, formatter_class=fmt)
    sm.add_argument("schedule", type=nonempty, metavar="SCHEDULE.json", help="schedule.json from `mapc compile`")
    sm.add_argument("-o", "--out", type=nonempty, metavar="DIR", help="also write simulated.json and trace.json here")
    sm.add_argument("--top", type=positive_int, default=10, metavar="N", help="rows of the tables (default 10)")
    sm.add_argument("--no-contention", action="store_true",
                    help="give every flow its full bandwidth (the solvers' model; reproduces the schedule)")
    sm.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    sm.set_defaults(func=cmd_simulate)

    po = sub.add_parser("policy", help="PIM dispatch policy: per kernel class and width, the batch below which it "
                                       "runs on PIM (policy.json)", epilog=EPILOG, formatter_class=fmt)
    po.add_argument("file", type=nonempty, help="mapc source file serving a decoder model")
    po.add_argument("--hw", type=nonempty, help="preset or hardware file (default: the file's hardware block)")
    po.add_argument("-o", "--out", type=nonempty, metavar="DIR", help="output directory (default ./<stem>.policy/)")
    po.add_argument("--model", default=None, help="served model to sweep (default: the first decoder)")
    po.add_argument("--widths", default="1..8", help="decoding widths, e.g. 1..8 or 1,2,4 (default 1..8)")
    po.add_argument("--batches", default="1..256", help="batch sizes swept (default 1..256)")
    po.add_argument("--compare", default="1,2,4,8,16,32,64,128,256", help="batches of the dispatch comparison")
    po.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    po.set_defaults(func=cmd_policy)

    from mapc.compiler import bench, compare          # compare/bench own their arguments and commands
    cp = sub.add_parser("compare", help="run several solvers with one budget: table, compare.csv/json, anytime.png",
                        epilog=EPILOG, formatter_class=fmt)
    compare.add_arguments(cp)
    cp.set_defaults(func=compare.cli_main)
    bp = sub.add_parser("bench", help="run the fixed suite (examples x presets x solvers): bench/results.csv, .md",
                        epilog=EPILOG, formatter_class=fmt)
    bench.add_arguments(bp)
    bp.set_defaults(func=bench.cli_main)
    from mapc.compiler import explore
    ep = sub.add_parser("explore", help="hardware design-space sweep (--vary KEY=V1,V2): table, explore.csv/json/png",
                        epilog=EPILOG, formatter_class=fmt)
    explore.add_arguments(ep)
    ep.set_defaults(func=explore.cli_main)
    return p


def _error_doc(e: MapcError) -> dict:
    loc = e.loc
    return {"ok": False, "error": {"message": e.message, "kind": type(e).__name__, "exit_code": e.exit_code,
                                   "file": loc.file if loc else None, "line": loc.line if loc else None,
                                   "col": loc.col if loc else None, "hint": e.hint, "rendered": e.render()}}


def main(argv: list[str] | None = None) -> int:
    """Run the mapc command line; returns the exit code (see EPILOG)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        with sigint_guard():                 # first: before any import starts a thread
            return _run(argv)
    except KeyboardInterrupt:                # Ctrl-C while parsing arguments
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:                  # --help / --version (0) or a usage error (2)
        return e.code if isinstance(e.code, int) else EXIT_INPUT
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_INPUT
    want_json = getattr(args, "json", False)
    try:
        return args.func(args)
    except MapcError as e:
        print(e.render(), file=sys.stderr)
        if want_json:
            _print_json(_error_doc(e))
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        if want_json:
            _print_json({"ok": False, "error": {"message": "interrupted", "kind": "Interrupted",
                                                "exit_code": EXIT_INTERRUPTED}})
        return EXIT_INTERRUPTED
    except MemoryError:                      # a problem too large for this machine (nothing was written)
        e = MapcError("out of memory: the problem is too large for this machine",
                      hint="fewer micro-batches, requests or chiplets, or a coarser --segment (more layers per task)")
        print(e.render(), file=sys.stderr)
        if want_json:
            _print_json(_error_doc(e))
        return EXIT_INPUT
    except BrokenPipeError:                  # `mapc presets | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except Exception as e:                   # a bug, never the user's fault
        if os.environ.get("MAPC_DEBUG") == "1":
            traceback.print_exc()
        print(f"internal error: {type(e).__name__}: {e}", file=sys.stderr)
        print("this is a bug in mapc: please report it with the command and input file "
              "(set MAPC_DEBUG=1 to print the traceback)", file=sys.stderr)
        if want_json:
            _print_json({"ok": False, "error": {"message": f"internal error: {type(e).__name__}: {e}",
                                                "kind": "InternalError", "exit_code": EXIT_INTERNAL}})
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
