"""The multimodal rehearsal: the fake dmg777k through the full scale's reader, the config switch
that alone lets it through, the rehearsal block (full with only budgets and locations changed),
the hub cache of the CLIP encoders, and the report's prose that the data decides."""

from __future__ import annotations

import hashlib
import shutil
import tarfile

import numpy as np
import pytest
import yaml

from conftest import REPO, save_tiny_clip
from saidl.common.config import scale_block
from saidl.common.errors import DataError
from saidl.common.io import read_json
from saidl.fakes import make
from saidl.fakes import dmg777k as fake
from saidl.multimodal import download, kgbench
from saidl.multimodal.data import prepare


@pytest.fixture(scope="module")
def mm_cfg() -> dict:
    return yaml.safe_load((REPO / "tasks/multimodal/config.yaml").read_text())["multimodal"]


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    """The fakes root after ``python -m saidl.fakes dmg777k`` (the workflow's fake_asset job)."""
    root = tmp_path_factory.mktemp("fakes")
    made = make("dmg777k", root)
    return root, made


def data_cfg(mm_cfg, scale: str, cache) -> dict:
    """The data block of a scale, pointed at ``cache`` (what the data job receives)."""
    return {**scale_block(mm_cfg, "multimodal", scale)["data"], "cache_dir": str(cache)}


