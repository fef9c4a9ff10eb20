"""Image sets of the diffusion task, all as uint8 arrays (N, C, H, W) plus labels.

- ``fashion-mnist`` (demo, smoke): the Debian package's idx files through the Core ML loader,
  28×28 padded to 32×32 (the autoencoder halves the side twice).
- ``wallpaper-crops`` (demo stand-in for the landscape set): random square crops of real outdoor
  photos from Debian's ``mate-backgrounds`` (the nature set), each photo first scaled so that its
  short side lies in a random range, then cropped and resized to ``image_size``.
- ``landscapes`` (full): a folder of landscape photographs (the assignment's Kaggle set),
  centre-cropped and resized to ``image_size`` (256).
- ``sun397`` (full, bonus): 100 images from each of 40 SUN397 classes, streamed with
  Hugging Face ``datasets`` as the assignment suggests.

Every loader returns :class:`Images`; a missing dataset is a :class:`DataError` naming it, where
it was looked for and how to install it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from saidl.common.errors import ConfigError, DataError

MATE_NATURE_DIR = Path("/usr/share/backgrounds/mate/nature")
DEFAULT_WALLPAPERS = ("Dune.jpg", "Storm.jpg", "GreenMeadow.jpg")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass
class Images:
    """uint8 images (N, C, H, W), integer labels (N,) (-1 when unlabelled) and their origin."""

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    source: str
    checksum: str
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, idx: np.ndarray) -> "Images":
        return Images(self.x[idx], self.y[idx], self.classes, self.source, self.checksum, list(self.notes))

    @property
    def info(self) -> dict:
        return {"source": self.source, "checksum": self.checksum, "n": len(self), "shape": list(self.x.shape[1:]),
                "classes": list(self.classes), "notes": list(self.notes)}


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def fashion_mnist(split: str, n: int | None, seed: int, image_size: int = 32) -> Images:
    """Fashion-MNIST ``split`` ('train' or 'test'), ``n`` class-balanced images, zero-padded."""
    from saidl.coreml.data import load_fashion_mnist, stratified_split

    arr = load_fashion_mnist()
    x, y = (arr.x_train, arr.y_train) if split == "train" else (arr.x_test, arr.y_test)
    if n is not None and n < len(y):
        (idx,) = stratified_split(y, [n], seed)
        x, y = x[idx], y[idx]
    pad = image_size - x.shape[-1]
    if pad < 0 or pad % 2:
        raise ConfigError(f"diffusion image_size {image_size} cannot hold 28x28 Fashion-MNIST by even padding")
    x = np.pad(x, ((0, 0), (0, 0), (pad // 2, pad // 2), (pad // 2, pad // 2)))
    return Images(x, y, tuple(arr.classes), f"Fashion-MNIST {split}", arr.checksum,
                  [f"28x28 padded to {image_size}x{image_size}", f"read from {arr.source}"])


def _open_rgb(path: Path):
    from PIL import Image

    try:
        return Image.open(path).convert("RGB")
    except OSError as e:
        raise DataError(f"cannot read image {path}: {e}; remove or replace the file") from e


def wallpaper_crops(n: int, seed: int, image_size: int, files: list[str] | tuple[str, ...] = DEFAULT_WALLPAPERS,
                    root: str | Path = MATE_NATURE_DIR, short_side: tuple[int, int] = (96, 256)) -> Images:
    """``n`` random crops of the named photos: scale the photo so its short side is uniform in
    ``short_side``, take a random square of that scale's ``image_size`` pixels, flip half."""
    from PIL import Image

    root = Path(root)
    paths = [root / f for f in files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"wallpaper photos not found: {', '.join(missing)}. Install them with "
                        "`apt-get install mate-backgrounds` (or `make env` as root), or set diffusion "
                        "landscape_dir/landscape_files in tasks/diffusion/config.yaml")
    rng = np.random.default_rng(seed)
    photos = [_open_rgb(p) for p in paths]
    scales = sorted({int(s) for s in np.linspace(short_side[0], short_side[1], 6)})
    cache: dict[tuple[int, int], np.ndarray] = {}
    out = np.empty((n, 3, image_size, image_size), np.uint8)
    for i in range(n):
        k, s = int(rng.integers(len(photos))), scales[int(rng.integers(len(scales)))]
        if (k, s) not in cache:
            im = photos[k]
            f = s / min(im.size)
            cache[(k, s)] = np.asarray(im.resize((max(s, round(im.size[0] * f)), max(s, round(im.size[1] * f))),
                                                 Image.Resampling.LANCZOS))
        a = cache[(k, s)]
        r, c = int(rng.integers(a.shape[0] - image_size + 1)), int(rng.integers(a.shape[1] - image_size + 1))
        crop = a[r:r + image_size, c:c + image_size]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[i] = crop.transpose(2, 0, 1)
    digest = _digest(*(np.asarray(p) for p in photos))
    return Images(out, np.full(n, -1, np.int64), (), f"MATE nature photos {', '.join(Path(f).stem for f in files)}",
                  digest, [f"random {image_size}x{image_size} crops of {len(files)} photos scaled to a short side "
                           f"of {short_side[0]}-{short_side[1]} px, seed {seed}", f"read from {root}"])


def center_square(im, size: int) -> np.ndarray:
    """Centre-crop a PIL image to a square and resize it (bicubic) to ``size``; (3, size, size)."""
    from PIL import Image

    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return np.asarray(im.resize((size, size), Image.Resampling.BICUBIC)).transpose(2, 0, 1)


