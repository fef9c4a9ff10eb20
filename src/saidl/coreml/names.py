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

# Config keys every member of a vmap pack (saidl.coreml.packed) shares: data shapes, model, optimiser, schedule.
PACK_SHARED_KEYS = ("dataset", "data_dir", "model", "hidden", "n_train", "n_val", "n_test", "epochs", "batch_size",
                    "lr", "lr_min", "momentum", "weight_decay", "nesterov", "grad_clip", "augment", "device",
                    "precision", "data_seed", "eval_batch_size")
MLP_HIDDEN = 512  # the MLP's default width (config key ``hidden``)
_INPUTS = {"fashion_mnist": 28 * 28, "cifar10": 3 * 32 * 32}  # an image's values, the MLP's input


def model_name(cfg: dict) -> str:
    """The model of a run config in words, its layer widths read from the config."""
    if cfg["model"] == "cnn8":
        return "the paper's 8-layer CNN"
    if cfg["model"] == "mlp":
        h = cfg.get("hidden") or MLP_HIDDEN
        return f"a two-hidden-layer MLP ({_INPUTS.get(cfg.get('dataset'), '?')}-{h}-{h}-10)"
    return cfg["model"]
