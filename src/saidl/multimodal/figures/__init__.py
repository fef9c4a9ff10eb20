"""One module per multimodal-task figure, so that editing one figure's code reruns only that figure.

Each module defines ``plot(summary) -> Figure`` and runs as
``python -m saidl.multimodal.figures.<name> --summary summary.json --out <name>.pdf``.
"""

FIGURES = ("eda_nodes", "eda_relations", "eda_carries", "eda_labels", "eda_images", "ablation", "curves",
           "embed_time", "finetune", "confusion")
