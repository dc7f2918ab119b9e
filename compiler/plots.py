"""Every picture mapc draws (gantt.png, pareto.png, anytime.png, explore.png, latency_throughput.png), with
matplotlib's object API on the Agg canvas (no display, no global pyplot state). matplotlib is imported on first
use only (`_figure`): it takes about 0.4 s, which commands that draw nothing should not pay.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mapc.compiler.report import fmt_si
from mapc.compiler.result import Result

GANTT_MAX_TASKS = 20_000        # above this the PNG is unreadable and slow to draw: skipped with a note


def _mpl() -> Any:
    """The matplotlib package with its Agg backend and object API loaded (imported on first use)."""
    import matplotlib.backends.backend_agg   # heavy optional dependency, see the module doc
    import matplotlib.figure
    return matplotlib


def _figure(w: float, h: float, dpi: int = 100) -> Any:
    """A new matplotlib Figure on an Agg canvas."""
    mpl = _mpl()
    fig = mpl.figure.Figure(figsize=(w, h), dpi=dpi)
    mpl.backends.backend_agg.FigureCanvasAgg(fig)
    return fig


def render_gantt(r: Result, path: str | os.PathLike, max_tasks: int = GANTT_MAX_TASKS) -> str | None:
    """Draw chiplets (y) over time (x, ms), one colour per (model, phase). Returns a note instead of drawing
    when the schedule has more than `max_tasks` tasks."""
    g, sched, hw = r.problem.graph, r.schedule, r.problem.hw
    if g.n > max_tasks:
        return f"gantt.png skipped: {g.n} tasks (more than {max_tasks}); open trace.json in Perfetto instead"
    fig = _figure(12, min(20.0, 1.5 + 0.22 * hw.n))
    mpl = _mpl()
    colormaps, PolyCollection, Patch = mpl.colormaps, mpl.collections.PolyCollection, mpl.patches.Patch

    keys = list(dict.fromkeys((t.model, t.phase) for t in g.tasks))
    cmap = colormaps["tab20" if len(keys) > 10 else "tab10"]
    colour = {k: cmap(i % cmap.N) for i, k in enumerate(keys)}
    boxes: dict[tuple, list] = {k: [] for k in keys}
    for t, st in zip(g.tasks, sched.tasks):
        x0, x1 = st.start * 1e3, st.end * 1e3
        for c in st.placement:
            boxes[(t.model, t.phase)].append(((x0, c - 0.4), (x0, c + 0.4), (x1, c + 0.4), (x1, c - 0.4)))
    ax = fig.add_subplot(1, 1, 1)
    thin = sum(len(b) for b in boxes.values()) <= 2000       # outlines only while bars are wide enough to see
    for key, verts in boxes.items():
        ax.add_collection(PolyCollection(verts, facecolors=colour[key], edgecolors="black" if thin else "none",
                                         linewidths=0.2 if thin else 0.0))
    ax.set_ylim(-0.6, hw.n - 0.4)
    ax.invert_yaxis()
    if hw.n <= 64:
        ax.set_yticks(range(hw.n))
        ax.set_yticklabels([f"{c.id} {c.type.dataflow}" for c in hw.chiplets], fontsize=6)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("chiplet")
    ms = sched.makespan * 1e3
    ax.set_xlim(0, ms * 1.01 if ms > 0 else 1)
    ax.set_title(f"{Path(r.source_file).name or 'schedule'} on {hw.name}: {r.solution.solver}, "
                 f"makespan {fmt_si(sched.makespan, 's')}", fontsize=9)
    ax.legend(handles=[Patch(color=colour[k], label=f"{k[0]} {k[1]}") for k in keys], fontsize=7,
              loc="upper left", bbox_to_anchor=(1.005, 1.0), borderaxespad=0.0,
              ncol=max(1, len(keys) // 24))
    fig.tight_layout()
    fig.savefig(path)
    return None




def render_pareto(points: list[tuple[float, float]], path: str | os.PathLike,
                  edp_best: tuple[float, float] | None = None) -> None:
    """The latency-energy Pareto front (makespan s, energy J) as a step plot, the best EDP point starred."""
    fig = _figure(5, 3.6, 120)
    ax = fig.add_subplot(1, 1, 1)
    if points:
        xs, ys = [p[0] * 1e3 for p in points], [p[1] * 1e3 for p in points]
        ax.step(xs, ys, where="post", color="0.6", lw=1)
        ax.plot(xs, ys, "o", color="C0", label="Pareto front")
        best = edp_best or min(points, key=lambda p: p[0] * p[1])
        ax.plot([best[0] * 1e3], [best[1] * 1e3], "*", ms=12, color="C3", label="best EDP")
        ax.legend(fontsize=8)
    ax.set_xlabel("makespan (ms)")
    ax.set_ylabel("energy (mJ)")
    ax.set_title("latency-energy Pareto front (cpsat)", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def render_anytime(lines: list[tuple[str, tuple[tuple[float, float], ...], float]], path: str | os.PathLike,
                   objective: str = "edp", title: str = "") -> bool:
    """Best objective vs wall time, one step line per (solver name, anytime trace, wall seconds); log axes
    where values span more than 10x. False (nothing drawn) without any trace."""
    lines = [ln for ln in lines if ln[1]]
    if not lines:
        return False
    fig = _figure(7, 4.2, 110)
    ax = fig.add_subplot(1, 1, 1)
    ts: list[float] = []
    vs: list[float] = []
    for name, tr, wall in lines:
        t = [max(float(a), 1e-4) for a, _ in tr]
        v = [float(b) for _, b in tr]
        t.append(max(float(wall), t[-1]))
        v.append(v[-1])
        ax.step(t, v, where="post", label=name, marker="o", markersize=3)
        ts += t
        vs += [x for x in v if x > 0]
    if ts and max(ts) / min(ts) > 10:
        ax.set_xscale("log")
    if vs and max(vs) / min(vs) > 10:
        ax.set_yscale("log")
    unit = {"edp": "EDP (J*s)", "energy": "energy (J)", "latency": "makespan (s)"}.get(objective, objective)
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel(f"best {unit}")
    ax.set_title(title or "anytime: best objective vs time")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return True


def render_front(points: list[tuple[str, float, float, bool]], path: str | os.PathLike, xlabel: str,
                 ylabel: str, title: str) -> bool:
    """A scatter of labelled (label, x, y, on_front) points with the front drawn as a step line; log axes
    where values span more than 10x. False (nothing drawn) without points."""
    if not points:
        return False
    fig = _figure(7, 4.6, 110)
    ax = fig.add_subplot(1, 1, 1)
    xs = [p[1] for p in points]
    ys = [p[2] for p in points]
    ax.scatter(xs, ys, s=22, color="0.55", label="variant", zorder=2)
    front = sorted((p for p in points if p[3]), key=lambda p: (p[1], p[2]))
    if front:
        fx, fy = [p[1] for p in front], [p[2] for p in front]
        ax.step(fx, fy, where="post", color="C3", lw=1.2, zorder=1)
        ax.scatter(fx, fy, s=40, color="C3", label="Pareto front", zorder=3)
    for label, x, y, _ in points:
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(3, 3), fontsize=7)
    if max(xs) / max(min(xs), 1e-30) > 10:
        ax.set_xscale("log")
    if max(ys) / max(min(ys), 1e-300) > 10:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return True


def render_latency_throughput(runs: list[tuple[str, list[tuple[float, float, float, float, float]]]],
                              path: str | os.PathLike, ttft_slo: float | None = None, tpot_slo: float | None = None,
                              title: str = "") -> bool:
    """`mapc serve --rates`: TTFT and TPOT (p50 dashed, p99 solid, ms) against achieved throughput (requests/s),
    one line per (label, points), each point (offered rate, throughput_rps, ttft_p50, ttft_p99, tpot_p99) in
    requests/s and s; SLO targets drawn as horizontal lines. False (nothing drawn) without points."""
    runs = [(label, pts) for label, pts in runs if pts]
    if not runs:
        return False
    fig = _figure(10, 4.2, 110)
    ax_t = fig.add_subplot(1, 2, 1)
    ax_p = fig.add_subplot(1, 2, 2)
    for i, (label, pts) in enumerate(runs):
        pts = sorted(pts)
        x = [p[1] for p in pts]
        ax_t.plot(x, [p[2] * 1e3 for p in pts], "--", color=f"C{i}", lw=1)
        ax_t.plot(x, [p[3] * 1e3 for p in pts], "o-", color=f"C{i}", label=f"{label} p99 (p50 dashed)")
        ax_p.plot(x, [p[4] * 1e3 for p in pts], "o-", color=f"C{i}", label=f"{label} p99")
        for p in pts:
            ax_t.annotate(f"{p[0]:g}/s", (p[1], p[3] * 1e3), textcoords="offset points", xytext=(3, 3), fontsize=6)
    for ax, slo, what in ((ax_t, ttft_slo, "TTFT"), (ax_p, tpot_slo, "TPOT")):
        if slo is not None:
            ax.axhline(slo * 1e3, color="C3", lw=0.8, ls=":", label=f"{what} SLO")
        ax.set_xlabel("throughput (requests/s)")
        ax.set_ylabel(f"{what} (ms)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title or "latency vs throughput", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return True
