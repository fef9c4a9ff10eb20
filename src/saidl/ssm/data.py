"""Sequential images for the SSM task: each image is a sequence of pixels in raster order.

Full: grayscale CIFAR-10 as in LRA Image (1024 steps; 45k/5k/10k, the validation set is the last
10 % of the training set; Normalize(122.6/255, 61/255) as the S4 repository does). Demo and smoke:
sequential Fashion-MNIST (784 steps) from the Debian package, standing in for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saidl.common.errors import ConfigError
from saidl.common.datasets import DATASET_NAMES, load_cifar10, load_fashion_mnist, stratified_split

SEQ_NORMALISE = {"fashion_mnist": (0.2860, 0.3530), "cifar10_gray": (122.6 / 255, 61.0 / 255)}
SEQ_DATASET_NAMES = {**DATASET_NAMES, "cifar10_gray": "sequential grayscale CIFAR-10 (LRA Image)"}


@dataclass
class Sequences:
    """float32 (N, L, 1) sequences and int64 labels per split, plus provenance."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: dict


def grayscale(images: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma of uint8 (N, 3, H, W) images, as PIL's convert('L') and torchvision's
    Grayscale compute it: L = 0.299 R + 0.587 G + 0.114 B."""
    return images[:, 0] * 0.299 + images[:, 1] * 0.587 + images[:, 2] * 0.114


def to_sequences(images: np.ndarray, dataset: str) -> np.ndarray:
    """(N, [C,] H, W) pixels -> (N, H*W, 1) float32, scaled to [0, 1] and normalised."""
    mean, std = SEQ_NORMALISE[dataset]
    flat = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return ((flat - mean) / std)[:, :, None].astype(np.float32)


def load_sequences(cfg: dict) -> Sequences:
    """The splits of ``cfg['dataset']`` with the subset sizes of the config."""
    name = cfg["dataset"]
    if name == "fashion_mnist":
        arrays = load_fashion_mnist(cfg.get("data_dir") or "/usr/share/datasets/fashion-mnist")
        x_pool, y_pool = arrays.x_train[:, 0], arrays.y_train
        tr, va = stratified_split(y_pool, [cfg["n_train"], cfg["n_val"]], cfg["data_seed"])
    elif name == "cifar10_gray":
        arrays = load_cifar10(cfg.get("data_dir") or "data/cifar10",
                              verify_checksums=cfg.get("verify_checksums", True))
        x_pool, y_pool = grayscale(arrays.x_train), arrays.y_train
        cut = int(0.9 * len(y_pool))  # LRA: train[:90 %], validation train[90 %:]
        tr, va = np.arange(cut), np.arange(cut, len(y_pool))
        tr = tr if cfg["n_train"] is None else tr[: cfg["n_train"]]
        va = va[: cfg["n_val"]]
    else:
        raise ConfigError(f"unknown ssm dataset '{name}'; use fashion_mnist or cifar10_gray")
    x_test = grayscale(arrays.x_test) if name == "cifar10_gray" else arrays.x_test[:, 0]
    te = (np.arange(len(arrays.y_test)) if cfg["n_test"] is None
          else stratified_split(arrays.y_test, [cfg["n_test"]], cfg["data_seed"])[0])
    return Sequences(
        to_sequences(x_pool[tr], name), y_pool[tr], to_sequences(x_pool[va], name), y_pool[va],
        to_sequences(x_test[te], name), arrays.y_test[te],
        {"name": name, "source": arrays.source, "checksum": arrays.checksum, "length": int(x_pool[0].size),
         "n_train": int(len(tr)), "n_val": int(len(va)), "n_test": int(len(te))})
