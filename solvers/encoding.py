"""The execution-graph encoding shared by `ga` and `scar` (Compass-style: layers and micro-batches decoupled),
its decoding into placements, and the batch pricing of many candidate placements at once.

A *unit* is one layer segment of one model as lowered (one weight key: every micro-batch, phase and decode step
of that segment shares it); units are numbered model by model in layer order. A *stream* is one (model, phase,
micro-batch, decode step): the tasks of a stream are that micro-batch's walk through the model's units. Every
task is exactly one (stream, unit) pair. A genome's segmentation vector B [U] and placement genes X [S, U]
decode to a placement per task (`decode_placements`); `evaluate_batch` list-schedules a batch of them.

The reference decode costs (`REF_TASK_S`, `REF_GENOME_S`) size the deterministic searches of both solvers:
the number of generations (ga) or moves (scar) is fixed in advance from the time limit and these costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mapc.core.errors import InfeasibleError
from mapc.core.graph import ExecutionGraph
from mapc.core.options import Objective
from mapc.hw.cost import CostModel
from mapc.solvers.listsched import choose_residency, list_schedule, objective_of, task_latency

REF_TASK_S = 1.5e-5       # decode seconds per task per genome on the reference machine (shared 2-core VM: 6-15 us measured)
REF_GENOME_S = 1e-3      # fixed decode seconds per genome (residency grouping, NumPy call overheads), same machine
SAFETY = 1.5             # deterministic mode stops anyway after SAFETY x time_limit (a loaded machine must not
                         # turn a 2 s budget into 7 s; the run then says it was cut, GaStats.deterministic False)



@dataclass(frozen=True)
class Encoding:
    """Index arrays mapping tasks to (stream, unit) genes; see the module docstring."""

    unit: np.ndarray          # [n] unit of each task
    stream: np.ndarray        # [n] stream of each task
    unit_model: np.ndarray    # [U] model index of each unit
    model_first: np.ndarray   # [U] bool: first unit of its model
    stream_model: np.ndarray  # [S] model index of each stream
    stream_units: tuple[np.ndarray, ...]   # per stream: sorted unit indices its tasks use
    unit_tasks: tuple[np.ndarray, ...]     # per unit: task ids

    @property
    def n_units(self) -> int:
        return int(self.unit_model.size)

    @property
    def n_streams(self) -> int:
        return int(self.stream_model.size)


def encoding(graph: ExecutionGraph) -> Encoding:
    """Units = (model, layers) in model order then layer order; streams = (model, phase, micro-batch, step)."""
    models = list(dict.fromkeys(t.model for t in graph.tasks))
    mi = {m: i for i, m in enumerate(models)}
    ukeys = sorted({(mi[t.model], t.layers) for t in graph.tasks})
    uidx = {k: i for i, k in enumerate(ukeys)}
    skeys = sorted({(mi[t.model], t.phase, t.microbatch, t.step) for t in graph.tasks})
    sidx = {k: i for i, k in enumerate(skeys)}
    unit = np.array([uidx[(mi[t.model], t.layers)] for t in graph.tasks], dtype=np.int64)
    stream = np.array([sidx[(mi[t.model], t.phase, t.microbatch, t.step)] for t in graph.tasks], dtype=np.int64)
    unit_model = np.array([k[0] for k in ukeys], dtype=np.int64)
    first = np.ones(len(ukeys), dtype=bool)
    first[1:] = unit_model[1:] != unit_model[:-1]
    s_units: list[list[int]] = [[] for _ in skeys]
    u_tasks: list[list[int]] = [[] for _ in ukeys]
    for i in range(graph.n):
        s_units[stream[i]].append(int(unit[i]))
        u_tasks[unit[i]].append(i)
    return Encoding(unit, stream, unit_model, first, np.array([k[0] for k in skeys], dtype=np.int64),
                    tuple(np.array(sorted(set(x)), dtype=np.int64) for x in s_units),
                    tuple(np.array(x, dtype=np.int64) for x in u_tasks))


def segment_starts(B: np.ndarray) -> np.ndarray:
    """[..., U] index of the unit that starts each unit's segment (B must be True at every model's first unit)."""
    U = B.shape[-1]
    return np.maximum.accumulate(np.where(B, np.arange(U), 0), axis=-1)


def decode_placements(enc: Encoding, B: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Placement index of every task for a batch of genomes: B [G, U], X [G, S, U] -> [G, n]."""
    ss = segment_starts(B)                                   # [G, U]
    g = np.arange(B.shape[0])[:, None]
    return X[g, enc.stream[None, :], ss[:, enc.unit]]


