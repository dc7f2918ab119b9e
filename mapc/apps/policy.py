"""Dynamic PIM dispatch policy (PAPI-style): for each kernel class, the decode batch size below which it should
run on PIM, per decoding width (speculative / parallel decoding: new tokens per sequence per step).

Batch size and width change a kernel's arithmetic intensity at run time: a weight GEMM reads its weights once
for `batch * width` tokens, so its intensity grows with both and it leaves PIM once the chiplets' compute wins;
decode attention reads each sequence's own KV cache, so its intensity grows with the width (and the GQA group
size) but not with the batch. `dispatch_policy` prices one decode layer (with the LM head) of every (width,
batch) pair on the hardware with the cost backend's automatic dispatch (`CostModel(pim="auto")`: a kernel goes to
PIM where its PIM roofline time beats its own time on the chiplets) on a reference placement (the whole package
as one tensor-parallel group by default), reads off each class's choice, and turns it into thresholds
(`Rule.pim_below_batch`) and regimes (runs of batches with the same set of PIM classes). For each regime it
schedules a whole decode step at the regime's smallest and largest batch under that regime's dispatch
(`pim=<classes>`), with the `greedy` solver, checked by `compiler.check`.

`compare_dispatch` is the study of the effect: decode step time of dynamic dispatch (the policy applied by
batch and width) vs all on the NPU cores (`pim="off"`) vs every PIM-capable kernel on PIM (`pim="all"`).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from rich import box
from rich.table import Table

from mapc import api
from mapc.apps.common import console, nonempty, print_json, progress
from mapc.compiler.files import check_output_dir, write_dir_atomic
from mapc.compiler.evaluate import placement_indices
from mapc.compiler.lower import lower as lower_graph
from mapc.compiler.objective import energy_of
from mapc.compiler.ops import transformer_segment
from mapc.compiler.problem import Problem
from mapc.core.errors import EXIT_OK, HardwareError, MapcError
from mapc.core.graph import ExecutionGraph, Operator, Task
from mapc.core.hardware import Hardware
from mapc.core.options import SolveOptions
from mapc.core.spec import Model, ParallelSpec, PhaseSpec, ServeSpec, Spec, TransformerModel, WorkloadSpec
from mapc.dsl import zoo
from mapc.hw import pim as pimk
from mapc.hw import presets
from mapc.hw.cost import CostModel

SCHEMA = "mapc.policy/1"
DEFAULT_WIDTHS = tuple(range(1, 9))
DEFAULT_BATCHES = tuple(range(1, 257))
DEFAULT_CONTEXT = 1024


@dataclass(frozen=True)
class Rule:
    """Where one kernel class runs at one decoding width.

    `pim_below_batch = N`: PIM for batch < N, the compute units from N on. N equals the smallest swept batch
    when the class never goes to PIM, and the largest swept batch + 1 when it always does. `monotone` is False
    if the choice flips back to PIM at a larger batch; `pim_batches` then lists every batch where it is on PIM.
    Intensities are FLOP/B of the class's kernels (`mapc.hw.pim.intensity`), ridges FLOP/B of the units.
    """

    op_class: str
    width: int
    pim_below_batch: int
    monotone: bool
    intensity_at_batch1: float
    intensity_at_threshold: float | None
    npu_ridge: float
    pim_ridge: float
    pim_batches: tuple[int, ...] = ()


@dataclass(frozen=True)
class Regime:
    """Consecutive batches of one width that share a set of PIM classes, with the schedule of a whole decode
    step at its smallest and largest batch (`schedules`: batch, makespan_s, energy_j, tokens_per_s)."""

    width: int
    batch_lo: int
    batch_hi: int
    pim_classes: tuple[str, ...]
    schedules: tuple[dict[str, float], ...] = ()   # `step_schedule` summaries


@dataclass(frozen=True)
class Policy:
    hardware: str
    model: str
    context: int
    widths: tuple[int, ...]
    batches: tuple[int, ...]
    group_size: int
    rules: tuple[Rule, ...]
    regimes: tuple[Regime, ...]
    solver: str = "greedy"
    notes: tuple[str, ...] = field(default=())

    def classes_for(self, batch: int, width: int) -> frozenset[str]:
        """The kernel classes to run on PIM for a micro-batch of `batch` sequences at decoding `width`: the rules
        of the nearest swept width at or below (the smallest swept one below the range), thresholds as stated."""
        ws = sorted(self.widths)
        w = max([x for x in ws if x <= width], default=ws[0])
        out: set[str] = set()
        for r in self.rules:
            if r.width != w:
                continue
            on = (batch in r.pim_batches) if not r.monotone else batch < r.pim_below_batch
            if on:
                out.add(r.op_class)
        return frozenset(out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "hardware": self.hardware, "model": self.model, "context": self.context,
            "widths": list(self.widths), "batch_range": [min(self.batches), max(self.batches)],
            "batches_swept": len(self.batches), "reference_group_size": self.group_size, "solver": self.solver,
            "rules": [_rule_dict(r) for r in self.rules],
            "regimes": [{"width": g.width, "batch_lo": g.batch_lo, "batch_hi": g.batch_hi,
                         "pim_classes": list(g.pim_classes), "schedules": list(g.schedules)} for g in self.regimes],
            "notes": list(self.notes),
        }


def _rule_dict(r: Rule) -> dict[str, Any]:
    d = asdict(r)
    d["pim_batches"] = list(r.pim_batches) if not r.monotone else None
    return d


# ---- inputs --------------------------------------------------------------------------------------------------
def _model(model: str | Model) -> TransformerModel:
    m = zoo.get(model) if isinstance(model, str) else model
    if not isinstance(m, TransformerModel) or m.encoder_only:
        raise MapcError(f"a PIM dispatch policy needs a decoder transformer, got {getattr(m, 'name', m)!r}")
    return m


def _is_decoder(m: Model | None) -> bool:
    return isinstance(m, TransformerModel) and not m.encoder_only


def _hardware(hw: str | Hardware) -> Hardware:
    return presets.get(hw) if isinstance(hw, str) else hw


def _ints(name: str, xs: Iterable[Any]) -> tuple[int, ...]:
    try:
        out = tuple(sorted({int(x) for x in xs}))
    except (TypeError, ValueError):
        raise MapcError(f"{name} must be positive integers, got {xs!r}") from None
    if not out or out[0] < 1:
        raise MapcError(f"{name} must be positive integers, got {list(xs)!r}")
    return out


def _group(hw: Hardware, group_size: int | None) -> int:
    k = hw.n if group_size is None else int(group_size)
    if not 1 <= k <= hw.n:
        raise HardwareError(f"reference group of {k} chiplets does not fit {hw.name} ({hw.n} chiplets)")
    return k


# ---- the sweep -----------------------------------------------------------------------------------------------
def decisions(model: str | Model, hw: str | Hardware, widths: Iterable[int] = DEFAULT_WIDTHS,
              batches: Iterable[int] = DEFAULT_BATCHES, context: int = DEFAULT_CONTEXT, group_size: int | None = None
              ) -> tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...], np.ndarray, np.ndarray,
                         list[list[tuple[Operator, ...]]]]:
    """Per (width, batch): the PIM choice per class on the reference placement.

    Returns (classes, widths, batches, on[W, B, C] bool, present[C] bool, tasks[W][B] operator tuples).
    One cost model prices every pair at once (one task each: the model's last layer with the LM head).
    """
    m, hwv = _model(model), _hardware(hw)
    ws, bs = _ints("widths", widths), _ints("batches", batches)
    if context < 1:
        raise MapcError(f"context must be >= 1, got {context}")
    k = _group(hwv, group_size)
    last = m.layers - 1
    tasks: list[Task] = []
    ops: list[list[tuple[Operator, ...]]] = []
    for w in ws:
        row = []
        for b in bs:
            o = transformer_segment(m, "decode", b, w, context + w, last, last)
            tasks.append(Task(len(tasks), f"w{w}/b{b}", m.name, "decode", 0, (last, last), o, f"{m.name}/L{last}",
                              batch=b, seq=w, context=context + w))
            row.append(o)
        ops.append(row)
    cm = CostModel(hwv, ExecutionGraph(tuple(tasks), ()), group_sizes=(k,), pim="auto")
    res = np.isfinite(cm.lat_resident[:, 0]) & (cm.lat_resident[:, 0] <= cm.lat_stream[:, 0])
    off = np.where(res[:, None], cm.pim_offload(True)[:, 0, :], cm.pim_offload(False)[:, 0, :])
    present = np.zeros(len(pimk.CLASSES), dtype=bool)
    for op in ops[0][0]:
        c = pimk.op_class(op)
        if c is not None:
            present[pimk.CLASSES.index(c)] = True
    return pimk.CLASSES, ws, bs, off.reshape(len(ws), len(bs), -1), present, ops


def dispatch_policy(model: str | Model, hw: str | Hardware, widths: Iterable[int] = DEFAULT_WIDTHS,
                    batches: Iterable[int] = DEFAULT_BATCHES, *, context: int = DEFAULT_CONTEXT,
                    group_size: int | None = None, schedules: bool = True, solver: str = "greedy",
                    seed: int = 0) -> "Policy":
    """The dispatch policy of `model` (zoo name or TransformerModel) on `hw` (preset name or Hardware).

    With `schedules`, every regime carries the checked schedule of a whole decode step at its two end batches.
    On hardware without PIM every class stays on the chiplets (one regime per width).
    """
    m, hwv = _model(model), _hardware(hw)
    classes, ws, bs, on, present, ops = decisions(m, hwv, widths, batches, context, group_size)
    k = _group(hwv, group_size)
    units = pimk.units(hwv)
    npu_ridge = min(u.ridge for u in units if u.kind == "npu")
    pim_ridge = min((u.ridge for u in units if u.kind == "pim"), default=float("inf"))
    rules: list[Rule] = []
    for wi, w in enumerate(ws):
        for ci, c in enumerate(classes):
            if not present[ci]:
                continue
            col = on[wi, :, ci]
            npu_at = np.nonzero(~col)[0]
            first_npu = int(npu_at[0]) if npu_at.size else len(bs)
            monotone = not col[first_npu:].any()
            thr = bs[first_npu] if first_npu < len(bs) else bs[-1] + 1
            kern = lambda bi: [o for o in ops[wi][bi] if pimk.op_class(o) == c]
            rules.append(Rule(c, w, thr, bool(monotone), pimk.intensity(kern(0)),
                              pimk.intensity(kern(first_npu)) if first_npu < len(bs) else None,
                              npu_ridge, pim_ridge,
                              () if monotone else tuple(int(b) for b, x in zip(bs, col) if x)))
    regimes: list[Regime] = []
    for wi, w in enumerate(ws):
        start = 0
        for bi in range(1, len(bs) + 1):
            if bi == len(bs) or not np.array_equal(on[wi, bi], on[wi, start]):
                cls = tuple(c for c, x in zip(classes, on[wi, start]) if x)
                lo, hi = bs[start], bs[bi - 1]
                sch: tuple[dict[str, float], ...] = ()
                if schedules:
                    sch = tuple(step_schedule(m, hwv, b, w, context, frozenset(cls), solver=solver, seed=seed)
                                for b in sorted({lo, hi}))
                regimes.append(Regime(w, lo, hi, cls, sch))
                start = bi
    notes: tuple[str, ...] = (
        f"thresholds from the cost backend on one {k}-chiplet group (the reference placement); a kernel goes "
        "to PIM where its PIM roofline time beats its own time on the chiplets",
        f"decode context {context} tokens; one decode layer plus the LM head priced per (width, batch)",)
    if not hwv.pim:
        notes += (f"{hwv.name} has no PIM units: every kernel stays on the chiplets",)
    return Policy(hwv.name, m.name, int(context), ws, bs, k, tuple(rules), tuple(regimes), solver, notes)


# ---- whole-step schedules -------------------------------------------------------------------------------------
def decode_spec(model: str | Model, batch: int, width: int, context: int, microbatches: int = 1) -> Spec:
    """A `Spec` for one decode step of `batch` sequences of `context` tokens at decoding `width`."""
    m = _model(model)
    wl = WorkloadSpec("decode_step", (ServeSpec(m.name, (PhaseSpec("decode", int(batch), (int(context),), 1,
                                                                   int(width)),), int(microbatches)),))
    return Spec("<policy>", {m.name: m}, wl, ParallelSpec())


def group_sizes_of(hw: Hardware) -> tuple[int, ...]:
    """Powers of two up to the whole package (so one micro-batch can use every chiplet)."""
    out: list[int] = []
    k = 1
    while k <= hw.n:
        out.append(k)
        k *= 2
    if hw.n not in out:
        out.append(hw.n)
    return tuple(out)


def step_schedule(model: str | Model, hw: str | Hardware, batch: int, width: int, context: int,
                  pim: str | frozenset[str], *, solver: str = "greedy", seed: int = 0, time_limit: float = 5.0,
                  microbatches: int = 1) -> dict[str, float]:
    """Schedule one decode step under a PIM dispatch (`pim` as `CostModel` takes it), check it, and summarise
    it: batch, width, makespan_s (the step time), energy_j, tokens_per_s, pim_time_s (time spent in PIM)."""
    m, hwv = _model(model), _hardware(hw)
    spec = decode_spec(m, batch, width, context, microbatches)
    g = lower_graph(spec)
    cost = CostModel(hwv, g, group_sizes=group_sizes_of(hwv), pim=pim)
    r = api.solve(Problem(g, hwv, cost, spec.parallel, spec),
                  SolveOptions(solver=solver, objective="latency", time_limit=time_limit, seed=seed, threads=1))
    s = r.schedule
    rows = np.arange(g.n)
    pi, res = placement_indices(s, cost), np.array([t.resident for t in s.tasks], dtype=bool)
    pim_t = np.where(res, cost.breakdown(True)["pim"][rows, pi], cost.breakdown(False)["pim"][rows, pi])
    T = s.makespan
    return {"batch": int(batch), "width": int(width), "makespan_s": float(T), "energy_j": energy_of(s, cost),
            "tokens_per_s": float(batch * width / T) if T > 0 else 0.0, "pim_time_s": float(pim_t.sum())}


def compare_dispatch(model: str | Model, hw: str | Hardware,
                     batches: Iterable[int] = (1, 2, 4, 8, 16, 32, 64, 128, 256), width: int = 1, *,
                     context: int = DEFAULT_CONTEXT, policy: Policy | None = None, solver: str = "greedy",
                     seed: int = 0) -> list[dict[str, Any]]:
    """Decode step time and energy of dynamic dispatch (the policy's classes at each batch), all on the NPU
    cores, and all PIM-capable kernels on PIM, per batch; with speedups of dynamic over the other two."""
    m, hwv = _model(model), _hardware(hw)
    bs = _ints("batches", batches)
    if policy is None:
        policy = dispatch_policy(m, hwv, (width,), bs, context=context, schedules=False)
    rows = []
    for b in bs:
        dyn_cls = policy.classes_for(b, width)
        d = step_schedule(m, hwv, b, width, context, dyn_cls, solver=solver, seed=seed)
        n = step_schedule(m, hwv, b, width, context, "off", solver=solver, seed=seed)
        p = step_schedule(m, hwv, b, width, context, "all", solver=solver, seed=seed)
        rows.append({"batch": b, "width": width, "pim_classes": " ".join(sorted(dyn_cls)),
                     "dynamic_s": d["makespan_s"], "npu_s": n["makespan_s"], "pim_s": p["makespan_s"],
                     "dynamic_j": d["energy_j"], "npu_j": n["energy_j"], "pim_j": p["energy_j"],
                     "speedup_vs_npu": n["makespan_s"] / d["makespan_s"],
                     "speedup_vs_pim": p["makespan_s"] / d["makespan_s"]})
    return rows


def geomean(xs: Iterable[float]) -> float:
    vals = [float(x) for x in xs]
    return math.exp(sum(math.log(x) for x in vals) / len(vals)) if vals else float("nan")


# ---- output ------------------------------------------------------------------------------------------------------
POLICY_FILES = ("policy.json", "dispatch_sweep.csv")


def write_policy(policy: Policy, out_dir: str | os.PathLike[str], comparison: list[dict[str, Any]] | None = None
                 ) -> list[str]:
    """Write `policy.json` (schema mapc.policy/1) and, given a `compare_dispatch` result, `dispatch_sweep.csv`,
    atomically; returns the paths written."""
    doc = policy.to_dict()
    if comparison:
        doc["comparison"] = {"rows": comparison,
                             "geomean_speedup_vs_npu": geomean(r["speedup_vs_npu"] for r in comparison),
                             "geomean_speedup_vs_pim": geomean(r["speedup_vs_pim"] for r in comparison)}

    def build(tmp: Path) -> None:
        (tmp / "policy.json").write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        if comparison:
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=list(comparison[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(comparison)
            (tmp / "dispatch_sweep.csv").write_text(buf.getvalue(), encoding="utf-8")

    return write_dir_atomic(out_dir, build, POLICY_FILES)


# ---- the command: `mapc policy FILE [--hw PRESET] [-o DIR]` --------------------------------------------------
def _int_list(s: str) -> tuple[int, ...]:
    """`1,2,4` or `1..256` (inclusive) or a mix: `1..8,16,32`."""
    out: list[int] = []
    try:
        for part in s.split(","):
            if ".." in part:
                a, b = part.split("..")
                out.extend(range(int(a), int(b) + 1))
            elif part.strip():
                out.append(int(part))
    except ValueError:
        raise MapcError(f"expected integers like `1,2,4` or `1..256`, got `{s}`") from None
    return _ints("list", out)


def policy_for_file(path: str | os.PathLike[str], hw_arg: str | None = None,
                    out_dir: str | os.PathLike[str] | None = None, *, model: str | None = None,
                    widths: Iterable[int] = DEFAULT_WIDTHS, batches: Iterable[int] = DEFAULT_BATCHES,
                    compare_batches: Iterable[int] = (1, 2, 4, 8, 16, 32, 64, 128, 256),
                    progress: Callable[[str], None] = lambda s: None
                    ) -> tuple[Policy, list[dict[str, Any]], list[str]]:
    """The policy of the first decoder served by a source file (or `model`), on its hardware (or `hw_arg`), at
    the file's longest decode context; writes policy.json and dispatch_sweep.csv (width-1 comparison).

    The file goes through `api.lower` first, so it gets the same verdict as `mapc compile` (parallel degrees,
    memory, size guard); hardware without PIM units is refused (exit 2): there is no dispatch to decide."""
    spec = api.load(path)
    hw = api.hardware(hw_arg, spec)
    if spec.workload is not None:
        progress(f"checking {path} on {hw.name}")
        api.lower(spec, hw)
    if not hw.pim:
        with_pim = [n for n in presets.PRESETS if presets.get(n).pim]
        raise HardwareError(f"{hw.name} has no PIM units: a PIM dispatch policy needs hardware with `pim` blocks",
                            hint="use a PIM preset (" + ", ".join(with_pim) + ") or add a `pim` block to the "
                                 "hardware description")
    served = [sv for sv in (spec.workload.serves if spec.workload else ())]
    sv: ServeSpec | None
    m: Model
    if model is None:
        dec = [sv for sv in served if _is_decoder(spec.models.get(sv.model))]
        if not dec:
            raise MapcError(f"{path}: no decoder transformer is served", hint="pass --model NAME")
        sv, m = dec[0], spec.models[dec[0].model]
    else:
        m = spec.models.get(model) or _model(model)
        sv = next((s for s in served if s.model == model), None)
    ctx = [max(ph.lengths) for ph in (sv.phases if sv else ()) if ph.phase == "decode"]
    context = max(ctx) if ctx else DEFAULT_CONTEXT
    progress(f"sweeping {m.name} on {hw.name}: widths {min(widths)}..{max(widths)}, batches "
             f"{min(batches)}..{max(batches)}, context {context}")
    pol = dispatch_policy(m, hw, widths, batches, context=context)
    progress("comparing dynamic dispatch with all-on-NPU and all-on-PIM")
    rows = compare_dispatch(m, hw, compare_batches, 1, context=context, policy=pol)
    target = Path(out_dir) if out_dir is not None else Path.cwd() / f"{Path(path).stem}.policy"
    return pol, rows, write_policy(pol, target, rows)


def add_arguments(po: argparse.ArgumentParser) -> None:
    po.add_argument("file", type=nonempty, help="mapc source file serving a decoder model")
    po.add_argument("--hw", type=nonempty, help="preset or hardware file (default: the file's hardware block)")
    po.add_argument("-o", "--out", type=nonempty, metavar="DIR", help="output directory (default ./<stem>.policy/)")
    po.add_argument("--model", default=None, help="served model to sweep (default: the first decoder)")
    po.add_argument("--widths", default="1..8", help="decoding widths, e.g. 1..8 or 1,2,4 (default 1..8)")
    po.add_argument("--batches", default="1..256", help="batch sizes swept (default 1..256)")
    po.add_argument("--compare", default="1,2,4,8,16,32,64,128,256", help="batches of the dispatch comparison")
    po.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def cli_main(args: argparse.Namespace) -> int:
    """`mapc policy FILE --hw HW`: PIM dispatch thresholds per kernel class and decoding width
    (`mapc.apps.policy.policy_for_file`)."""
    widths, batches, cmp = (_int_list(a) for a in (args.widths, args.batches, args.compare))
    if args.out is not None:
        check_output_dir(args.out)
    with progress(not args.json, f"reading {args.file}") as step:
        pol, rows, files = policy_for_file(args.file, args.hw, args.out, model=args.model, widths=widths,
                                           batches=batches, compare_batches=cmp, progress=step)
    if args.json:
        print_json({"ok": True, "command": "policy", "files": files, "policy": pol.to_dict(), "comparison": rows})
        return EXIT_OK
    classes = list(dict.fromkeys(r.op_class for r in pol.rules))
    t = Table(title=f"{pol.model} on {pol.hardware}: run on PIM while batch < N", box=box.SIMPLE_HEAD)
    t.add_column("width", justify="right")
    for c in classes:
        t.add_column(c, justify="right")
    for w in pol.widths:
        th = {r.op_class: r for r in pol.rules if r.width == w}
        t.add_row(str(w), *(str(th[c].pim_below_batch) + ("" if th[c].monotone else "*") if c in th else "-"
                            for c in classes))
    console().print(t)
    if any(not r.monotone for r in pol.rules):
        print("* not monotone in batch: see pim_batches in policy.json")
    if rows:
        print(f"decode step, width 1: dynamic vs all-on-NPU x{geomean(r['speedup_vs_npu'] for r in rows):.2f},"
              f" vs all-on-PIM x{geomean(r['speedup_vs_pim'] for r in rows):.2f} (geomean over batches "
              f"{','.join(str(r['batch']) for r in rows)})")
    print("wrote " + ", ".join(files))
    return EXIT_OK
