"""The `mapc` command line: compile, check, compare, bench, simulate, policy, explore, presets, models.

Each command lives in `mapc.apps` (its arguments and its `cmd_*`/`cli_main`) and runs the pipeline through
`mapc.api`. `main(argv)` never raises: user errors (`MapcError`) print `file:line:col: error: ...` with the source
line and a caret to stderr and return their exit code; anything else is a bug and returns 70 with a one-line
report (the traceback only with MAPC_DEBUG=1). With `--json` the command prints exactly one JSON document on
stdout, also on error (`{"ok": false, "error": {...}}`). Ctrl-C exits 130 within `INTERRUPT_GRACE_S` and leaves no
output (`sigint_guard`), also while a native solver (CP-SAT) runs.
"""

from __future__ import annotations

import _thread
import argparse
import os
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from typing import Iterator

import mapc
from mapc.apps import bench, catalog, compare, explore, policy, simulate
from mapc.apps import compile as compile_app
from mapc.apps.common import print_json
from mapc.compiler import files as output_files
from mapc.core.errors import EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, MapcError

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


# ---- Ctrl-C ------------------------------------------------------------------------------------------------
INTERRUPT_GRACE_S = 2.0   # after Ctrl-C, how long the main thread has to unwind before a hard exit


@contextmanager
def sigint_guard(grace: float = INTERRUPT_GRACE_S) -> Iterator[None]:
    """Make Ctrl-C stop the command promptly with exit 130 and no output, also inside a native solver.

    CP-SAT installs its own SIGINT handler during a solve (it stops the search and returns a schedule as if
    the time ran out, then resets SIGINT to the default), so Python's KeyboardInterrupt would never be seen
    and the run would finish and write its files. Instead, SIGINT is blocked in every thread and a watcher
    thread takes it with `sigwait`: it raises KeyboardInterrupt in the main thread (never in the middle of
    moving output files into place: it waits for `mapc.compiler.files.COMMIT_LOCK`), and if the main thread is still busy in
    native code `grace` seconds later, it deletes the temporary output directories and exits with 130.
    Only active in the main thread with Python's default SIGINT handler (not when SIGINT is ignored).
    """
    if (threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask")
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    # block first, then import: NumPy's BLAS threads started by the imports below inherit the blocked mask
    # (a thread that does not block SIGINT would receive it and run CP-SAT's handler there, which aborts)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    done = threading.Event()

    def watch() -> None:
        signal.sigwait({signal.SIGINT})
        if done.is_set():
            return
        got = output_files.COMMIT_LOCK.acquire(timeout=grace)
        try:
            _thread.interrupt_main()
        finally:
            if got:
                output_files.COMMIT_LOCK.release()
        if not done.wait(grace):             # stuck in native code: clean up and leave
            output_files.abort_pending(timeout=grace)
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


COMMANDS = (
    # name, help, add_arguments, run, description
    ("compile", "schedule a workload and write schedule.json, trace.json, tasks.csv, gantt.png",
     compile_app.add_compile_arguments, compile_app.cmd_compile,
     "Compile FILE (any name or extension) to a schedule. Without -o the outputs go to ./<stem>.schedule/ in the "
     "current directory (model.dsl -> ./model.schedule/); the path is printed. An existing output directory is "
     "updated in place (mapc's files are replaced, other files are left alone)."),
    ("check", "parse and validate a file (and lower its workload); writes nothing",
     compile_app.add_check_arguments, compile_app.cmd_check,
     "Every check `mapc compile` makes, without solving: the same input gets the same verdict."),
    ("presets", "list the built-in hardware presets", catalog.add_presets_arguments, catalog.cmd_presets, None),
    ("models", "list the model zoo, or describe a Hugging Face config.json", catalog.add_models_arguments,
     catalog.cmd_models, None),
    ("simulate", "replay a schedule.json with NoP link and DRAM contention", simulate.add_arguments,
     simulate.cmd_simulate,
     "Replay SCHEDULE (a schedule.json written by `mapc compile`, read alone) as a discrete-event simulation in "
     "which transfers share NoP links and tasks share DRAM channels (max-min fair), and compare its makespan "
     "with the schedule's."),
    ("policy", "PIM dispatch policy: per kernel class and width, the batch below which it runs on PIM "
               "(policy.json)", policy.add_arguments, policy.cli_main, None),
    ("compare", "run several solvers with one budget: table, compare.csv/json, anytime.png", compare.add_arguments,
     compare.cli_main, None),
    ("bench", "run the fixed suite (examples x presets x solvers): results.csv, results.md", bench.add_arguments,
     bench.cli_main, None),
    ("explore", "hardware design-space sweep (--vary KEY=V1,V2): table, explore.csv/json/png",
     explore.add_arguments, explore.cli_main, None),
)


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = _Parser(prog="mapc", description="mapc: a scheduling compiler for AI workloads on multi-chiplet modules, "
                                         "multi-core NPUs and PIM systems.", epilog=EPILOG, formatter_class=fmt)
    p.add_argument("--version", action="version", version=f"mapc {mapc.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_, add, run, description in COMMANDS:
        sp = sub.add_parser(name, help=help_, description=description, epilog=EPILOG, formatter_class=fmt)
        add(sp)
        sp.set_defaults(func=run)
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
            print_json(_error_doc(e))
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        if want_json:
            print_json({"ok": False, "error": {"message": "interrupted", "kind": "Interrupted",
                                                "exit_code": EXIT_INTERRUPTED}})
        return EXIT_INTERRUPTED
    except MemoryError:                      # a problem too large for this machine (nothing was written)
        e = MapcError("out of memory: the problem is too large for this machine",
                      hint="fewer micro-batches, requests or chiplets, or a coarser --segment (more layers per task)")
        print(e.render(), file=sys.stderr)
        if want_json:
            print_json(_error_doc(e))
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
            print_json({"ok": False, "error": {"message": f"internal error: {type(e).__name__}: {e}",
                                                "kind": "InternalError", "exit_code": EXIT_INTERNAL}})
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
