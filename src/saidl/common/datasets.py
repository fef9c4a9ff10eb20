"""Datasets shared by several tasks: Fashion-MNIST, CIFAR-10, their class names and statistics, and
a class-balanced split.

Full scale: CIFAR-10 through torchvision, md5-checked (``verify_checksums``; only the rehearsal's
format-exact fake switches the check off). Demo and smoke: Fashion-MNIST from the Debian package
``dataset-fashion-mnist`` (idx files), standing in for CIFAR-10. NumPy only at import (torchvision
is imported when CIFAR-10 is read), so the SSM task's NumPy reference can use it.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saidl.common.assets import FASHION_MNIST_HOW, FASHION_MNIST_MD5, file_problem, gzip_problem, require
from saidl.common.errors import DataError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# Per-channel statistics used to normalise inputs.
NORMALISE = {
    "cifar10": ((0.49139968, 0.48215827, 0.44653124), (0.24703233, 0.24348505, 0.26158768)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
}
# How the reports name each dataset.
DATASET_NAMES = {"cifar10": "CIFAR-10", "fashion_mnist": "Fashion-MNIST"}


@dataclass
class Arrays:
    """Images as uint8 (N, C, H, W) and labels as int64 (N,), plus where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    source: str
    checksum: str


def _read_idx(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except EOFError:
        raise DataError(f"{path}: truncated (the gzip stream ends early); {FASHION_MNIST_HOW}") from None
    except (OSError, zlib.error) as e:
        raise DataError(f"{path}: not a valid gzip file ({e}); {FASHION_MNIST_HOW}") from None
    magic = int.from_bytes(raw[:4], "big")
    ndim = magic & 0xFF
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path}: truncated (expected {int(np.prod(shape))} values, found {data.size}); "
                        f"{FASHION_MNIST_HOW}")
    return data.reshape(shape)


def check_fashion_mnist_file(path: Path) -> None:
    """DataError unless ``path`` is the published Fashion-MNIST file of its name: the md5 of the
    .gz (Zalando's or Debian's recompressed copy), else the md5 and size of its decompressed bytes."""
    gz_md5, content_md5, content_size = FASHION_MNIST_MD5[path.name]
    if file_problem(path, md5=gz_md5) is None:
        return
    require(path, gzip_problem(path, content_md5, content_size), FASHION_MNIST_HOW)


_LOADED: dict[tuple, Arrays] = {}  # the runs of a pack (saidl.common.pack) read and check the files once


def _once(key: tuple, load) -> Arrays:
    """``load()`` the first time ``key`` is asked for in this process; the arrays are made
    read-only, so that no run changes what the next one reads."""
    if key not in _LOADED:
        arrays = load()
        for a in (arrays.x_train, arrays.y_train, arrays.x_test, arrays.y_test):
            a.flags.writeable = False
        _LOADED[key] = arrays
    return _LOADED[key]


def load_fashion_mnist(root: str | Path = FASHION_MNIST_DIR) -> Arrays:
    return _once(("fashion_mnist", str(Path(root).resolve())), lambda: _load_fashion_mnist(root))


def _load_fashion_mnist(root: str | Path) -> Arrays:
    root = Path(root)
    missing = [f for f in FASHION_MNIST_FILES.values() if not (root / f).is_file()]
    if missing:
        raise DataError(
            f"Fashion-MNIST not found: {', '.join(missing)} missing in {root}. Install it with "
            "`apt-get install dataset-fashion-mnist` (or `make env`), or set coreml data_dir to a "
            "folder holding the four idx .gz files")
    digest = hashlib.sha256()
    arrays = {}
    for key, name in FASHION_MNIST_FILES.items():
        check_fashion_mnist_file(root / name)
        digest.update((root / name).read_bytes())
        arrays[key] = _read_idx(root / name)
    return Arrays(arrays["train_images"][:, None], arrays["train_labels"].astype(np.int64),
                  arrays["test_images"][:, None], arrays["test_labels"].astype(np.int64),
                  FASHION_MNIST_CLASSES, str(root), digest.hexdigest())


def _cifar10_class(verify_checksums: bool):
    """torchvision's CIFAR10, or with ``verify_checksums`` false a subclass that checks only that
    every file is there (md5 None) and reads them exactly as CIFAR10 does. The unchecked reader is
    for the rehearsal's format-exact fake, whose bytes cannot match the real md5 sums."""
    from torchvision.datasets import CIFAR10

    if verify_checksums:
        return CIFAR10

    class UncheckedCIFAR10(CIFAR10):
        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}

    return UncheckedCIFAR10


