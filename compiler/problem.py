"""A `Problem`: what every solver schedules, built once from a `Spec` and a `Hardware` by `build_problem`.

`build_problem` is where every guard, default and `auto` choice of the compile happens, once, so that every
command gives the same verdict on the same input:

1. size guard: a workload that would lower to more than `MAX_TASKS` tasks is refused before lowering
   (`estimated_tasks`, with the numbers and a hint);
2. lowering to the execution graph (`mapc.compiler.lower`);
3. memory: the served models' weights plus the peak KV cache must fit in the package's DRAM/HBM
   (`mapc.compiler.memory.check_memory`, the one memory check: `InfeasibleError`, exit 3);
4. tensor-parallel group sizes (`group_sizes_for`), placement policies, TP scheme and PD regions from the
   parallel block (`mapc.compiler.serving`), then pricing (`mapc.hw.cost.CostModel`);
5. the parallel plan (`mapc.compiler.parallel.plan`): `tensor`/`pipeline`/`data` as placement restrictions on
   the priced tables (`CostModel.restricted`; `cost.free()` keeps what the hardware alone allows, for the
   hardware's lower bound);
6. SLO targets below a physical floor of the hardware (weights, compute, KV cache, the lower bound, the fastest
   prefill) exit 3 with the floor and its cause (`mapc.compiler.slo.check_floors`);
7. `pd auto`: one problem per candidate split (`serving.pd_candidates`), the first returned with the others in
   `alternatives`; `mapc.api.solve` tries them all and keeps the best.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from typing import Callable, Iterable, Union

from mapc.compiler import parallel as parplan
from mapc.compiler import serving, slo
from mapc.compiler.evaluate import earliest_finish, lower_bound
from mapc.compiler.lower import lower
from mapc.compiler.memory import MemoryReport, check_memory
from mapc.core.errors import DslError, HardwareError, InfeasibleError, MapcError
from mapc.core.graph import ExecutionGraph, Task
from mapc.core.hardware import Hardware
from mapc.core.spec import CNNModel, GraphModel, ParallelSpec, Spec
from mapc.dsl import zoo
from mapc.dsl.parser import error_at
from mapc.hw.cost import CostModel

MAX_TASKS = 200_000   # beyond this the cost tables alone take gigabytes; refuse before lowering

Progress = Callable[[str], None]
# How the cost model dispatches kernels to PIM units (`mapc.hw.cost.CostModel(pim=...)`): "auto" (default: a
# kernel runs on PIM where its roofline time wins), "off", "all", a set of kernel classes, or a callable
# task -> class names (a per-step dispatch policy, e.g. `mapc serve`'s). Ignored on hardware without PIM.
PimDispatch = Union[str, frozenset, Callable[[Task], Iterable[str]]]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class Problem:
    """The execution graph priced on a hardware, with the directives it was built under.

    `cost` answers every latency/energy question a solver asks (tables over tasks x candidate placements, with
    the directives' restrictions applied); `parallel` holds the user's directives (tensor, pipeline, data,
    placement, PD mode) and `plan` what they resolved to (`mapc.compiler.parallel`); `memory` the capacity
    check's numbers; `label` names a `pd auto` candidate; `alternatives` are the other candidates.
    """

    graph: ExecutionGraph
    hw: Hardware
    cost: CostModel
    parallel: ParallelSpec = field(default_factory=ParallelSpec)
    spec: Spec | None = None
    memory: MemoryReport | None = None
    plan: parplan.ParallelPlan = field(default_factory=parplan.ParallelPlan)
    label: str = ""
    notes: tuple[str, ...] = ()
    alternatives: tuple["Problem", ...] = ()

    @property
    def candidates(self) -> tuple["Problem", ...]:
        """This problem and its alternatives (`pd auto`), in the order they are tried."""
        return (replace(self, alternatives=()),) + self.alternatives if self.alternatives else (self,)


def group_sizes_for(spec: Spec, hw: Hardware) -> tuple[int, ...]:
    """Candidate tensor-parallel group sizes.

    (1, 2, 4, n/4, n), plus `tensor` when the spec fixes it, plus each pool's size under `pd disaggregated`:
    small groups for pipelining plus a quarter of the package and the whole package (or pool), so that one layer
    can be spread over every chiplet it may use (a big GEMM, or a decode step that needs all of the DRAM
    bandwidth it can reach) when that is what pays. A fixed `tensor` restricts the
    tasks to its size afterwards (`mapc.compiler.parallel`); the other sizes stay priced for the hardware's
    lower bound.
    """
    tensor = spec.parallel.tensor
    if tensor is not None and tensor > hw.n:
        raise HardwareError(f"tensor {tensor} needs more chiplets than {hw.name} has ({hw.n})",
                            loc=spec.parallel.locs.get("tensor", spec.parallel.loc))
    par = spec.parallel
    pools = {par.pd_prefill, par.pd_decode} if par.pd == "disaggregated" else set()
    sizes = {1, 2, 4, hw.n // 4, hw.n} | ({tensor} if tensor else set()) | {k for k in pools if k}
    return tuple(sorted(k for k in sizes if 1 <= k <= hw.n))


def estimated_tasks(spec: Spec, segment: int | None = None) -> int:
    """Tasks the lowering would create: segments x micro-batches x decode steps, per served phase."""
    seg = segment or spec.parallel.segment or 1
    total = 0
    for sv in (spec.workload.serves if spec.workload else ()):
        m = spec.models.get(sv.model)
        layers = len(m.layers) if isinstance(m, (CNNModel, GraphModel)) else getattr(m, "layers", 1)
        for ph in sv.phases:
            total += (-(-layers // seg) + 1) * min(sv.microbatches, ph.batch) * max(1, ph.steps)
    return total


def check_size(spec: Spec, segment: int | None = None) -> None:
    """Refuse, with the numbers, a workload whose execution graph would be too large to schedule here."""
    n = estimated_tasks(spec, segment)
    if n > MAX_TASKS:
        loc = spec.workload.loc if spec.workload is not None else None
        raise error_at(f"the workload lowers to about {n:,} tasks, more than the {MAX_TASKS:,} mapc schedules",
                       loc, hint="raise `segment` (layers per task) or lower `microbatches` / decode `steps`")


def lower_graph(spec: Spec, *, segment: int | None = None, progress: Progress = _quiet) -> ExecutionGraph:
    """The size guard and the lowering (steps 1-2 of the module doc): what can be checked without hardware."""
    if segment is not None and (not isinstance(segment, int) or segment < 1):
        raise MapcError(f"--segment must be a positive integer, got {segment!r}")
    if spec.workload is None:
        raise DslError(f"{spec.file}: no workload to compile (add a `workload` block)")
    check_size(spec, segment)
    progress("lowering")
    graph = lower(spec, segment=segment)
    if graph.n == 0:
        raise MapcError(f"{spec.file}: the workload lowers to no tasks")
    return graph


def build_problem(spec: Spec, hw: Hardware, *, segment: int | None = None,
                  group_sizes: tuple[int, ...] | None = None, progress: Progress = _quiet,
                  pim: PimDispatch = "auto") -> Problem:
    """Steps 1-5 of the module doc. The spec must already be validated against `hw` (`mapc.dsl.validate`).
    `pim` is the cost model's PIM dispatch (`PimDispatch`; the default "auto" is what every command uses)."""
    par = spec.parallel
    if par.pd == "auto":
        probs: list[Problem] = []
        dropped: list[str] = []
        first_error: MapcError | None = None
        for label, p in serving.pd_candidates(par, hw):
            try:
                cand = replace(_one(replace(spec, parallel=p), hw, segment, group_sizes, progress, pim), label=label)
            except InfeasibleError as e:          # e.g. no group of `tensor` chiplets inside a region
                first_error = first_error or e
                dropped.append(f"pd auto: {label} left out: {e.message}")
                continue
            probs.append(cand)
        if not probs:
            assert first_error is not None
            raise first_error
        return replace(probs[0], alternatives=tuple(probs[1:]), notes=tuple(dropped))
    return _one(spec, hw, segment, group_sizes, progress, pim)


def check_slo_floors(spec: Spec, graph: ExecutionGraph, cost: CostModel) -> None:
    """Step 6 of the module doc: an SLO target below a physical floor of the hardware exits 3 with the floor."""
    free = cost.free()
    weights = {m: zoo.weight_bytes(spec.models[m]) for m in graph.models if m in spec.models}
    min_lat = np.minimum(free.lat_resident, free.lat_stream).min(axis=1)
    rq = graph.requests
    pre = rq.ttft_task[rq.ttft_task >= 0]
    ttft_floor = float(earliest_finish(graph, min_lat)[pre].min()) if pre.size else 0.0
    lb = lower_bound(free)
    slo.check_floors(graph, cost.hw, weights, float(cost.weight_capacity.sum()), lb.value, ttft_floor, lb.tightest)


def _one(spec: Spec, hw: Hardware, segment: int | None, group_sizes: tuple[int, ...] | None,
         progress: Progress, pim: PimDispatch = "auto") -> Problem:
    graph = lower_graph(spec, segment=segment, progress=progress)
    weights = sum(zoo.weight_bytes(spec.models[m]) for m in graph.models if m in spec.models)
    memory = check_memory(weights, graph, hw)
    sizes = group_sizes if group_sizes is not None else group_sizes_for(spec, hw)
    par = spec.parallel
    progress(f"pricing {graph.n} tasks")
    cost = CostModel(hw, graph, group_sizes=sizes, placement_policy=serving.placement_policies(par),
                     tp_scheme=serving.tp_scheme(par), regions=serving.regions_for(par, hw), pim=pim)
    pl = parplan.plan(spec, cost, memory.weights, memory.kv_peak, memory.capacity)
    if pl.masks:
        cost = cost.restricted({**cost.restrictions, **pl.masks})
    parplan.check_placeable(cost, pl)
    if slo.has_slo(graph):
        check_slo_floors(spec, graph, cost)
    return Problem(graph=graph, hw=hw, cost=cost, parallel=par, spec=spec, memory=memory, plan=pl)
