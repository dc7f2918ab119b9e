"""Reading a schedule.json back (`mapc simulate` and any tool that replays one): the schema check plus the
cross-references a replay relies on. Every problem is a `ScheduleFileError` (exit 2) with the reason."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from mapc.compiler.emit import validate_schedule_document
from mapc.core.errors import MapcError

SCHEMA_CHECK_MAX_RECORDS = 20_000   # full jsonschema check up to this many tasks/transfers (0.4 ms per record)


class ScheduleFileError(MapcError):
    """A schedule file that cannot be read or does not match the schedule schema (exit 2)."""


def load_schedule(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a schedule.json; every problem raises `ScheduleFileError` with the reason."""
    p = Path(path)
    if str(path) == "" or not p.exists():
        raise ScheduleFileError(f"no such file: {path!s}" if str(path) else "no schedule file given",
                                hint="give the schedule.json written by `mapc compile`")
    if not p.is_file():
        raise ScheduleFileError(f"not a file: {path}", hint="give the schedule.json inside the compile output "
                                                              "directory, e.g. out/schedule.json")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ScheduleFileError(f"{path}: not UTF-8 text (byte {e.start}): not a schedule.json") from None
    except OSError as e:
        raise ScheduleFileError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ScheduleFileError(f"{path}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}",
                                hint="give the schedule.json written by `mapc compile`") from None
    except RecursionError:
        raise ScheduleFileError(f"{path}: JSON nested too deeply") from None
    validate_document(doc, str(path))
    return doc


def validate_document(doc: Any, where: str = "schedule") -> None:
    """Schema check (`emit.validate_schedule_document`) plus the cross-references the replay relies on: task
    ids 0..n-1 in order, chiplets, deps and transfer endpoints in range, routes along existing links."""
    if not isinstance(doc, dict):
        raise ScheduleFileError(f"{where}: expected a JSON object (a mapc schedule), got {type(doc).__name__}")
    n_rec = len(doc.get("tasks") or ()) + len(doc.get("transfers") or ())
    try:
        validate_schedule_document(doc, None if n_rec <= SCHEMA_CHECK_MAX_RECORDS else SCHEMA_CHECK_MAX_RECORDS)
    except MapcError as e:
        raise ScheduleFileError(f"{where}: {e.message}", hint="give a schedule.json written by `mapc compile`") \
            from None
    hw, tasks = doc["hardware"], doc["tasks"]
    nchip = len(hw["chiplets"])
    links = {(int(u), int(v)) for u, v in hw["nop"]["links"]}
    links |= {(v, u) for u, v in links}

    def bad(msg: str) -> ScheduleFileError:
        return ScheduleFileError(f"{where}: {msg}", hint="the file was edited or is not from this mapc version")

    for i, t in enumerate(tasks):
        if t.get("id") != i:
            raise bad(f"tasks[{i}] has id {t.get('id')!r}; ids must be 0..n-1 in order")
        for k in ("chiplets", "start", "end", "deps", "dram_bytes"):
            if k not in t:
                raise bad(f"tasks[{i}] has no `{k}`")
        if not t["chiplets"] or any(not (0 <= c < nchip) for c in t["chiplets"]):
            raise bad(f"tasks[{i}] runs on chiplets {t['chiplets']} (the hardware has {nchip})")
        if any(not (0 <= d < len(tasks)) or d == i for d in t["deps"]):
            raise bad(f"tasks[{i}] depends on {t['deps']}, not all valid task ids")
        if not (math.isfinite(t["start"]) and math.isfinite(t["end"]) and 0 <= t["start"] <= t["end"]):
            raise bad(f"tasks[{i}] has start {t['start']} and end {t['end']}")
    for j, x in enumerate(doc["transfers"]):
        for k in ("src_task", "dst_task"):
            if not (0 <= x[k] < len(tasks)):
                raise bad(f"transfers[{j}].{k} = {x[k]} is not a task id")
        r = x["route"]
        if any(not (0 <= c < nchip) for c in r) or any((u, v) not in links for u, v in zip(r, r[1:])):
            raise bad(f"transfers[{j}] route {r} does not follow the NoP links")
        if not (math.isfinite(x["start"]) and math.isfinite(x["end"]) and 0 <= x["start"] <= x["end"]):
            raise bad(f"transfers[{j}] has start {x['start']} and end {x['end']}")


# ---- max-min fair sharing ----------------------------------------------------------------------------------
