"""Evaluation return against the observation-attack radius, random noise and critic attack."""

import matplotlib.pyplot as plt

from saidl.report.figstyle import DOUBLE_COLUMN_IN, literal
from saidl.report.figure_cli import run
from saidl.rl.figures._common import colour


def plot(summary: dict):
    fig, axes = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN_IN, 2.7), sharey=True, layout="constrained")
    for ax, kind, title in ((axes[0], "robust_random", "random noise"), (axes[1], "robust_critic", "critic-gradient attack")):
        for v in summary["variants"]:
            p = summary["per_variant"][v]
            ax.plot(p["robust_eps"], p[kind], marker="o", color=colour(v), label=literal(v))
        ax.set(xlabel=r"attack radius $\epsilon$ (state std units, $L_\infty$)", title=title)
    axes[0].set_ylabel("evaluation return")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=4)
    return fig


if __name__ == "__main__":
    run(plot)
