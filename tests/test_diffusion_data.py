"""The diffusion task's data side at the full scale (issue 12): SUN397 from the hub copy with every
image (100 training images a class AND a held-out reference of the same classes), the landscapes
folder, the realised reference size, all on the rehearsal's format-exact fakes read by the real
readers (Hugging Face ``datasets`` on a hub-cache snapshot, offline)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO
from saidl.common.errors import DataError


def sun_cfg(hub: Path, **kw) -> dict:
    return {"dataset": "sun397", "image_size": 8, "sun397_classes": 40, "sun397_per_class": 100,
            "sun397_ref_per_class": 125, "data_seed": 0, "hub_cache": str(hub), **kw}


def digests(x: np.ndarray) -> set[bytes]:
    return {img.tobytes() for img in x}


@pytest.fixture(scope="module")
def sun_fake(tmp_path_factory) -> Path:
    """The asset ``sun397`` as the rehearsal makes it (real row and per-class counts)."""
    from saidl.fakes import make

    root = tmp_path_factory.mktemp("fakes")
    made = make("sun397", root)
    assert made["rows"] == 108_754
    return root / "hub"


@pytest.fixture(scope="module")
def small_sun(tmp_path_factory) -> Path:
    """A small SUN397 snapshot in the same format whose rows are all distinct images: 12 classes,
    five of them too small for 100 training + 125 held-out images."""
    from saidl.fakes.sun397 import write_snapshot

    root = tmp_path_factory.mktemp("small")
    counts = {f"/{chr(97 + i)}/class_{i}": c for i, c in
              enumerate([100, 230, 224, 400, 225, 150, 260, 101, 300, 226, 120, 500])}
    write_snapshot(root, counts=counts, n_shards=3, unique_per_class=10_000)
    return root / "hub"


@pytest.fixture()
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_sun397_fake_is_the_hub_dataset_format_with_the_real_sizes(sun_fake, offline):
    """The snapshot is what `datasets` reads for 1aurent/SUN397: the dataset card's features and split
    size, parquet shards data/train-*, 108,754 rows with the real per-class counts."""
    import datasets
    from huggingface_hub import DatasetCard

    from saidl.diffusion.data import SUN397_REPO, hub_dataset_source
    from saidl.fakes.sun397 import SUN397_COUNTS

    snap = Path(hub_dataset_source(SUN397_REPO, sun_fake))
    assert snap.parts[-3:] == ("datasets--1aurent--SUN397", "snapshots", snap.name)
    card = DatasetCard.load(snap / "README.md").data.to_dict()
    assert card["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}]
    assert card["dataset_info"]["splits"] == [{"name": "train", "num_bytes": card["dataset_info"]["splits"][0]["num_bytes"],
                                               "num_examples": 108_754}]
    shards = sorted(p.name for p in (snap / "data").iterdir())
    assert shards == [f"train-{k:05d}-of-00008.parquet" for k in range(8)]
    ds = datasets.load_dataset(str(snap), split="train", streaming=True, columns=["label"])
    names = ds.features["label"].names
    assert len(names) == 397 and names[0] == "/a/abbey" and names[-1] == "/y/youth_hostel"
    labels = np.concatenate([t.column("label").to_numpy() for t in ds.with_format("arrow").iter(batch_size=50_000)])
    assert len(labels) == 108_754
    assert dict(zip(names, np.bincount(labels).tolist())) == SUN397_COUNTS
    row = next(iter(datasets.load_dataset(str(snap), split="train", streaming=True)))
    assert row["image"].mode == "RGB" and row["label"] == 0   # decoded by the Image(mode=RGB) feature


def test_sun397_gives_100_images_a_class_and_a_disjoint_reference(sun_fake, offline):
    """The assignment's 40 classes x 100 training images exist (the old reader stopped at ~50 a class),
    and the FID/CMMD reference is 125 further images of each of the same classes."""
    from saidl.diffusion.data import load_images
    from saidl.fakes.sun397 import SUN397_COUNTS

    cfg = sun_cfg(sun_fake)
    train = load_images(cfg, "train", None, 0)
    ref = load_images(cfg, "test", 5000, 0)
    assert train.x.shape == (4000, 3, 8, 8) and np.bincount(train.y).tolist() == [100] * 40
    assert ref.x.shape == (5000, 3, 8, 8) and np.bincount(ref.y).tolist() == [125] * 40
    assert train.classes == ref.classes and len(set(train.classes)) == 40
    counts = {name.split("/", 2)[2]: c for name, c in SUN397_COUNTS.items()}
    assert all(counts[c] >= 225 for c in train.classes)     # only classes that hold both parts
    assert np.array_equal(ref.y[:80], np.tile(np.arange(40), 2))   # round-robin: prefixes are balanced
    assert "rehearsal fake of 1aurent/SUN397" in train.source and "none of them a training image" in ref.split
    # the rehearsal's sizes: distinct images in the fake, so disjointness shows in the pixels too
    from saidl.diffusion.data import sun397_images

    small_train = sun397_images("train", 40, 2, 2, 8, 0, hub_cache=sun_fake)
    small_ref = sun397_images("test", 40, 2, 2, 8, 0, hub_cache=sun_fake)
    assert len(small_train) == len(small_ref) == 80
    assert not digests(small_train.x) & digests(small_ref.x)


def test_sun397_training_and_reference_rows_never_overlap(small_sun, offline):
    """Every row distinct: the training and reference images share no picture, come from the same
    classes (drawn among those with >= 100 + 125 images), and are the first 225 rows of each."""
    import datasets

    from saidl.diffusion.data import SUN397_REPO, center_square, hub_dataset_source, sun397_images

    train = sun397_images("train", 6, 100, 125, 8, seed=1, hub_cache=small_sun)
    ref = sun397_images("test", 6, 100, 125, 8, seed=1, hub_cache=small_sun)
    assert train.classes == ref.classes
    assert set(train.classes) <= {"class_1", "class_3", "class_4", "class_6", "class_8", "class_9", "class_11"}
    assert len(digests(train.x)) == 600 and len(digests(ref.x)) == 750
    assert not digests(train.x) & digests(ref.x)
    # exactly rows 0-99 (training) and 100-224 (reference) of each chosen class, in dataset order
    ds = datasets.load_dataset(hub_dataset_source(SUN397_REPO, small_sun), split="train", streaming=True)
    names = ds.features["label"].names
    rows: dict[str, list] = {}
    for r in ds:
        rows.setdefault(names[r["label"]].split("/", 2)[2], []).append(center_square(r["image"], 8))
    for i, c in enumerate(train.classes):
        assert np.array_equal(train.x[train.y == i], np.stack(rows[c][:100]))
        assert np.array_equal(ref.x[ref.y == i], np.stack(rows[c][100:225]))
    with pytest.raises(DataError, match="only 7 of 12 classes hold 225 images"):
        sun397_images("train", 8, 100, 125, 8, seed=1, hub_cache=small_sun)


def test_sun397_offline_needs_the_whole_snapshot(small_sun, tmp_path, offline):
    from saidl.diffusion.data import SUN397_REPO, hub_dataset_source, sun397_images

    with pytest.raises(DataError, match="hf download 1aurent/SUN397 --repo-type dataset"):
        sun397_images("train", 2, 1, 1, 8, 0, hub_cache=tmp_path / "empty")
    # a snapshot that streaming left behind (the README alone) or with a shard missing is not whole
    import shutil

    part = tmp_path / "part"
    shutil.copytree(small_sun, part, symlinks=True)
    snap = Path(hub_dataset_source(SUN397_REPO, part))
    for shard in (snap / "data").iterdir():   # older push_to_hub names end in a fingerprint
        shard.rename(shard.with_name(shard.stem + "-0123abcd.parquet"))
    assert hub_dataset_source(SUN397_REPO, part) == str(snap)
    assert len(sun397_images("train", 2, 1, 1, 8, 0, hub_cache=part)) == 2
    (snap / "data" / "train-00001-of-00003-0123abcd.parquet").unlink()
    assert hub_dataset_source(SUN397_REPO, part) is None
    with pytest.raises(DataError, match="not \\(whole\\)"):
        sun397_images("train", 2, 1, 1, 8, 0, hub_cache=part)


def test_landscapes_fake_is_a_kaggle_style_folder_with_a_held_out_fifth(tmp_path):
    from PIL import Image

    from saidl.diffusion.data import load_images
    from saidl.fakes import make

    made = make("landscapes", tmp_path)
    folder = tmp_path / made["path"]
    jpgs = sorted(folder.glob("*.jpg"))
    assert len(jpgs) == made["n"] >= 24 and jpgs[0].name == "00000000.jpg" and (folder / "00000000_(2).jpg").is_file()
    assert len({Image.open(p).size for p in jpgs}) >= 4             # varied sizes, both orientations
    cfg = {"dataset": "landscapes", "image_size": 16, "landscape_dir": str(folder)}
    train, ref = load_images(cfg, "train", None, 0), load_images(cfg, "test", 5000, 0)
    assert len(ref) == len(jpgs) // 5 and len(train) == len(jpgs) - len(ref)
    assert not digests(train.x) & digests(ref.x)
    assert "rehearsal fake" in ref.source and "1 in 5" in ref.split
    assert len(load_images(cfg, "test", 3, 0)) == 3 and not digests(load_images(cfg, "test", 3, 0).x) & digests(train.x)


def test_reference_job_records_the_realised_set(tmp_path, monkeypatch):
    """The reference JSON says how many real images were embedded (not the config's n_reference),
    from which source and which part of it."""
    import saidl.diffusion.embedders as embedders
    import saidl.diffusion.evaluate as ev
    from saidl.fakes import make

    made = make("landscapes", tmp_path)

    class Desc:
        description = "stub"

    monkeypatch.setattr(ev, "embed_all", lambda x, names, *a, **k: {n: np.ones((len(x), 4)) for n in names})
    monkeypatch.setattr(embedders, "make_embedder", lambda name, *a, **k: Desc())
    cfg = {"dataset": "landscapes", "image_size": 16, "landscape_dir": str(tmp_path / made["path"]),
           "n_reference": 5000, "data_seed": 0, "embedders": ["inception"], "device": "cpu", "group": "unconditional",
           "scale": "rehearsal", "seed": 0, "codec": "sd-vae"}
    res = ev.reference(cfg, tmp_path / "ref.json", tmp_path / "ref.npz")
    m = json.loads((tmp_path / "ref.json").read_text())["metrics"]
    assert m["n"] == res["metrics"]["n"] == made["n"] // 5 != cfg["n_reference"]
    assert m["n_requested"] == 5000 and "1 in 5" in m["split"] and "rehearsal fake" in m["source"]


def test_report_prints_the_realised_reference_sizes():
    """The report names each reference set by what the reference job realised (summary
    ``references.<group>.n``), never by the config's ``evaluation.n_reference``."""
    from saidl.diffusion.report import dataset_text, reference_text

    template = (REPO / "templates/diffusion/report.tex").read_text()
    assert "n_reference" not in template and "reference_sets_text" in template
    refs = {"unconditional": {"n": 863, "split": "a seeded 1 in 5 of the 4319 pictures", "source": "x"},
            "conditional": {"n": 5000, "split": "images 101-225 of each class", "source": "y"}}
    text = reference_text(refs, {"conditional": "SUN397", "unconditional": "landscape pictures"})
    assert text == ("5000 of SUN397 (images 101-225 of each class) and "
                    "863 of landscape pictures (a seeded 1 in 5 of the 4319 pictures)")
    assert dataset_text("sun397", {"num_classes": 40, "n_images": 80}) == "SUN397 (40 classes, 2 images each)"


def test_full_configs_carry_the_hub_cache_and_both_sun397_parts():
    from saidl.diffusion.grid import reference_configs, run_configs

    cfg = yaml.safe_load((REPO / "tasks/diffusion/config.yaml").read_text())["diffusion"]
    run = run_configs(cfg, "full")["cond-adaln"]
    ref = reference_configs(cfg, "full")["ref-conditional"]
    for c in (run, ref):
        assert "hub_cache" in c and c["hub_cache"] is None          # full: the user's default cache
        assert c["sun397_classes"] * c["sun397_per_class"] == 4000   # the assignment's 40 x 100
    assert ref["sun397_classes"] * ref["sun397_ref_per_class"] == ref["n_reference"]
    assert "hub_cache" in reference_configs(cfg, "full")["ref-unconditional"]
