"""Last-epoch test accuracy of every variant at every noise setting (mean, one std over seeds,
seeds as dots): ANL against the APL pairs and CE; a second row for the transfer dataset."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.common.datasets import DATASET_NAMES
from saidl.paper.figures._common import group_settings, setting_label, variant_style, variants_in
from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, literal, literals


def plot(summary: dict):
    groups = [g for g in ("main", "transfer") if summary["cells"].get(g)]
    fig, axes = plt.subplots(len(groups), 1, figsize=(DOUBLE_COLUMN_IN, 2.5 * len(groups)), squeeze=False,
                             layout="constrained")
    for ax, group in zip(axes[:, 0], groups):
        settings = group_settings(summary, group)
        names = variants_in(summary, group)
        width = 0.8 / max(len(summary["cells"][group][n][e]) for n, e in settings)
        labelled = set()
        for j, (n, e) in enumerate(settings):
            present = [v for v in names if v in summary["cells"][group][n][e]]
            for i, name in enumerate(present):  # the variants run at this setting, centred on it
                cell = summary["cells"][group][n][e][name]
                x = j + (i - (len(present) - 1) / 2) * width
                vals = 100 * np.asarray(cell["final"]["values"])
                ax.bar(x, vals.mean(), width * 0.9, color=variant_style(name)["color"], alpha=0.9,
                       label=None if name in labelled else literal(name))
                labelled.add(name)
                if len(vals) > 1:
                    ax.errorbar(x, vals.mean(), yerr=vals.std(ddof=1), color="black", linewidth=0.8, capsize=1.5)
                ax.plot(np.full(len(vals), x), vals, "o", color="black", markersize=1.8)
        ax.set_xticks(range(len(settings)), [setting_label(n, e) for n, e in settings])
        ax.set_ylabel("test accuracy (%), last epoch")
        ds = summary["groups"][group]["dataset"]
        ax.set_title(f"{literal(DATASET_NAMES.get(ds, ds))} ({group} comparison)")
        ax.grid(axis="x", visible=False)
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda k: literals(names).index(labels[k]))
        ax.legend([handles[k] for k in order], [labels[k] for k in order], ncol=len(names),
                  loc="upper center", bbox_to_anchor=(0.5, -0.14))
    return fig


if __name__ == "__main__":
    run(plot)
