import json

import pytest
import torch

from saidl.common.io import read_json
from saidl.coreml.train import random_crop_flip, run


def without_timing(path):
    doc = read_json(path)
    doc.pop("timing")
    return doc


def test_same_seed_gives_the_same_run_json_apart_from_timings(tmp_path, tiny_run_cfg):
    run(tiny_run_cfg, tmp_path / "a.json")
    run(tiny_run_cfg, tmp_path / "b.json")
    assert without_timing(tmp_path / "a.json") == without_timing(tmp_path / "b.json")
    other = {**tiny_run_cfg, "seed": 1, "run_id": "other"}
    run(other, tmp_path / "c.json")
    assert without_timing(tmp_path / "c.json")["metrics"] != without_timing(tmp_path / "a.json")["metrics"]


def test_interrupted_run_resumes_from_its_checkpoint_to_the_same_result(tmp_path, tiny_run_cfg):
    ckpt = tmp_path / "run.pt"
    assert run(tiny_run_cfg, tmp_path / "x.json", ckpt=ckpt, stop_after=1) is None
    assert ckpt.exists() and not (tmp_path / "x.json").exists()  # no half-written result
    run(tiny_run_cfg, tmp_path / "x.json", ckpt=ckpt)
    assert not ckpt.exists()
    run(tiny_run_cfg, tmp_path / "y.json")
    assert without_timing(tmp_path / "x.json")["metrics"] == without_timing(tmp_path / "y.json")["metrics"]


def test_run_json_records_curves_memorisation_and_realised_noise(tmp_path, tiny_run_cfg):
    doc = run(tiny_run_cfg, tmp_path / "r.json")
    m = doc["metrics"]
    assert len(m["test_acc"]) == len(m["train_noisy_fit"]) == tiny_run_cfg["epochs"]
    assert m["final_test_acc"] == m["test_acc"][-1]
    assert doc["noise"]["realised_rate"] == pytest.approx(0.8, abs=0.01)
    assert doc["provenance"]["dataset"]["checksum"]
    json.dumps(doc, allow_nan=False)


def test_crop_flip_keeps_shape_and_is_identity_without_padding_or_flip():
    x = torch.randint(0, 255, (16, 3, 8, 8), dtype=torch.uint8)
    out = random_crop_flip(x, 4, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    same = random_crop_flip(x, 0, torch.Generator().manual_seed(0))
    # With no padding, each image is either itself or its mirror image.
    for a, b in zip(same, x):
        assert torch.equal(a, b) or torch.equal(a, b.flip(-1))


def test_a_run_without_validation_split_trains_and_records_no_val_selection(tmp_path, tiny_run_cfg):
    doc = run({**tiny_run_cfg, "n_val": 0, "epochs": 1}, tmp_path / "r.json")
    assert doc["metrics"]["val_acc"] == [None]
    assert doc["metrics"]["val_selected_epoch"] is None
