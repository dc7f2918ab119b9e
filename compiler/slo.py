"""Service-level objectives: attainment of a schedule, the `slo` objective, and the physical floors a target
must clear (SI units: seconds, bytes, FLOP).

A workload's `slo ttft T tpot P` applies to every request (`ExecutionGraph.requests` groups them by model and
micro-batch). A group's TTFT is the end of its last-layer prefill task; its TPOT the steady-state period
makespan / (decode steps x tokens per step), as `mapc.compiler.evaluate.Metrics` defines it, so a TPOT target is
a deadline on the makespan and a TTFT target a deadline on a prefill's end.

The `slo` objective (`slo_value`): meet every target at the least energy; when no schedule the solver finds
meets them, maximise the fraction of requests that do, then shrink the relative excess of the misses. One float
orders schedules that way: energy (J) when every target is met, else
`MISS_WEIGHT x (missed fraction + EXCESS_WEIGHT x x / (1 + x)) + energy`, x the mean relative excess of the
missing requests: x / (1 + x) is below 1 (a miss fraction still outranks any excess) and strictly increasing, so
a schedule that misses a target by 5x is still told from one that misses it by 7x (a cap at 1 would not).

Floors (`check_floors`, exit 3): a target no schedule can meet on this hardware, with its cause:
  * weights: every decode step of a model reads the weights that do not fit in the package's SRAM for weights
    from DRAM: TPOT >= (weights - SRAM) / DRAM bandwidth / tokens per step (left out on hardware with PIM units,
    which read weights inside the memory);
  * compute: TPOT >= the graph's FLOPs / the package's peak FLOP/s / (steps x width of the longest decode): the
    graph is one iteration of the serving loop, prefill included, so every task of it delays the next token;
  * KV cache: TPOT >= the decode steps' KV reads / DRAM bandwidth / (steps x width) (no PIM);
  * the lower bound: TPOT >= makespan bound / (steps x width), TTFT >= the prefill's critical path at every
    task's fastest latency (`lower_bound` on the cost model without directives).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mapc.core.errors import InfeasibleError
from mapc.core.graph import ExecutionGraph
from mapc.core.hardware import Hardware

MISS_WEIGHT = 1e9        # J: any miss outweighs any energy a schedule can have
EXCESS_WEIGHT = 1e-4     # below one request's share of the attainment on graphs of up to 10^4 request groups
GB = 1e9
MS = 1e-3


def targets(graph: ExecutionGraph) -> tuple[float | None, float | None]:
    """(TTFT target, TPOT target) in seconds, None where the workload sets none."""
    return graph.meta.get("ttft_slo"), graph.meta.get("tpot_slo")


def has_slo(graph: ExecutionGraph) -> bool:
    return any(x is not None for x in targets(graph))


@dataclass(frozen=True)
class SloOutcome:
    """Per request group: TTFT and TPOT (NaN where the group has no such phase) and whether it met every
    target; totals weighted by the groups' requests."""

    ttft: np.ndarray
    tpot: np.ndarray
    met: np.ndarray
    ttft_attainment: float | None
    tpot_attainment: float | None
    attainment: float | None
    goodput_tokens: float
    excess: float                                   # mean relative excess over the target of the missing groups
    by_model: dict[str, dict[str, float | None]] = field(default_factory=dict)
    worst: dict[str, float] = field(default_factory=dict)   # phase -> worst value (s) where the target is missed


def outcome(graph: ExecutionGraph, end: np.ndarray, makespan: float) -> SloOutcome | None:
    """Attainment of the schedule whose task ends are `end` (None when the workload sets no target)."""
    ttft_t, tpot_t = targets(graph)
    if ttft_t is None and tpot_t is None:
        return None
    rq = graph.requests
    has_p, has_d = rq.ttft_task >= 0, rq.tpot_div > 0
    ttft = np.where(has_p, np.asarray(end)[np.maximum(rq.ttft_task, 0)], np.nan)
    tpot = np.where(has_d, makespan / np.maximum(rq.tpot_div, 1), np.nan)
    ok_p = ~has_p | (ttft_t is None) | (np.nan_to_num(ttft) <= (ttft_t or 0) * (1 + 1e-12))
    ok_d = ~has_d | (tpot_t is None) | (np.nan_to_num(tpot) <= (tpot_t or 0) * (1 + 1e-12))
    met = ok_p & ok_d
    w = rq.batch

    def frac(ok: np.ndarray, rows: np.ndarray) -> float | None:
        tot = float(w[rows].sum())
        return float(w[rows & ok].sum()) / tot if tot > 0 else None

    ex_p = np.where(has_p & ~ok_p, np.nan_to_num(ttft) / (ttft_t or 1) - 1, 0.0)
    ex_d = np.where(has_d & ~ok_d, np.nan_to_num(tpot) / (tpot_t or 1) - 1, 0.0)
    miss = ~met
    excess = float((ex_p + ex_d)[miss].mean()) if miss.any() else 0.0
    by_model: dict[str, dict[str, float | None]] = {}
    names = np.array(rq.model, dtype=object)
    for m in dict.fromkeys(rq.model):
        rows = names == m
        by_model[m] = {"ttft_attainment": frac(ok_p, rows & has_p) if ttft_t is not None else None,
                       "tpot_attainment": frac(ok_d, rows & has_d) if tpot_t is not None else None,
                       "slo_attainment": frac(met, rows)}
    worst: dict[str, float] = {}
    if (has_p & ~ok_p).any():
        worst["prefill"] = float(np.nanmax(np.where(has_p & ~ok_p, ttft, np.nan)))
    if (has_d & ~ok_d).any():
        worst["decode"] = float(np.nanmax(np.where(has_d & ~ok_d, tpot, np.nan)))
    every = np.ones(len(w), dtype=bool)
    return SloOutcome(ttft, tpot, met,
                      frac(ok_p, has_p) if ttft_t is not None else None,
                      frac(ok_d, has_d) if tpot_t is not None else None,
                      frac(met, every), float(rq.tokens[met].sum()), excess, by_model, worst)


