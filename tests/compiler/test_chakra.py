"""Chakra ET out (`--emit chakra`): one file per chiplet in mlc-chakra's protobuf schema, read back with Chakra's own
decoder; compute nodes carry duration and FLOPs, send/recv nodes bytes, peer rank and tag, and the dependencies
match schedule.json."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict

import pytest

from mapc import api
from mapc.compiler import chakra as chakra_mod
from mapc.compiler.emit import DEFAULT_FORMATS, parse_formats
from mapc.core.errors import MapcError
from mapc.core.options import SolveOptions

pb = pytest.importorskip("chakra.schema.protobuf.et_def_pb2",
                         reason="mlc-chakra is not installed (CI installs it: pip install --no-deps mlc-chakra)")
protolib = pytest.importorskip("chakra.src.third_party.utils.protolib")

SRC = """
workload w {
  serve llama2_7b
  prefill batch=2 seq=256
  decode batch=4 context=512 steps=2
  microbatches 2
}
parallel { tensor 2  segment 8 }
"""


def _read(path):
    """(GlobalMetadata, [Node]) of one .et file, with Chakra's decoder."""
    fh = protolib.openFileRd(str(path))
    meta = pb.GlobalMetadata()
    assert protolib.decodeMessage(fh, meta)
    nodes = []
    while True:
        n = pb.Node()
        if not protolib.decodeMessage(fh, n):
            break
        nodes.append(n)
    return meta, nodes


def _attrs(node):
    return {a.name: getattr(a, a.WhichOneof("value")) for a in node.attr}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("chakra")
    # the baseline pipeline puts consecutive segments on different groups: transfers between chiplets
    r = api.solve(api.lower(api.load(SRC), "mcm6x6"), SolveOptions(solver="baseline", time_limit=5))
    api.write(r, out, ("json", "chakra"))
    doc = json.loads((out / "schedule.json").read_text())
    ranks = {i: _read(out / f"chakra.{i}.et") for i in range(len(doc["hardware"]["chiplets"]))}
    return doc, ranks


def test_one_file_per_chiplet_with_every_task_share(written):
    doc, ranks = written
    assert len(ranks) == 36 and all(m.version == "0.0.4" for m, _ in ranks.values())
    comps = defaultdict(dict)
    for rank, (_, nodes) in ranks.items():
        ids = [n.id for n in nodes]
        assert ids == list(range(len(nodes)))                         # unique, increasing
        for n in nodes:
            assert all(d < n.id for d in list(n.data_deps) + list(n.ctrl_deps))   # written in topological order
            if n.type == pb.COMP_NODE:
                a = _attrs(n)
                comps[a["task_id"]][rank] = (n, a)
    for t in doc["tasks"]:
        assert set(comps[t["id"]]) == set(t["chiplets"])
        for rank, (n, a) in comps[t["id"]].items():
            k = len(t["chiplets"])
            assert a["num_ops"] == round(t["flops"] / k) and a["is_cpu_op"] is False
            assert a["duration_ns"] == round((t["end"] - t["start"]) * 1e9)
            assert abs(n.duration_micros - (t["end"] - t["start"]) * 1e6) <= 1
            assert n.name == t["name"]


def test_send_recv_pairs_and_dependencies_match_schedule_json(written):
    doc, ranks = written
    xfers = doc["transfers"]
    assert xfers, "the example must move data between chiplets"
    sends, recvs, comp_id = {}, {}, {}
    for rank, (_, nodes) in ranks.items():
        for n in nodes:
            a = _attrs(n)
            if n.type == pb.COMM_SEND_NODE:
                sends[a["comm_tag"]] = (rank, n, a)
            elif n.type == pb.COMM_RECV_NODE:
                recvs[a["comm_tag"]] = (rank, n, a)
            elif n.type == pb.COMP_NODE:
                comp_id[(rank, a["task_id"])] = n
    assert set(sends) == set(recvs) == set(range(len(xfers)))
    recv_of = {}
    for j, x in enumerate(xfers):
        (sr, sn, sa), (rr, rn, ra) = sends[j], recvs[j]
        assert (sr, rr) == (x["src_chiplet"], x["dst_chiplet"])
        assert (sa["comm_src"], sa["comm_dst"], ra["comm_src"], ra["comm_dst"]) == (sr, rr, sr, rr)
        assert sa["comm_size"] == ra["comm_size"] >= x["bytes"]
        assert list(sn.data_deps) == [comp_id[(sr, x["src_task"])].id]     # sent when the producer is done
        recv_of[(x["src_task"], x["dst_task"])] = rn.id
    for t in doc["tasks"]:
        lead = t["chiplets"][0]
        node = comp_id[(lead, t["id"])]
        want = set()
        for p in t["deps"]:
            if doc["tasks"][p]["chiplets"][0] == lead:
                want.add(comp_id[(lead, p)].id)
            else:
                want.add(recv_of[(p, t["id"])])
        assert set(node.data_deps) == want, t["name"]


def test_the_format_is_chosen_and_its_absence_is_an_input_error(tmp_path, monkeypatch):
    assert parse_formats("json,chakra") == ("json", "chakra") and "chakra" not in DEFAULT_FORMATS
    monkeypatch.setattr(chakra_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MapcError, match="needs the mlc-chakra package") as ei:
        api.compile(SRC, "mcm6x6", SolveOptions(time_limit=1), tmp_path / "o", formats="json,chakra")
    assert "--no-deps" in ei.value.hint and not (tmp_path / "o").exists()


def test_cli_emit_chooses_the_outputs(tmp_path):
    src = tmp_path / "m.dsl"
    src.write_text(SRC)
    r = subprocess.run([sys.executable, "-m", "mapc.cli", "compile", str(src), "--hw", "npu4x4", "-o",
                        str(tmp_path / "o"), "--emit", "csv,chakra", "-q", "--time-limit", "2"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == sorted(["tasks.csv"] + [f"chakra.{i}.et" for i in range(16)])
