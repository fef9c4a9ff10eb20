"""Item 2, the ablation: test accuracy (at the best validation epoch) per feature set: structure
only, each modality alone, all; simple encoders then pretrained ones."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.multimodal.grid import PRETRAINED
from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE, literals



def colour(cell: dict) -> str:
    if not cell["features"]:
        return PALETTE[7]
    return PALETTE[1] if any(f in PRETRAINED for f in cell["features"].values()) else PALETTE[0]


def plot(summary: dict):
    order = summary["order"]
    cells = summary["cells"]
    fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN_IN, 0.24 * len(order) + 1.0), layout="constrained")
    y = np.arange(len(order))[::-1]
    for yi, fs in zip(y, order):
        vals = 100 * np.asarray(cells[fs]["test_acc"]["values"])
        std = vals.std(ddof=1) if len(vals) > 1 else 0.0
        ax.barh(yi, vals.mean(), color=colour(cells[fs]), height=0.7)
        if len(vals) > 1:
            ax.errorbar(vals.mean(), yi, xerr=std, color="black", linewidth=0.8, capsize=1.5)
        ax.plot(vals, np.full(len(vals), yi), "o", color="black", markersize=1.8)
        ax.text(vals.mean() + std + 1.0, yi, f"{vals.mean():.1f}", va="center", fontsize=6.5)
    ax.axvline(100 * summary["test_majority_acc"], color="black", linestyle=":", linewidth=0.9)
    ax.text(100 * summary["test_majority_acc"], y[0] + 0.6, " majority class", fontsize=6, va="bottom")
    ax.set_yticks(y, literals(order))
    ax.set_xlim(0, 100)
    ax.set_xlabel("test accuracy (%) at the best validation epoch; dots: seeds")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in (PALETTE[7], PALETTE[0], PALETTE[1])]
    ax.legend(handles, ["no content features", "simple features", "pretrained encoders"], fontsize=6,
              loc="lower right")
    ax.grid(axis="y", visible=False)
    return fig


if __name__ == "__main__":
    run(plot)
