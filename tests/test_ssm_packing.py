"""SSM packs trained together (``pack_mode: vmap``, saidl.ssm.packed).

On a CPU (the ``loop`` path) each member's step is its alone run's on the same numbers, its dropout
drawing from its own generator, so a member's run JSON equals the same run trained alone bit for
bit (timings aside), uninterrupted and resumed. The ``vmap`` path (CUDA's) is checked here on the
CPU against the loop to a stated tolerance, and for isolation of a member that diverges."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from saidl.common.config import load_yaml
from saidl.common.io import read_json

from conftest import HANG_TIMEOUT, REPO, pack_smoke

SMALL = {"n_train": 64, "n_val": 32, "n_test": 32, "epochs": 2, "dropout": 0.1}


def _members(model: str = "s4-bilinear", **over) -> list[dict]:
    """Two seeds of one smoke-scale model (one pack key), with dropout so that each member's
    dropout stream is exercised."""
    from saidl.ssm.grid import pack_key, run_configs

    task = load_yaml(REPO / "tasks/ssm/config.yaml")["ssm"]
    base = {**run_configs(task, "smoke")["s4-bilinear-s0"], **task["models"][model], "model": model,
            "run_id": f"{model}-s0", **SMALL, **over}
    cfgs = [base, {**base, "seed": 1, "run_id": f"{model}-s1"}]
    assert len({pack_key(c) for c in cfgs}) == 1
    return cfgs


def _without_timing(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "timing"}


def _pack(cfgs, tmp_path, ckpt=None):
    spec = [{"config": c, "out": str(tmp_path / f"pack-{i}.json"), "ckpt": None} for i, c in enumerate(cfgs)]
    return subprocess.run([sys.executable, "-m", "saidl.common.pack", "saidl.ssm.train", "--members", json.dumps(spec),
                           "--mode", "vmap", *(["--pack-ckpt", str(ckpt)] if ckpt else []), "--threads", "1"],
                          cwd=REPO, capture_output=True, text=True, timeout=HANG_TIMEOUT)


@pytest.mark.parametrize("model", ["s4-bilinear", "s4d-lin-zoh"])
def test_a_vmap_pack_member_equals_the_run_trained_alone(tmp_path, one_torch_thread, model):
    from saidl.ssm.train import run

    cfgs = _members(model)
    proc = _pack(cfgs, tmp_path, tmp_path / "pack.pt")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (tmp_path / "pack.pt").exists()
    for i, cfg in enumerate(cfgs):
        doc = read_json(tmp_path / f"pack-{i}.json")
        assert doc["timing"]["packed"] == {"mode": "vmap", "members": 2, "batched": "loop"}
        alone = run(cfg, tmp_path / f"alone-{i}.json")
        assert _without_timing(doc) == _without_timing(read_json(tmp_path / f"alone-{i}.json"))
        assert len(doc["metrics"]["train_loss"]) == SMALL["epochs"]
    a, b = (read_json(tmp_path / f"pack-{i}.json")["metrics"]["train_loss"] for i in (0, 1))
    assert a != b  # two different runs, not one run twice


class _Stop(Exception):
    pass


def test_a_vmap_pack_resumes_as_the_runs_alone_resume(tmp_path, one_torch_thread, monkeypatch):
    """Stopped after epoch 1 and resumed from its checkpoint, a pack equals the runs alone, which
    equal themselves stopped after epoch 1 and resumed (their checkpoints keep dropout's generator)."""
    from saidl.ssm import packed as P
    from saidl.ssm import train as T

    cfgs = _members()
    ckpt = tmp_path / "pack.pt"
    outs = [tmp_path / f"p{i}.json" for i in range(2)]
    assert P.run_packed(cfgs, outs, ckpt, stop_after=1) is None and ckpt.exists()
    docs = P.run_packed(cfgs, outs, ckpt)
    assert not ckpt.exists()
    save = T.save_checkpoint

    def save_then_stop(path, state):
        save(path, state)
        raise _Stop

    for i, (cfg, doc) in enumerate(zip(cfgs, docs)):
        whole = T.run(cfg, tmp_path / f"a{i}.json")
        with monkeypatch.context() as m:
            m.setattr(T, "save_checkpoint", save_then_stop)
            with pytest.raises(_Stop):
                T.run(cfg, tmp_path / f"r{i}.json", tmp_path / f"r{i}.pt")
        resumed = T.run(cfg, tmp_path / f"r{i}.json", tmp_path / f"r{i}.pt")
        assert _without_timing(resumed) == _without_timing(whole)
        assert _without_timing(doc) == _without_timing(whole)


@pytest.mark.parametrize("batched", ["loop", "vmap"])
def test_a_diverging_member_does_not_poison_the_other(one_torch_thread, batched):
    """Member 0's decoder holds a NaN: its losses are NaN, and member 1's numbers are exactly what
    they are in a pack where member 0 is healthy."""
    import torch

    from saidl.ssm.data import load_sequences
    from saidl.ssm.packed import PackedSSM

    cfgs = _members("s4d-lin-zoh", dropout=0.0 if batched == "vmap" else 0.1)
    data = load_sequences(cfgs[0])
    sick, healthy = (PackedSSM(cfgs, data, torch.device("cpu"), batched) for _ in range(2))
    with torch.no_grad():
        sick.params["decoder.weight"][0, 0, 0] = float("nan")
    sick.fit()
    healthy.fit()
    assert all(x != x for x in sick.histories[0]["train_loss"])
    drop = {"epoch_time_s"}
    assert ({k: v for k, v in sick.histories[1].items() if k not in drop}
            == {k: v for k, v in healthy.histories[1].items() if k not in drop})
    for name, p in sick.params.items():
        assert torch.equal(p[1], healthy.params[name][1]), name


# vmap sums its batched products (the encoder, the GLU's Linear, the FFTs) in another order than the
# loop's per-member operations; after one epoch of 2 AdamW steps without dropout the parameters agree
# to float32 rounding amplified by 2 steps (measured: at most 7e-7; AdamW moves a weight by ~lr = 1e-2).
VMAP_ATOL = 1e-5


@pytest.mark.parametrize("model", ["s4-bilinear", "s4d-lin-zoh", "s4d-lin-bilinear"])
def test_the_vmap_path_agrees_with_the_loop(one_torch_thread, model):
    import torch

    from saidl.ssm.data import load_sequences
    from saidl.ssm.packed import PackedSSM

    cfgs = _members(model, dropout=0.0, epochs=1)
    data = load_sequences(cfgs[0])
    loop, vmap = (PackedSSM(cfgs, data, torch.device("cpu"), b) for b in ("loop", "vmap"))
    assert loop.train_epoch() == pytest.approx(vmap.train_epoch(), rel=1e-5)
    for name, p in loop.params.items():
        assert (p - vmap.params[name]).abs().max().item() < VMAP_ATOL, name


def test_s4_zoh_takes_the_loop_path_everywhere():
    import torch

    from saidl.common.errors import ConfigError
    from saidl.ssm.packed import batched_path

    cfg = _members("s4-zoh")[0]
    assert batched_path(cfg, torch.device("cuda")) == "loop"
    assert batched_path(_members("s4-bilinear")[0], torch.device("cuda")) == "vmap"
    assert batched_path(cfg, torch.device("cpu")) == "loop"
    from saidl.ssm.data import load_sequences
    from saidl.ssm.packed import PackedSSM

    with pytest.raises(ConfigError, match="S4 with ZOH"):
        PackedSSM(_members("s4-zoh"), load_sequences(cfg), torch.device("cpu"), "vmap")


def test_a_vmap_pack_refuses_members_that_cannot_stack(tmp_path):
    from saidl.common.errors import ConfigError
    from saidl.ssm.packed import check_members

    a, b = _members()
    proc = _pack([a, {**b, "d_state": 16}], tmp_path)
    assert proc.returncode == 2 and "differ in 'd_state'" in proc.stderr and "pack_mode: serial" in proc.stderr, \
        proc.stderr[-2000:]
    assert not (tmp_path / "pack-0.json").exists()
    for other, why in (({**b, "lr": 0.5}, "differ in 'lr'"), ({**b, "backend": "numpy"}, "NumPy model is not batched")):
        with pytest.raises(ConfigError, match=re.escape(why)):
            check_members([a, other])


def test_ssm_packs_of_pytorch_models_train_together_and_numpy_packs_serially(workflow_copy):
    """pack: 8 and pack_mode: vmap in the smoke block, two seeds: one pack per model; the PyTorch
    models' packs get --mode vmap, numpy-s4d's trains serially."""
    pack_smoke(workflow_copy, "ssm")
    from saidl.ssm.grid import scale_config

    sc = scale_config(load_yaml(workflow_copy / "tasks/ssm/config.yaml")["ssm"], "smoke")
    assert sc["pack"] == 8 and sc["seeds"] == [0, 1]
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "results/smoke/ssm/summary.json",
                           "--cores", "1", "--config", "scale=smoke"], cwd=workflow_copy, capture_output=True,
                          text=True, timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    cmds = [line for line in proc.stdout.splitlines() if "saidl.common.pack saidl.ssm.train" in line]
    assert len(cmds) == len(sc["models"]), proc.stdout[-3000:]
    for cmd in cmds:
        vmap = "--mode vmap --pack-ckpt results/smoke/ssm/ckpt/pack-" in cmd
        assert vmap == ("numpy-s4d-s0" not in cmd), cmd
