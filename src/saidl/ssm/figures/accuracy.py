"""Final test accuracy per model and discretisation: mean over seeds, bars of the 95 % t-interval
(saidl.common.stats.interval; no bar with one seed)."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.common.stats import interval
from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE, literals
from saidl.report.figure_cli import run


def plot(summary: dict):
    names = summary["models"]
    iv = [interval(summary["per_model"][n]["final"]) for n in names]
    means = np.array([100 * i["mean"] for i in iv])
    err = np.array([[100 * (i["mean"] - i["lo"]), 100 * (i["hi"] - i["mean"])] if i["lo"] is not None else [0.0, 0.0]
                    for i in iv]).T
    colours = [PALETTE[0] if summary["per_model"][n]["disc"] == "bilinear" else PALETTE[1] for n in names]
    fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN_IN * 0.7, 2.8), layout="constrained")
    x = np.arange(len(names))
    has_err = any(i["lo"] is not None for i in iv)
    ax.bar(x, means, yerr=err if has_err else None, color=colours, capsize=3)
    for xi, m, hi in zip(x, means, means + err[1]):
        ax.text(xi, hi + 1.5, f"{m:.1f}", ha="center", va="bottom", fontsize=7)
    ax.axhline(10, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xticks(x, literals(names), rotation=20, ha="right")
    ax.set_ylabel("test accuracy (%), last epoch")
    ax.set_ylim(0, 100)
    ax.bar([0], [0], color=PALETTE[0], label="bilinear")
    ax.bar([0], [0], color=PALETTE[1], label="ZOH")
    # the legend above the axes, never over a bar
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    return fig


if __name__ == "__main__":
    run(plot)
