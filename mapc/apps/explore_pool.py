"""The pools `mapc explore` scores its trials on: this process (`SerialPool`, the reference order) or a Dask
cluster (`DaskPool`: a `distributed.LocalCluster` of single-threaded worker processes, or an existing scheduler).
`open_pool` picks one and shuts a local cluster down on the way out. A pool runs calls and hands back
(ticket, ok, value) triples as they finish; an exception in a call (a bug, a lost worker) comes back as ok=False
with its message, so one bad trial never stops a study. `distributed` is imported only when a cluster is used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from mapc.core.errors import MapcError


class SerialPool:
    """Scores in this process, one call at a time in submission order (the reference for the parallel runs)."""

    engine = "serial (this process)"
    slots = 1

    def __init__(self) -> None:
        self._calls: dict[int, tuple[Callable[..., Any], tuple[Any, ...]]] = {}

    def put(self, obj: Any) -> Any:
        return obj

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        key = len(self._calls) + max(self._calls, default=0) + 1
        self._calls[key] = (fn, args)
        return key

    def wait(self, tickets: list[Any]) -> list[tuple[Any, bool, Any]]:
        t = min(tickets)
        fn, args = self._calls.pop(t)
        try:
            return [(t, True, fn(*args))]
        except Exception as e:                       # a bug in one trial must not stop the study
            return [(t, False, f"{type(e).__name__}: {e}")]


class DaskPool:
    """Scores on a Dask cluster through `client` (the `distributed` module passed in, imported on first use)."""

    def __init__(self, client: Any, dist: Any, engine: str) -> None:
        self.client, self._dist, self.engine = client, dist, engine
        self.slots = max(1, sum(client.nthreads().values()))

    def put(self, obj: Any) -> Any:
        return self.client.scatter(obj, broadcast=True)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.client.submit(fn, *args, pure=False)

    def wait(self, tickets: list[Any]) -> list[tuple[Any, bool, Any]]:
        done, _ = self._dist.wait(tickets, return_when="FIRST_COMPLETED")
        out = []
        for f in done:
            try:
                out.append((f, True, f.result()))
            except Exception as e:                   # a lost worker or a bug: the trial fails, the study goes on
                out.append((f, False, f"{type(e).__name__}: {e}"))
        return out


@contextmanager
def open_pool(workers: int, scheduler: str | None = None) -> Iterator[SerialPool | DaskPool]:
    """The pool for `workers` / `scheduler` (module doc); the local cluster is shut down on the way out."""
    if scheduler is None and workers <= 1:
        yield SerialPool()
        return
    import distributed                          # heavy optional dependency: 0.3 s that other commands skip
    for name in ("distributed", "tornado", "bokeh"):
        logging.getLogger(name).setLevel(logging.ERROR)
    cluster = None
    try:
        if scheduler is not None:
            client = distributed.Client(scheduler, timeout="10s")
            engine = f"dask cluster at {scheduler}"
        else:
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                               dashboard_address=None, silence_logs=logging.ERROR)
            client = distributed.Client(cluster)
            engine = f"dask LocalCluster, {workers} worker processes"
    except (OSError, TimeoutError) as e:
        if cluster is not None:
            cluster.close()
        raise MapcError(f"cannot start or reach the Dask cluster{f' at {scheduler}' if scheduler else ''}: {e}",
                        hint="check the address (tcp://HOST:8786) and that the scheduler is running") from None
    try:
        pool = DaskPool(client, distributed, engine)
        yield pool
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
