"""Stable colours per RL variant."""

from saidl.report.figstyle import PALETTE

ORDER = ("td3", "noisy-gaussian", "noisy-uniform", "noisy-laplace", "noisy-beta", "noisy-gamma", "sale")


def colour(variant: str) -> str:
    return PALETTE[ORDER.index(variant) % len(PALETTE)] if variant in ORDER else "#555555"
