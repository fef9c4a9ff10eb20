"""Item 2(a): time to sample the same images with each attention backend."""

import matplotlib.pyplot as plt

from saidl.report.figstyle import PALETTE, SINGLE_COLUMN_IN
from saidl.report.figure_cli import run


def plot(summary: dict):
    b = summary["backends"]
    rows = [r for r in b["rows"] if r["ran"]]
    fig, ax = plt.subplots(figsize=(SINGLE_COLUMN_IN, 1.6), layout="constrained")
    ax.barh([r["backend"] for r in rows], [r["time_s"] for r in rows], color=PALETTE[: len(rows)])
    for i, r in enumerate(rows):
        ax.text(r["time_s"], i, f" {r.get('speedup_vs_matmul', 1):.2f}x", va="center", fontsize=7)
    ax.set(xlabel=f"seconds for {b['n_images']} images, {b['steps']} {b['sampler'].upper()} steps")
    ax.invert_yaxis()
    ax.margins(x=0.2)
    return fig


if __name__ == "__main__":
    run(plot)
