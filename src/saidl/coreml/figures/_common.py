"""Shared plotting of the Core ML figures; the command line is saidl.report.figure_cli."""

from __future__ import annotations

import numpy as np

from saidl.coreml.styles import loss_style
from saidl.report.figstyle import literal


def accuracy_series(summary: dict, noise: str, loss: str) -> tuple[list[float], np.ndarray, list[list[float]]]:
    """η values, the mean over seeds of last-epoch test accuracy in %, and each seed's value."""
    etas = [e for e in summary["etas"][noise] if loss in summary["cells"][noise][f"{e:g}"]]
    cells = [summary["cells"][noise][f"{e:g}"][loss]["final"] for e in etas]
    return etas, 100 * np.array([c["mean"] for c in cells]), [[100 * v for v in c["values"]] for c in cells]


def plot_vs_eta(ax, summary: dict, noise: str, losses: list[str], seeds: bool = True) -> None:
    """Test accuracy against η, one line (mean over seeds) per loss; with ``seeds`` each seed's
    value as a small dot of the loss's colour (no band: two seeds give no honest spread)."""
    for loss in losses:
        etas, mean, values = accuracy_series(summary, noise, loss)
        style = loss_style(loss)
        ax.plot(etas, mean, label=literal(loss), **style)
        if seeds and any(len(v) > 1 for v in values):
            xs = [e for e, v in zip(etas, values) for _ in v]
            ax.scatter(xs, [x for v in values for x in v], s=6, color=style["color"], alpha=0.45,
                       linewidths=0, zorder=1)
    ax.set_xlabel(r"noise rate $\eta$ (" + ("symmetric" if noise == "sym" else "asymmetric") + ")")
    ax.set_ylabel("test accuracy (%), last epoch")
    ax.set_xticks(summary["etas"][noise])


def every_loss_vs_eta(summary: dict, noise: str):
    """One panel: every loss's accuracy against eta, legend on the right."""
    import matplotlib.pyplot as plt

    from saidl.report.figstyle import DOUBLE_COLUMN_IN

    fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN_IN * 0.62, 2.8))
    plot_vs_eta(ax, summary, noise, summary["losses"])
    ax.legend(ncol=1, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig
