"""`mapc presets` (the built-in hardware) and `mapc models` (the model zoo, a Hugging Face config.json, or an ONNX
file: its layers, operators, FLOPs and the importer's notes)."""

from __future__ import annotations

import argparse
import difflib
from collections import Counter
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from mapc.apps.common import console, nonempty, positive_int, print_json
from mapc.compiler.report import fmt_si
from mapc.core.errors import EXIT_OK, MapcError
from mapc.compiler.graph_ops import graph_segment
from mapc.core.spec import CNNModel, GraphModel, Model
from mapc.dsl import zoo
from mapc.dsl.hfconfig import load_hf_config
from mapc.dsl.onnx_import import load_onnx
from mapc.hw import presets


def add_presets_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("name", nargs="?", default=None, type=nonempty, metavar="NAME",
                   help="show one preset's whole description (every figure and its source)")
    r.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def add_models_arguments(m: argparse.ArgumentParser) -> None:
    m.add_argument("path", nargs="?", default=None, type=nonempty, metavar="PATH",
                   help="a zoo model's name, a Hugging Face config.json or an ONNX file (read locally)")
    m.add_argument("--batch", type=positive_int, default=None, metavar="N",
                   help="ONNX: the value of the graph's batch dimensions (default 1)")
    m.add_argument("--seq", type=positive_int, default=None, metavar="N",
                   help="ONNX: the value of the graph's sequence dimensions")
    m.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def cmd_presets(args: argparse.Namespace) -> int:
    if args.name is not None:
        return _one_preset(presets.describe(presets.get(args.name)), args.json)
    descs = [presets.describe(presets.get(name)) for name in presets.PRESETS]
    if args.json:
        print_json({"ok": True, "command": "presets", "presets": descs})
        return EXIT_OK
    tab = Table(title="hardware presets (mapc compile --hw NAME)", box=box.SIMPLE_HEAD)
    for col in ("name", "grid", "chiplets", "PEs", "TFLOP/s", "SRAM MiB", "DRAM GB/s", "link GB/s", "PIM"):
        tab.add_column(col, justify="left" if col in ("name", "types") else "right", no_wrap=col != "types")
    for d in descs:
        types = "+".join(f"{t['count']}{t['dataflow']}" for t in d["types"].values())
        pes = ",".join(dict.fromkeys(f"{t['pes'][0]}x{t['pes'][1]}" for t in d["types"].values()))
        tab.add_row(d["name"], f"{d['grid'][0]}x{d['grid'][1]}", types, pes, f"{d['peak_flops'] / 1e12:,.1f}",
                    f"{d['sram_total_bytes'] / 2**20:,.0f}", f"{d['dram_bandwidth'] / 1e9:,.0f}",
                    f"{d['nop']['link_bw'] / 1e9:,.0f}", str(len(d["pim"])) if d["pim"] else "-")
    console().print(tab)
    return EXIT_OK


def _one_preset(d: dict[str, Any], as_json: bool) -> int:
    """`mapc presets NAME`: every figure of the preset, in human units, then its sources."""
    if as_json:
        print_json({"ok": True, "command": "presets", "preset": d})
        return EXIT_OK
    con = console()
    head = Table(title=f"{d['name']}: {d['grid'][0]}x{d['grid'][1]} grid, {d['chiplets']} chiplets, "
                       f"{fmt_si(d['peak_flops'], 'FLOP/s')} peak, static {fmt_si(d['static_power_w'], 'W')}",
                 box=box.SIMPLE_HEAD)
    head.add_column("chiplet type")
    for name in d["types"]:
        head.add_column(name, justify="right")
    rows = (("count", lambda t: str(t["count"])),
            ("PE array", lambda t: f"{t['pes'][0]}x{t['pes'][1]}" + (f" x{t['arrays']}" if t["arrays"] > 1 else "")),
            ("dataflow / unroll", lambda t: f"{t['dataflow']} / {t['unroll']}"),
            ("clock", lambda t: fmt_si(t["freq_hz"], "Hz")),
            ("precision / accumulate", lambda t: f"{t['precision']} / {t['accumulate']}"),
            ("SRAM", lambda t: fmt_si(t["sram_bytes"], "B") + (f", {fmt_si(t['sram_bw'], 'B/s')} per port"
                                                              if t["sram_bw"] else ", bandwidth unbounded")),
            ("register file per PE", lambda t: fmt_si(t["rf_bytes_per_pe"], "B")),
            ("MAC energy", lambda t: fmt_si(t["mac_energy_j"], "J")),
            ("RF / accumulator energy", lambda t: f"{fmt_si(t['rf_energy_j_per_byte'], 'J/B')} / "
                                                  f"{fmt_si(t['acc_energy_j_per_byte'], 'J/B')}"),
            ("SRAM read / write energy", lambda t: f"{fmt_si(t['sram_energy_j_per_byte'], 'J/B')} / "
                                                   f"{fmt_si(t['sram_write_energy_j_per_byte'], 'J/B')}"),
            ("vector lanes", lambda t: str(t["vector_lanes"])),
            ("static power", lambda t: fmt_si(t["static_power_w"], "W")))
    for label, f in rows:
        head.add_row(label, *(f(t) for t in d["types"].values()))
    con.print(head)
    nop = d["nop"]
    mem = Table(title="network-on-package and memory", box=box.SIMPLE_HEAD)
    for col in ("", "name", "bandwidth", "energy", "capacity", "at"):
        mem.add_column(col)
    mem.add_row("NoP", nop["topology"], fmt_si(nop["link_bw"], "B/s") + " per link",
                fmt_si(nop["energy_per_bit"], "J/bit") + " per hop", "-",
                f"{fmt_si(nop['hop_latency'], 's')} per hop")
    for ch in d["dram_channels"]:
        mem.add_row("DRAM", ch["name"], fmt_si(ch["bandwidth"], "B/s"), fmt_si(ch["energy_per_bit"], "J/bit"),
                    fmt_si(ch["capacity"], "B"), f"{ch['edge']} {ch['attach']}")
    for p in d["pim"]:
        mem.add_row("PIM", p["name"], fmt_si(p["bandwidth"], "B/s"), fmt_si(p["energy_per_bit"], "J/bit"),
                    fmt_si(p["capacity"], "B"), str(p["attach"]))
    con.print(mem)
    con.print("sources:")
    for s in d["sources"]:
        con.print(f"  - {s}", markup=False)
    return EXIT_OK


