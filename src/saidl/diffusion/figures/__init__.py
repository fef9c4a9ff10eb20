"""One module per diffusion figure (``plot(summary) -> Figure``), run by saidl.report.figure_cli."""

FIGURES = ("fid_curves", "loss_curves", "metrics", "guidance", "backends")
