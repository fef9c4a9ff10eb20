"""Time to compute an SSM convolution kernel against the sequence length (log-log)."""

import matplotlib.pyplot as plt
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

from saidl.report.figstyle import PALETTE, SINGLE_COLUMN_IN, literal
from saidl.report.figure_cli import run


def plot(summary: dict):
    rows = summary["timing"]["rows"]
    fig, ax = plt.subplots(figsize=(SINGLE_COLUMN_IN * 1.3, 2.6), layout="constrained")
    for i, path in enumerate(dict.fromkeys(r["path"] for r in rows)):
        pts = [(r["length"], r["seconds"]) for r in rows if r["path"] == path]
        ax.plot(*zip(*pts), marker="o", color=PALETTE[i % len(PALETTE)], label=literal(path))
    ax.set(xscale="log", yscale="log", xlabel="sequence length L", ylabel="seconds per kernel")
    # the measured lengths as the ticks, in plain numbers (a narrow range would crowd minor labels)
    ax.xaxis.set_major_locator(FixedLocator(sorted({r["length"] for r in rows})))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_title(f"H = {summary['timing']['channels']} channels, N = {summary['timing']['state']}")
    ax.legend()
    return fig


if __name__ == "__main__":
    run(plot)
