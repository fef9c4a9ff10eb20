"""Shared plotting of the Core ML figures; the command line is saidl.report.figure_cli."""

from __future__ import annotations

import numpy as np

from saidl.report.figstyle import loss_style


def accuracy_series(summary: dict, noise: str, loss: str) -> tuple[list[float], np.ndarray, np.ndarray]:
    """η values and the mean and std (over seeds) of last-epoch test accuracy in %."""
    etas = [e for e in summary["etas"][noise] if loss in summary["cells"][noise][f"{e:g}"]]
    cells = [summary["cells"][noise][f"{e:g}"][loss]["final"] for e in etas]
    return etas, 100 * np.array([c["mean"] for c in cells]), 100 * np.array([c["std"] for c in cells])


def plot_vs_eta(ax, summary: dict, noise: str, losses: list[str]) -> None:
    """Test accuracy against η with a ±1 std band over seeds, one line per loss."""
    for loss in losses:
        etas, mean, std = accuracy_series(summary, noise, loss)
        style = loss_style(loss)
        ax.plot(etas, mean, label=loss, **style)
        ax.fill_between(etas, mean - std, mean + std, color=style["color"], alpha=0.15, linewidth=0)
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
