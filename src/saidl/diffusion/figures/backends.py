"""Item 2(a): time to sample the same images with each attention backend (mean of the repeats,
its 95 % t-interval from saidl.common.stats where there are two or more, and every repeat)."""

import matplotlib.pyplot as plt

from saidl.common.stats import interval
from saidl.report.figstyle import PALETTE, SINGLE_COLUMN_IN, literal, literals
from saidl.report.figure_cli import run


def plot(summary: dict):
    b = summary["backends"]
    rows = [r for r in b["rows"] if r["ran"]]
    iv = [interval(r["times_s"]) for r in rows]
    base = next((i["mean"] for r, i in zip(rows, iv) if r["backend"] == "matmul"), None)
    fig, ax = plt.subplots(figsize=(SINGLE_COLUMN_IN, 0.45 + 0.35 * len(rows)), layout="constrained")
    means = [i["mean"] for i in iv]
    err = [[i["mean"] - i["lo"] if i["lo"] is not None else 0 for i in iv],
           [i["hi"] - i["mean"] if i["hi"] is not None else 0 for i in iv]]
    y = list(range(len(rows)))
    ax.barh(y, means, color=PALETTE[: len(rows)], xerr=err, capsize=3, error_kw={"lw": 0.8})
    for k, r in enumerate(rows):
        ax.plot(r["times_s"], [k] * len(r["times_s"]), "k.", ms=3, zorder=3)
        if base:
            hi = iv[k]["hi"] if iv[k]["hi"] is not None else means[k]
            ax.text(max(hi, max(r["times_s"])), k, f"  {base / means[k]:.2f}x", va="center", fontsize=7)
    ax.set_yticks(y, literals(r["backend"] for r in rows))
    ax.set(xlabel=f"seconds for {b['n_images']} images, {b['steps']} {literal(b['sampler'].upper())} steps")
    ax.set_xlim(left=0)
    ax.invert_yaxis()
    ax.margins(x=0.25)
    return fig


if __name__ == "__main__":
    run(plot)
