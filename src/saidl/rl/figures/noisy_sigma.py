"""The mean learned sigma of the noisy actor layers over training, per noise law."""

import matplotlib.pyplot as plt

from saidl.report.figstyle import SINGLE_COLUMN_IN, literal
from saidl.report.figure_cli import run
from saidl.rl.figures._common import colour


def plot(summary: dict):
    fig, ax = plt.subplots(figsize=(SINGLE_COLUMN_IN * 1.9, 2.5), layout="constrained")
    for v in summary["variants"]:
        p = summary["per_variant"][v]
        if p["sigma"]:
            ax.plot(p["steps"], p["sigma"], marker="o", color=colour(v), label=literal(v))
    ax.set(xlabel="environment steps", ylabel=r"mean $\sigma$ of noisy layers")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)  # outside the curves
    return fig


if __name__ == "__main__":
    run(plot)
