"""Item 1(c): what information a node carries: for the entities of each rdf:type class, the
fraction that has at least one literal of each datatype as a direct object."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, literals


def plot(summary: dict):
    c = summary["eda"]["carries"]
    pct = 100 * np.asarray(c["fraction"])[:16]  # percent: the cells, the colour scale and its bar alike
    classes = c["classes"][:16]
    fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN_IN, 0.2 * len(classes) + 1.3), layout="constrained")
    im = ax.imshow(pct, cmap="Blues", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(c["datatypes"])), literals(c["datatypes"]), rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), literals(classes))
    for i in range(pct.shape[0]):
        for j in range(pct.shape[1]):
            if pct[i, j] > 0:
                ax.text(j, i, f"{pct[i, j]:.0f}", ha="center", va="center", fontsize=5.5,
                        color="white" if pct[i, j] > 60 else "black")
    ax.grid(False)
    bar = fig.colorbar(im, ax=ax, label="% of the class's entities", shrink=0.8)
    bar.set_ticks(np.linspace(0, 100, 6))
    return fig


if __name__ == "__main__":
    run(plot)
