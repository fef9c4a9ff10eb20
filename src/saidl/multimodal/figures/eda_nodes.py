"""Item 1(a): the nodes, by kgbench annotation (IRIs, blank nodes, each literal datatype) and,
for the entities, by rdf:type class."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE, literals

MODALITY_COLOURS = {"structure": PALETTE[7], "image": PALETTE[0], "text": PALETTE[1], "numeric": PALETTE[2],
                    "temporal": PALETTE[3], "spatial": PALETTE[4]}


def hbar(ax, names, counts, colours=None, log=True):
    y = np.arange(len(names))[::-1]
    ax.barh(y, counts, color=colours or PALETTE[0], height=0.7)
    ax.set_yticks(y, literals(names))
    if log:
        ax.set_xscale("log")
    for yi, c in zip(y, counts):
        ax.text(c * (1.08 if log else 1.01), yi, f"{c:,}", va="center", fontsize=6)
    ax.set_xlim(right=max(counts) * (6 if log else 1.2))
    ax.grid(axis="y", visible=False)


def plot(summary: dict):
    eda = summary["eda"]
    classes = eda["entity_classes"][:18]
    fig, axes = plt.subplots(1, 2 if classes else 1, figsize=(DOUBLE_COLUMN_IN, 0.17 * max(
        len(eda["annotations"]), len(classes)) + 1.2), layout="constrained", squeeze=False)
    ann = sorted(eda["annotations"], key=lambda d: -d["count"])
    hbar(axes[0, 0], [d["name"] for d in ann], [d["count"] for d in ann],
         [MODALITY_COLOURS.get(d["modality"], PALETTE[7]) for d in ann])
    axes[0, 0].set_xlabel("nodes")
    axes[0, 0].set_title("nodes by annotation (colour: modality)", fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in MODALITY_COLOURS.values()]
    axes[0, 0].legend(handles, list(MODALITY_COLOURS), fontsize=6, loc="lower right")
    if classes:
        hbar(axes[0, 1], [d["name"] for d in classes], [d["count"] for d in classes], PALETTE[5])
        axes[0, 1].set_xlabel("entities")
        axes[0, 1].set_title("entities by rdf:type class", fontsize=8)
    return fig


if __name__ == "__main__":
    run(plot)
