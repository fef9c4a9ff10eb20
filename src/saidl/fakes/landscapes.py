"""Fake of the Kaggle "Landscape Pictures" set (arnaud58/landscape-pictures), asset ``landscapes``.

The real set unpacks to one flat folder of 4,319 JPEG photographs of varied sizes, named
``00000000.jpg``, ``00000000_(2).jpg``, ..., ``00000002_(6).jpg``; the full scale reads it with
:func:`saidl.diffusion.data.image_folder` from ``landscape_dir`` (every ``.jpg`` under the folder,
centre-cropped and resized to ``image_size``). This fake writes :data:`N_IMAGES` JPEGs in that layout
under ``<root>/landscapes``: synthetic "landscapes" (a sky gradient over ground of a random colour,
a horizon at a random height, noise), in sizes from 192 to 320 px a side, both orientations.
Only the number of pictures and their content differ from the real set. The folder also holds
``saidl_fake.json`` (not an image, so the reader skips it; the real folder never has it): the reader
names the fake in the source it reports.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from saidl.fakes import write_marker

FOLDER = "landscapes"
N_IMAGES = 48
VARIANTS = 8            # 00000000.jpg, 00000000_(2).jpg ... 00000000_(8).jpg, then 00000001...
SIZES = ((320, 240), (256, 192), (240, 320), (300, 200), (200, 300), (288, 288), (320, 192), (192, 256))


def file_name(i: int) -> str:
    stem, k = divmod(i, VARIANTS)
    return f"{stem:08d}.jpg" if k == 0 else f"{stem:08d}_({k + 1}).jpg"


def landscape(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """One synthetic landscape, uint8 (h, w, 3)."""
    horizon = int(h * rng.uniform(0.3, 0.7))
    sky_top, sky_low = rng.uniform([20, 60, 140], [90, 140, 230]), rng.uniform([140, 170, 200], [230, 230, 255])
    ground = rng.uniform([30, 60, 10], [140, 150, 90])
    t = np.clip(np.arange(h) / max(horizon, 1), 0, 1)[:, None, None]
    img = np.broadcast_to(sky_top * (1 - t) + sky_low * t, (h, w, 3))
    ridge = (8 * np.sin(np.linspace(0, rng.uniform(2, 9), w) + rng.uniform(0, 6))).astype(int)
    rows = np.arange(h)[:, None]
    below = rows >= horizon + ridge[None, :]
    shade = np.linspace(1.0, 0.6, h)[:, None, None]
    img = np.where(below[..., None], ground * shade, img)
    img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make(root: Path, n: int = N_IMAGES, seed: int = 0) -> dict:
    from PIL import Image

    out = Path(root) / FOLDER
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    sizes = []
    for i in range(n):
        w, h = SIZES[int(rng.integers(len(SIZES)))]
        Image.fromarray(landscape(rng, w, h)).save(out / file_name(i), format="JPEG", quality=85)
        sizes.append([w, h])
    files = sorted(p.name for p in out.iterdir())
    desc = f"rehearsal fake of the Kaggle landscape pictures: {len(files)} synthetic sky/ground JPEGs"
    write_marker(out, {"description": desc})
    return {"path": out.relative_to(root).as_posix(), "files": files, "n": len(files), "description": desc,
            "bytes": sum(p.stat().st_size for p in out.iterdir()), "sizes": sorted({tuple(s) for s in sizes}),
            "not_reproduced": "the photographs (synthetic sky/ground pictures) and their number (4,319 real)"}
