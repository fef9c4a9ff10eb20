"""Names shared by the Core ML code that must import without PyTorch (Snakefile, tables, report)."""

import math

SINGLE_LOSSES = ("CE", "FL", "MAE", "RCE", "GCE", "NCE", "NFL")
PAIRS = {"SCE": ("CE", "RCE"), "NCE+RCE": ("NCE", "RCE"), "NCE+MAE": ("NCE", "MAE"),
         "NFL+RCE": ("NFL", "RCE"), "NFL+MAE": ("NFL", "MAE")}
LOSS_NAMES = SINGLE_LOSSES + tuple(PAIRS)
VANILLA = ("CE", "FL")
NORMALIZED = ("NCE", "NFL")
APL = ("NCE+RCE", "NCE+MAE", "NFL+RCE", "NFL+MAE")

EPS = 1e-7           # probability clamp of the official code
RCE_LOG_ZERO = 1e-4  # RCE's clamp of log(0) in the one-hot target
RCE_CONSTANT = -math.log(RCE_LOG_ZERO)  # RCE = this times (1 - p_y), up to the 1e-7 clamp

DATASET_NAMES = {"cifar10": "CIFAR-10", "fashion_mnist": "Fashion-MNIST"}
MODEL_NAMES = {"cnn8": "the paper's 8-layer CNN", "mlp": "a two-hidden-layer MLP (784-512-512-10)"}