# ------------------------------------------------------------------------------------- the fake
def test_fake_is_kgbench_dmg777k_archive_flat_and_deterministic(fakes, tmp_path):
    root, made = fakes
    archive = root / made["path"]
    assert made["path"] == "kgbench/dmg777k.tgz" and archive.is_file()
    with tarfile.open(archive, "r:gz") as tar:
        names = tar.getnames()
    # exactly the files whose Git LFS checksums the full reader checks, stored flat as kgbench-loader reads them
    assert sorted(names) == sorted(download.DMG777K_SHA256)
    assert made["counts"]["monuments"] == fake.N_MONUMENTS and 100 <= fake.N_MONUMENTS <= 500
    again = make("dmg777k", tmp_path)
    assert again["sha256"] == made["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()


def test_fake_loads_through_the_full_reader_only_with_verify_checksums_false(mm_cfg, fakes, tmp_path):
    root, _ = fakes
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(root / "kgbench/dmg777k.tgz", cache / "dmg777k.tgz")

    # the rehearsal's data block: the full reader path (extract, checksum each file, load), check skipped
    rehearsal = data_cfg(mm_cfg, "rehearsal", cache)
    assert rehearsal["source"] == "dmg777k" and rehearsal["verify_checksums"] is False
    meta = prepare(rehearsal, tmp_path / "unused")
    assert meta["source"] == "dmg777k" and not meta["synthetic"]
    assert meta["checksums_verified"] is False and meta["matches_published"] is False
    kg = kgbench.load(meta["root"], progress=False)
    assert len(kg.training) + len(kg.validation) + len(kg.testing) == fake.N_MONUMENTS
    assert kg.num_classes == 5 and next(kg.iter_images(size=8)).size == (8, 8)

    # the full data block on the same cache: the extracted files are rejected on their checksums...
    full = data_cfg(mm_cfg, "full", cache)
    assert full["verify_checksums"] is True
    with pytest.raises(DataError, match="differs from pbloem/kgbench-data's Git LFS pointers"):
        prepare(full, tmp_path / "unused")
    # ... and so is the archive itself, extracted afresh
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(root / "kgbench/dmg777k.tgz", fresh / "dmg777k.tgz")
    with pytest.raises(DataError, match=r"dmg777k.tgz: sha256 of .* differs"):
        prepare(data_cfg(mm_cfg, "full", fresh), tmp_path / "unused")
    assert not (fresh / "dmg777k").exists()


def test_full_scale_without_the_dataset_is_a_clear_error(mm_cfg, tmp_path, monkeypatch):
    # no network here: the download from kgbench's URL fails as it would offline
    monkeypatch.setitem(download.fetch_dmg777k.__kwdefaults__, "url", "file:///nonexistent/dmg777k.tgz")
    with pytest.raises(DataError, match="could not download dmg777k"):
        prepare(data_cfg(mm_cfg, "full", tmp_path), tmp_path / "unused")


def test_verify_checksums_must_be_a_boolean(mm_cfg, tmp_path):
    from saidl.common.errors import ConfigError

    with pytest.raises(ConfigError, match="verify_checksums"):
        prepare({**data_cfg(mm_cfg, "full", tmp_path), "verify_checksums": "no"}, tmp_path / "unused")


# --------------------------------------------------------------------------------- the config
def test_rehearsal_is_full_with_only_budgets_and_fake_locations_changed(mm_cfg):
    full = scale_block(mm_cfg, "multimodal", "full")
    reh = scale_block(mm_cfg, "multimodal", "rehearsal")
    assert reh["feature_sets"] == full["feature_sets"]  # every feature set, the CLIP ones included
    assert {"image CLIP", "text CLIP", "all CLIP"} <= set(reh["feature_sets"])
    for key in ("decomposition", "model", "device"):
        assert reh[key] == full[key], key
    assert reh["encoders"]["image_size"] == full["encoders"]["image_size"]  # the batch size only chunks the work
    assert reh["data"]["source"] == full["data"]["source"] == "dmg777k"
    assert full["data"]["verify_checksums"] is True and full["hub_cache"] is None
    assert reh["data"]["verify_checksums"] is False
    assert reh["data"]["cache_dir"].startswith("data/rehearsal/") and reh["hub_cache"] == "data/rehearsal/hub"
    assert reh["train"]["lr"] == full["train"]["lr"] and reh["train"]["hops"] == full["train"]["hops"]
    assert reh["train"]["epochs"] <= full["train"]["epochs"] and set(reh["seeds"]) <= set(full["seeds"])
    assert "rehearsal" not in yaml.safe_dump(full)


def test_jobs_get_the_hub_cache_of_their_scale(mm_cfg):
    from saidl.multimodal.grid import job_config

    for job in ("embed_timing", "finetune"):
        assert job_config(mm_cfg, "full", job)["hub_cache"] is None
        assert job_config(mm_cfg, "rehearsal", job)["hub_cache"] == "data/rehearsal/hub"


# -------------------------------------------------------------------------------- hub encoders
@pytest.fixture(scope="module")
def tiny_clip_cache(tmp_path_factory):
    """A two-layer random CLIP saved as openai/clip-vit-base-patch32 in a Hugging Face cache."""
    from saidl.fakes.hub import snapshot_dir
    from saidl.multimodal.encoders import CLIP_ID

    root = tmp_path_factory.mktemp("fakes")
    snap = save_tiny_clip(snapshot_dir(root, CLIP_ID))
    (snap / "saidl_fake.json").write_text('{"fake": true, "description": "a tiny test CLIP"}')
    return root / "hub"


def test_every_clip_load_reads_the_configured_hub_cache(tiny_clip_cache, tmp_path):
    from saidl.multimodal.embedtime import encoders_for

    enc = encoders_for({"image": "clip-image", "text": "clip-text", "numeric": "numeric"}, {"image_size": 32},
                       "cpu", str(tiny_clip_cache))
    assert set(enc) == {"image", "text"}
    for e in enc.values():
        assert e.path.is_relative_to(tiny_clip_cache) and e.fake_note == "a tiny test CLIP"
    with pytest.raises(DataError, match="openai/clip-vit-base-patch32"):  # an empty cache: a clear error
        encoders_for({"text": "clip-text"}, {"image_size": 32}, "cpu", str(tmp_path))
    # the packaged encoders ignore the hub cache
    assert encoders_for({"text": "minilm"}, {"image_size": 32}, "cpu", str(tmp_path))["text"].name == "minilm"


def test_clip_text_batches_by_length_and_keeps_the_order(tiny_clip_cache):
    from saidl.multimodal.encoders import make_text_encoder

    te = make_text_encoder("clip-text", cache_dir=tiny_clip_cache)
    texts = ["a windmill with four sails near the river " * 3, "kerk", "1", "Gemeente Utrecht", "", "molen"]
    batched = te.encode(texts, batch_size=2)
    one_by_one = np.stack([te.encode([t]).numpy()[0] for t in texts])
    np.testing.assert_allclose(batched.numpy(), one_by_one, atol=1e-5)


def test_featurize_names_fake_hub_weights(tiny_clip_cache, fakes, tmp_path):
    from saidl.multimodal.featurize import compute, literal_nodes

    root, _ = fakes
    cache = tmp_path / "c"
    cache.mkdir()
    shutil.copy(root / "kgbench/dmg777k.tgz", cache / "dmg777k.tgz")
    kg = kgbench.load(download.fetch_dmg777k(cache, verify=False, progress=False), progress=False)
    nodes = literal_nodes(kg, 2, "text")[:5]
    info = compute("clip-text", kg, nodes, {"image_size": 32, "batch_size": 4}, "cpu", "x", tmp_path / "emb",
                   str(tiny_clip_cache))
    assert info["fake_weights"] == "a tiny test CLIP" and info["x"].shape == (5, 16)
    assert compute("bow", kg, nodes, {"image_size": 32, "batch_size": 4}, "cpu", "x").get("fake_weights") is None


# ----------------------------------------------------------------------------- what is claimed
def test_one_seed_gives_no_verdict():
    from saidl.common import stats

    assert stats.compare([0.9], [0.5], paired=True)["verdict"] == "too few seeds"
    assert stats.compare([0.9, 0.91], [0.5, 0.52], paired=True)["verdict"] == "better"
    assert stats.compare([0.5, 0.6], [0.5, 0.52], paired=True)["verdict"] == "no difference shown"


# ------------------------------------------------------------- the report's prose follows the data
# Made-up run, timing and fine-tuning JSONs (and a real EDA of a small graph) go through the real
# collect step and the real template; the rendered LaTeX is checked for what the numbers allow.
K = 5


def fit_result(rng, epochs: int = 3, epoch_s: float = 0.5) -> dict:
    def split(n):
        conf = np.zeros((K, K), dtype=int)
        conf[np.arange(n) % K, rng.integers(K, size=n)] += 1
        return {"acc": float(np.trace(conf) / n), "macro_f1": 0.3, "confusion": conf.tolist()}

    curves = {"epoch": list(range(1, epochs + 1)), "loss": np.linspace(2, 1, epochs).tolist(),
              "train_acc": rng.random(epochs).tolist(), "val_acc": rng.random(epochs).tolist(),
              "val_f1": rng.random(epochs).tolist(), "seconds": [epoch_s] * epochs, "feature_seconds": [0.0] * epochs}
    final = {s: split(n) for s, n in (("training", 40), ("validation", 10), ("testing", 20))}
    best = {"epoch": 2, "val_acc": final["validation"]["acc"], "val_f1": 0.3, "train_acc": 0.5, "test": final["testing"]}
    return {"curves": curves, "best": best, "final": final, "epoch_seconds": epoch_s}


@pytest.fixture(scope="module")
def small_eda(tmp_path_factory):
    from saidl.multimodal.eda import analyse
    from saidl.multimodal.synth import generate

    root = tmp_path_factory.mktemp("graph") / "g"
    generate(root, n_monuments=120, seed=0)
    return analyse(kgbench.load(root, progress=False), {"name": "dmg777k", "synthetic": False}, 2)


def render_report(tmp_path, mm_cfg, eda, *, seeds=(0,), epoch_s=0.5, matches_published=False,
                  fake_note="rehearsal fake of openai/clip-vit-base-patch32: random weights", clip=True) -> str:
    import copy

    from saidl.common.io import write_json
    from saidl.common.provenance import run_provenance
    from saidl.multimodal.analyze import collect
    from saidl.multimodal.grid import job_config, needed_features, run_configs
    from saidl.report.build import render

    cfg = copy.deepcopy(mm_cfg)
    cfg["rehearsal"]["seeds"] = list(seeds)
    if not clip:
        cfg["scales"]["full"]["feature_sets"] = [f for f in cfg["scales"]["full"]["feature_sets"] if "CLIP" not in f]
    rng = np.random.default_rng(0)
    grid = run_configs(cfg, "rehearsal")
    ds = {"name": "dmg777k", "checksum": "c" * 64}
    (tmp_path / "runs").mkdir()
    for rid, rc in grid.items():
        write_json(tmp_path / "runs" / f"{rid}.json", {
            **fit_result(rng, epoch_s=epoch_s), "config": rc, "parameters": 1000, "timing": {"wall_time_s": 3.0},
            "subgraph": {"nodes": 900, "edges": 4000, "edge_types": 90, "graph_nodes": 1000, "feature_nodes": {}},
            "provenance": run_provenance(rc, "cpu", ds)})
    (tmp_path / "features").mkdir()
    for name in needed_features(cfg, "rehearsal"):
        hub = name.startswith("clip")
        write_json(tmp_path / "features" / f"{name}.json", {
            "name": name, "modality": "image" if name in ("stats", "effnet-lite0", "clip-image") else "text",
            "encoder": name, "cache_hit": False, "fingerprint": f"{name}-0" if hub else None, "count": 10,
            "dim": 8, "seconds": 1.0, "fake_weights": fake_note if hub else None})
    embed = {"config": job_config(cfg, "rehearsal", "embed_timing"), "device": "cpu", "epochs": 1,
             "arms": {"precomputed": fit_result(rng, 1), "on_the_fly": fit_result(rng, 1, 20.0)},
             "encoders": {"image": "effnet-lite0", "text": "minilm"}, "encoded_nodes": {"image": 10, "text": 20},
             "encode_once_s": 20.0, "epoch_s": {"precomputed": 0.5, "on_the_fly": 20.0}, "ratio": 40.0,
             "feature_max_abs_diff": {"image": 0.0, "text": 0.0},
             "full_run_s": {"epochs": 20, "precomputed": 30.0, "on_the_fly": 400.0},
             "lr": 0.003, "lr_search": {"0.003": {"lr": 0.003, "val_acc": 0.6, "val_f1": 0.3, "val_pred_classes": 3}},
             "logits": {"max_abs_diff": 2e-6, "test_max_abs_diff": 1e-6, "max_abs": 3.0, "nodes": 70, "test_nodes": 20},
             "test_pred_classes": {"precomputed": [10, 5, 5], "on_the_fly": [10, 5, 5]}, "test_agreement": 1.0,
             "wall_s": 30.0, "select_s": 2.0}
    warm = fit_result(rng, 10)
    finetune = {"config": job_config(cfg, "rehearsal", "finetune"), "device": "cpu", "prepare_s": 2.0,
                "arms": {"frozen": {**fit_result(rng, 2), "seconds": 1.0}, "joint": {**fit_result(rng, 2), "seconds": 9.0}},
                "warmup": {"epochs": 10, "final": warm["final"], "best": warm["best"], "curves": warm["curves"]},
                "subset": {"training": 24, "validation": 12, "testing": 12, "nodes": 500, "edges": 900,
                           "encoded": {"image": 5, "text": 30}},
                "trainable_encoder_params": 5, "encoder_params": 50}
    dataset = {"name": "dmg777k", "source": "dmg777k", "root": "x", "checksum": "c" * 64, "synthetic": False,
               "generator": {}, "checksums_verified": matches_published, "matches_published": matches_published}
    write_json(tmp_path / "summary.json", collect(grid, tmp_path / "runs", dataset, eda, tmp_path / "features",
                                                  embed, finetune))
    return " ".join(render("multimodal", tmp_path / "summary.json", tmp_path / "report.tex").read_text().split())


def test_report_says_what_the_data_shows(mm_cfg, small_eda, tmp_path):
    tex = render_report(tmp_path, mm_cfg, small_eda)
    # a dmg777k whose files are not dmg777k's is said so, first thing, and in the provenance
    assert "The graph in this report is not dmg777k." in tex
    assert "dmg777k (files not the published ones:" in tex and "their checksums differ)" in tex
    # the CLIP runs are in the prose, and their weights are named as what they are
    assert "With CLIP ViT-B/32 image, images alone give" in tex and "With CLIP ViT-B/32 text, texts alone give" in tex
    assert "All modalities with CLIP ViT-B/32 image and CLIP ViT-B/32 text give" in tex
    assert "All modalities with EfficientNet-Lite0 and all-MiniLM-L6-v2 give" in tex
    assert "are not the published ones:} rehearsal fake of openai/clip-vit-base-patch32: random weights." in tex
    # one seed: the statistics module says too few seeds, and no set is called best or better
    assert "With 1 seed there is no spread to judge a difference by" in tex
    assert "too few seeds to say" in tex and "too few seeds to name a best set" in tex
    assert "shown better" not in tex and "The best feature set" not in tex
    assert not any(f"({v})" in tex for v in ("helps", "within noise", "does not help"))
    assert "1 seed per setting" in tex
    # epochs under two minutes; nothing about synthetic buildings in a dmg777k report
    assert "below the assignment's two-minute limit" in tex and "above the assignment's" not in tex
    assert "building silhouettes" not in tex and "noisy evidence" not in tex
    assert "close to ours" not in tex and "ours here:" in tex
    assert "2 epochs on 24 training labels" in tex


def test_report_prose_turns_with_the_numbers(mm_cfg, small_eda, tmp_path):
    tex = render_report(tmp_path, mm_cfg, small_eda, seeds=(0, 1), epoch_s=150.0, matches_published=True,
                        fake_note=None, clip=False)
    assert "The graph in this report is not dmg777k." not in tex and "not the published ones" not in tex
    assert "above the assignment's two-minute limit" in tex and "below the assignment's" not in tex
    assert "paired over the 2 seeds" in tex and "With 1 seed" not in tex
    assert "CLIP" not in tex.split("\\subsection{(b, c)")[1].split("\\subsection{(d)")[0]
    assert "not the published ones" not in tex


def test_dataset_table_lists_the_splits_in_order():
    from saidl.multimodal.tables import table_dataset

    eda = {"num_triples": 10, "num_entities": 5, "num_relations": 2, "edge_types": 4, "num_classes": 2,
           "splits": {"testing": [3, 3], "training": [40, 40], "validation": [7, 7]},  # as the JSON holds them
           "degree": {"min": 1, "mean": 2.0, "max": 3}, "subgraphs": []}
    assert "80 / 14 / 6" in table_dataset({"eda": eda})


def test_data_tables_match_the_summary(small_eda):
    """Every split, count and label of the data tables is the EDA's, splits in train/val/test order."""
    from saidl.multimodal.tables import table_dataset, table_i2e

    e = small_eda
    text = table_dataset({"eda": e})
    sizes = [sum(e["splits"][k]) for k in ("training", "validation", "testing")]
    assert f"train / validation / test&{sizes[0]} / {sizes[1]} / {sizes[2]}\\\\" in text
    assert f"&{e['num_relations']} / {e['edge_types']}\\\\" in text and f"classes&{e['num_classes']}\\\\" in text
    rows = [line for line in table_i2e({"eda": e}).splitlines() if "&" in line][1:]
    assert len(rows) == len(set(rows)) == len(e["i2e_examples"])  # no row twice (the old "0 plain literal")
    assert len({r["index"] for r in e["i2e_examples"]}) == len(e["i2e_examples"])


def test_claims_come_from_the_statistics_module(small_eda):
    """A clear paired gain is "better", a within-noise one "no difference shown"; best is stats.best."""
    from saidl.common import stats
    from saidl.multimodal.analyze import claims

    def cell(values, features, nodes=1000):  # the confusion matrix summed over seeds of `nodes` test nodes each
        right = int(round(sum(values) * nodes))
        return {"test_acc": stats.interval(values), "test_f1": stats.interval(values), "features": features,
                "confusion": [[right, len(values) * nodes - right], [0, 0]]}

    cells = {"structure": cell([0.50, 0.52, 0.51], {}),
             "image statistics": cell([0.60, 0.62, 0.61], {"image": "stats"}),
             "text bag-of-words": cell([0.53, 0.49, 0.52], {"text": "bow"}),
             "image EfficientNet": cell([0.61, 0.62, 0.62], {"image": "effnet-lite0"})}
    rng = np.random.default_rng(0)
    embed = {"arms": {"precomputed": fit_result(rng, 3, 0.1), "on_the_fly": fit_result(rng, 3, 9.0)}}
    embed["arms"]["on_the_fly"]["curves"]["seconds"] = [9.0, 9.5, 8.8]
    embed["arms"]["precomputed"]["curves"]["seconds"] = [0.10, 0.11, 0.09]
    warm = fit_result(rng, 10)
    ft = {"arms": {"frozen": fit_result(rng, 2), "joint": fit_result(rng, 2)}, "warmup": warm}
    c = claims(cells, {}, embed, ft, small_eda)
    simple = c["simple_features"]["comparisons"]
    assert simple["image statistics"]["verdict"] == "better"
    assert simple["text bag-of-words"]["verdict"] == "no difference shown"
    assert c["simple_features"]["verdict"] == "partly supported"
    # the same gain on few test nodes is not called better (the seeds agree, the nodes do not show it)
    few = claims({k: cell(v["test_acc"]["values"], v["features"], nodes=20) for k, v in cells.items()}, {},
                 embed, ft, small_eda)["simple_features"]["comparisons"]["image statistics"]
    assert few["seed_verdict"] == "better" and few["verdict"] == "no difference shown" and few["node_diff"] == 2
    pre = c["pretrained_features"]["comparisons"]["image EfficientNet"]
    assert pre["against"] == "image statistics" and pre["verdict"] == "no difference shown"
    assert c["embed_once"]["verdict"] == "supported" and c["embed_once"]["faster"]["verdict"] == "better"
    nodes = int(np.sum(ft["arms"]["frozen"]["final"]["testing"]["confusion"]))
    assert c["finetune"]["nodes"]["n_b"] == c["finetune"]["test_nodes"] == nodes  # one value per test node
    assert c["finetune"]["seeds"]["verdict"] == "too few seeds"
    best = stats.best({k: v["test_acc"] for k, v in cells.items()}, paired=True)
    assert best["verdict"] == "tied" and set(best["set"]) == {"image statistics", "image EfficientNet"}


def test_loss_rise_separates_the_restart_from_the_unfreezing():
    from saidl.multimodal.analyze import loss_rise

    warm = {"curves": {"loss": [2.0, 1.5, 1.2, 1.1, 1.05, 1.02, 1.0]}}
    both = {"warmup": warm, "arms": {"frozen": {"curves": {"loss": [1.0, 1.4, 1.1]}},
                                     "joint": {"curves": {"loss": [1.0, 1.6, 1.2]}}}}
    r = loss_rise(both)
    assert r["frozen"]["spike"] and r["joint"]["spike"] and r["joint"]["epoch"] == 2
    assert r["joint_minus_frozen"] == pytest.approx([0.0, 0.2, 0.1])
    only = {"warmup": warm, "arms": {"frozen": {"curves": {"loss": [1.0, 0.98, 0.97]}},
                                     "joint": {"curves": {"loss": [1.0, 1.6, 1.2]}}}}
    r = loss_rise(only)
    assert r["joint"]["spike"] and not r["frozen"]["spike"]
