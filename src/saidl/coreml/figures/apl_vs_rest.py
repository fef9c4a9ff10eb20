"""APL pairs against vanilla and normalized losses, symmetric and asymmetric noise."""

import matplotlib.pyplot as plt

from saidl.coreml.figures._common import plot_vs_eta
from saidl.report.figure_cli import run
from saidl.coreml.names import APL
from saidl.report.figstyle import DOUBLE_COLUMN_IN, literals


def plot(summary: dict):
    noises = [n for n in ("sym", "asym") if summary["etas"][n]]
    fig, axes = plt.subplots(1, len(noises), figsize=(DOUBLE_COLUMN_IN, 2.9), squeeze=False,
                             layout="constrained")
    for ax, noise in zip(axes[0], noises):
        plot_vs_eta(ax, summary, noise, summary["losses"], seeds=False)
        ax.set_title("symmetric" if noise == "sym" else "asymmetric")
        # Non-APL losses in grey so that the APL pairs stand out.
        for line in ax.get_lines():
            if line.get_label() not in literals(APL):
                line.set_color("#9a9a9a")
                line.set_linewidth(0.8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(8, len(labels)))
    return fig


if __name__ == "__main__":
    run(plot)
