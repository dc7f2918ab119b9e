"""Processing-in-memory (PIM): which operators a PIM unit runs, how they group into kernels, how they are
characterised against a unit's roofline, and what they cost there (SI units: s, bytes, FLOPs, J).

Shape (a decision): PIM is an *operator-level split inside a task*, not a placement of its own. A task still
occupies the chiplets of its placement for its whole latency; the memory-bound kernels it dispatches to PIM
run in the HBM-PIM units while its chiplets wait for them (the next operator needs their output), so every
solver and the schedule format stay as they are.

PIM units are shared resources of the schedule (issue 13), like the DRAM channels. Weights and the KV cache live
in HBM interleaved over all stacks (the usual address mapping; in proportion to each unit's bandwidth), so every
task's PIM kernels reach every unit and are priced at the whole package's PIM (`PimPackage`: the units' internal
bandwidth and compute summed), as if the task had it to itself; their external bytes at the placement's peak
DRAM rate. Whether it gets them is the schedule's business: a task whose PIM kernels move I internal bytes and
F FLOPs and that lasts d draws I / d of the pooled internal bandwidth and F / d of the pooled compute over its
whole run (the bytes / duration convention of the DRAM channels), and at every instant the draws sum to at most
the package's totals: the schedulers book them as two pooled resources next to the DRAM channels
(`mapc.hw.dram_resources`; pooling is exact under the interleaving: every task spreads its PIM work over the
units in proportion to their capacity, so each unit carries the pool's load times its share) and
`mapc.compiler.check` verifies it (rule `pim`). Assumption: PIM internal accesses and the NPU's external
accesses to HBM do not slow each other (AttAcc/PAPI time-multiplex them).

Kernel classes (PAPI's dispatch granularity): a maximal run of consecutive operators of one class is one
kernel. `qkv`, `attention` (score, softmax, value: scores stay inside the PIM unit, as in AttAcc),
`out_proj`, `ffn` (up, activation, down), `moe` (router, experts), `lm_head`, and `fc` for any other weight
GEMM (e.g. a CNN's fully connected layer). Norms, embeddings, convolutions and pooling stay on the chiplets.

A kernel on PIM moves three kinds of bytes:
  internal: weights + KV read and written + intermediate activations between its operators, at the
            package's PIM internal (bank-level) bandwidth;
  external: its first operator's input and its last operator's output, between the chiplets and HBM, at the
            placement's peak DRAM rate (counted as DRAM bytes, so the DRAM lower bound stays valid);
  compute:  its FLOPs at the package's PIM FLOP/s.
Latency is the roofline max of the three; energy is internal bits x PIM pJ/bit + FLOPs x PIM pJ/op
(AttAcc energy table, `mapc.hw.constants`) + the external bytes priced like DRAM traffic by the cost backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal, Sequence

import numpy as np

from mapc.core.errors import MapcError
from mapc.core.graph import Operator
from mapc.core.hardware import ChipletType, Hardware, PimUnit

CLASSES = ("qkv", "attention", "out_proj", "ffn", "moe", "lm_head", "fc")
_NAME_CLASS = {
    "qkv": "qkv", "attn_score": "attention", "softmax": "attention", "attn_value": "attention",
    "attn_out": "out_proj", "ffn_up": "ffn", "ffn_act": "ffn", "ffn_down": "ffn",
    "moe_router": "moe", "moe_up": "moe", "moe_act": "moe", "moe_down": "moe", "lm_head": "lm_head",
}
_CLASS_INDEX = {c: i for i, c in enumerate(CLASSES)}


def op_class(op: Operator) -> str | None:
    """The PIM kernel class of an operator, or None for operators that always stay on the chiplets."""
    c = _NAME_CLASS.get(op.name)
    if c is not None:
        return c
    return "fc" if op.kind == "gemm" else None


def class_index(ops: Sequence[Operator]) -> np.ndarray:
    """[len(ops)] index into `CLASSES` of each operator's class, -1 for chiplet-only operators."""
    out = np.full(len(ops), -1, dtype=np.int64)
    for i, op in enumerate(ops):
        c = op_class(op)
        if c is not None:
            out[i] = _CLASS_INDEX[c]
    return out