def image_folder(root: str | Path, n: int | None, seed: int, image_size: int, what: str) -> Images:
    """Every image under ``root`` (recursively, sorted), centre-cropped to ``image_size``."""
    root = Path(root)
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if root.is_dir() else []
    if not paths:
        raise DataError(f"{what}: no images found under {root}. Download the landscape pictures "
                        "(Kaggle 'arnaud58/landscape-pictures') and unpack them there, or set diffusion "
                        "landscape_dir in tasks/diffusion/config.yaml")
    if n is not None and n < len(paths):
        paths = [paths[i] for i in sorted(np.random.default_rng(seed).choice(len(paths), n, replace=False))]
    x = np.stack([center_square(_open_rgb(p), image_size) for p in paths])
    return Images(x, np.full(len(x), -1, np.int64), (), f"{what} ({root})", _digest(x),
                  [f"{len(x)} images centre-cropped and resized to {image_size}x{image_size}"])


def sun397_subset(n_classes: int, per_class: int, image_size: int, seed: int,
                  dataset: str = "tanganke/sun397", stream=None) -> Images:
    """``per_class`` images from each of the first ``n_classes`` SUN397 classes (in a seeded
    order), read from a streamed Hugging Face dataset; ``stream`` replaces it in tests."""
    if stream is None:
        try:
            import datasets
        except ImportError as e:
            raise DataError("SUN397 needs Hugging Face `datasets`: pip install datasets") from e
        try:
            stream = datasets.load_dataset(dataset, split="train", streaming=True)
            names = stream.features["label"].names
        except Exception as e:  # noqa: BLE001 - any hub/network failure is the same user problem
            raise DataError(f"SUN397 ('{dataset}') could not be streamed from the Hugging Face hub: {e}. "
                            "Run the full scale on a machine with internet access, or set HF_HOME to a "
                            "cache that holds it") from e
    else:
        names = getattr(stream, "names", None)
    wanted: list[int] | None = None
    counts: dict[int, int] = {}
    xs, ys = [], []
    for row in stream:
        label = int(row["label"])
        if wanted is None:
            n_all = len(names) if names else 397
            order = np.random.default_rng(seed).permutation(n_all)
            wanted = sorted(int(c) for c in order[:n_classes])
        if label not in wanted or counts.get(label, 0) >= per_class:
            continue
        counts[label] = counts.get(label, 0) + 1
        xs.append(center_square(row["image"].convert("RGB"), image_size))
        ys.append(wanted.index(label))
        if len(xs) == n_classes * per_class:
            break
    if wanted is None or len(xs) < n_classes * per_class:
        raise DataError(f"SUN397 stream ended with {len(xs)} of {n_classes * per_class} images "
                        f"({len(counts)} classes); lower per_class or n_classes in the config")
    classes = tuple(str(names[c]) if names else str(c) for c in wanted)
    x, y = np.stack(xs), np.asarray(ys, np.int64)
    return Images(x, y, classes, f"SUN397 ({dataset}, streamed)", _digest(x),
                  [f"{per_class} images from each of {n_classes} classes, centre-cropped to {image_size}"])


def load_images(cfg: dict, split: str, n: int | None, seed: int) -> Images:
    """The image set a run config names (``cfg['dataset']``)."""
    name, size = cfg["dataset"], cfg["image_size"]
    if name == "fashion-mnist":
        return fashion_mnist(split, n, seed, size)
    if name == "wallpaper-crops":
        # Training and reference crops come from disjoint seeds (the same photos, other crops).
        return wallpaper_crops(n, seed + (0 if split == "train" else 10_000), size,
                               cfg.get("landscape_files", DEFAULT_WALLPAPERS), cfg.get("landscape_dir", MATE_NATURE_DIR))
    if name == "landscapes":
        imgs = image_folder(cfg["landscape_dir"], None, seed, size, "landscape pictures")
        perm = np.random.default_rng(seed).permutation(len(imgs))
        n_ref = min(len(imgs) // 5, cfg.get("n_reference", 5000))
        idx = perm[n_ref:] if split == "train" else perm[:n_ref]
        return imgs.subset(idx[:n] if n else idx)
    if name == "sun397":
        imgs = sun397_subset(cfg["sun397_classes"], cfg["sun397_per_class"], size, cfg.get("data_seed", 0))
        return imgs if n is None else imgs.subset(np.arange(min(n, len(imgs))))
    raise ConfigError(f"diffusion dataset '{name}' unknown; use fashion-mnist, wallpaper-crops, landscapes or sun397")


def to_float(x: np.ndarray) -> "np.ndarray":
    """uint8 → float32 in [-1, 1]."""
    return x.astype(np.float32) / 127.5 - 1.0


def image_grid(images: np.ndarray, nrow: int, pad: int = 1) -> np.ndarray:
    """uint8 (N, C, H, W) → one (H', W', C) uint8 grid, ``nrow`` images per row, white gaps."""
    n, c, h, w = images.shape
    rows = -(-n // nrow)
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), 255, np.uint8)
    for i in range(n):
        r, q = divmod(i, nrow)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + q * (w + pad):pad + q * (w + pad) + w] = \
            images[i].transpose(1, 2, 0)
    return grid


def save_png(path: Path, grid: np.ndarray) -> None:
    """Write a uint8 (H, W, C) grid as PNG atomically (grey if C == 1)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(tmp)
    tmp.replace(path)
