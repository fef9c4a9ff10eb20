"""Test accuracy and training loss per epoch, every model."""

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np

from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE, literal
from saidl.report.figure_cli import run


def plot(summary: dict):
    fig, (acc, loss) = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN_IN, 2.6), layout="constrained")
    for i, name in enumerate(summary["models"]):
        m = summary["per_model"][name]
        epochs = np.arange(1, len(m["curve"]) + 1)
        style = {"color": PALETTE[i % len(PALETTE)], "marker": "o",
                 "linestyle": "--" if m["backend"] == "numpy" else "-"}
        acc.plot(epochs, 100 * np.asarray(m["curve"]), label=literal(name), **style)
        loss.plot(epochs, m["loss_curve"], label=literal(name), **style)
    acc.axhline(10, color="grey", linewidth=0.8, linestyle=":")
    acc.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy (dotted: chance)")
    loss.set(xlabel="epoch", ylabel="training loss", title="training cross-entropy")
    for ax in (acc, loss):  # epochs are whole numbers
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(*acc.get_legend_handles_labels(), loc="outside lower center", ncol=3)
    return fig


if __name__ == "__main__":
    run(plot)
