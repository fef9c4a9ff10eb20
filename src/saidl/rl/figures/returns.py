"""Final and best evaluation return per variant: mean over seeds, whiskers the 95 % t-interval
over seeds (saidl.common.stats.interval; none with one seed)."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.common.stats import interval
from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE
from saidl.report.figure_cli import run


def _bars(stats: list[dict]) -> tuple[list[float], np.ndarray | None]:
    means = [s["mean"] for s in stats]
    if any(s["lo"] is None for s in stats):
        return means, None
    return means, np.array([[s["mean"] - s["lo"] for s in stats], [s["hi"] - s["mean"] for s in stats]])


def plot(summary: dict):
    vs = summary["variants"]
    x = np.arange(len(vs))
    fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN_IN * 0.8, 2.6), layout="constrained")
    for off, key, c in ((-0.2, "final", PALETTE[0]), (0.2, "best", PALETTE[1])):
        means, err = _bars([interval(summary["per_variant"][v][key]) for v in vs])
        ax.bar(x + off, means, width=0.4, color=c, yerr=err, capsize=2, label=f"{key} evaluation")
    ax.axhline(summary["random_return"]["mean"], color="grey", linestyle=":", linewidth=0.9,
               label="random policy")
    ax.set_xticks(x, vs, rotation=20, ha="right")
    ax.set_ylabel("evaluation return")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)  # outside the bars
    return fig


if __name__ == "__main__":
    run(plot)
