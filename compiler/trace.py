"""trace.json, streamed: Chrome trace events (open in Perfetto or chrome://tracing) written one event at a time, so
the trace of a 32,768-task schedule neither builds a list of a million dicts nor a 100 MB string in memory.

Used by `mapc compile` (the schedule, `mapc.compiler.emit`) and `mapc simulate` (the replay). Named tracks:

- pid 1 "chiplets": one thread per chiplet, `chiplet ID (x,y) TYPE`; a complete event (`ph: X`) per task and
  member chiplet. The task's category and full arguments go on its lead chiplet's event; the other members'
  events carry the task id only (a 4-chiplet group would otherwise repeat them four times).
- pid 2 "NoP links": one thread per directed link a transfer crosses, `link U->V`; an event per transfer and link,
  named `SRC_TASK->DST_TASK`, its bytes, route, energy and kind on the first link's event only.
- pid 3 "DRAM channels": a counter per channel (its name), the DRAM bandwidth the running tasks draw from it in
  GB/s: each member chiplet of a task draws its share (1/k) of the task's DRAM bytes, evenly over the task, from
  its nearest channel(s) (`mapc.compiler.simulate.nearest_channels`, the replay's model).
- pid 4 "PIM": on hardware with PIM units, a counter per unit, the PIM kernels running (each task's PIM time from
  its start, on every unit: weights and KV are interleaved over all stacks, `mapc.hw.pim`).

Times are microseconds with nanosecond resolution (`ts`, `dur`); JSON without spaces, floats in arguments to six
significant digits: at 32,768 tasks of 4 chiplets each the trace stays under 60 MB (bench/trace_scale.py).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from mapc.compiler.simulate import nearest_channels

PID_CHIPLETS, PID_LINKS, PID_DRAM, PID_PIM = 1, 2, 3, 4
US = 1e6


@dataclass(frozen=True)
class TraceTask:
    """What the trace shows of a task (seconds, bytes)."""

    id: int
    name: str
    cat: str
    chiplets: tuple[int, ...]
    start: float
    end: float
    dram_bytes: float = 0.0
    pim_s: float = 0.0
    args: dict[str, Any] = field(default_factory=dict)
    dram_channels: dict[int, float] | None = None   # channel index -> bytes (the schedule's choice); None: nearest


@dataclass(frozen=True)
class TraceTransfer:
    """What the trace shows of a transfer (seconds, bytes)."""

    src_task: int
    dst_task: int
    route: tuple[int, ...]
    start: float
    end: float
    bytes: float
    args: dict[str, Any] = field(default_factory=dict)


def _t(x: float) -> str:
    """Seconds as microseconds with nanosecond resolution, compactly."""
    v = round(float(x) * US, 3)
    return str(int(v)) if v == int(v) else repr(v)


def _j(x: Any) -> str:
    return json.dumps(x, separators=(",", ":"))


def _round(args: dict[str, Any]) -> dict[str, Any]:
    return {k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in args.items()}


def _hops(hw: dict) -> dict[int, list[int]]:
    return nearest_channels({"hardware": hw})


def write_trace(fh: IO[str], hw: dict, tasks: Iterable[TraceTask], transfers: Iterable[TraceTransfer],
                other: dict[str, Any], label: str = "") -> int:
    """Stream the trace of `tasks` and `transfers` on the hardware summary `hw` (schedule.json's "hardware") into
    `fh`; returns the number of events written."""
    n = 0
    sep = "\n"

    def put(ev: str) -> None:
        nonlocal n, sep
        fh.write(sep)
        fh.write(ev)
        sep = ",\n"
        n += 1

    def meta(pid: int, tid: int, name: str, args: dict) -> None:
        put(f'{{"ph":"M","pid":{pid},"tid":{tid},"ts":0,"name":"{name}","args":{_j(args)}}}')

    fh.write('{"displayTimeUnit":"ms","otherData":' + _j(other) + ',"traceEvents":[')
    suffix = f", {label}" if label else ""
    chips = hw["chiplets"]
    for pid, name in ((PID_CHIPLETS, f"chiplets ({hw['name']}{suffix})"), (PID_LINKS, f"NoP links{suffix}"),
                      (PID_DRAM, f"DRAM channels{suffix}")) + (((PID_PIM, f"PIM{suffix}"),) if hw.get("pim") else ()):
        meta(pid, 0, "process_name", {"name": name})
        meta(pid, 0, "process_sort_index", {"sort_index": pid})
    for c in chips:
        meta(PID_CHIPLETS, c["id"], "thread_name", {"name": f"chiplet {c['id']} ({c['x']},{c['y']}) {c['type']}"})
        meta(PID_CHIPLETS, c["id"], "thread_sort_index", {"sort_index": c["id"]})
    for i, ch in enumerate(hw.get("dram", ())):
        meta(PID_DRAM, i, "thread_name", {"name": f"DRAM {ch['name']}"})
    for i, p in enumerate(hw.get("pim", ())):
        meta(PID_PIM, i, "thread_name", {"name": f"PIM {p['name']}"})
    near = _hops(hw) if hw.get("dram") else {}
    dram_ev: dict[int, list[tuple[float, float]]] = defaultdict(list)
    pim_ev: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for t in tasks:
        ts, dur = _t(t.start), _t(t.end - t.start)
        lead = t.chiplets[0]
        name = _j(t.name)
        put(f'{{"name":{name},"cat":{_j(t.cat)},"ph":"X","pid":{PID_CHIPLETS},"tid":{lead},"ts":{ts},"dur":{dur},'
            f'"args":{_j({"task": t.id, **_round(t.args)})}}}')
        for c in t.chiplets[1:]:
            put(f'{{"name":{name},"ph":"X","pid":{PID_CHIPLETS},"tid":{c},"ts":{ts},"dur":{dur},'
                f'"args":{{"task":{t.id}}}}}')
        d = t.end - t.start
        if t.dram_channels is not None and d > 0:
            for ch, b in t.dram_channels.items():
                if b > 0:
                    dram_ev[ch].append((t.start, b / d / 1e9))
                    dram_ev[ch].append((t.end, -b / d / 1e9))
        elif t.dram_bytes > 0 and d > 0 and near:
            share = t.dram_bytes / d / len(t.chiplets) / 1e9          # GB/s per member
            for c in t.chiplets:
                chans = near.get(c) or [0]
                for ch in chans:
                    dram_ev[ch].append((t.start, share / len(chans)))
                    dram_ev[ch].append((t.end, -share / len(chans)))
        if t.pim_s > 0 and hw.get("pim"):
            for u in range(len(hw["pim"])):
                pim_ev[u].append((t.start, 1.0))
                pim_ev[u].append((t.start + t.pim_s, -1.0))
    links: dict[tuple[int, int], int] = {}
    for x in transfers:
        ts, dur = _t(x.start), _t(x.end - x.start)
        name = f'"{x.src_task}->{x.dst_task}"'
        for h, (u, v) in enumerate(zip(x.route, x.route[1:])):
            tid = links.get((u, v))
            if tid is None:
                tid = links[(u, v)] = len(links)
                meta(PID_LINKS, tid, "thread_name", {"name": f"link {u}->{v}"})
            if h == 0:
                args = _j(_round({"bytes": x.bytes, **x.args}))
                put(f'{{"name":{name},"cat":"transfer","ph":"X","pid":{PID_LINKS},"tid":{tid},"ts":{ts},'
                    f'"dur":{dur},"args":{args}}}')
            else:
                put(f'{{"name":{name},"ph":"X","pid":{PID_LINKS},"tid":{tid},"ts":{ts},"dur":{dur}}}')
    for pid, events, names, unit in ((PID_DRAM, dram_ev, [c["name"] for c in hw.get("dram", ())], "GB/s"),
                                     (PID_PIM, pim_ev, [p["name"] for p in hw.get("pim", ())], "kernels")):
        for idx, evs in sorted(events.items()):
            arr = np.array(evs, dtype=np.float64)
            arr = arr[np.argsort(arr[:, 0], kind="stable")]
            times, level = np.unique(arr[:, 0], return_index=False), np.cumsum(arr[:, 1])
            # the level after the last change at each instant
            last = np.searchsorted(arr[:, 0], times, side="right") - 1
            cname = _j(f"{'DRAM' if pid == PID_DRAM else 'PIM'} {names[idx]}")
            for tm, val in zip(times, level[last]):
                amount = 0.0 if abs(val) < 1e-9 else round(float(val), 6)
                put(f'{{"name":{cname},"ph":"C","pid":{pid},"tid":{idx},"ts":{_t(tm)},"args":{{"{unit}":{amount}}}}}')
    fh.write("\n]}\n")
    return n