def _unreadable_cifar10_batch(folder: Path) -> tuple[Path, str] | None:
    """(file, what is wrong) of the first CIFAR-10 python batch in ``folder`` that does not unpickle
    to a dict, or None."""
    import pickle

    from torchvision.datasets import CIFAR10

    for name in [n for n, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]:
        path = folder / name
        if not path.is_file():
            continue
        try:
            with open(path, "rb") as fh:
                obj = pickle.load(fh, encoding="latin1")
            if not isinstance(obj, dict):
                return path, f"not a CIFAR-10 python batch (holds a {type(obj).__name__})"
        except Exception as e:  # noqa: BLE001 - a cut or garbled pickle raises many types
            return path, f"truncated or corrupt ({type(e).__name__}: {e})"
    return None


def load_cifar10(root: str | Path, download: bool = True, verify_checksums: bool = True) -> Arrays:
    """CIFAR-10 through torchvision, integrity-checked (torchvision's md5 of every batch) unless
    ``verify_checksums`` is false; then the files must be there (nothing is downloaded) and only
    their md5 check is skipped. Read once per process."""
    return _once(("cifar10", str(Path(root).resolve()), download, verify_checksums),
                 lambda: _load_cifar10(root, download, verify_checksums))


def _load_cifar10(root: str | Path, download: bool, verify_checksums: bool) -> Arrays:
    cls = _cifar10_class(verify_checksums)
    root = Path(root)
    try:
        train = cls(str(root), train=True, download=download and verify_checksums)
        test = cls(str(root), train=False, download=download and verify_checksums)
    except Exception as exc:  # torchvision raises URLError, RuntimeError or OSError here
        bad = _unreadable_cifar10_batch(root / cls.base_folder) if (root / cls.base_folder).is_dir() else None
        if bad is not None:
            path, what = bad
            fix = (f"remake the fake with `python -m saidl.fakes cifar10 --root {root.parent}`" if not verify_checksums
                   else f"delete {root / cls.base_folder} and put the real 'cifar-10-python.tar.gz' (from "
                   "https://www.cs.toronto.edu/~kriz/cifar.html) into " + str(root) + ", or let it download")
            raise DataError(f"{path}: {what}; {fix}") from None
        if not verify_checksums:
            raise DataError(
                f"CIFAR-10 batches not found or unreadable in {root / cls.base_folder} ({type(exc).__name__}: "
                f"{exc}); with verify_checksums false nothing is downloaded. For the rehearsal make the fake "
                "with `python -m saidl.fakes cifar10 --root data/rehearsal`") from exc
        if (root / cls.base_folder).is_dir():
            raise DataError(
                f"CIFAR-10 in {root / cls.base_folder} fails torchvision's md5 check (a file is missing, "
                f"corrupt or not the real CIFAR-10) and could not be downloaded again ({type(exc).__name__}: "
                f"{exc}). Delete that folder and put the real 'cifar-10-python.tar.gz' (from "
                "https://www.cs.toronto.edu/~kriz/cifar.html) into it, or let it download") from exc
        raise DataError(
            f"CIFAR-10 is not available in {root} and could not be downloaded ({type(exc).__name__}: "
            f"{exc}). Put 'cifar-10-python.tar.gz' (from https://www.cs.toronto.edu/~kriz/cifar.html) "
            f"or its extracted 'cifar-10-batches-py/' folder into {root}, or set coreml "
            "data_dir in tasks/coreml/config.yaml to where it lives") from exc
    digest = hashlib.sha256()
    for split in (train, test):
        digest.update(np.ascontiguousarray(split.data).tobytes())
        digest.update(np.asarray(split.targets, dtype=np.int64).tobytes())
    return Arrays(train.data.transpose(0, 3, 1, 2).copy(), np.asarray(train.targets, np.int64),
                  test.data.transpose(0, 3, 1, 2).copy(), np.asarray(test.targets, np.int64),
                  CIFAR10_CLASSES, str(root) if verify_checksums else f"{root} (md5 not checked)",
                  digest.hexdigest())



def stratified_split(labels: np.ndarray, sizes: list[int | None], seed: int,
                     k: int = 10) -> list[np.ndarray]:
    """Disjoint class-balanced index sets of the given sizes (None = all that is left)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7919]))
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in range(k)]
    taken = [0] * k
    out = []
    for size in sizes:
        parts = []
        for c in range(k):
            avail = len(per_class[c]) - taken[c]
            n = avail if size is None else min(avail, size // k + (c < size % k))
            parts.append(per_class[c][taken[c]: taken[c] + n])
            taken[c] += n
        out.append(np.sort(np.concatenate(parts)))
    return out
