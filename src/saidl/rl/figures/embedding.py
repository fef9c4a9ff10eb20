"""SALE's state embedding: a 2-D projection coloured by return-to-go, and linear probes of
quantities of the future from the trained encoder, the untrained control and the raw state
(held-out R^2 cross-validated over episodes: mean and 95 % t-interval over folds and seeds)."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.common.stats import interval
from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE, literals
from saidl.report.figure_cli import run


def plot(summary: dict):
    emb = next((summary["per_variant"][v]["embedding"] for v in summary["variants"]
                if summary["per_variant"][v]["embedding"]), None)
    fig, (left, right) = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN_IN, 3.0), layout="constrained")
    if emb is None:
        left.text(0.5, 0.5, "no SALE run at this scale", ha="center")
        return fig
    xy = np.asarray(emb["pca"])
    sc = left.scatter(xy[:, 0], xy[:, 1], c=emb["pca_return"], s=4, cmap="viridis")
    fig.colorbar(sc, ax=left, label="return-to-go")
    left.set(title="PCA of z_s (SALE)", xlabel="PC 1", ylabel="PC 2")
    names = emb["targets"]
    x = np.arange(len(names))
    sets = [("trained", "trained z_s"), ("untrained", "untrained z_s"), ("state", "raw state")]
    w = 0.8 / len(sets)
    lows = []
    for i, (key, label) in enumerate(sets):
        st = [interval(emb["probe"][key][n]) for n in names]
        mean = np.array([np.nan if s["mean"] is None else s["mean"] for s in st])
        lo = np.array([s["lo"] if s["lo"] is not None else (np.nan if s["mean"] is None else s["mean"]) for s in st])
        hi = np.array([s["hi"] if s["hi"] is not None else (np.nan if s["mean"] is None else s["mean"]) for s in st])
        right.bar(x + (i - 1) * w, mean, width=w, yerr=np.vstack([mean - lo, hi - mean]), color=PALETTE[i],
                  label=label, capsize=2)
        lows.append(np.nanmin(lo) if np.isfinite(lo).any() else 0.0)
    floor = min(0.0, min(lows) - 0.05)
    if floor < -1.0:  # R^2 is unbounded below: keep the informative range, say so
        floor = -1.0
        right.text(0.01, 0.02, "axis cut at R^2 = -1", transform=right.transAxes, fontsize=6)
    right.set_ylim(floor, 1.05)
    right.axhline(0.0, color="0.3", lw=0.6)
    right.set_xticks(x, literals(names), rotation=15, ha="right")
    right.set(ylabel=r"held-out $R^2$ of a linear probe", title="what the embedding encodes")
    fig.legend(*right.get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False,
               fontsize=7)  # below both panels, away from the bars and the tick labels
    return fig


if __name__ == "__main__":
    run(plot)
