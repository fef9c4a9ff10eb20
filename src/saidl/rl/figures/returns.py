"""Final and best evaluation return per variant: bars the mean over seeds, dots the individual
seeds (with two or three seeds a t-interval is wider than the axis, the seeds themselves are the
honest picture; the intervals are in the report's table)."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE, literals
from saidl.report.figure_cli import run


def plot(summary: dict):
    vs = summary["variants"]
    x = np.arange(len(vs))
    fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN_IN * 0.8, 2.6), layout="constrained")
    for off, key, c in ((-0.2, "final", PALETTE[0]), (0.2, "best", PALETTE[1])):
        stats = [summary["per_variant"][v][key] for v in vs]
        ax.bar(x + off, [st["mean"] for st in stats], width=0.4, color=c, alpha=0.85, label=f"{key} evaluation (mean)")
        for i, st in enumerate(stats):
            ax.scatter([x[i] + off] * len(st["values"]), st["values"], s=10, color="black", zorder=3,
                       label="one seed" if (i == 0 and key == "final") else None)
    ax.axhline(summary["random_return"]["mean"], color="grey", linestyle=":", linewidth=0.9,
               label="random policy")
    ax.set_xticks(x, literals(vs), rotation=20, ha="right")
    ax.set_ylabel("evaluation return")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)  # outside the bars
    return fig


if __name__ == "__main__":
    run(plot)