def _model_record(name: str, m: Model) -> dict[str, Any]:
    kind = "cnn" if isinstance(m, CNNModel) else "onnx" if isinstance(m, GraphModel) else "transformer"
    rec: dict[str, Any] = {"name": name, "kind": kind, "dtype": getattr(m, "dtype", None),
                           "params": int(zoo.param_count(m)), "weight_bytes": float(zoo.weight_bytes(m))}
    if isinstance(m, GraphModel):
        ops = graph_segment(m, 1, 0, len(m.layers) - 1)
        rec.update(layers=len(m.layers), batch=m.batch, flops=float(sum(o.flops for o in ops)),
                   operators=dict(sorted(Counter(o.kind for o in ops).items())), notes=list(m.notes),
                   source=m.source)
    elif isinstance(m, CNNModel):
        rec["layers"] = len(m.layers)
    else:
        for k in ("layers", "hidden", "heads", "kv_heads", "ffn", "vocab", "experts", "top_k", "encoder_only",
                  "head_dim", "tied_embeddings", "shared_ffn", "dense_layers", "kv_lora_rank", "quant_bits",
                  "quant_group"):
            rec[k] = getattr(m, k, None)
    return rec


def _count(n: int) -> str:
    """6738415616 -> '6.74B', 25557032 -> '25.6M' (parameter counts, not bytes)."""
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def cmd_models(args: argparse.Namespace) -> int:
    if args.path is not None and args.path in zoo.MODELS and not Path(args.path).exists():
        recs = [_model_record(args.path, zoo.MODELS[args.path])]     # a zoo name, like `mapc presets NAME`
    elif args.path is not None:
        if not Path(args.path).is_file():
            near = difflib.get_close_matches(args.path, list(zoo.MODELS), n=3)
            what = "not a file" if Path(args.path).exists() else "no such file" if Path(args.path).suffix \
                else "no such file or zoo model"
            raise MapcError(f"{what}: "
                            f"{args.path}" + (f" (did you mean {', '.join(near)}?)" if near else ""),
                            hint="give a zoo model's name (`mapc models` lists them), the path of a Hugging Face "
                                 "config.json or an ONNX file")
        m: Model = load_onnx(args.path, batch=args.batch, seq=args.seq) if args.path.endswith(".onnx") \
            else load_hf_config(args.path)
        recs = [_model_record(m.name, m)]
    else:
        recs = [_model_record(name, m) for name, m in zoo.MODELS.items()]
    if args.json:
        print_json({"ok": True, "command": "models", "models": recs})
        return EXIT_OK
    tab = Table(title="models" if args.path is None else f"model from {args.path}")
    for col in ("name", "kind", "layers", "hidden", "heads", "kv", "ffn", "experts", "params", "weights"):
        tab.add_column(col, justify="left" if col in ("name", "kind") else "right")
    dash = lambda v: "-" if v in (None, 0) else str(v)
    for r in recs:
        moe = f"{r['experts']} (top {r['top_k']})" if r.get("experts") else "-"
        tab.add_row(r["name"], r["kind"], dash(r.get("layers")), dash(r.get("hidden")), dash(r.get("heads")),
                    dash(r.get("kv_heads")), dash(r.get("ffn")), moe, _count(r["params"]),
                    f"{r['weight_bytes'] / 1e9:.2f} GB")
    console().print(tab)
    for r in recs:
        if r["kind"] == "onnx":
            print(f"{r['name']}: {r['flops'] / 1e9:,.3f} GFLOP per run at batch {r['batch']}; operators: "
                  + ", ".join(f"{n} {k}" for k, n in r["operators"].items()))
        for note in r.get("notes", ()):
            print(f"note: {note}")
    return EXIT_OK