def genome_from_placement(enc: Encoding, pi: np.ndarray, U_boundaries: np.ndarray | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
    """(B, X) reproducing a per-task placement exactly: every unit its own segment (or the given
    boundaries, taking each segment's gene from its first unit)."""
    S, U = enc.n_streams, enc.n_units
    X = np.zeros((S, U), dtype=np.int64)
    X[enc.stream, enc.unit] = pi
    # streams that skip a unit (none in lowered graphs, but hand-built ones may): copy a used gene
    for s, us in enumerate(enc.stream_units):
        if us.size and us.size < U:
            X[s, np.setdiff1d(np.arange(U), us)] = X[s, us[0]]
    B = np.ones(U, dtype=bool) if U_boundaries is None else (U_boundaries | enc.model_first)
    return B, X


# ---- pricing -----------------------------------------------------------------------------------------------
def batch_energy(cost: CostModel, PI: np.ndarray, RES: np.ndarray) -> np.ndarray:
    """[G] dynamic energy (J) of G genomes' tasks and transfers, vectorised: PI, RES are [G, n]."""
    g = cost.graph
    rows = np.arange(g.n)[None, :]
    e = np.where(RES, cost.energy_resident[rows, PI], cost.energy_stream[rows, PI]).sum(axis=1)
    if g.edges:
        a, b = cost.lead[PI[:, g.edge_src]], cost.lead[PI[:, g.edge_dst]]
        e = e + (g.edge_bytes[None, :] * 8 * cost.hw.nop.energy_per_bit * cost.hw.hops[a, b]).sum(axis=1)
    return e


def batch_objective(cost: CostModel, PI: np.ndarray, RES: np.ndarray, makespan: np.ndarray, objective: Objective
                    ) -> np.ndarray:
    """[G] objective values from [G, n] decisions and [G] makespans (the same sum as `base.score`)."""
    ms = np.asarray(makespan, dtype=np.float64)
    if objective == "slo":
        raise ValueError("batch_objective prices latency, energy and edp; the slo objective needs task ends "
                         "(evaluate_batch)")
    if objective == "latency":
        return ms.copy()
    e = batch_energy(cost, PI, RES) + cost.static_power * ms
    return e if objective == "energy" else e * ms


def evaluate_batch(cost: CostModel, PI: np.ndarray, K: np.ndarray, objective: Objective
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Residency, list schedule and objective of G genomes: returns (objective [G], RES [G, n], ST [G, n]).

    A genome whose residency or schedule is infeasible gets objective inf."""
    G, n = PI.shape
    RES = np.zeros((G, n), dtype=bool)
    ST = np.zeros((G, n))
    ms = np.full(G, np.inf)
    for j in range(G):
        try:
            RES[j] = choose_residency(cost, PI[j])
            ST[j] = list_schedule(cost, PI[j], RES[j], K[j])
        except InfeasibleError:
            continue
        ms[j] = float((ST[j] + task_latency(cost, PI[j], RES[j])).max()) if n else 0.0
    if objective == "slo":      # per genome: the SLO value needs each task's end
        val = np.array([objective_of(cost, PI[j], RES[j], ST[j], "slo") if np.isfinite(ms[j]) else np.inf
                        for j in range(G)])
    else:
        val = batch_objective(cost, PI, RES, np.where(np.isfinite(ms), ms, 0.0), objective)
    return np.where(np.isfinite(ms), val, np.inf), RES, ST


# ---- directive restrictions --------------------------------------------------------------------------------
def repair_map(cost: CostModel) -> tuple[np.ndarray, np.ndarray] | None:
    """Directive restrictions (`cost.allowed()`: PD regions, `tensor`, a pipeline/data plan): (class of each
    task, [classes, P] map sending a placement a task's class may not use to an allowed one of the same size
    (any allowed one when no allowed placement has that size), the r-th such placement to the (r mod count)-th
    allowed one, so that distinct pipeline stages stay on distinct groups where there is room); None without
    restrictions. `repair(fix, PI)` applies it to [..., n] placement indices."""
    if not cost.restrictions:
        return None
    ok = cost.allowed()
    rows, cls = np.unique(ok, axis=0, return_inverse=True)
    sizes = cost.group_size
    fix = np.tile(np.arange(len(cost.placements)), (len(rows), 1))
    for c, row in enumerate(rows):
        for k in np.unique(sizes):
            good = np.nonzero(row & (sizes == k))[0]
            if good.size == 0:
                good = np.nonzero(row)[0]
            bad = np.nonzero(~row & (sizes == k))[0]
            if good.size:
                fix[c, bad] = good[np.arange(bad.size) % good.size]
    return cls.reshape(-1), fix


def repair(fix: tuple[np.ndarray, np.ndarray] | None, PI: np.ndarray) -> np.ndarray:
    """[..., n] placement indices with every disallowed choice replaced through `repair_map`'s map."""
    return PI if fix is None else fix[1][fix[0], PI]
