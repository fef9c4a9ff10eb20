"""Learning curves: training loss and validation accuracy per epoch (mean over seeds) of
structure only, the best simple and the best pretrained feature sets, and all of them faintly."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.multimodal.figures.ablation import colour
from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, literal


def plot(summary: dict):
    cells = summary["cells"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN_IN, 2.3), layout="constrained")
    ranked = sorted(cells, key=lambda fs: -cells[fs]["test_acc"]["mean"])
    shown = [summary["baseline"]] if summary["baseline"] in cells else []
    for fs in ranked:
        if fs not in shown and len(shown) < 4:
            shown.append(fs)
    for fs, c in cells.items():
        on = fs in shown
        kw = {"color": colour(c), "alpha": 1.0 if on else 0.18, "linewidth": 1.3 if on else 0.7,
              "linestyle": "--" if fs == summary["baseline"] else "-"}
        ep = np.asarray(c["curves"]["epoch"])
        left.plot(ep, c["curves"]["loss"], **kw)
        right.plot(ep, 100 * np.asarray(c["curves"]["val_acc"]), label=literal(fs) if on else None, **kw)
    left.set_yscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    right.set_xlabel("epoch")
    right.set_ylabel("validation accuracy (%)")
    right.legend(fontsize=6, loc="lower right")
    return fig


if __name__ == "__main__":
    run(plot)
