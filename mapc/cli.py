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
import json
import os
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from typing import Any, Iterator

from mapc.compiler import files as output_files
from mapc.compiler.files import jsonable
from mapc.core.errors import EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, MapcError

# This module imports nothing that starts threads (no NumPy): `main` blocks SIGINT in every thread first, and
# only then imports the commands (`mapc.apps.commands`), so that the BLAS threads NumPy starts inherit the mask.

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
        if watcher.is_alive() and watcher.ident is not None:     # (a started thread always has an ident)
            try:
                signal.pthread_kill(watcher.ident, signal.SIGINT)    # wakes sigwait; the watcher then returns
            except (ProcessLookupError, OSError):
                pass
            watcher.join(1.0)
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


# ---- parser ------------------------------------------------------------------------------------------------
def _error_doc(e: MapcError) -> dict[str, Any]:
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


def print_json(doc: object) -> None:
    """One JSON document on stdout (`mapc.apps.common.print_json` without its imports)."""
    sys.stdout.write(json.dumps(jsonable(doc), indent=1, allow_nan=False) + "\n")


def _run(argv: list[str]) -> int:
    from mapc.apps import commands         # after sigint_guard: NumPy's threads must start with SIGINT blocked
    parser = commands.build_parser()
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
        oom = MapcError("out of memory: the problem is too large for this machine",
                        hint="fewer micro-batches, requests or chiplets, or a coarser --segment (more layers per task)")
        print(oom.render(), file=sys.stderr)
        if want_json:
            print_json(_error_doc(oom))
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
