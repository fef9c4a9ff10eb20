"""Image sets of the diffusion task, all as uint8 arrays (N, C, H, W) plus labels.

- ``fashion-mnist`` (demo, smoke): the Debian package's idx files through the Core ML loader,
  28×28 padded to 32×32 (the autoencoder halves the side twice).
- ``wallpaper-crops`` (demo stand-in for the landscape set): random square crops of real outdoor
  photos from Debian's ``mate-backgrounds`` (the nature set), each photo first scaled so that its
  short side lies in a random range, then cropped and resized to ``image_size``.
- ``landscapes`` (full): a folder of landscape photographs (the assignment's Kaggle set),
  centre-cropped and resized to ``image_size`` (256). A seeded fifth of the folder is held out
  as the FID/CMMD reference; the rest is the training set.
- ``sun397`` (full, bonus): 100 training images from each of 40 SUN397 classes, read with
  Hugging Face ``datasets`` (streamed, as the assignment suggests), plus a held-out reference set
  of further images of the same classes. See :func:`sun397_images` for the hub copy used and why.

Every loader returns :class:`Images`; a missing dataset is a :class:`DataError` naming it, where
it was looked for and how to install it.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from saidl.common.errors import ConfigError, DataError
from saidl.fakes import with_fake_note

MATE_NATURE_DIR = Path("/usr/share/backgrounds/mate/nature")
SUN397_REPO = "1aurent/SUN397"
LANDSCAPE_HELD_OUT = 5   # one image in 5 of the landscape folder is held out as the reference set
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
    split: str = ""   # which part of the source these images are (e.g. the held-out reference part)

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, idx: np.ndarray) -> "Images":
        return Images(self.x[idx], self.y[idx], self.classes, self.source, self.checksum, list(self.notes),
                      self.split)

    @property
    def info(self) -> dict:
        return {"source": self.source, "checksum": self.checksum, "n": len(self), "shape": list(self.x.shape[1:]),
                "classes": list(self.classes), "notes": list(self.notes), "split": self.split}


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def fashion_mnist(split: str, n: int | None, seed: int, image_size: int = 32) -> Images:
    """Fashion-MNIST ``split`` ('train' or 'test'), ``n`` class-balanced images, zero-padded."""
    from saidl.common.datasets import load_fashion_mnist, stratified_split

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
                  [f"28x28 padded to {image_size}x{image_size}", f"read from {arr.source}"],
                  f"its {split} split" + (", disjoint from the training split" if split != "train" else ""))


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
    return Images(x, np.full(len(x), -1, np.int64), (), with_fake_note(f"{what} ({root})", root), _digest(x),
                  [f"{len(x)} images centre-cropped and resized to {image_size}x{image_size}"])


def hub_dataset_source(repo_id: str, hub_cache: str | Path | None) -> str | None:
    """The snapshot folder of the hub dataset ``repo_id`` in the Hugging Face cache ``hub_cache``
    (None: the user's default cache) when it holds the whole dataset, else None.

    Whole: a README (the dataset card ``datasets`` reads) and, for every shard name
    ``<split>-NNNNN-of-MMMMM[-<fingerprint>].parquet`` under ``data/``, all MMMMM shards. (Streaming a hub dataset
    leaves its README alone in the cache; that snapshot is not whole.)"""
    import re

    from huggingface_hub import snapshot_download

    try:
        snap = Path(snapshot_download(repo_id, repo_type="dataset", cache_dir=hub_cache, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (LocalEntryNotFoundError and kin)
        return None
    shards: dict[tuple[str, int], int] = {}
    for p in (snap / "data").glob("*.parquet"):
        m = re.fullmatch(r"(.+)-\d{5}-of-(\d{5})(-[0-9a-f]+)?\.parquet", p.name)  # older uploads: -<fingerprint>
        if m:
            key = (m.group(1), int(m.group(2)))
            shards[key] = shards.get(key, 0) + 1
    whole = (snap / "README.md").is_file() and bool(shards) and all(n == total for (_, total), n in shards.items())
    return str(snap) if whole else None


def open_hub_dataset(repo_id: str, hub_cache: str | Path | None, split: str = "train", **options):
    """``datasets.load_dataset(..., streaming=True)`` of a hub dataset: from its snapshot in the
    Hugging Face cache when that holds it whole (works offline), else streamed from the hub.
    ``options`` go to the builder (``columns``, ``filters``). Returns (dataset, where it was read)."""
    import os

    try:
        import datasets
    except ImportError as e:
        raise DataError("the SUN397 reader needs Hugging Face `datasets`: pip install datasets "
                        "(`make env` installs it with the diffusion extra)") from e
    local = hub_dataset_source(repo_id, hub_cache)
    if local is not None:
        from saidl.common.assets import require_hub_snapshot

        require_hub_snapshot(repo_id, hub_cache, "dataset")  # a cut parquet shard: one line naming it
    where = local or f"the Hugging Face hub ({repo_id}, streamed)"
    cache = "your default Hugging Face cache" if hub_cache is None else f"the Hugging Face cache {hub_cache}"
    if local is None and os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise DataError(f"dataset '{repo_id}' is not (whole) in {cache} and HF_HUB_OFFLINE is set: download it "
                        f"with `hf download {repo_id} --repo-type dataset"
                        f"{'' if hub_cache is None else f' --cache-dir {hub_cache}'}`, or run with network access")
    try:
        # ``hub_cache`` is the *hub* cache (huggingface_hub's, read above); load_dataset's own
        # ``cache_dir`` is the datasets (Arrow) cache, which streaming does not fill: left default.
        ds = datasets.load_dataset(local or repo_id, split=split, streaming=True, **options)
    except Exception as e:  # noqa: BLE001 - any hub/network/format failure is the same user problem
        raise DataError(f"dataset '{repo_id}' could not be read from {where}: {e}. Run the full scale with "
                        f"network access, or download the dataset into {cache} first") from e
    return ds, where


def _hub_fix(repo_id: str, where: str, hub_cache) -> str:
    if Path(where).is_dir():
        from saidl.common.assets import FAKE_ASSET_OF, hub_download_command
        from saidl.fakes import fake_note

        if fake_note(where) is not None:
            return (f"remake the rehearsal fake with `python -m saidl.fakes {FAKE_ASSET_OF.get(repo_id, '<asset>')} "
                    f"--root {Path(where).parents[3]}`")
        return (f"delete {Path(where).parents[1]} and download it again with "
                f"`{hub_download_command(repo_id, hub_cache, 'dataset')}`")
    return "run again (a streamed read failed), or download the dataset into the Hugging Face cache first"


class _reading:
    """Turns any read error of a hub dataset (a cut parquet shard, a network failure while
    streaming) into one DataError line naming the dataset, where it was read and the fix."""

    def __init__(self, repo_id: str, where: str, hub_cache):
        self.repo_id, self.where, self.hub_cache = repo_id, where, hub_cache

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        from saidl.common.errors import SaidlError

        if exc is None or isinstance(exc, (SaidlError, KeyboardInterrupt)) or not isinstance(exc, Exception):
            return False
        msg = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise DataError(f"dataset '{self.repo_id}' could not be read from {self.where} ({type(exc).__name__}: "
                        f"{msg}); {_hub_fix(self.repo_id, self.where, self.hub_cache)}") from None


def sun397_class_name(name: str) -> str:
    """``/a/apartment_building/outdoor`` (SUN397's ClassName.txt form) -> ``apartment_building/outdoor``."""
    parts = name.split("/")
    return "/".join(parts[2:]) if len(parts) > 2 and parts[0] == "" and len(parts[1]) == 1 else name


def sun397_images(split: str, n_classes: int, per_class: int, ref_per_class: int, image_size: int, seed: int,
                  repo_id: str = SUN397_REPO, hub_cache: str | Path | None = None) -> Images:
    """SUN397 for the class-conditional DiTs: ``split`` 'train' gives ``per_class`` images of each
    of ``n_classes`` classes, any other split the held-out reference set, ``ref_per_class`` further
    images of the same classes. The two never share an image.

    The hub copy is ``1aurent/SUN397``: all 108,754 SUN397 images (397 classes, 100 to 2,361 each) in
    one parquet split ``train``, columns ``image`` and ``label`` (ClassLabel, names ``/a/abbey`` ...).
    The copies with the standard partition (``tanganke/sun397``: train and test of 19,850 each, i.e.
    50 images a class in each) cannot give 100 training images of a class AND held-out images of the
    same class; the complete copy can. Selection, the same in every job that reads it:

    1. read the label column alone and count the images of each class;
    2. draw ``n_classes`` classes (seeded permutation) among those with at least
       ``per_class + ref_per_class`` images (158 of 397 classes at 100 + 125);
    3. read the rows of those classes in dataset order (a parquet filter on ``label``): the first
       ``per_class`` rows of a class are training images, the next ``ref_per_class`` the reference.

    Images are centre-cropped and resized to ``image_size``. The reference is ordered round-robin
    over the classes, so any prefix of it is class-balanced. Read through :func:`open_hub_dataset`
    (``hub_cache``: the snapshot there when whole, offline; else streamed from the hub)."""
    import datasets

    ds, where = open_hub_dataset(repo_id, hub_cache, columns=["label"])
    names = list(ds.features["label"].names)
    with _reading(repo_id, where, hub_cache):
        labels = np.concatenate([t.column("label").to_numpy()
                                 for t in ds.with_format("arrow").iter(batch_size=65_536)])
    counts = np.bincount(labels, minlength=len(names))
    need = per_class + ref_per_class
    eligible = np.flatnonzero(counts >= need)
    if len(eligible) < n_classes:
        raise DataError(f"SUN397 ('{repo_id}', {len(labels)} images): only {len(eligible)} of {len(names)} classes "
                        f"hold {need} images ({per_class} training + {ref_per_class} held-out), {n_classes} "
                        "needed; lower sun397_per_class, sun397_ref_per_class or sun397_classes in the config")
    chosen = sorted(int(c) for c in np.random.default_rng(seed).permutation(eligible)[:n_classes])
    slot = {c: i for i, c in enumerate(chosen)}
    train = split == "train"
    want, upto = (per_class, per_class) if train else (ref_per_class, need)
    if want < 1:
        raise DataError(f"SUN397: no {'training' if train else 'held-out reference'} images asked for "
                        f"(sun397_{'per_class' if train else 'ref_per_class'} is {want} in the config)")
    got: list[list] = [[None] * want for _ in chosen]
    seen = np.zeros(len(chosen), np.int64)
    rows, _ = open_hub_dataset(repo_id, hub_cache, filters=[("label", "in", chosen)])
    rows = rows.cast_column("image", datasets.Image(decode=False))
    from PIL import Image

    with _reading(repo_id, where, hub_cache):
        for table in rows.with_format("arrow").iter(batch_size=1024):
            blobs = table.column("image").combine_chunks().field("bytes").to_pylist()
            for label, blob in zip(table.column("label").to_pylist(), blobs):
                i = slot.get(int(label))
                if i is None:
                    continue
                k = int(seen[i]) - (0 if train else per_class)
                seen[i] += 1
                if 0 <= k < want:
                    try:
                        im = Image.open(io.BytesIO(blob or b"")).convert("RGB")
                    except OSError as e:
                        raise DataError(f"SUN397 ({where}): image {int(seen[i])} of class {names[int(label)]} cannot "
                                        f"be decoded ({e}); {_hub_fix(repo_id, where, hub_cache)}") from None
                    got[i][k] = center_square(im, image_size)
            if seen.min() >= upto:
                break
    if seen.min() < upto:  # the label counts promised more: the data changed between the two reads
        raise DataError(f"SUN397 ('{repo_id}' from {where}) ended with {int(seen.min())} images of a class "
                        f"where its label column counts at least {need}")
    if train:
        order = [(i, k) for i in range(len(chosen)) for k in range(want)]
    else:  # round-robin: every prefix is class-balanced
        order = [(i, k) for k in range(want) for i in range(len(chosen))]
    x = np.stack([got[i][k] for i, k in order])
    y = np.asarray([i for i, _ in order], np.int64)
    classes = tuple(sun397_class_name(names[c]) for c in chosen)
    part = (f"the first {per_class} images of each class" if train else
            f"images {per_class + 1}-{need} of each class, none of them a training image")
    notes = [f"{want} images from each of {n_classes} classes ({part}), centre-cropped and resized to {image_size}",
             f"classes drawn with seed {seed} among the {len(eligible)} of {len(names)} classes holding at least "
             f"{need} images ({per_class} training + {ref_per_class} held-out)",
             f"{len(labels)} images in the dataset; read with Hugging Face datasets from {where}"]
    source = with_fake_note(f"SUN397 ({repo_id})", where if Path(where).is_dir() else None)
    return Images(x, y, classes, source, _digest(x), notes, part)


def load_images(cfg: dict, split: str, n: int | None, seed: int) -> Images:
    """The image set a run config names (``cfg['dataset']``)."""
    name, size = cfg["dataset"], cfg["image_size"]
    if name == "fashion-mnist":
        return fashion_mnist(split, n, seed, size)
    if name == "wallpaper-crops":
        # Training and reference crops come from disjoint seeds (the same photos, other crops).
        out = wallpaper_crops(n, seed + (0 if split == "train" else 10_000), size,
                              cfg.get("landscape_files", DEFAULT_WALLPAPERS), cfg.get("landscape_dir", MATE_NATURE_DIR))
        out.split = "training crops" if split == "train" else "other random crops of the same photos"
        return out
    if name == "landscapes":
        # A seeded fifth of the folder is held out, whatever the reference size asked: the training
        # and reference jobs split it the same way, so the two sets never share a picture.
        imgs = image_folder(cfg["landscape_dir"], None, seed, size, "landscape pictures")
        held = len(imgs) // LANDSCAPE_HELD_OUT
        if held == 0:
            raise DataError(f"landscape pictures: {len(imgs)} images under {cfg['landscape_dir']}; at least "
                            f"{LANDSCAPE_HELD_OUT} are needed to hold one in {LANDSCAPE_HELD_OUT} out")
        perm = np.random.default_rng(seed).permutation(len(imgs))
        idx = perm[held:] if split == "train" else perm[:held]
        out = imgs.subset(idx[:n] if n else idx)
        out.split = (f"the {len(imgs) - held} of the {len(imgs)} pictures not held out" if split == "train" else
                     f"a seeded 1 in {LANDSCAPE_HELD_OUT} of the {len(imgs)} pictures, none of them a training picture")
        return out
    if name == "sun397":
        imgs = sun397_images(split, cfg["sun397_classes"], cfg["sun397_per_class"], cfg.get("sun397_ref_per_class", 0),
                             size, cfg.get("data_seed", 0), hub_cache=cfg.get("hub_cache"))
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
