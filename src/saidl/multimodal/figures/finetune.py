"""Bonus: training loss and validation accuracy per epoch: the R-GCN's warm-up on frozen
embeddings, then the frozen arm against the arm fine-tuned jointly with its encoders."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE


def plot(summary: dict):
    f = summary["finetune"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN_IN, 2.0), layout="constrained")
    w = f["warmup"]["curves"]
    left.plot(w["epoch"], w["loss"], color=PALETTE[7], linewidth=1.0, label="warm-up (frozen)")
    right.plot(w["epoch"], 100 * np.asarray(w["val_acc"]), color=PALETTE[7], linewidth=1.0, label="warm-up (frozen)")
    last = w["epoch"][-1]
    for i, (arm, label) in enumerate((("frozen", "frozen encoders"), ("joint", "joint fine-tuning"))):
        c = f["arms"][arm]["curves"]
        ep = [last] + [last + e for e in c["epoch"]]
        left.plot(ep, [w["loss"][-1]] + c["loss"], marker="o", markersize=2.5, color=PALETTE[i], label=label)
        right.plot(ep, [100 * w["val_acc"][-1]] + list(100 * np.asarray(c["val_acc"])), marker="o", markersize=2.5,
                   color=PALETTE[i], label=label)
    for ax in (left, right):
        ax.axvline(last, color="black", linestyle=":", linewidth=0.8)
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    right.set_xlabel("epoch")
    right.set_ylabel("validation accuracy (%)")
    right.legend(fontsize=6)
    return fig


if __name__ == "__main__":
    run(plot)
