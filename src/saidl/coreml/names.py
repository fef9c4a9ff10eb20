"""Names shared by the Core ML code that must import without PyTorch (Snakefile, tables, report)."""

import math

SINGLE_LOSSES = ("CE", "FL", "MAE", "RCE", "GCE", "NCE", "NFL")
PAIRS = {"SCE": ("CE", "RCE"), "NCE+RCE": ("NCE", "RCE"), "NCE+MAE": ("NCE", "MAE"),
         "NFL+RCE": ("NFL", "RCE"), "NFL+MAE": ("NFL", "MAE")}
# Active Negative Loss (Ye et al., NeurIPS 2023): an active loss + a normalized negative loss.
NEGATIVE_LOSSES = ("NNCE", "NNFL")
ANL = {"ANL-CE": ("NCE", "NNCE"), "ANL-FL": ("NFL", "NNFL"), "ANL-CE-ER": ("NCE", "NNCE")}
LOSS_NAMES = SINGLE_LOSSES + tuple(PAIRS) + NEGATIVE_LOSSES + tuple(ANL)
VANILLA = ("CE", "FL")
NORMALIZED = ("NCE", "NFL")
APL = ("NCE+RCE", "NCE+MAE", "NFL+RCE", "NFL+MAE")

EPS = 1e-7           # probability clamp of the official code
RCE_LOG_ZERO = 1e-4  # RCE's clamp of log(0) in the one-hot target
RCE_CONSTANT = -math.log(RCE_LOG_ZERO)  # RCE = this times (1 - p_y), up to the 1e-7 clamp
ANL_MIN_PROB = 1e-7  # ANL's min_prob: probabilities are clamped here before the log
ANL_A = -math.log(ANL_MIN_PROB)  # NNCE's constant A = -log(1e-7) ~ 16.118

MODEL_NAMES = {"cnn8": "the paper's 8-layer CNN", "mlp": "a two-hidden-layer MLP (784-512-512-10)"}
