"""Why no schedule exists: an infeasible assignment explained by the constraints CP-SAT blames.

Only two constraint families of the `cpsat` model can make it infeasible (time is unbounded, so no-overlap and
precedence never can): each task takes exactly one of its options (placement x residency) and each chiplet's
weight SRAM holds the resident weight sets placed on it. `explain` builds that assignment-and-SRAM model with
one assumption literal per constraint (task `assign[i]`, chiplet `sram[c]`), and when CP-SAT proves it
infeasible asks for `sufficient_assumptions_for_infeasibility`: a subset of constraints that cannot hold
together. The message names them with their numbers: the chiplets and their weight capacity, the tasks, their
weight sets and the least each may put on those chiplets.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from mapc.core.errors import InfeasibleError
from mapc.hw.cost import CostModel
from mapc.solvers.cpsat_options import candidates

EXPLAIN_DET_S = 5.0      # deterministic seconds for the explanation model (tiny next to a search)


def _fmt(b: float) -> str:
    return f"{b:.6g} B"


def explain(cost: CostModel, seed: int = 0) -> InfeasibleError | None:
    """An `InfeasibleError` naming the conflicting constraints, or None when the assignment and SRAM model is
    feasible (then infeasibility lies elsewhere) or not proven infeasible within its small budget."""
    g = cost.graph
    opts = candidates(cost)
    m = cp_model.CpModel()
    x = [m.new_bool_var(f"x{o}") for o in range(opts.size)]
    assign = [m.new_bool_var(f"assign{i}") for i in range(g.n)]
    for i in range(g.n):
        m.add(sum(x[o] for o in opts.of(i)) == 1).only_enforce_if(assign[i])
    wkey = g.weight_index
    ub = int(math.ceil(float(g.held_weight_bytes.max(initial=0.0)))) + 1
    held: dict[tuple[int, int], Any] = {}
    cap_terms: dict[int, list[Any]] = {}
    for o in np.nonzero(opts.resident)[0]:
        t, p = int(opts.task[o]), int(opts.place[o])
        share = int(math.ceil(cost.weight_share[t, p]))
        for c in cost.placements[p]:
            key = (c, int(wkey[t]))
            if key not in held:
                held[key] = m.new_int_var(0, ub, f"h{c}_{key[1]}")
                cap_terms.setdefault(c, []).append(held[key])
            m.add(held[key] >= share).only_enforce_if(x[int(o)])
    sram = {c: m.new_bool_var(f"sram{c}") for c in cap_terms}
    for c, terms in cap_terms.items():
        m.add(sum(terms) <= int(math.floor(cost.weight_capacity[c]))).only_enforce_if(sram[c])
    lits = assign + list(sram.values())
    m.add_assumptions(lits)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed) & 0x7FFFFFFF
    solver.parameters.max_deterministic_time = EXPLAIN_DET_S
    if solver.solve(m) != cp_model.INFEASIBLE:
        return None
    core = set(solver.sufficient_assumptions_for_infeasibility())
    tasks = [i for i in range(g.n) if assign[i].index in core]
    chips = sorted(c for c, lit in sram.items() if lit.index in core)
    return _message(cost, opts, tasks, chips)


def _message(cost: CostModel, opts: Any, tasks: list[int], chips: list[int]) -> InfeasibleError:
    g = cost.graph
    cap = {c: float(cost.weight_capacity[c]) for c in chips}
    streaming = "streaming weights from DRAM is disabled" if not cost.allow_streaming else \
        "they have no streamed option"
    parts: list[str] = []
    need_by_key: dict[str, float] = {}
    for i in tasks[:8]:
        t = g.tasks[i]
        r = opts.of(i)
        on = [min((float(cost.weight_share[i, int(opts.place[o])]) if opts.resident[o] else 0.0)
                  for o in r)] if len(r) else [math.inf]
        need_by_key[t.weight_key] = max(need_by_key.get(t.weight_key, 0.0), float(g.held_weight_bytes[i]))
        parts.append(f"{t.name} (weights {t.weight_key}: {_fmt(t.weight_bytes)}, at least {_fmt(on[0])} per "
                     f"chiplet on any of its {len(r)} options)")
    more = f" and {len(tasks) - 8} more tasks" if len(tasks) > 8 else ""
    chip_s = ", ".join(f"chiplet {c} ({_fmt(cap[c])})" for c in chips[:12]) + (
        f" and {len(chips) - 12} more" if len(chips) > 12 else "")
    total_cap = sum(cap.values())
    total_need = sum(need_by_key.values())
    if chips:
        head = (f"no schedule exists: the weight-SRAM capacity of {chip_s}, {_fmt(total_cap)} together, cannot hold "
                f"the resident weights of {len(tasks)} task(s) that must keep them there ({streaming}): ")
    else:
        head = f"no schedule exists: {len(tasks)} task(s) have no option left ({streaming}): "
    if not tasks:
        tail = ""
    elif total_need > total_cap:
        tail = f"; their weight sets total {_fmt(total_need)} > {_fmt(total_cap)}"
    else:
        tail = (f"; their weight sets total {_fmt(total_need)} <= {_fmt(total_cap)}, but no split of them over "
                "the placements the tasks may take fits every chiplet")
    return InfeasibleError(head + "; ".join(parts) + more + tail + " [constraints CP-SAT found in conflict: "
                           + ", ".join([f"assign[{i}]" for i in tasks[:8]] + [f"sram[{c}]" for c in chips[:12]])
                           + "]",
                           hint="allow streaming from DRAM, use larger tensor-parallel groups, or hardware with "
                                "more SRAM per chiplet")
