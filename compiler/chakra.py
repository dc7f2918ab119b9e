"""Chakra execution traces (`mapc compile --emit chakra`): one `chakra.RANK.et` per chiplet, so that ASTRA-sim can
replay a mapc schedule (`--workload-configuration=OUT/chakra`).

The format is the `mlc-chakra` package's schema (`chakra.schema.protobuf.et_def_pb2`, Chakra ET v0.0.4): a
`GlobalMetadata` message, then `Node` messages, each prefixed by its length as a varint (what Chakra's own
`protolib.encodeMessage` writes and `decodeMessage` reads). A rank is a chiplet id. Nodes:

- COMP_NODE per task and member chiplet: `duration_micros` (Chakra's unit: the scheduled duration rounded to the
  nearest microsecond, at least 1; the exact figure is the `duration_ns` attribute), `start_time_micros`, and
  the attributes ASTRA-sim reads: `is_cpu_op` false, `num_ops` (the task's FLOPs over its group size: each
  member's tensor-parallel share), `tensor_size` (its activation bytes in + out and DRAM bytes, over the group),
  `op_type` "mapc_task", plus `task_id` and `group_size`.
- COMM_SEND_NODE / COMM_RECV_NODE per transfer of schedule.json, on its source and destination chiplet:
  `comm_src`, `comm_dst` (ranks), `comm_size` (bytes, rounded up), `comm_tag` (the transfer's index in
  schedule.json's `transfers`).

Dependencies match schedule.json: a task's COMP node on its lead chiplet depends (`data_deps`) on each
predecessor's COMP node there when both run on that chiplet, else on the RECV of the transfer that brings the
predecessor's output; a SEND depends on its producer's COMP node. Every member of a tensor-parallel group also
depends on the predecessors it ran itself. `ctrl_deps` chain each rank's COMP nodes in the schedule's order, so a
replay keeps mapc's order per chiplet. Nodes are written in a topological order with increasing ids.

mlc-chakra is optional (`pip install --no-deps mlc-chakra` + protobuf: its declared dependencies serve its other
tools); asking for the format without it is an input error naming the install command.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import IO, Any

import numpy as np

from mapc.compiler.evaluate import placement_indices
from mapc.compiler.result import Result
from mapc.core.errors import MapcError

ET_VERSION = "0.0.4"
INSTALL = "pip install --no-deps 'mlc-chakra==1.0.0' && pip install 'protobuf>=6.31.1'"
COMP, SEND, RECV = 0, 1, 2          # kinds of the nodes built here (sorted RECV < COMP < SEND at equal times)
_ORDER = {RECV: 0, COMP: 1, SEND: 2}


def chakra_files(n_chiplets: int) -> tuple[str, ...]:
    """The file names of a hardware with `n_chiplets` ranks."""
    return tuple(f"chakra.{i}.et" for i in range(n_chiplets))


def require_chakra() -> None:
    """`MapcError` (exit 2) with the install command when mlc-chakra is not importable."""
    if importlib.util.find_spec("chakra") is None:
        raise MapcError("--emit chakra needs the mlc-chakra package (Chakra's execution-trace schema)",
                        hint=f"install it with: {INSTALL}  (or pip install 'mapc[chakra]' after the first part)")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(0x80 | b)
        else:
            out.append(b)
            return bytes(out)


def _put(fh: IO[bytes], msg: Any) -> None:
    data = msg.SerializeToString()
    fh.write(_varint(len(data)))
    fh.write(data)


def write_chakra(folder: Path, r: Result) -> list[str]:
    """Write one `chakra.RANK.et` per chiplet of `r`'s hardware into `folder` (module docstring)."""
    require_chakra()
    from chakra.schema.protobuf import et_def_pb2 as pb   # optional dependency (mlc-chakra)

    g, sched, cost, hw = r.problem.graph, r.schedule, r.problem.cost, r.problem.hw
    n = g.n
    res = np.array([t.resident for t in sched.tasks], dtype=bool)
    dram = cost.part_at("dram_bytes", res, placement_indices(sched, cost)) if n else np.zeros(0)
    # abstract nodes per rank: [time, kind, key, fields]; ids are given after sorting
    nodes: list[list[tuple]] = [[] for _ in range(hw.n)]
    by_pair: dict[tuple[int, int], list[int]] = {}
    for j, x in enumerate(sched.transfers):
        by_pair.setdefault((int(x.src_task), int(x.dst_task)), []).append(j)
        nodes[x.src_chiplet].append((float(sched.tasks[x.src_task].end), SEND, ("send", j), x))
        nodes[x.dst_chiplet].append((float(x.start), RECV, ("recv", j), x))
    for t, st in zip(g.tasks, sched.tasks):
        for c in st.placement:
            nodes[int(c)].append((float(st.start), COMP, ("comp", int(t.id)), (t, st)))
    paths = []
    for rank, items in enumerate(nodes):
        items.sort(key=lambda it: (it[0], _ORDER[it[1]], it[2]))
        ids = {it[2]: i for i, it in enumerate(items)}
        path = folder / f"chakra.{rank}.et"
        with open(path, "wb") as fh:
            meta = pb.GlobalMetadata(version=ET_VERSION)
            meta.attr.extend([pb.AttributeProto(name="schema", string_val="mapc.schedule/1"),
                              pb.AttributeProto(name="rank", int64_val=rank),
                              pb.AttributeProto(name="ranks", int64_val=hw.n),
                              pb.AttributeProto(name="hardware", string_val=hw.name)])
            _put(fh, meta)
            prev_comp: int | None = None
            for i, (time, kind, key, obj) in enumerate(items):
                node = pb.Node(id=i)
                if kind == COMP:
                    t, st = obj
                    _comp(pb, node, t, st, float(dram[t.id]) if n else 0.0, g.preds[t.id], by_pair, sched, rank,
                          ids)
                    if prev_comp is not None:
                        node.ctrl_deps.append(prev_comp)
                    prev_comp = i
                else:
                    x = obj
                    node.name = f"{'SEND' if kind == SEND else 'RECV'} {x.src_task}->{x.dst_task}"
                    node.type = pb.COMM_SEND_NODE if kind == SEND else pb.COMM_RECV_NODE
                    node.attr.extend([pb.AttributeProto(name="is_cpu_op", bool_val=False),
                                      pb.AttributeProto(name="comm_src", int32_val=int(x.src_chiplet)),
                                      pb.AttributeProto(name="comm_dst", int32_val=int(x.dst_chiplet)),
                                      pb.AttributeProto(name="comm_size", int64_val=int(math.ceil(x.bytes))),
                                      pb.AttributeProto(name="comm_tag", int32_val=key[1])])
                    if kind == SEND:
                        node.data_deps.append(ids[("comp", int(x.src_task))])
                _put(fh, node)
        paths.append(str(path))
    return paths


