"""Fake dmg777k: kgbench's ``dmg777k.tgz`` in the download cache, with a small synthetic graph inside.

The full scale's reader (:func:`saidl.multimodal.download.fetch_dmg777k`) looks in its cache folder
for ``dmg777k/`` (already extracted) and else for ``dmg777k.tgz`` (what it downloads from kgbench's
Dropbox URL), extracts the eight data files of that archive (stored flat, as kgbench-loader's
``getfile`` reads them), checks each against the SHA-256 of its Git LFS pointer in
pbloem/kgbench-data and loads them with :func:`saidl.multimodal.kgbench.load`. This fake is that
archive: ``<root>/kgbench/dmg777k.tgz``, with exactly those eight files (``all.int.csv``,
``nodes.int.csv``, ``nodetypes.int.csv``, ``relations.int.csv``, ``training/validation/testing.int.csv``,
``triples.int.csv.gz``) written by the synthetic generator (:mod:`saidl.multimodal.synth`, dmg777k's
schema: RCE monuments in dmg777k's five classes and proportions, base64 images inline, every dmg777k
datatype) with 150 monuments. Its checksums cannot match the real ones, so only a config
with ``data.verify_checksums: false`` (the rehearsal's) accepts it; at ``full`` the reader rejects it.

Any extracted ``dmg777k/`` folder beside the archive is removed, so the reader extracts this archive
afresh. Deterministic: the same bytes on every run (seeded generator, zero mtimes in tar and gzip).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from saidl.multimodal.download import DMG777K_SHA256

CACHE = "kgbench"            # below the fakes root; the rehearsal's data.cache_dir is <fakes_dir>/kgbench
N_MONUMENTS = 150            # dmg777k: 8,396 labelled ones; the encoders' cost grows with the literals
SEED = 777
IMAGE_SIZE = 48              # px; the encoders resize to their own input size


def archive_bytes(folder: Path) -> bytes:
    """A .tgz of the kgbench data files in ``folder``, flat and in name order, with zero times and
    owners (the same folder gives the same bytes)."""
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(DMG777K_SHA256):
            data = (folder / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def make(root: Path) -> dict:
    from saidl.multimodal.synth import generate

    cache = Path(root) / CACHE
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".fake-dmg777k-") as tmp:
        meta = generate(Path(tmp) / "graph", n_monuments=N_MONUMENTS, seed=SEED, image_size=IMAGE_SIZE)
        data = archive_bytes(Path(tmp) / "graph")
        part = Path(tmp) / "dmg777k.tgz"
        part.write_bytes(data)
        shutil.rmtree(cache / "dmg777k", ignore_errors=True)  # a stale extraction would be reused
        os.replace(part, cache / "dmg777k.tgz")
    counts = meta["counts"]
    return {"path": f"{CACHE}/dmg777k.tgz", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "files": sorted(DMG777K_SHA256), "generator": "saidl.multimodal.synth.generate",
            "params": {"n_monuments": N_MONUMENTS, "seed": SEED, "image_size": IMAGE_SIZE},
            "counts": {k: counts[k] for k in ("nodes", "triples", "monuments", "images", "texts", "splits")}}
