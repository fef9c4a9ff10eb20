"""How hard each loss pushes one sample as a function of its labelled-class probability p_y
(the other classes sharing 1 - p_y): gradient norm w.r.t. the logits, from the loss code."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.paper.figures._common import variant_style
from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, literal


def plot(summary: dict):
    g = summary["gradients"]
    p = np.asarray(g["p_y"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN_IN, 2.4), layout="constrained")
    for name, norms in g["norms"].items():
        norms = np.asarray(norms)
        style = {**variant_style(name), "marker": None}
        left.plot(p, norms / norms.max(), label=literal(name), **style)
        right.plot(p, norms, label=literal(name), **style)
    left.set_title("relative to each loss's largest gradient")
    right.set_title("absolute (log scale)")
    right.set_yscale("log")
    for ax in (left, right):
        ax.set_xlabel(r"$p_y$, probability of the labelled class")
    left.set_ylabel(r"$\|\partial L / \partial z\|$")
    handles, labels = left.get_legend_handles_labels()  # below the panels, clear of every curve
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels))
    return fig


if __name__ == "__main__":
    run(plot)
