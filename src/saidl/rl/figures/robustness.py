"""Evaluation return against the observation-attack radius, per attacked variant: random corners
of the L-inf ball and the critic-gradient attack, mean over episodes with a 95 % t-interval band
(the unit is an episode, pooled over seeds)."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.report.figstyle import DOUBLE_COLUMN_IN, PALETTE, literal
from saidl.report.figure_cli import run

KINDS = (("random", "random corner", PALETTE[0], "o"), ("critic", "critic attack", PALETTE[1], "s"))


def _band(stats: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = np.array([np.nan if s["mean"] is None else s["mean"] for s in stats])
    lo = np.array([m if s.get("lo") is None else s["lo"] for s, m in zip(stats, mean)])
    hi = np.array([m if s.get("hi") is None else s["hi"] for s, m in zip(stats, mean)])
    return mean, lo, hi


def plot(summary: dict):
    attacked = [v for v in summary["variants"] if summary["per_variant"][v].get("robustness")]
    n = max(1, len(attacked))
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(min(DOUBLE_COLUMN_IN, 2.4 * cols + 0.6), 2.3 * rows + 0.5),
                             sharey=True, squeeze=False, layout="constrained")
    flat = axes.ravel()
    if not attacked:
        flat[0].text(0.5, 0.5, "no attack study at this scale", ha="center", transform=flat[0].transAxes)
    for ax, v in zip(flat, attacked):
        r = summary["per_variant"][v]["robustness"]
        eps = np.asarray(r["eps"], dtype=float)
        for kind, label, c, marker in KINDS:
            mean, lo, hi = _band(r[kind])
            ax.plot(eps, mean, marker=marker, color=c, label=label)
            ax.fill_between(eps, lo, hi, color=c, alpha=0.18, linewidth=0)
        ax.set(title=f"{literal(v)}, n = {r['n']}",
               xlabel=r"radius $\epsilon$ (state std, $L_\infty$)")
    for ax in flat[len(attacked):] if attacked else flat[1:]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("evaluation return")
    if attacked:
        fig.legend(*flat[0].get_legend_handles_labels(), loc="outside lower center", ncol=2, frameon=False)
    return fig


if __name__ == "__main__":
    run(plot)
