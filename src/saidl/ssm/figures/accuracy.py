"""Final test accuracy per model and discretisation (mean and std over seeds)."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE
from saidl.report.figure_cli import run


def plot(summary: dict):
    names = summary["models"]
    means = [100 * summary["per_model"][n]["final"]["mean"] for n in names]
    stds = [100 * summary["per_model"][n]["final"]["std"] for n in names]
    colours = [PALETTE[0] if summary["per_model"][n]["disc"] == "bilinear" else PALETTE[1] for n in names]
    fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN_IN * 0.7, 2.6), layout="constrained")
    x = np.arange(len(names))
    ax.bar(x, means, yerr=stds, color=colours, capsize=3)
    for xi, m in zip(x, means):
        ax.text(xi, m + 1, f"{m:.1f}", ha="center", va="bottom", fontsize=7)
    ax.axhline(10, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel("test accuracy (%), last epoch")
    ax.set_ylim(0, 100)
    ax.bar([0], [0], color=PALETTE[0], label="bilinear")
    ax.bar([0], [0], color=PALETTE[1], label="ZOH")
    ax.legend(loc="upper right")
    return fig


if __name__ == "__main__":
    run(plot)
