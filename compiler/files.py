"""Writing output folders safely: all files at once or none (`write_dir_atomic`), checked before a long run
(`check_output_dir`), and JSON values made plain (`jsonable`).

`COMMIT_LOCK` and the set of pending temporary folders are process state, not settings: the Ctrl-C handler of
the command line waits for the lock so that an interrupt never lands between two renames, and removes the
pending folders on a hard exit.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from mapc.core.errors import MapcError


# ---- JSON helpers ------------------------------------------------------------------------------------------
def jsonable(x: Any) -> Any:
    """Plain-JSON copy of `x`: NumPy scalars/arrays to Python (anything with `tolist`), tuples to lists,
    non-finite floats to None. Written without importing NumPy: the command line imports this module before it
    blocks Ctrl-C in every thread (see `mapc.cli.sigint_guard`), and NumPy starts BLAS threads on import."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, bool):
        return x
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        f = float(x)
        return f if math.isfinite(f) else None
    if x is None or isinstance(x, str):
        return x
    if hasattr(x, "tolist"):            # NumPy arrays and scalars (np.int64, np.bool_, ...)
        return jsonable(x.tolist())
    return str(x)


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


def write_dir_atomic(out_dir: str | os.PathLike, build: Callable[[Path], None],
                     managed: tuple[str, ...]) -> list[str]:
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


