"""Training curves at the highest symmetric noise: test accuracy, and how well the model fits
the clean and the noisy training labels (memorisation), per loss."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.coreml.styles import loss_style
from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, literal

PANELS = (("test_acc", "test accuracy"), ("train_clean_acc", "clean train labels fitted"),
          ("train_noisy_fit", "noisy train labels memorised"))


def plot(summary: dict):
    eta = max(summary["etas"]["sym"])
    curves = summary["curves"]["sym"][f"{eta:g}"]
    fig, axes = plt.subplots(1, 3, figsize=(DOUBLE_COLUMN_IN, 2.8), sharex=True, layout="constrained")
    for ax, (key, title) in zip(axes, PANELS):
        for loss in summary["losses"]:
            y = curves[loss][key]
            if any(v is None for v in y):
                continue
            ax.plot(np.arange(1, len(y) + 1), 100 * np.asarray(y), label=literal(loss),
                    **{**loss_style(loss), "markevery": max(1, len(y) // 6)})
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 100)
    axes[0].set_ylabel(f"% (symmetric $\\eta$ = {eta:g})")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(8, len(labels)))
    return fig


if __name__ == "__main__":
    run(plot)
