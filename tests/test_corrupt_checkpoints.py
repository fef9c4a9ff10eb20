"""Our own intermediate files (resume checkpoints, the demo autoencoder, DiT weights, multimodal
features) cut short by a full disk or an interrupted copy: one line naming the file, never a
pickle or zip traceback; a cut resume checkpoint is set aside and the run starts afresh."""

from pathlib import Path

import pytest
import torch

from saidl.common.checkpoint import load_checkpoint, load_torch_file, save_checkpoint
from saidl.common.errors import DataError


def _cut(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def saved(tmp_path) -> Path:
    path = tmp_path / "run.pt"
    save_checkpoint(path, {"config": {"a": 1}, "epoch": 3, "w": torch.arange(10_000.0)})
    return path


def test_cut_resume_checkpoint_is_set_aside_and_the_run_starts_afresh(saved, caplog):
    _cut(saved)
    with caplog.at_level("WARNING"):
        assert load_checkpoint(saved, {"a": 1}) is None
    assert not saved.exists() and saved.with_name("run.pt.corrupt").exists()
    assert "truncated or corrupt" in caplog.text and "starting afresh" in caplog.text


def test_intact_checkpoint_still_resumes(saved):
    assert load_checkpoint(saved, {"a": 1})["epoch"] == 3


def test_cut_torch_file_is_one_data_error_naming_it_and_the_fix(saved):
    _cut(saved)
    with pytest.raises(DataError) as err:
        load_torch_file(saved, "delete it and rerun snakemake", map_location="cpu", weights_only=False)
    msg = str(err.value)
    assert msg.startswith(f"{saved}: truncated or corrupt (") and msg.endswith("delete it and rerun snakemake")
    assert "\n" not in msg


def test_cut_diffusion_autoencoder_and_dit_weights_are_one_line(saved, tmp_path):
    from saidl.diffusion.train import load_codec, load_dit

    _cut(saved)
    with pytest.raises(DataError, match="truncated or corrupt.*diffusion_autoencoder"):
        load_codec({"codec": "ae"}, saved, torch.device("cpu"))
    with pytest.raises(DataError, match="truncated or corrupt.*retrains that run"):
        load_dit(saved, torch.device("cpu"))


def test_missing_torch_file_stays_a_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_torch_file(tmp_path / "nope.pt", "fix")
