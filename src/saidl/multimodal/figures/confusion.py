"""The test confusion matrix of the feature set with the highest mean test accuracy (summed over seeds, rows normalised)."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figure_cli import run
from saidl.report.figstyle import SINGLE_COLUMN_IN, literal, literals


def plot(summary: dict):
    conf = np.asarray(summary["cells"][summary["best"]]["confusion"], dtype=float)
    rows = conf / np.maximum(conf.sum(1, keepdims=True), 1)
    names = literals(n.split(" (")[0] for n in summary["eda"]["class_names"])
    fig, ax = plt.subplots(figsize=(SINGLE_COLUMN_IN + 0.4, SINGLE_COLUMN_IN), layout="constrained")
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{100 * rows[i, j]:.0f}", ha="center", va="center", fontsize=6.5,
                    color="white" if rows[i, j] > 0.6 else "black")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{literal(summary['best'])}: test, % of each true class", fontsize=8)
    ax.grid(False)
    return fig


if __name__ == "__main__":
    run(plot)
