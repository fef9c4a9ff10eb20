"""Seeding, device choice and thread settings: one place for each."""

from __future__ import annotations

import logging
import os
import random
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) and ask PyTorch for deterministic kernels."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    # Deterministic mode also fills every new tensor with NaN (about 10 % of a CPU step); the
    # kernels stay deterministic without it.
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.backends.cudnn.benchmark = False


def set_threads(n: int | None) -> None:
    """Set PyTorch's intra-op threads from the Snakemake rule's ``threads:``."""
    import torch

    if n:
        torch.set_num_threads(max(1, int(n)))


def choose_device(requested: str = "auto") -> "torch.device":
    """cuda → mps → cpu unless ``requested`` names one; an unavailable request is a clear error."""
    import torch

    from .errors import ConfigError

    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device '{requested}' was requested in the config but CUDA is not available here; "
            "set device: auto (or cpu) in tasks/<task>/config.yaml or run on a GPU machine"
        )
    return torch.device(requested)