def _comp(pb: Any, node: Any, t: Any, st: Any, dram: float, preds: tuple[int, ...],
          by_pair: dict[tuple[int, int], list[int]], sched: Any, rank: int, ids: dict[tuple, int]) -> None:
    """Fill the COMP node of task `t` on `rank` (module docstring)."""
    k = len(st.placement)
    dur = float(st.end - st.start)
    node.name = t.name
    node.type = pb.COMP_NODE
    node.duration_micros = max(1, round(dur * 1e6)) if dur > 0 else 0
    node.start_time_micros = round(float(st.start) * 1e6)
    node.attr.extend([pb.AttributeProto(name="is_cpu_op", bool_val=False),
                      pb.AttributeProto(name="num_ops", int64_val=int(round(t.flops / k))),
                      pb.AttributeProto(name="tensor_size", uint64_val=int(round((t.in_bytes + t.out_bytes + dram)
                                                                                  / k))),
                      pb.AttributeProto(name="op_type", string_val="mapc_task"),
                      pb.AttributeProto(name="task_id", int64_val=int(t.id)),
                      pb.AttributeProto(name="group_size", int64_val=k),
                      pb.AttributeProto(name="duration_ns", uint64_val=int(round(dur * 1e9)))])
    lead = int(st.placement[0]) == rank
    deps: list[int] = []
    for p in sorted(set(preds)):
        here = ("comp", p) in ids              # the predecessor ran on this chiplet too
        if here and (not lead or int(sched.tasks[p].placement[0]) == int(st.placement[0])):
            deps.append(ids[("comp", p)])
        elif lead:                              # its output comes over the NoP

            deps.extend(ids[("recv", j)] for j in by_pair.get((p, int(t.id)), ()) if ("recv", j) in ids)
    node.data_deps.extend(sorted(set(deps)))
