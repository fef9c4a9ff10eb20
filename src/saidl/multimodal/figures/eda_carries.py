"""Item 1(c): what information a node carries: for the entities of each rdf:type class, the
fraction that has at least one literal of each datatype as a direct object."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN


def plot(summary: dict):
    c = summary["eda"]["carries"]
    frac = np.asarray(c["fraction"])[:16]
    classes = c["classes"][:16]
    fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN_IN, 0.2 * len(classes) + 1.3), layout="constrained")
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(c["datatypes"])), c["datatypes"], rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for i in range(frac.shape[0]):
        for j in range(frac.shape[1]):
            if frac[i, j] > 0:
                ax.text(j, i, f"{100 * frac[i, j]:.0f}", ha="center", va="center", fontsize=5.5,
                        color="white" if frac[i, j] > 0.6 else "black")
    ax.grid(False)
    bar = fig.colorbar(im, ax=ax, label="% of the class's entities", shrink=0.8)  # as the cells: percent
    bar.set_ticks(np.linspace(0, 1, 6), labels=[f"{100 * t:.0f}" for t in np.linspace(0, 1, 6)])
    return fig


if __name__ == "__main__":
    run(plot)