def kernel_bytes(ops: Sequence[Operator], owner: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per operator of a flat list: (class index, internal bytes, external bytes) when it runs on PIM.

    Consecutive operators of the same class and the same owner (task) form one kernel: only the kernel's first
    input and last output cross the HBM interface; everything else stays inside the PIM unit.
    """
    n = len(ops)
    cls = class_index(ops)
    own = np.zeros(n, dtype=np.int64) if owner is None else np.asarray(owner, dtype=np.int64)
    same_prev = np.zeros(n, dtype=bool)
    same_prev[1:] = (cls[1:] == cls[:-1]) & (own[1:] == own[:-1]) & (cls[1:] >= 0)
    first = ~same_prev
    last = np.ones(n, dtype=bool)
    last[:-1] = ~same_prev[1:]
    f = lambda a: np.array([getattr(o, a) for o in ops], dtype=np.float64)
    ib, ob = f("in_bytes"), f("out_bytes")
    internal = (f("weight_bytes") + f("kv_read_bytes") + f("kv_write_bytes")
                + np.where(first, 0.0, ib) + np.where(last, 0.0, ob))
    external = np.where(first, ib, 0.0) + np.where(last, ob, 0.0)
    return cls, internal, external


@dataclass(frozen=True)
class PimPackage:
    """The package's PIM units pooled (see the module docstring): what a task reaches when it has them all."""

    bandwidth: float        # B/s internal (bank-level), summed over the units
    flops: float            # FLOP/s, summed over the units
    energy_per_bit: float   # J/bit of an internal access (bandwidth-weighted mean over the units)
    energy_per_flop: float  # J/FLOP of the PIM ALUs (mac_energy / 2)


def package(hw: Hardware) -> PimPackage | None:
    """The pooled PIM units of `hw`, or None when it has none."""
    if not hw.pim:
        return None
    bw = float(sum(u.bandwidth for u in hw.pim))
    fl = float(sum(u.peak_flops for u in hw.pim))
    e_bit = sum(u.energy_per_bit * u.bandwidth for u in hw.pim) / bw
    e_flop = sum(u.mac_energy / 2.0 * u.peak_flops for u in hw.pim) / fl
    return PimPackage(bw, fl, e_bit, e_flop)


def kernel_times(pk: PimPackage, cls: np.ndarray, owner: np.ndarray, flops: np.ndarray, internal: np.ndarray,
                 external: np.ndarray, ext_bw: np.ndarray, n_tasks: int, part: np.ndarray | None = None
                 ) -> np.ndarray:
    """[len(CLASSES), n_tasks, P] s of each task's kernels of each class on the package's PIM: the roofline
    max(FLOPs / PIM FLOP/s, internal / PIM bandwidth, external / the placement's peak DRAM rate `ext_bw[P]`)
    of every kernel instance (a run of consecutive operators of one class and owner), summed per (class, task).
    `part[P]`: the fraction of the pooled units a placement gets (default 1: all of them). Per-operator inputs
    are those of `kernel_bytes` (`cls` -1: not a PIM operator)."""
    out = np.zeros((len(CLASSES), n_tasks, ext_bw.size))
    in_cls = cls >= 0
    if not in_cls.any():
        return out
    run_id = np.cumsum(np.r_[True, ~((cls[1:] == cls[:-1]) & (owner[1:] == owner[:-1]))]) - 1
    R = int(run_id[-1]) + 1
    rsum = lambda x: np.bincount(run_id, weights=x, minlength=R)
    core = np.maximum(rsum(flops) / pk.flops, rsum(internal) / pk.bandwidth)
    sc = np.ones(ext_bw.size) if part is None else np.asarray(part, dtype=np.float64)
    rt = np.maximum(core[:, None] / sc[None, :], rsum(external)[:, None] / ext_bw[None, :])          # [R, P]
    rcls = np.full(R, -1)
    rcls[run_id] = cls
    rown = np.zeros(R, dtype=np.int64)
    rown[run_id] = owner
    ok = rcls >= 0
    np.add.at(out, (rcls[ok], rown[ok]), rt[ok])
    return out


def energy_on(pk: PimPackage, flops, internal):
    """PIM-side energy (J): internal bits x J/bit + FLOPs x J/FLOP (external bytes are priced as DRAM)."""
    return np.asarray(internal) * 8.0 * pk.energy_per_bit + np.asarray(flops) * pk.energy_per_flop


# ---- characterisation ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unit:
    """A unit an operator can run on, as a roofline: peak FLOP/s and the memory bandwidth it computes from."""

    name: str
    kind: Literal["npu", "pim"]
    peak_flops: float       # FLOP/s
    bandwidth: float        # B/s

    @property
    def ridge(self) -> float:
        """FLOP/B at which the unit turns from memory- to compute-bound."""
        return self.peak_flops / self.bandwidth if self.bandwidth > 0 else float("inf")


@dataclass(frozen=True)
class Characterisation:
    intensity: float        # FLOP/B
    ridge: float            # FLOP/B
    bound: Literal["compute", "memory"]


def units(hw: Hardware) -> tuple[Unit, ...]:
    """One unit per chiplet type (one chiplet's peak and its DRAM share, as in the cost backend) and one per
    PIM unit (its compute and internal bandwidth)."""
    dram_share = min(hw.dram_bandwidth / hw.n, hw.nop.link_bw) if hw.dram else 0.0
    out: dict[str, Unit] = {}
    for c in hw.chiplets:
        out.setdefault(c.type.name, unit_of(c.type, dram_share))
    return tuple(out.values()) + tuple(unit_of(p) for p in hw.pim)


def unit_of(u: ChipletType | PimUnit, dram_share: float | None = None) -> Unit:
    """A `Unit` for a chiplet type (needs the DRAM bandwidth it sees) or a PIM unit."""
    if isinstance(u, PimUnit):
        return Unit(u.name, "pim", u.peak_flops, u.bandwidth)
    if dram_share is None:
        raise ValueError("a chiplet type needs the DRAM bandwidth it streams from (dram_share)")
    return Unit(u.name, "npu", u.peak_flops, dram_share)


def intensity(ops: Operator | Iterable[Operator]) -> float:
    """Arithmetic intensity (FLOP/B) of an operator or a kernel (consecutive operators): FLOPs over the bytes
    it must touch in memory (weights, KV read and written, the kernel's input and output)."""
    ops = (ops,) if isinstance(ops, Operator) else tuple(ops)
    if not ops:
        return 0.0
    fl = sum(o.flops for o in ops)
    b = sum(o.weight_bytes + o.kv_read_bytes + o.kv_write_bytes for o in ops) + ops[0].in_bytes + ops[-1].out_bytes
    return fl / b if b > 0 else float("inf")


def characterise(op: Operator | Iterable[Operator], unit: Unit | PimUnit) -> Characterisation:
    """(intensity, ridge point, bound) of an operator or kernel on a unit: compute-bound at or above the ridge."""
    if isinstance(unit, PimUnit):
        unit = unit_of(unit)
    i = intensity(op)
    r = unit.ridge
    return Characterisation(i, r, "compute" if i >= r else "memory")


PIM_MODES = ("auto", "off", "all")


def check_classes(names) -> frozenset:
    try:
        names = frozenset(names)
    except TypeError:
        raise MapcError(f"a PIM dispatch must name kernel classes, got {names!r}",
                        hint="classes: " + ", ".join(CLASSES)) from None
    bad = sorted(str(c) for c in names if c not in CLASSES)
    if bad:
        raise MapcError(f"unknown PIM kernel class(es) {', '.join(bad)}", hint="classes: " + ", ".join(CLASSES))
    return names


def check_pim_mode(mode):
    """"auto" | "off" | "all" | a collection of class names | {class: bool} | callable(task) -> class names."""
    if isinstance(mode, str):
        if mode not in PIM_MODES:
            raise MapcError(f"unknown PIM dispatch mode {mode!r}", hint="use one of: " + ", ".join(PIM_MODES)
                            + ", or a set of kernel classes (" + ", ".join(CLASSES) + ")")
        return mode
    if callable(mode):
        return mode
    if isinstance(mode, dict):
        check_classes(mode)
        return frozenset(c for c, on in mode.items() if on)
    return check_classes(mode)
