"""SALE's state embedding: a 2-D projection coloured by return-to-go, and linear probes of
physical quantities from the embedding against from the raw state."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE
from saidl.report.figure_cli import run


def plot(summary: dict):
    emb = next((summary["per_variant"][v]["embedding"] for v in summary["variants"]
                if summary["per_variant"][v]["embedding"]), None)
    fig, (left, right) = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN_IN, 2.7), layout="constrained")
    if emb is None:
        left.text(0.5, 0.5, "no SALE run at this scale", ha="center")
        return fig
    xy = np.asarray(emb["pca"])
    sc = left.scatter(xy[:, 0], xy[:, 1], c=emb["pca_return"], s=4, cmap="viridis")
    fig.colorbar(sc, ax=left, label="return-to-go")
    left.set(title="PCA of z_s (SALE)", xlabel="PC 1", ylabel="PC 2")
    names = list(emb["probe"]["embedding"])
    x = np.arange(len(names))
    right.bar(x - 0.2, [emb["probe"]["embedding"][n] for n in names], width=0.4, color=PALETTE[0], label="from z_s")
    right.bar(x + 0.2, [emb["probe"]["state"][n] for n in names], width=0.4, color=PALETTE[1], label="from raw state")
    right.set_xticks(x, names, rotation=15)
    right.set(ylabel=r"held-out $R^2$ of a linear probe", title="what the embedding encodes")
    right.legend()
    return fig


if __name__ == "__main__":
    run(plot)
