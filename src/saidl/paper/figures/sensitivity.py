"""ANL-CE over the alpha x beta grid: accuracy on the validation split (true labels), which
chooses the setting, and on the test set; the chosen setting is framed, the paper's starred."""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from saidl.paper.figures._common import setting_label
from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN


def grid(summary: dict, key: str) -> np.ndarray:
    s = summary["sensitivity"]
    out = np.full((len(s["alphas"]), len(s["betas"])), np.nan)
    for p in s["points"]:
        if p.get(key) is not None:
            out[s["alphas"].index(p["alpha"]), s["betas"].index(p["beta"])] = 100 * p[key]["mean"]
    return out


def plot(summary: dict):
    s = summary["sensitivity"]
    fig, axes = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN_IN * 0.8, 2.5), layout="constrained")
    for ax, (key, title) in zip(axes, (("val_true", "validation accuracy (true labels)"),
                                       ("final", "test accuracy"))):
        values = grid(summary, key)
        im = ax.imshow(values, cmap="viridis", origin="lower", aspect="auto")
        for i in range(values.shape[0]):
            for j in range(values.shape[1]):
                if np.isfinite(values[i, j]):
                    star = "*" if (s["alphas"][i], s["betas"][j]) == (s["paper"]["alpha"], s["paper"]["beta"]) else ""
                    ax.text(j, i, f"{values[i, j]:.1f}{star}", ha="center", va="center", fontsize=7,
                            color="white" if values[i, j] < np.nanmean(values) else "black")
        if s["selected"]:
            i, j = s["alphas"].index(s["selected"]["alpha"]), s["betas"].index(s["selected"]["beta"])
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.6))
        ax.set_xticks(range(len(s["betas"])), [f"{b:g}" for b in s["betas"]])
        ax.set_yticks(range(len(s["alphas"])), [f"{a:g}" for a in s["alphas"]])
        ax.set_xlabel(r"$\beta$ (NNCE weight)")
        ax.set_ylabel(r"$\alpha$ (NCE weight)")
        ax.set_title(title)
        ax.grid(False)
        fig.colorbar(im, ax=ax, shrink=0.8, label="%")
    seeds = s["seeds"]
    # short enough for the figure's width; the caption explains the frame and the star
    fig.suptitle(f"ANL-CE at {setting_label(s['noise'], s['eta'])}, "
                 f"{'seed' if len(seeds) == 1 else 'seeds'} {', '.join(str(x) for x in seeds)}", fontsize=8)
    return fig


if __name__ == "__main__":
    run(plot)
