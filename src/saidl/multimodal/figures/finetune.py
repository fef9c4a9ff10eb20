"""Bonus: validation accuracy per epoch of the R-GCN on frozen embeddings against the R-GCN
fine-tuned jointly with its image and text encoders, on the same subset."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE


def plot(summary: dict):
    f = summary["finetune"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN_IN, 2.0), layout="constrained")
    for i, (arm, label) in enumerate((("frozen", "frozen encoders"), ("joint", "joint fine-tuning"))):
        c = f["arms"][arm]["curves"]
        left.plot(c["epoch"], c["loss"], marker="o", markersize=2.5, color=PALETTE[i], label=label)
        right.plot(c["epoch"], 100 * np.asarray(c["val_acc"]), marker="o", markersize=2.5, color=PALETTE[i],
                   label=label)
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    right.set_xlabel("epoch")
    right.set_ylabel("validation accuracy (%)")
    right.legend(fontsize=6)
    return fig


if __name__ == "__main__":
    run(plot)
