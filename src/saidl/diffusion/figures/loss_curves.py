"""Training loss (MSE on the noise) of every DiT, and the autoencoders' reconstruction loss."""

import matplotlib.pyplot as plt

from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE, literal
from saidl.report.figure_cli import run


def plot(summary: dict):
    fig, (dit, ae) = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN_IN, 2.4), layout="constrained",
                                  gridspec_kw={"width_ratios": [2, 1]})
    for i, rid in enumerate(summary["run_order"]):
        h = summary["runs"][rid]["loss"]
        dit.plot(h["step"], h["loss"], color=PALETTE[i % len(PALETTE)], label=literal(rid), linewidth=1.0)
    dit.set(xlabel="training step", ylabel="MSE($\\epsilon$)", title="DiT training loss", yscale="log")
    dit.legend(fontsize=7, ncol=2)
    for i, (g, a) in enumerate(summary["autoencoders"].items()):
        ae.plot(a["loss"]["step"], a["loss"]["loss"], color=PALETTE[i % len(PALETTE)], label=literal(g))
    if summary["autoencoders"]:
        ae.set(xlabel="step", ylabel="L1 + MSE", title="autoencoders", yscale="log")
        ae.legend(fontsize=7)
    else:
        ae.axis("off")
        ae.text(0.5, 0.5, "pretrained VAE\n(no training)", ha="center", va="center")
    return fig


if __name__ == "__main__":
    run(plot)
