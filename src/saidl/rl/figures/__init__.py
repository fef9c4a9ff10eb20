"""One module per RL figure (``plot(summary) -> Figure``), run by saidl.report.figure_cli."""

FIGURES = ("learning_curves", "returns", "robustness", "noisy_sigma", "sale_vs_td3", "embedding")