def slo_value(graph: ExecutionGraph, end: np.ndarray, makespan: float, energy: float) -> float:
    """The `slo` objective (module doc); plain energy when the workload sets no target."""
    o = outcome(graph, end, makespan)
    if o is None or o.attainment is None or o.attainment >= 1.0:
        return float(energy)
    x = max(0.0, o.excess)
    return MISS_WEIGHT * ((1.0 - o.attainment) + EXCESS_WEIGHT * x / (1.0 + x)) + float(energy)


# What binds the makespan lower bound (`evaluate.Bound.tightest`), in a floor's message.
BOUND_CAUSES = {"work": "the package's total work spread over every chiplet",
                "dram": "the DRAM bytes the tasks must move, at the DRAM bandwidth",
                "pim": "the PIM work (internal bytes, FLOPs) the tasks must do, at the PIM units' totals",
                "critical_path": "the longest dependency chain at its fastest placements",
                "critical_path_transfers": "the longest dependency chain with its minimum transfers",
                "lp": "the LP relaxation of placement and order"}


# ---- floors --------------------------------------------------------------------------------------------------
def tpot_floors(graph: ExecutionGraph, hw: Hardware, weights: dict[str, float], sram_weights: float,
                bound_s: float, bound_name: str = "") -> list[tuple[float, str]]:
    """(floor in s, cause) pairs for TPOT (module doc), largest first; empty without decode."""
    rq = graph.requests
    if not (rq.tpot_div > 0).any():
        return []
    div = float(rq.tpot_div[rq.tpot_div > 0].max())
    bw = hw.dram_bandwidth
    out: list[tuple[float, str]] = []
    width = min((t.seq for t in graph.tasks if t.phase == "decode"), default=1) or 1
    if not hw.pim and bw > 0:
        decoding = {t.model for t in graph.tasks if t.phase == "decode"}
        for m in sorted(decoding):
            over = weights.get(m, 0.0) - sram_weights
            if over > 0:
                out.append((over / bw / width,
                            f"reading {weights[m] / GB:.3g} GB of `{m}` weights ({over / GB:.3g} GB beyond the "
                            f"{sram_weights / 2 ** 20:.4g} MiB of SRAM for weights) at {bw / GB:.4g} GB/s every "
                            f"decode step of {width} token(s)"))
        kv = sum(t.kv_read_bytes for t in graph.tasks if t.phase == "decode")
        if kv > 0:
            out.append((kv / bw / div, f"reading the iteration's {kv / GB:.3g} GB of KV cache at {bw / GB:.4g} "
                                       f"GB/s, which gives each decoding request {div:g} token(s)"))
    if hw.peak_flops > 0:
        fl = float(graph.flops.sum())
        out.append((fl / hw.peak_flops / div, f"the iteration's {fl / 1e12:.3g} TFLOP (every task of the workload) "
                                               f"at the package's peak {hw.peak_flops / 1e12:.4g} TFLOP/s, which "
                                               f"gives each decoding request {div:g} token(s)"))
    if bound_s > 0:
        why = BOUND_CAUSES.get(bound_name, "the makespan lower bound")
        if bound_name == "dram" and bw > 0:
            why = (f"at least {bound_s * bw / GB:.3g} GB of DRAM traffic at the package's {bw / GB:.4g} GB/s; a weight "
                   f"that does not stay in SRAM is read again by every micro-batch")
        out.append((bound_s / div, f"one iteration of the workload (every prefill and decode task; {why})"
                                   + (f", which gives each decoding request {div:g} tokens" if div != 1 else "")))
    return sorted(out, key=lambda x: -x[0])


def check_floors(graph: ExecutionGraph, hw: Hardware, weights: dict[str, float], sram_weights: float,
                 bound_s: float, ttft_floor_s: float, bound_name: str = "") -> None:
    """`InfeasibleError` naming the floor and its cause when a target is below it (module doc)."""
    ttft_t, tpot_t = targets(graph)
    if tpot_t is not None:
        fl = tpot_floors(graph, hw, weights, sram_weights, bound_s, bound_name)
        if fl and tpot_t < fl[0][0] * (1 - 1e-9):
            raise InfeasibleError(f"tpot {tpot_t / MS:g} ms is below the {fl[0][0] / MS:.4g} ms needed for "
                                  f"{fl[0][1]} on `{hw.name}`",
                                  hint="raise the TPOT target, lower the batch or the micro-batches, or use "
                                       "hardware with more memory bandwidth")
    if ttft_t is not None and ttft_floor_s > 0 and ttft_t < ttft_floor_s * (1 - 1e-9):
        raise InfeasibleError(f"ttft {ttft_t / MS:g} ms is below the {ttft_floor_s / MS:.4g} ms the fastest "
                              f"prefill needs on `{hw.name}` (its critical path with every task at its fastest "
                              f"placement and no wait)",
                              hint="raise the TTFT target or shorten the prompts")


def to_dict(o: SloOutcome | None, makespan: float) -> dict[str, Any]:
    """Metrics fields of an outcome (schedule.json `metrics`)."""
    if o is None:
        return {}
    return {"goodput_tokens_per_s": o.goodput_tokens / makespan if makespan > 0 else 0.0,
            "slo_by_model": {m: dict(v) for m, v in o.by_model.items()},
            "slo_worst_s": dict(o.worst)}
