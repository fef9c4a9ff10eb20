"""Test accuracy against the asymmetric noise rate, every loss."""

import matplotlib.pyplot as plt

from saidl.coreml.figures._common import plot_vs_eta, run
from saidl.report.figstyle import DOUBLE_COLUMN_IN


def plot(summary: dict):
    fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN_IN * 0.62, 2.8))
    plot_vs_eta(ax, summary, "asym", summary["losses"])
    ax.legend(ncol=1, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


if __name__ == "__main__":
    run(plot)
