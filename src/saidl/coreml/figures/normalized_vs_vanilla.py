"""Normalized losses against their vanilla counterparts: NCE vs CE and NFL vs FL."""

import matplotlib.pyplot as plt

from saidl.coreml.figures._common import plot_vs_eta
from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN


def plot(summary: dict):
    pairs = [(n, v) for n, v in (("NCE", "CE"), ("NFL", "FL"))
             if n in summary["losses"] and v in summary["losses"]]
    fig, axes = plt.subplots(1, max(1, len(pairs)), figsize=(DOUBLE_COLUMN_IN, 2.4), sharey=True, squeeze=False)
    for ax, (norm, van) in zip(axes[0], pairs):
        plot_vs_eta(ax, summary, "sym", [van, norm])
        ax.set_title(f"{norm} vs {van}")
        ax.legend()
    return fig


if __name__ == "__main__":
    run(plot)
