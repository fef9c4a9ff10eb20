"""SALE against TD3 at a matched budget: both learning curves up to the last evaluation step both
reached, mean over seeds with a 95 % t-interval band; markers on the common evaluation steps
(where the report's comparison is made)."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figstyle import SINGLE_COLUMN_IN, literal
from saidl.report.figure_cli import run
from saidl.rl.figures._common import colour


def plot(summary: dict):
    fig, ax = plt.subplots(figsize=(SINGLE_COLUMN_IN * 1.9, 2.6), layout="constrained")
    claim = summary.get("claims", {}).get("sale_gain")
    if not claim:
        ax.text(0.5, 0.5, "no SALE and TD3 pair at this scale", ha="center", transform=ax.transAxes)
        return fig
    limit, common = claim["step"], set(claim["steps"])
    for v in ("td3", "sale"):
        p = summary["per_variant"][v]
        x = np.asarray(p["steps"], dtype=float)
        keep = x <= limit
        mean, lo, hi = (np.asarray(p[k], dtype=float)[keep] for k in ("curve_mean", "curve_lo", "curve_hi"))
        ax.plot(x[keep], mean, color=colour(v), label=literal(v))
        ax.fill_between(x[keep], lo, hi, color=colour(v), alpha=0.18, linewidth=0)
        on = np.array([s in common for s in x[keep]])
        ax.plot(x[keep][on], mean[on], linestyle="none", marker="o", markersize=3.5, color=colour(v))
    ax.axhline(summary["random_return"]["mean"], color="grey", linestyle=":", linewidth=0.9)
    # Two seeds give t-intervals 12.7 standard errors wide: cut the axis at twice the highest mean
    # (and at zero, returns of a falling hopper being positive) so the means stay readable.
    top = max(max(np.asarray(summary["per_variant"][v]["curve_mean"], dtype=float)) for v in ("td3", "sale"))
    if top > 0:
        ax.set_ylim(0.0, 2.0 * top)
    ax.set(xlabel="environment steps", ylabel="evaluation return", xlim=(0, limit * 1.02),
           title=f"matched budget: {limit:,} steps")
    ax.legend(loc="upper left", frameon=False)
    return fig


if __name__ == "__main__":
    run(plot)
