"""Item 1(b): the edge types (relations) and how many triples each has."""

import matplotlib.pyplot as plt

from saidl.multimodal.figures.eda_nodes import hbar
from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE

TOP = 40


def plot(summary: dict):
    rel = summary["eda"]["relations"][:TOP]
    fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN_IN, 0.12 * len(rel) + 0.9), layout="constrained")
    hbar(ax, [d["name"] for d in rel], [d["count"] for d in rel], PALETTE[2])
    ax.tick_params(axis="y", labelsize=6)
    n = summary["eda"]["num_relations"]
    ax.set_xlabel("triples" + (f" (the {TOP} most frequent of {n} relations)" if n > TOP else f" ({n} relations)"))
    return fig


if __name__ == "__main__":
    run(plot)
