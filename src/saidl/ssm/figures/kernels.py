"""The learned convolution kernels of the first layer (a few channels) of each model."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE, literal
from saidl.report.figure_cli import run


def plot(summary: dict):
    names = summary["models"]
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(DOUBLE_COLUMN_IN, 1.7 * rows), squeeze=False,
                             sharex=True, layout="constrained")
    for ax, name in zip(axes.flat, names):
        for j, k in enumerate(summary["per_model"][name]["kernels"]):
            ax.plot(np.arange(len(k)), k, color=PALETTE[j % len(PALETTE)], linewidth=0.7)
        ax.set_title(literal(name))
        ax.set_xscale("symlog", linthresh=10)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("lag l (pixels)")
    for ax in axes[:, 0]:
        ax.set_ylabel("K[l]")
    return fig


if __name__ == "__main__":
    run(plot)
