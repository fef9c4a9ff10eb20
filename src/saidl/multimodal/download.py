"""Full-scale dmg777k: download kgbench's archive, check every data file against the sha256 of its
Git LFS pointer in pbloem/kgbench-data, extract it into a cache folder and reuse that folder.

Without network, put the archive (or its extracted files) in the cache by hand: the DataError says
where. A verified folder holds ``.verified.json`` (size, mtime and sha256 per file), so later calls
only compare sizes and mtimes.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from saidl.common.errors import DataError
from saidl.common.io import read_json, write_json

log = logging.getLogger(__name__)

# kgbench-loader 0.2.0, kgbench/urls.py
DMG777K_URL = "https://www.dropbox.com/s/fal1nobf1etxtfu/dmg777k.tgz?dl=1"
# sha256 and size of each data file, from the Git LFS pointers datasets/dmg777k/<file> in
# pbloem/kgbench-data at commit 4ff786bfc866fedb140b084f2a0d1ea29fd6b678 (2021-03-14; the files
# are unchanged at HEAD 6f0ee12).
DMG777K_SHA256 = {
    "all.int.csv": "9803c1a2894852d2bc5e49017f7b076d364b8967f84e113354388b07b00391a2",
    "nodes.int.csv": "0903a9b8b76278c153b34d5348efda90a91f9b0e3cc9e462b34b5d6bde644975",
    "nodetypes.int.csv": "afa1e396442c0f10c0667be20c474b8b79bee13d4cb57b76020608a5f49848e8",
    "relations.int.csv": "b6f4d9ad4f1e2e6a469d000766d16d33dbaa05d43bef138ff532a161d5347666",
    "testing.int.csv": "8bd49206e667c8a353808c50ba8a827bc6e5179749cadb2c490b87ab80d1646c",
    "training.int.csv": "e914d029ff089c96aa3dfca05f1e4c8b17285e6c577383100c540cfc102753fb",
    "triples.int.csv.gz": "44ffb537db277a78b4594b9c6ff25bc2e63ddbf5ea9b05ba161a5221f4e204a9",
    "validation.int.csv": "68f3d663973cf356e1379ef0c22b59d0eeb6d9616c7a3f77a6f629aba12d9680",
}
DMG777K_SIZE = {
    "all.int.csv": 83973, "nodes.int.csv": 641627944, "nodetypes.int.csv": 433, "relations.int.csv": 2877,
    "testing.int.csv": 20023, "training.int.csv": 53953, "triples.int.csv.gz": 2815528, "validation.int.csv": 10023,
}
MARKER = ".verified.json"
_CHUNK = 1 << 20


def fetch_dmg777k(cache_dir: str | os.PathLike, *, url: str = DMG777K_URL, verify: bool = True,
                  progress: bool = True) -> Path:
    """The folder ``<cache_dir>/dmg777k`` holding dmg777k's verified kgbench files.

    Reuses a verified folder; else checks files placed there by hand, or extracts
    ``<cache_dir>/dmg777k.tgz`` (downloaded from ``url`` when missing). A checksum mismatch is a
    DataError unless ``verify`` is False (then only logged)."""
    cache = Path(cache_dir)
    target, archive = cache / "dmg777k", cache / "dmg777k.tgz"
    if still_verified(target, verify):
        return target
    if all((target / name).is_file() for name in DMG777K_SHA256):
        digests = {name: _sha256(target / name, progress) for name in DMG777K_SHA256}
        _check(digests, verify, f"the files in {target}", f"delete {target} and run again")
    else:
        if not archive.is_file():
            _download(url, archive, target, progress)
        tmp = cache / f".dmg777k.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            digests = _extract(archive, tmp, progress)
            _check(digests, verify, str(archive), f"delete {archive} and run again (it is downloaded anew)")
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    write_json(target / MARKER, {"verified": verify, "files": {
        name: {"sha256": digests[name], "size": (target / name).stat().st_size,
               "mtime_ns": (target / name).stat().st_mtime_ns} for name in DMG777K_SHA256}})
    log.info("dmg777k ready in %s", target)
    return target


def still_verified(target: Path, verify: bool) -> bool:
    """True if the marker lists every file with its current size and mtime (and was verified when
    ``verify``)."""
    try:
        marker = read_json(target / MARKER)
        files = marker["files"]
        if verify and not marker["verified"]:
            return False
        for name in DMG777K_SHA256:
            st = (target / name).stat()
            if (files[name]["size"], files[name]["mtime_ns"]) != (st.st_size, st.st_mtime_ns):
                return False
            if verify and files[name]["sha256"] != DMG777K_SHA256[name]:
                return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def _download(url: str, archive: Path, target: Path, progress: bool) -> None:
    part = archive.with_name(archive.name + ".part")
    archive.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading dmg777k from %s", url)
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as out, \
                tqdm(total=int(resp.headers.get("Content-Length") or 0) or None, unit="B", unit_scale=True,
                     desc="dmg777k.tgz", disable=None if progress else True) as bar:
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        part.unlink(missing_ok=True)
        raise DataError(
            f"could not download dmg777k from {url} ({e}). Without network: download that URL elsewhere and "
            f"put the file at {archive}, or extract its files ({', '.join(sorted(DMG777K_SHA256))}) into "
            f"{target}; then run again") from None
    part.rename(archive)


def _extract(archive: Path, dest: Path, progress: bool) -> dict[str, str]:
    """Extract the data files (matched by base name, stored flat) and return their sha256."""
    dest.mkdir(parents=True)
    digests: dict[str, str] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = os.path.basename(member.name)
                if not member.isfile() or name not in DMG777K_SHA256 or name in digests:
                    continue
                h = hashlib.sha256()
                with tar.extractfile(member) as src, open(dest / name, "wb") as out, \
                        tqdm(total=member.size, unit="B", unit_scale=True, desc=name,
                             disable=None if progress else True) as bar:
                    while chunk := src.read(_CHUNK):
                        h.update(chunk)
                        out.write(chunk)
                        bar.update(len(chunk))
                digests[name] = h.hexdigest()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{archive} is not a readable .tgz ({e}): delete it and run again") from None
    missing = sorted(set(DMG777K_SHA256) - set(digests))
    if missing:
        raise DataError(f"{archive} lacks {', '.join(missing)}: is it kgbench's dmg777k.tgz? Delete it and run again")
    return digests


def _sha256(path: Path, progress: bool) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh, tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=path.name,
                                      disable=None if progress else True) as bar:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            bar.update(len(chunk))
    return h.hexdigest()


def _check(digests: dict[str, str], verify: bool, where: str, fix: str) -> None:
    bad = [n for n in DMG777K_SHA256 if digests[n] != DMG777K_SHA256[n]]
    if not bad:
        return
    msg = (f"{where}: sha256 of {', '.join(bad)} differs from pbloem/kgbench-data's Git LFS pointers "
           f"(e.g. {bad[0]}: {digests[bad[0]]}, expected {DMG777K_SHA256[bad[0]]})")
    if verify:
        raise DataError(f"{msg}; {fix}. Only files that are not dmg777k (the rehearsal's local fake) are "
                        "accepted without this check: verify=False (config: multimodal data.verify_checksums: false)")
    log.warning("%s; accepted because verify=False (data.verify_checksums: false)", msg)
