"""The Core ML and SSM trainers' speed-ups change no number: each fast path against the plain one."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from saidl.common.io import read_json

OPTIMISER_SCRIPT = r"""
import sys, torch
from saidl.common.runtime import seed_everything, skip_dynamo_import
if sys.argv[1] == "skip":
    skip_dynamo_import()
seed_everything(0)
params = []
for name in ("SGD", "AdamW"):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    if name == "SGD":
        opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    else:
        opt = torch.optim.AdamW(m.parameters(), lr=0.01, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5)
    x = torch.randn(16, 5)
    for _ in range(4):
        loss = m(x).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        sched.step()
    opt.load_state_dict(opt.state_dict())
    params += [p.detach().double().flatten().tolist() for p in m.parameters()]
assert torch.is_grad_enabled() and torch.are_deterministic_algorithms_enabled()
print(repr(params))
print("torch._dynamo" in sys.modules)
"""


def _optimiser_run(mode: str) -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-c", OPTIMISER_SCRIPT, mode], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    return out[0], out[1]


def test_optimisers_without_the_dynamo_import_give_the_same_parameters():
    plain, plain_dynamo = _optimiser_run("plain")
    skipped, skipped_dynamo = _optimiser_run("skip")
    assert skipped == plain
    assert plain_dynamo == "True" and skipped_dynamo == "False"


def _without_timing(path):
    doc = read_json(path)
    doc.pop("timing")
    return doc


def test_coreml_inputs_normalised_once_give_the_same_run(tmp_path, tiny_run_cfg, monkeypatch):
    from saidl.coreml import train

    train.run(tiny_run_cfg, tmp_path / "cached.json")
    monkeypatch.setattr(train.Trainer, "CACHE_BYTES", 0)  # every batch normalised on its own
    train.run(tiny_run_cfg, tmp_path / "plain.json")
    assert _without_timing(tmp_path / "cached.json") == _without_timing(tmp_path / "plain.json")


@pytest.mark.parametrize("kind,disc", [("s4", "bilinear"), ("s4", "zoh"), ("s4d", "zoh")])
def test_ssm_frozen_kernels_give_the_same_logits_and_are_released(kind, disc):
    from saidl.ssm.models import SSMClassifier

    torch.manual_seed(0)
    model = SSMClassifier(1, 5, d_model=8, n_layers=2, d_state=8, dropout=0.0, kind=kind, disc=disc).eval()
    x = torch.randn(6, 40, 1)
    with torch.no_grad():
        plain = model(x)
        with model.frozen_kernels(40):
            frozen = torch.cat([model(x[:4]), model(x[4:])])
            assert all(b.layer.frozen is not None for b in model.blocks)
    assert torch.allclose(frozen, plain, rtol=0, atol=1e-6)  # batches of 4 and 2 against one of 6
    assert all(b.layer.frozen is None for b in model.blocks)
    # outside the block the kernels are computed again, with their gradient
    model(x).sum().backward()
    assert model.blocks[0].layer.kernel.log_dt.grad is not None


def test_ssm_frozen_kernels_equal_per_batch_evaluation():
    from saidl.ssm.models import SSMClassifier

    torch.manual_seed(1)
    model = SSMClassifier(1, 5, d_model=8, n_layers=2, d_state=8, dropout=0.0, kind="s4d").eval()
    x = torch.randn(10, 30, 1)
    with torch.no_grad():
        per_batch = [model(x[i:i + 4]) for i in range(0, 10, 4)]
        with model.frozen_kernels(30):
            frozen = [model(x[i:i + 4]) for i in range(0, 10, 4)]
    assert all(torch.equal(a, b) for a, b in zip(per_batch, frozen))


def test_numpy_s4d_predictions_with_kernels_once_equal_per_batch_kernels():
    from saidl.ssm import numpy_s4d as ns

    params = ns.init_params(1, 8, 2, 8, 5, seed=0, dtype=np.float32)
    x = np.random.default_rng(0).standard_normal((10, 30, 1)).astype(np.float32)
    per_batch = np.concatenate([
        ns._forward_features(params, x[i:i + 4], keep=False)[0].mean(axis=-1) @ params["dec.W"] + params["dec.b"]
        for i in range(0, 10, 4)])
    assert np.array_equal(ns.predict_logits(params, x, batch_size=4), per_batch)


def test_keep_freed_memory_is_harmless_to_call_twice():
    from saidl.common.runtime import keep_freed_memory

    keep_freed_memory()
    keep_freed_memory()
    assert torch.ones(1 << 20).sum().item() == float(1 << 20)
