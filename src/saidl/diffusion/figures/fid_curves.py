"""FID of EMA snapshots along training, every DiT (one panel per image group)."""

import matplotlib.pyplot as plt

from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE, literal
from saidl.report.figure_cli import run

GROUP_TITLE = {"conditional": "class-conditional", "unconditional": "unconditional"}


def plot(summary: dict):
    # only groups whose runs kept EMA snapshots (a curve of more than one point)
    groups = [g for g in ("conditional", "unconditional") if g in summary["groups"]
              and any(len(summary["runs"][r]["curve"]["step"]) > 1 for r in summary["groups"][g])]
    groups = groups or [g for g in ("conditional", "unconditional") if g in summary["groups"]]
    width = DOUBLE_COLUMN_IN if len(groups) > 1 else DOUBLE_COLUMN_IN * 0.55
    fig, axes = plt.subplots(1, len(groups), figsize=(width, 2.5), layout="constrained", squeeze=False)
    for ax, g in zip(axes[0], groups):
        for i, rid in enumerate(summary["groups"][g]):
            c = summary["runs"][rid]["curve"]
            ax.plot(c["step"], c["fid"], marker="o", color=PALETTE[i % len(PALETTE)], label=literal(rid))
        n = summary["runs"][summary["groups"][g][0]]["curve"]["n"]
        dataset = summary["runs"][summary["groups"][g][0]]["dataset"]  # the image set this scale trained on
        ax.set(xlabel="training step", ylabel=f"FID ({n} samples)", title=f"{GROUP_TITLE[g]} ({literal(dataset)})")
        ax.legend(fontsize=7)
    return fig


if __name__ == "__main__":
    run(plot)
