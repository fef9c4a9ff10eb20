"""Item 1(c): what an image node holds: decoded images near training nodes of each class."""

import base64
import io

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, literal


def plot(summary: dict):
    pics = summary["eda"]["images"]
    names = list(dict.fromkeys(p["class"] for p in pics)) or ["none"]
    per = max([sum(p["class"] == n for p in pics) for n in names] + [1])
    fig, axes = plt.subplots(len(names), per, figsize=(DOUBLE_COLUMN_IN * min(1.0, 0.16 * per + 0.25),
                                                        0.75 * len(names) + 0.2), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, n in enumerate(names):
        row = [p for p in pics if p["class"] == n]
        for j, p in enumerate(row):
            axes[i, j].imshow(np.asarray(Image.open(io.BytesIO(base64.b64decode(p["png"]))).convert("RGB")))
        axes[i, 0].text(-0.15, 0.5, literal(n.split(" (")[0]), transform=axes[i, 0].transAxes, ha="right", va="center",
                        fontsize=7)
    fig.subplots_adjust(left=0.2, wspace=0.05, hspace=0.08)
    return fig


if __name__ == "__main__":
    run(plot)
