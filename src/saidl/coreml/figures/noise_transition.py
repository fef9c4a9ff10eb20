"""Realised noise transition matrices P(noisy | true) on the training subset."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, literals


def _panels(summary: dict) -> list[tuple[str, float]]:
    out = []
    for noise in ("sym", "asym"):
        etas = [e for e in summary["etas"][noise] if e > 0]
        if etas:
            out.append((noise, max(etas)))
    return out


def plot(summary: dict):
    panels = _panels(summary)
    fig, axes = plt.subplots(1, len(panels), figsize=(DOUBLE_COLUMN_IN, 3.4), squeeze=False,
                             layout="constrained")
    k = len(summary["classes"])
    for ax, (noise, eta) in zip(axes[0], panels):
        t = np.asarray(summary["noise"][noise][f"{eta:g}"]["realised_transition"])
        im = ax.imshow(t, vmin=0, vmax=1, cmap="Blues")
        for i in range(k):
            for j in range(k):
                if t[i, j] >= 0.005:
                    ax.text(j, i, f"{t[i, j]:.2f}".lstrip("0"), ha="center", va="center", fontsize=5,
                            color="white" if t[i, j] > 0.5 else "black")
        ax.set_xticks(range(k), literals(summary["classes"]), rotation=90, fontsize=6)
        ax.set_yticks(range(k), literals(summary["classes"]), fontsize=6)
        ax.set_xlabel("noisy label")
        ax.set_ylabel("true label")
        ax.set_title(f"{'symmetric' if noise == 'sym' else 'asymmetric'} $\\eta$ = {eta:g}")
        ax.grid(False)
    fig.colorbar(im, ax=list(axes[0]), shrink=0.8)
    return fig


if __name__ == "__main__":
    run(plot)
