"""Building blocks of `scar`'s window plans: a model's plan (windows over layer units, replicas on chiplet
slots), the per-unit prices of each placement, balanced window bounds, dataflow-affinity assignment of windows
to chiplets, and the repair that keeps PD-disaggregated phases inside their regions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mapc.core.hardware import Hardware
from mapc.core.options import Objective
from mapc.hw.cost import CostModel
from mapc.solvers.encoding import Encoding
from mapc.solvers.listsched import fit_tables

@dataclass
class ModelPlan:
    """One model's windows: `bounds` = first unit (model-local index) of each segment; `chip[d][s]` = placement
    index of segment s in replica d; `streams` = the model's stream ids, `replica[k]` the replica of stream k."""

    units: np.ndarray            # global unit ids of the model, in layer order
    streams: np.ndarray
    bounds: list[int]
    chip: list[list[int]]
    replica: np.ndarray          # [len(streams)] replica of each stream

    def copy(self) -> "ModelPlan":
        return ModelPlan(self.units, self.streams, list(self.bounds), [list(r) for r in self.chip],
                         self.replica.copy())


def snake_columns(hw: Hardware) -> list[int]:
    """Chiplet ids in column-major snake order (column 0 top to bottom, column 1 bottom to top, ...)."""
    order: list[int] = []
    for x in range(hw.cols):
        ys = range(hw.rows) if x % 2 == 0 else range(hw.rows - 1, -1, -1)
        order.extend(c.id for y in ys for c in hw.chiplets if c.x == x and c.y == y)
    return order


def single_placements(cost: CostModel) -> dict[int, int]:
    """chiplet id -> index of its single-chiplet placement."""
    return {mem[0]: p for p, mem in enumerate(cost.placements) if len(mem) == 1}


def unit_prices(cost: CostModel, enc: Encoding, objective: Objective) -> tuple[np.ndarray, np.ndarray]:
    """([U, P] latency, [U, P] energy) of each unit's tasks summed on each placement: resident where the
    unit's weights fit the placement's SRAM share, else streamed (inf where neither runs)."""
    lat, en = fit_tables(cost)
    U = enc.n_units
    L = np.zeros((U, lat.shape[1])); E = np.zeros_like(L)
    np.add.at(L, enc.unit, lat)
    np.add.at(E, enc.unit, en)
    return L, E


def _price(L: np.ndarray, E: np.ndarray, objective: Objective) -> np.ndarray:
    if objective == "latency":
        return L
    return E if objective in ("energy", "slo") else L * E     # slo: energy, the SLO checked on whole schedules


def balanced_bounds(work: np.ndarray, S: int) -> list[int]:
    """First indices of S consecutive non-empty parts of `work` with cumulative sums near k/S of the total."""
    n = work.size
    S = max(1, min(S, n))
    c = np.concatenate([[0.0], np.cumsum(work)])
    tot = c[-1]
    b = [0]
    for k in range(1, S):
        j = int(np.searchsorted(c, tot * k / S))
        j = min(max(j, b[-1] + 1), n - (S - k))
        b.append(j)
    return b


def assign_by_affinity(cost_sc: np.ndarray) -> list[int]:
    """Assign rows (segments) to distinct columns (chiplets) by max regret; cost_sc is [S, C] with S <= C."""
    S, C = cost_sc.shape
    free = np.ones(C, dtype=bool)
    out = [-1] * S
    todo = set(range(S))
    while todo:
        best_row, best_reg, best_col = -1, -np.inf, -1      # every row's regret beats -inf
        for s in sorted(todo):
            row = np.where(free, cost_sc[s], np.inf)
            o = np.argsort(row, kind="stable")
            reg = (row[o[1]] - row[o[0]]) if free.sum() > 1 and np.isfinite(row[o[1]]) else np.inf
            if reg > best_reg:
                best_row, best_reg, best_col = s, reg, int(o[0])
        out[best_row] = best_col
        free[best_col] = False
        todo.remove(best_row)
    return out
