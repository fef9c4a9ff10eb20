"""FID and CMMD (each embedder) of every DiT, one panel per metric; bars grouped by image group."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE, literal, literals
from saidl.report.figure_cli import run


def plot(summary: dict):
    order = summary["run_order"]
    panels = [("FID (Inception)", lambda r: summary["runs"][r]["fid"])] + [
        (f"CMMD ({literal(e)})", lambda r, e=e: summary["runs"][r]["scores"][e]["cmmd"]) for e in summary["embedders"]]
    fig, axes = plt.subplots(1, len(panels), figsize=(DOUBLE_COLUMN_IN, 2.6), layout="constrained", squeeze=False)
    colors = [PALETTE[0] if summary["runs"][r]["group"] == "conditional" else PALETTE[1] for r in order]
    for ax, (title, value) in zip(axes[0], panels):
        ax.bar(np.arange(len(order)), [value(r) for r in order], color=colors)
        ax.set_xticks(np.arange(len(order)), literals(order), rotation=60, ha="right", fontsize=7)
        ax.set_title(title, fontsize=9)
    axes[0][0].set_ylabel("lower is better")
    return fig


if __name__ == "__main__":
    run(plot)
