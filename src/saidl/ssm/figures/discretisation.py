"""Discretisations against the continuous system: kernel error and spectral radius vs step size."""

import matplotlib.pyplot as plt

from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE
from saidl.report.figure_cli import run

NAMES = {"euler": "forward Euler", "bilinear": "bilinear", "zoh": "ZOH"}


def plot(summary: dict):
    rows = [r for r in summary["discretisation"]["rows"] if r["init"] == "lin"]
    fig, (err, rad) = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN_IN, 2.5), layout="constrained")
    for i, method in enumerate(NAMES):
        pts = [(r["dt"], r["rel_error"], r["spectral_radius"]) for r in rows if r["method"] == method]
        dts = [p[0] for p in pts]
        err.plot(dts, [float("nan") if p[1] is None else p[1] for p in pts],
                 marker="o", color=PALETTE[i], label=NAMES[method])
        rad.plot(dts, [p[2] for p in pts], marker="o", color=PALETTE[i], label=NAMES[method])
    err.set(xscale="log", yscale="log", xlabel=r"step size $\Delta$",
            ylabel="relative kernel error", title="kernel vs impulse response (unstable: not drawn)")
    rad.axhline(1, color="grey", linewidth=0.8, linestyle=":")
    rad.set(xscale="log", yscale="log", xlabel=r"step size $\Delta$", ylabel=r"max $|\bar A_n|$",
            title="stability (> 1: the recurrence blows up)")
    err.legend()
    return fig


if __name__ == "__main__":
    run(plot)
