"""One module per SSM figure (``plot(summary) -> Figure``), run by saidl.report.figure_cli."""

FIGURES = ("learning_curves", "accuracy", "kernels", "kernel_timing", "discretisation")
