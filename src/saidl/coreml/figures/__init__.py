"""One module per Core ML figure, so that editing one figure's code reruns only that figure.

Each module defines ``plot(summary) -> Figure`` and runs as
``python -m saidl.coreml.figures.<name> --summary summary.json --out <name>.pdf``.
"""

FIGURES = ("acc_vs_noise_sym", "acc_vs_noise_asym", "normalized_vs_vanilla", "apl_vs_rest",
           "memorisation", "noise_transition")
