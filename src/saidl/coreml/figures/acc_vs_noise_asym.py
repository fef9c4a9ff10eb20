"""Test accuracy against the asymmetric noise rate, every loss."""

from saidl.coreml.figures._common import every_loss_vs_eta
from saidl.report.figure_cli import run


def plot(summary: dict):
    return every_loss_vs_eta(summary, "asym")


if __name__ == "__main__":
    run(plot)
