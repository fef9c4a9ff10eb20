"""The ablation of ANL-CE at one noise setting: one ingredient changed at a time, against the
APL pairs of the main comparison; test accuracy, and clean fit against memorised noise."""

import matplotlib.pyplot as plt
import numpy as np

from saidl.paper.figures._common import setting_label, variant_style
from saidl.report.figure_cli import run
from saidl.report.figstyle import DOUBLE_COLUMN_IN, literals


def rows(summary: dict) -> list[tuple[str, dict]]:
    ab = summary["design"]["ablation"]
    noise, eta = ab["noise"], f"{ab['eta']:g}"
    main = summary["cells"]["main"][noise][eta]
    out = [(v, main[v]) for v in ("ANL-CE", "NCE+MAE", "NCE+RCE") if v in main]
    out += list(summary["cells"].get("ablation", {}).get(noise, {}).get(eta, {}).items())
    return out


def plot(summary: dict):
    ab = summary["design"]["ablation"]
    data = rows(summary)
    fig, (left, right) = plt.subplots(1, 2, figsize=(DOUBLE_COLUMN_IN, 0.3 * len(data) + 1.2),
                                      layout="constrained", gridspec_kw={"width_ratios": [1.1, 1]})
    y = np.arange(len(data))[::-1]
    for yi, (name, cell) in zip(y, data):
        vals = 100 * np.asarray(cell["final"]["values"])
        colour = variant_style(name)["color"]
        std = vals.std(ddof=1) if len(vals) > 1 else 0.0
        left.barh(yi, vals.mean(), height=0.7, color=colour, alpha=0.9)
        if len(vals) > 1:
            left.errorbar(vals.mean(), yi, xerr=std, color="black", linewidth=0.8, capsize=1.5)
        left.plot(vals, np.full(len(vals), yi), "o", color="black", markersize=1.8)
        left.text(max(vals.max(), vals.mean() + std) + 1.5, yi, f"{vals.mean():.1f}", va="center", fontsize=6.5)
        right.barh(yi + 0.18, 100 * cell["clean_fit"]["mean"], height=0.36, color=colour, alpha=0.9,
                   label="clean labels fitted" if yi == y[0] else None)
        right.barh(yi - 0.18, 100 * cell["noisy_fit"]["mean"], height=0.36, color=colour, alpha=0.35,
                   hatch="////", edgecolor="white", label="noisy labels memorised" if yi == y[0] else None)
    left.set_yticks(y, literals(name for name, _ in data))
    right.set_yticks(y, [""] * len(data))
    left.set_xlabel("test accuracy (%), last epoch")
    right.set_xlabel("training labels (%), last epoch")
    left.set_xlim(0, 100)
    right.set_xlim(0, 100)
    for ax in (left, right):
        ax.grid(axis="y", visible=False)
    handles, labels = right.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower right", ncol=2)
    fig.suptitle(f"ablation of ANL-CE at {setting_label(ab['noise'], ab['eta'])}", fontsize=9)
    return fig


if __name__ == "__main__":
    run(plot)
