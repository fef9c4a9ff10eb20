"""A format-exact fake of CIFAR-10's python version (``cifar-10-batches-py/``), for the rehearsal.

The real archive holds five training batches and one test batch of 10,000 images each, plus
``batches.meta``; every file is a Python 2 pickle (protocol 2) of a dict whose keys are Python 2
``str`` (so they load as ``b"data"`` with ``encoding="bytes"`` and as ``"data"`` with torchvision's
``encoding="latin1"``): ``batch_label``, ``labels`` (a list of ints), ``data`` (a uint8 numpy array
(N, 3072), row-major, the 1024 red values first, then green, then blue) and ``filenames``. The
meta dict holds ``num_cases_per_batch``, ``label_names`` and ``num_vis`` (3072).

This fake writes the same files in the same pickle format with fewer images per batch
(``PER_BATCH``; the readers take their sizes from the data) and synthetic content: each class has
its own mean colour and an oriented grating, under per-image noise, brightness and a random
shift, so a model learns something in a few steps and the grayscale (luma) sequences of the SSM
task keep a class signal too. The real batches' md5 sums cannot match: the rehearsal reads it with
``verify_checksums: false`` (``saidl.common.datasets.load_cifar10``).
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np

from saidl.common.io import atomic_write_bytes

BASE_FOLDER = "cifar-10-batches-py"
LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_BATCHES = 5
PER_BATCH = 200  # the real batches hold 10,000 images each
REAL_PER_BATCH = 10_000
SEED = 20250412


class _Py2Str(bytes):
    """A Python 2 ``str``: pickled with the BINSTRING opcodes that Python 2 wrote."""


class _Global:
    """A module-level name as Python 2 pickled it (``numpy.core.multiarray._reconstruct``)."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __call__(self, *args):  # save_reduce asks for a callable; only its name is written
        raise TypeError(f"{self.module}.{self.name} is a pickle reference, not a function")


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table can be extended
    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2str(self, obj: _Py2Str) -> None:
        n = len(obj)
        head = pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n)
        self.write(head + bytes(obj))
        self.memoize(obj)

    def save_py2global(self, obj: _Global) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode("ascii"))
        self.memoize(obj)

    def save_ndarray(self, arr: np.ndarray) -> None:
        # numpy.ndarray.__reduce__ as Python 2's numpy wrote it: _reconstruct(ndarray, (0,), 'b')
        # with the state (1, shape, dtype, fortran, raw bytes as a str).
        dtype = np.dtype(arr.dtype)
        if dtype != np.uint8:
            raise TypeError("the fake CIFAR-10 pickles only uint8 arrays")
        self.save_reduce(_Global("numpy.core.multiarray", "_reconstruct"),
                         (_Global("numpy", "ndarray"), (0,), _Py2Str(b"b")),
                         state=(1, tuple(int(s) for s in arr.shape), _Py2DType(), False,
                                _Py2Str(np.ascontiguousarray(arr).tobytes())), obj=arr)

    def save_py2dtype(self, obj: "_Py2DType") -> None:
        self.save_reduce(_Global("numpy", "dtype"), (_Py2Str(b"u1"), 0, 1),
                         state=(3, _Py2Str(b"|"), None, None, None, -1, -1, 0), obj=obj)

    dispatch[_Py2Str] = save_py2str
    dispatch[_Global] = save_py2global
    dispatch[np.ndarray] = save_ndarray


class _Py2DType:
    """numpy's uint8 dtype as Python 2 pickled it."""


_Py2Pickler.dispatch[_Py2DType] = _Py2Pickler.save_py2dtype


def py2_pickle(obj) -> bytes:
    """``obj`` (dicts, lists, ints, ``_Py2Str``, uint8 arrays) as a Python 2, protocol-2 pickle."""
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def _s(text: str) -> _Py2Str:
    return _Py2Str(text.encode("latin1"))


def _class_templates(rng: np.random.Generator) -> np.ndarray:
    """(10, 3, 32, 32) float mean images: a colour per class plus an oriented grating."""
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    out = np.empty((len(LABEL_NAMES), 3, 32, 32))
    for c in range(len(LABEL_NAMES)):
        colour = rng.uniform(60, 195, size=3)
        angle = np.pi * c / len(LABEL_NAMES)
        freq = 2.0 + (c % 3)
        grating = np.sin(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy))
        out[c] = colour[:, None, None] + 45.0 * grating[None]
    return out


def _images(labels: np.ndarray, templates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (N, 3072) rows: R plane, G plane, B plane, each row-major, as the real batches."""
    n = len(labels)
    x = templates[labels]
    shift = rng.integers(-3, 4, size=(n, 2))
    for i, (dy, dx) in enumerate(shift):
        x[i] = np.roll(x[i], (int(dy), int(dx)), axis=(1, 2))
    x = x + rng.normal(0, 12, size=(n, 1, 1, 1)) + rng.normal(0, 40, size=x.shape)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(n, 3 * 32 * 32)


def _batch(label: str, labels: np.ndarray, data: np.ndarray, first: int) -> bytes:
    names = [_s(f"fake_{LABEL_NAMES[y]}_s_{first + i:06d}.png") for i, y in enumerate(labels)]
    # the key order of the real files
    return py2_pickle({_s("batch_label"): _s(label), _s("labels"): [int(y) for y in labels],
                       _s("data"): data, _s("filenames"): names})


def make(root: Path, per_batch: int = PER_BATCH) -> dict:
    """Write ``<root>/cifar10/cifar-10-batches-py/`` and return what was written."""
    folder = Path(root) / "cifar10" / BASE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    templates = _class_templates(rng)
    k = len(LABEL_NAMES)
    files = {}
    # balanced over the whole training set (and the test set), shuffled across batches
    train_labels = rng.permutation(np.arange(TRAIN_BATCHES * per_batch) % k)
    batches = [(f"data_batch_{i + 1}", f"training batch {i + 1} of {TRAIN_BATCHES}",
                train_labels[i * per_batch:(i + 1) * per_batch]) for i in range(TRAIN_BATCHES)]
    batches.append(("test_batch", "testing batch 1 of 1", rng.permutation(np.arange(per_batch) % k)))
    for i, (name, label, labels) in enumerate(batches):
        blob = _batch(label, labels, _images(labels, templates, rng), i * per_batch)
        atomic_write_bytes(folder / name, blob)
        files[name] = len(blob)
    meta = py2_pickle({_s("num_cases_per_batch"): per_batch, _s("label_names"): [_s(n) for n in LABEL_NAMES],
                       _s("num_vis"): 3072})
    atomic_write_bytes(folder / "batches.meta", meta)
    files["batches.meta"] = len(meta)
    return {"path": folder.relative_to(root).as_posix(), "files": files,
            "images_per_batch": per_batch, "real_images_per_batch": REAL_PER_BATCH,
            "n_train": TRAIN_BATCHES * per_batch, "n_test": per_batch,
            "content": "synthetic: a colour and an oriented grating per class, noise, brightness, shifts; "
                       "fewer images per batch than the real 10,000"}
