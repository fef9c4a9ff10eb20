"""The learned noise scale of each noisy actor layer over training, per noise law: mean |sigma|
of the layer's weights and biases, mean over seeds with a 95 % t-interval band (step 0: the
initial value)."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figstyle import DOUBLE_COLUMN_IN, literal
from saidl.report.figure_cli import run
from saidl.rl.figures._common import colour

LAYER_NAMES = ("input layer", "hidden layer", "output layer")


def plot(summary: dict):
    laws = [v for v in summary["variants"] if summary["per_variant"][v].get("sigma_layers")]
    n_layers = max([summary["per_variant"][v]["sigma_layers"]["n_layers"] for v in laws] or [1])
    fig, axes = plt.subplots(1, n_layers, figsize=(DOUBLE_COLUMN_IN, 2.6), squeeze=False, layout="constrained")
    axes = axes[0]
    if not laws:
        axes[0].text(0.5, 0.5, "no noisy-net run at this scale", ha="center", transform=axes[0].transAxes)
    for j, ax in enumerate(axes):
        for v in laws:
            sl = summary["per_variant"][v]["sigma_layers"]
            if j >= sl["n_layers"]:
                continue
            layer = sl["layers"][j]
            x = np.asarray(sl["steps"], dtype=float)
            ax.plot(x, layer["mean"], marker="o", markersize=2.5, color=colour(v), label=literal(v))
            ax.fill_between(x, layer["lo"], layer["hi"], color=colour(v), alpha=0.15, linewidth=0)
        ax.set(title=LAYER_NAMES[j] if n_layers == len(LAYER_NAMES) else f"layer {j + 1}",
               xlabel="environment steps")
    axes[0].set_ylabel(r"mean $|\sigma|$ of the layer")
    if laws:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=min(5, len(laws)),
                   frameon=False)
    return fig


if __name__ == "__main__":
    run(plot)
