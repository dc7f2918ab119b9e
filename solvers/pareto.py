"""The latency-energy Pareto front: filtering non-dominated points and writing `pareto.csv` / `pareto.png`."""

from __future__ import annotations

import csv
import os


def front(points) -> list[tuple[float, float]]:
    """Non-dominated (makespan s, energy J) points, sorted by makespan (energy then strictly decreasing).

    A point dominates another when it is no worse in both and better in one; duplicates collapse to one.
    """
    pts = sorted({(float(t), float(e)) for t, e in points})
    out: list[tuple[float, float]] = []
    for t, e in pts:                 # by makespan ascending, energy ascending for ties
        if not out or e < out[-1][1]:
            out.append((t, e))
    return out


def write_pareto(points, out_dir, edp_best: tuple[float, float] | None = None) -> tuple[str, str]:
    """Write the front of `points` as `pareto.csv` (makespan_s, energy_j, edp_js) and `pareto.png` in
    `out_dir` (created if missing). Returns the two paths."""
    os.makedirs(out_dir, exist_ok=True)
    pts = front(points)
    csv_path = os.path.join(out_dir, "pareto.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["makespan_s", "energy_j", "edp_js"])
        for t, e in pts:
            w.writerow([f"{t:.9g}", f"{e:.9g}", f"{t * e:.9g}"])
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=120)
    if pts:
        ax.step([p[0] * 1e3 for p in pts], [p[1] * 1e3 for p in pts], where="post", color="0.6", lw=1)
        ax.plot([p[0] * 1e3 for p in pts], [p[1] * 1e3 for p in pts], "o", color="C0", label="Pareto front")
        best = edp_best or min(pts, key=lambda p: p[0] * p[1])
        ax.plot([best[0] * 1e3], [best[1] * 1e3], "*", ms=12, color="C3", label="best EDP")
        ax.legend(fontsize=8)
    ax.set_xlabel("makespan (ms)")
    ax.set_ylabel("energy (mJ)")
    ax.set_title("latency-energy Pareto front (cpsat)", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    png_path = os.path.join(out_dir, "pareto.png")
    fig.savefig(png_path)
    plt.close(fig)
    return csv_path, png_path
