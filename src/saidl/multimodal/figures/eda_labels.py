"""Item 1(f) inputs: the class balance per split, and the node degree distribution."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE, literals


def plot(summary: dict):
    eda = summary["eda"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN_IN, 2.2), layout="constrained",
                                      gridspec_kw={"width_ratios": [1.4, 1]})
    names = eda["class_names"]
    x = np.arange(len(names))
    for k, split in enumerate(("training", "validation", "testing")):  # the JSON holds them sorted
        left.bar(x + (k - 1) * 0.27, eda["splits"][split], width=0.27, color=PALETTE[k], label=split)
    left.set_xticks(x, literals(n.split(" (")[0] for n in names), rotation=20, ha="right")
    left.set_ylabel("labelled nodes")
    left.legend(fontsize=6)
    left.grid(axis="x", visible=False)
    hist = eda["degree"]["hist"]
    right.bar(np.arange(len(hist)), hist, color=PALETTE[5], width=0.8)
    right.set_yscale("log")
    right.set_xticks(np.arange(len(hist))[::2], [f"$2^{{{i}}}$" for i in range(len(hist))][::2])
    right.set_xlabel("node degree (bins of powers of two)")
    right.set_ylabel("nodes")
    right.grid(axis="x", visible=False)
    return fig


if __name__ == "__main__":
    run(plot)
