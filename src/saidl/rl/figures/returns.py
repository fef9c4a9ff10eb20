"""Final and best evaluation return per variant (mean and std over seeds)."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE
from saidl.report.figure_cli import run


def plot(summary: dict):
    vs = summary["variants"]
    x = np.arange(len(vs))
    fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN_IN * 0.75, 2.6), layout="constrained")
    for off, key, c in ((-0.2, "final", PALETTE[0]), (0.2, "best", PALETTE[1])):
        ax.bar(x + off, [summary["per_variant"][v][key]["mean"] for v in vs], width=0.4, color=c,
               yerr=[summary["per_variant"][v][key]["std"] for v in vs], capsize=2, label=key)
    ax.axhline(summary["random_return"]["mean"], color="grey", linestyle=":", linewidth=0.9)
    ax.set_xticks(x, vs, rotation=20, ha="right")
    ax.set_ylabel("evaluation return")
    ax.legend()
    return fig


if __name__ == "__main__":
    run(plot)
