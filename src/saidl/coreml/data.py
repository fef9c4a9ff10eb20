"""Label noise for the Core ML task, and the dataset a Core ML config names.

The datasets themselves (CIFAR-10 at full scale, Fashion-MNIST standing in for it at demo and
smoke) are shared with other tasks: :mod:`saidl.common.datasets`. Noisy labels are a pure function
of (dataset, noise type, eta, seed) and are applied to the *original* labels through a transition
matrix with exact per-(true, noisy) counts, as ANL's ``create_noisy_labels`` does.
"""

from __future__ import annotations

import zlib

import numpy as np

from saidl.common.datasets import FASHION_MNIST_DIR, Arrays, load_cifar10, load_fashion_mnist
from saidl.common.errors import ConfigError


# Asymmetric (class-dependent) noise: source class -> the class its flipped labels go to.
# CIFAR-10 (APL/ANL): truck->automobile, bird->airplane, cat<->dog, deer->horse.
ASYM_MAPS = {
    "cifar10": {9: 1, 2: 0, 3: 5, 5: 3, 4: 7},
    # Fashion-MNIST analogue: visually similar garments, same shape as the CIFAR-10 map
    # (five source classes, one swapped pair): ankle boot->sneaker, pullover->coat,
    # sandal->sneaker, T-shirt<->shirt.
    "fashion_mnist": {9: 7, 2: 4, 5: 7, 0: 6, 6: 0},
}


def load_dataset(name: str, data_dir: str | None, verify_checksums: bool = True) -> Arrays:
    """The arrays of ``name``; ``verify_checksums`` false skips only CIFAR-10's md5 check (the
    rehearsal's fake; Fashion-MNIST's idx files carry no published checksum here)."""
    if name == "fashion_mnist":
        return load_fashion_mnist(data_dir or FASHION_MNIST_DIR)
    if name == "cifar10":
        return load_cifar10(data_dir or "data/cifar10", verify_checksums=verify_checksums)
    raise ConfigError(f"unknown dataset '{name}' in coreml config; use cifar10 or fashion_mnist")


# --------------------------------------------------------------------------------------------
# Label noise


def noise_rng(dataset: str, noise: str, eta: float, seed: int, split: str = "train") -> np.random.Generator:
    """The random stream of one noisy label set: a pure function of its arguments."""
    key = [zlib.crc32(dataset.encode()), zlib.crc32(noise.encode()), round(eta * 1_000_000), seed,
           zlib.crc32(split.encode())]
    return np.random.default_rng(np.random.SeedSequence(key))


def symmetric_transition(eta: float, k: int) -> np.ndarray:
    """T = (1-eta) I + eta/(K-1) off the diagonal: noisy labels go to *other* classes only."""
    t = np.full((k, k), eta / (k - 1))
    np.fill_diagonal(t, 1.0 - eta)
    return t


def asymmetric_transition(eta: float, k: int, mapping: dict[int, int]) -> np.ndarray:
    """Row c keeps 1-eta on c and moves eta to mapping[c]; unmapped classes stay clean."""
    t = np.eye(k)
    for src, dst in mapping.items():
        t[src, src] = 1.0 - eta
        t[src, dst] = eta
    return t


def _exact_counts(row: np.ndarray, n: int) -> np.ndarray:
    """Integer counts summing to n, proportional to ``row`` (largest remainder rounding)."""
    raw = row * n
    counts = np.floor(raw).astype(int)
    short = n - counts.sum()
    if short:
        order = np.argsort(-(raw - counts), kind="stable")
        counts[order[:short]] += 1
    return counts


def apply_transition(labels: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Relabel each true class c with exact counts round(T[c, j] * n_c) per target j."""
    noisy = labels.copy()
    for c in range(t.shape[0]):
        idx = np.flatnonzero(labels == c)
        if idx.size == 0:
            continue
        idx = rng.permutation(idx)
        counts = _exact_counts(t[c], idx.size)
        noisy[idx] = np.repeat(np.arange(t.shape[0]), counts)
    return noisy


def noisy_labels(labels: np.ndarray, dataset: str, noise: str, eta: float, seed: int,
                 k: int = 10, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Noisy labels of ``labels`` (exact counts per true class) and the transition matrix."""
    if not 0.0 <= eta <= 1.0:
        raise ConfigError(f"noise rate eta={eta} is outside [0, 1]")
    if noise == "sym":
        t = symmetric_transition(eta, k)
    elif noise == "asym":
        t = asymmetric_transition(eta, k, ASYM_MAPS[dataset])
    else:
        raise ConfigError(f"unknown noise type '{noise}'; use sym or asym")
    return apply_transition(labels, t, noise_rng(dataset, noise, eta, seed, split)), t


def realised_transition(true: np.ndarray, noisy: np.ndarray, k: int = 10) -> np.ndarray:
    """Empirical P(noisy = j | true = i), rows summing to 1."""
    counts = np.zeros((k, k))
    np.add.at(counts, (true, noisy), 1)
    return counts / np.maximum(counts.sum(1, keepdims=True), 1)
