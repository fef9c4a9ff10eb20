"""Item 2(d): time per epoch with precomputed frozen embeddings against encoding on the fly,
and what that means for a whole training run."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE


def plot(summary: dict):
    e = summary["embed_timing"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN_IN, 2.1), layout="constrained")
    names = ["precomputed", "on the fly"]
    for i, arm in enumerate(("precomputed", "on_the_fly")):
        c = e["arms"][arm]["curves"]
        feat = float(np.median(c["feature_seconds"]))
        total = float(np.median(c["seconds"]))
        left.barh(1 - i, feat, color=PALETTE[1], height=0.6, label="encoding" if i == 1 else None)
        left.barh(1 - i, total - feat, left=feat, color=PALETTE[0], height=0.6,
                  label="R-GCN step + evaluation" if i == 1 else None)
        left.text(total * 1.02, 1 - i, f"{total:.2f} s", va="center", fontsize=6.5)
    left.text(0.5, 0.55, f"on the fly: {e['ratio']:.0f}x the time per epoch", transform=left.transAxes,
              ha="center", fontsize=7)
    left.set_yticks([1, 0], names)
    left.set_xlabel("seconds per epoch (median)")
    left.set_xlim(right=e["epoch_s"]["on_the_fly"] * 1.25)
    left.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=2, frameon=False)
    full = e["full_run_s"]
    right.barh([1, 0], [full["precomputed"] / 60, full["on_the_fly"] / 60], color=[PALETTE[0], PALETTE[1]], height=0.6)
    right.set_yticks([1, 0], ["precomputed\n(encode once)", "on the fly"])
    right.set_xlabel(f"minutes for {full['epochs']} epochs (estimated)")
    for ax in (left, right):
        ax.grid(axis="y", visible=False)
    return fig


if __name__ == "__main__":
    run(plot)
