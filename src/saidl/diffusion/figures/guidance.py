"""Item 1: how guidance scale and the number of sampling steps change the samples of one class,
as judged by the probe classifier: class accuracy, diversity and Fréchet distance."""

import matplotlib.pyplot as plt

from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE, literal
from saidl.report.figure_cli import run

METRICS = (("class_acc", "class accuracy"), ("diversity", "diversity (mean pairwise\nfeature distance)"),
           ("fd_probe", "Fréchet distance\n(probe features)"))
VARIANCE_LABEL = {"learned_range": "learned variance", "fixed_small": "fixed variance"}


def plot(summary: dict):
    st = summary["study"]
    fig, axes = plt.subplots(2, 3, figsize=(DOUBLE_COLUMN_IN, 4.2), layout="constrained")
    g = sorted((r for r in st["rows"] if r["part"] == "guidance"), key=lambda r: r["cfg_scale"])
    if g and g[0]["fd_probe"] is None:  # no real images of the class (full scale): two panels suffice
        axes[0][2].axis("off")
        axes[1][2].axis("off")
    for ax, (key, label) in zip(axes[0], METRICS):
        ax.plot([r["cfg_scale"] for r in g], [r[key] for r in g], marker="o", color=PALETTE[0], label="samples")
        if st["real"]:
            ax.axhline(st["real"][key], color="grey", linestyle=":", label="real images")
        ax.set(xlabel="guidance scale", ylabel=label)
    axes[0][0].legend(fontsize=7)
    # one line per sampler and DDPM variance (the study may sample DDPM with more than one)
    arms = sorted({(r["sampler"], r.get("variance") or "") for r in st["rows"] if r["part"] == "steps"})
    several = len({v for _, v in arms if v}) > 1
    for ax, (key, label) in zip(axes[1], METRICS):
        for i, (smp, var) in enumerate(arms):
            rows = sorted((r for r in st["rows"] if r["part"] == "steps" and r["sampler"] == smp
                           and (r.get("variance") or "") == var), key=lambda r: r["steps"])
            name = smp.upper() + (f" ({VARIANCE_LABEL.get(var, var)})" if several and var else "")
            ax.plot([r["steps"] for r in rows], [r[key] for r in rows], marker="o", color=PALETTE[i + 1],
                    label=literal(name))
        if st["real"]:
            ax.axhline(st["real"][key], color="grey", linestyle=":")
        ax.set(xlabel="sampling steps", ylabel=label, xscale="log")
        ticks = sorted({r["steps"] for r in st["rows"] if r["part"] == "steps"})
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
    axes[1][0].legend(fontsize=7)
    return fig


if __name__ == "__main__":
    run(plot)
