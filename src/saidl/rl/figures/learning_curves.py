"""Evaluation return against environment steps, mean and a band of one std over seeds."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figstyle import DOUBLE_COLUMN_IN, literal
from saidl.report.figure_cli import run
from saidl.rl.figures._common import colour


def plot(summary: dict):
    fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN_IN * 0.75, 3.0), layout="constrained")
    for v in summary["variants"]:
        p = summary["per_variant"][v]
        x, m, s = np.asarray(p["steps"]), np.asarray(p["curve_mean"]), np.asarray(p["curve_std"])
        ax.plot(x, m, marker="o", color=colour(v), label=literal(v), linewidth=2.0 if v in ("td3", "sale") else 1.1)
        ax.fill_between(x, m - s, m + s, color=colour(v), alpha=0.12, linewidth=0)
    ax.axhline(summary["random_return"]["mean"], color="grey", linestyle=":", linewidth=0.9)
    ax.set(xlabel="environment steps", ylabel="evaluation return", title=f"{literal(summary['config']['env_id'])} (dotted: random policy)")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


if __name__ == "__main__":
    run(plot)
