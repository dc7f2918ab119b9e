"""The terminal summary of a compile, in human units (`fmt_si`: 0.01234 s -> 12.34 ms)."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from mapc.compiler.result import Result


_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))


def fmt_gap(gap: float) -> str:
    """A proven gap as a percentage that never rounds a nonzero gap to 0.0% (0.025% stays 0.025%)."""
    if gap <= 0:
        return "0%"
    return f"{gap:.1%}" if gap >= 0.01 else f"{gap * 100:.2g}%"


def fmt_si(x: float | None, unit: str, digits: int = 4) -> str:
    """`0.01234, "s"` -> `12.34 ms`; None or non-finite -> `n/a`."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if x == 0:
        return f"0 {unit}"
    a = abs(x)
    for scale, p in _PREFIXES:
        if a >= scale * 0.9995:
            return f"{x / scale:.{digits}g} {p}{unit}"
    return f"{x:.{digits}g} {unit}"


def summary_rows(r: Result) -> list[tuple[str, str]]:
    """(label, value) rows of the terminal summary, in human units."""
    m, s, g, hw = r.metrics, r.solution, r.problem.graph, r.problem.hw
    meta = g.meta or {}
    rows = [
        ("input", r.source_file or "(built in memory)"),
        ("hardware", f"{hw.name} ({hw.n} chiplets, {fmt_si(hw.peak_flops, 'FLOP/s')} peak)"),
        ("workload", f"{meta.get('workload', '?')}: {g.n} tasks, {len(g.edges)} edges, "
                     f"{fmt_si(float(g.flops.sum()) if g.n else 0.0, 'FLOP')}"),
        ("solver", f"{s.solver} ({s.status}), objective {r.options.goal}"
                   + (f", gap {fmt_gap(s.gap)}" if s.gap is not None else "")),
        ("latency (makespan)", fmt_si(m.makespan, "s")),
        ("lower bound", f"{fmt_si(m.bound.value, 's')}, the hardware's (makespan / bound = "
                        + (f"{m.bound_ratio:.3f}x" if math.isfinite(m.bound_ratio) else "n/a") + ")"),
        ("utilisation", f"chiplets busy {m.utilisation:.1%}, compute {m.compute_utilisation:.1%} of peak FLOP/s, "
                        f"DRAM {m.dram_utilisation:.1%} of {fmt_si(hw.dram_bandwidth, 'B/s')}"),
    ]
    rows += directive_rows(r)
    rows += [
        ("energy", fmt_si(m.energy, "J")),
        ("EDP", fmt_si(m.edp, "J*s")),
    ]
    if m.tokens:
        unit = "samples" if all(t.phase == "forward" for t in g.tasks) else "tokens"   # a CNN / encoder pass
        rows.append(("throughput", f"{m.throughput:,.1f} {unit}/s ({m.tokens} {unit})"))
    if m.requests_per_s:
        rows.append(("requests", f"{m.requests_per_s:,.2f} requests/s"))
    if m.ttft_mean is not None:
        rows.append(("TTFT", f"mean {fmt_si(m.ttft_mean, 's')}, max {fmt_si(m.ttft_max, 's')}"))
    if m.tpot is not None:
        rows.append(("TPOT", fmt_si(m.tpot, "s")))
    if m.slo_attainment is not None:
        rows.append(("SLO", slo_line(r)))
    rows.append(("transfers", f"{len(r.schedule.transfers)}"))
    wall = r.timings.get("total")
    rows.append(("wall time", f"solver {fmt_si(s.wall_time, 's')}" + (f", total {fmt_si(wall, 's')}" if wall else "")))
    if r.out_dir:
        rows.append(("output", str(r.out_dir)))
    for n in r.notes:
        rows.append(("note", n))
    return rows


def plan_line(r: Result) -> str:
    """`tensor 4 x pipeline 2 x data 2 (given: pipeline, data)`: the parallel plan as resolved."""
    pl = r.problem.plan
    dims = [f"{k} {v if v is not None else 'free'}" for k, v in (("tensor", pl.tensor), ("pipeline", pl.pipeline),
                                                                  ("data", pl.data))]
    return " x ".join(dims) + (f" (given: {', '.join(pl.given)})" if pl.given else "")


def directive_rows(r: Result) -> list[tuple[str, str]]:
    """The parallel plan, the bound under the directives beside the hardware's, and each directive that costs
    more than 1.5x the hardware's bound named with its own bound."""
    m, pl = r.metrics, r.problem.plan
    rows: list[tuple[str, str]] = []
    if pl.given or pl.static:
        rows.append(("parallel", plan_line(r)))
    bd = m.bound_directives
    if bd is not None and r.problem.cost.restrictions and bd.value > m.bound.value * (1 + 1e-9):
        ratio = bd.value / m.bound.value if m.bound.value > 0 else math.inf
        rows.append(("bound, directives", f"{fmt_si(bd.value, 's')} under {', '.join(r.problem.cost.restrictions)} "
                                          f"({ratio:.2f}x the hardware's; makespan / it = "
                                          f"{m.makespan / bd.value:.3f}x)"))
    pb, src = r.proven_makespan_bound
    shown = max(m.bound.value, bd.value if bd is not None and r.problem.cost.restrictions else 0.0)
    if pb > shown * (1 + 1e-9):          # the solver proved more than the evaluator's bounds
        rows.append(("bound, proven", f"{fmt_si(pb, 's')} by {src} (makespan / it = {m.makespan / pb:.3f}x)"))
    for name, c in m.directive_costs.items():
        rows.append(("directive cost", f"`{name}` alone raises the bound to {c:.2f}x the hardware's: "
                                       "the directive, not the hardware, limits this schedule"))
    return rows


def slo_line(r: Result) -> str:
    """Attainment per phase and the worst miss, e.g. `75.0% of requests (TTFT 100%, TPOT 75%); decode misses ...`."""
    m = r.metrics
    parts = [f"{m.slo_attainment:.1%} of requests meet every target"]
    per = [f"{k} {v:.0%}" for k, v in (("TTFT", m.ttft_attainment), ("TPOT", m.tpot_attainment)) if v is not None]
    if per:
        parts[0] += f" ({', '.join(per)})"
    good = m.slo.get("goodput_tokens_per_s")
    if good is not None:
        parts.append(f"goodput {good:,.1f} tokens/s")
    worst = m.slo.get("slo_worst_s", {})
    if "prefill" in worst and m.ttft_slo:
        parts.append(f"prefill misses TTFT {fmt_si(m.ttft_slo, 's')} by up to {fmt_si(worst['prefill'] - m.ttft_slo, 's')}")
    if "decode" in worst and m.tpot_slo:
        parts.append(f"decode misses TPOT {fmt_si(m.tpot_slo, 's')} by up to {fmt_si(worst['decode'] - m.tpot_slo, 's')}")
    return "; ".join(parts)


def print_summary(r: Result, console: Console | None = None) -> None:
    """Print the summary table with rich (to stdout unless `console` says otherwise)."""
    console = console or Console()
    tab = Table(title="mapc compile", show_header=False, box=None, pad_edge=False)
    tab.add_column(style="bold")
    tab.add_column()
    for k, v in summary_rows(r):
        tab.add_row(k, v)
    console.print(tab)
