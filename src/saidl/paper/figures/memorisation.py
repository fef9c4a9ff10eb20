"""Training curves at the ablation's noise setting, averaged over seeds: how each loss fits the
clean-labelled training samples, how many noisy labels it memorises, how many noisy-labelled
samples it predicts with their true class, and the test accuracy."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.paper.figures._common import setting_label, variant_style
from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, literal

PANELS = (("train_clean_acc", "clean training labels fitted"),
          ("train_noisy_fit", "noisy training labels memorised"),
          ("train_noisy_true", "noisy-labelled samples: true class predicted"),
          ("test_acc", "test accuracy"))


def plot(summary: dict):
    ab = summary["design"]["ablation"]
    noise, eta = ab["noise"], f"{ab['eta']:g}"
    series = dict(summary["curves"]["main"][noise][eta])
    swap = summary["curves"].get("ablation", {}).get(noise, {}).get(eta, {}).get("NCE+MAE (ANL setting)")
    if swap:
        series["NCE+MAE (ANL setting)"] = swap
    fig, axes = plt.subplots(2, 2, figsize=(DOUBLE_COLUMN_IN, 4.6), sharex=True, layout="constrained")
    for ax, (key, title) in zip(axes.flat, PANELS):
        for name, curves in series.items():
            y = curves[key]
            if any(v is None for v in y):
                continue
            ax.plot(np.arange(1, len(y) + 1), 100 * np.asarray(y), label=literal(name),
                    **{**variant_style(name), "marker": None})
        ax.set_title(title)
        ax.set_ylim(0, 100)
        ax.set_ylabel("%")
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(6, len(labels)))
    fig.suptitle(f"training at {setting_label(noise, eta)} (mean over seeds)", fontsize=9)
    return fig


if __name__ == "__main__":
    run(plot)
