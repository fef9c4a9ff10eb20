"""One module per paper-task figure, so that editing one figure's code reruns only that figure.

Each module defines ``plot(summary) -> Figure`` and runs as
``python -m saidl.paper.figures.<name> --summary summary.json --out <name>.pdf``.
"""

FIGURES = ("anl_vs_apl", "memorisation", "ablation", "sensitivity", "gradients")
