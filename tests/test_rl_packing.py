"""RL packs trained as one batched agent (``pack_mode: vmap``, saidl.rl.packed).

On a CPU each member's layers run as its alone run computes them, so a member's run JSON equals the
same run trained alone bit for bit (timings aside), for plain TD3 and for noisy nets of several
noise laws in one pack. The batched path (one ``baddbmm`` per layer, the CUDA path) is checked
here on the CPU against the alone agents to a stated tolerance, and for isolation of a member that
diverges."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from saidl.common.config import load_yaml
from saidl.common.io import read_json

from conftest import HANG_TIMEOUT, REPO, pack_smoke

SMALL = {"total_steps": 400, "start_steps": 200, "eval_every": 200}


def _runs():
    from saidl.rl.grid import run_configs

    return run_configs(load_yaml(REPO / "tasks/rl/config.yaml")["rl"], "smoke")


def _members(family: str) -> list[dict]:
    """Two smoke-scale runs of one pack key: TD3 at two seeds, or noisy nets of two laws."""
    from saidl.rl.grid import pack_key

    runs = _runs()
    if family == "td3":
        base = {**runs["td3-s0"], **SMALL}
        cfgs = [base, {**base, "seed": 1, "run_id": "td3-s1"}]
    else:
        base = {**runs["noisy-gaussian-s0"], **SMALL}
        cfgs = [base, {**base, "noisy": "gamma", "variant": "noisy-gamma", "seed": 1, "run_id": "noisy-gamma-s1"}]
    assert len({pack_key(c) for c in cfgs}) == 1
    return cfgs


def _without_timing(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "timing"}


def _train(args):
    return subprocess.run([sys.executable, "-m", *args, "--threads", "1"], cwd=REPO, capture_output=True, text=True,
                          timeout=HANG_TIMEOUT)


@pytest.mark.parametrize("family", ["td3", "noisy"])
def test_a_vmap_pack_member_equals_the_run_trained_alone(tmp_path, family):
    cfgs = _members(family)
    spec = [{"config": c, "out": str(tmp_path / f"pack-{i}.json"), "ckpt": None} for i, c in enumerate(cfgs)]
    packed = _train(["saidl.common.pack", "saidl.rl.train", "--members", json.dumps(spec), "--mode", "vmap",
                     "--pack-ckpt", str(tmp_path / "pack.pt")])
    assert packed.returncode == 0, packed.stderr[-3000:]
    assert not (tmp_path / "pack.pt").exists()
    for i, cfg in enumerate(cfgs):
        alone = _train(["saidl.rl.train", "--config-json", json.dumps(cfg), "--out", str(tmp_path / f"alone-{i}.json")])
        assert alone.returncode == 0, alone.stderr[-3000:]
        doc = read_json(tmp_path / f"pack-{i}.json")
        assert doc["timing"]["packed"] == {"mode": "vmap", "members": 2}
        assert doc["metrics"]["updates"] == SMALL["total_steps"] - SMALL["start_steps"]
        assert _without_timing(doc) == _without_timing(read_json(tmp_path / f"alone-{i}.json"))
    a, b = (read_json(tmp_path / f"pack-{i}.json")["metrics"]["eval_return"] for i in (0, 1))
    assert a != b  # two different runs, not one run twice


def test_a_vmap_pack_resumes_as_the_runs_alone_resume(tmp_path, one_torch_thread):
    """Stopped after 300 steps with a checkpoint and resumed, each member equals its alone run
    stopped and resumed at the same step (both restart the episode in progress)."""
    from saidl.rl import packed as P
    from saidl.rl.train import run

    cfgs = _members("noisy")
    ckpt = tmp_path / "pack.pt"
    outs = [tmp_path / f"p{i}.json" for i in range(2)]
    assert P.run_packed(cfgs, outs, ckpt, stop_after=300) is None and ckpt.exists()
    docs = P.run_packed(cfgs, outs, ckpt)
    assert not ckpt.exists()
    for i, (cfg, doc) in enumerate(zip(cfgs, docs)):
        one = tmp_path / f"a{i}.pt"
        assert run(cfg, tmp_path / f"a{i}.json", one, stop_after=300) is None
        alone = run(cfg, tmp_path / f"a{i}.json", one)
        assert _without_timing(doc) == _without_timing(alone)


def _agents(n: int, hidden: int = 64, noisy: str | None = None):
    from saidl.rl.td3 import TD3, TD3Config

    cfg = TD3Config(hidden=hidden, batch_size=64, n_step=3, noisy=noisy)
    return [TD3(11, 3, cfg, "cpu", seed=s) for s in range(n)]


def _batches(rng, n: int, size: int = 64) -> list[dict]:
    import torch

    shapes = {"obs": (size, 11), "act": (size, 3), "rew": (size,), "next_obs": (size, 11), "done": (size,),
              "discount": (size,), "weights": (size,)}
    out = []
    for _ in range(n):
        b = {k: torch.from_numpy(rng.standard_normal(s).astype(np.float32)) for k, s in shapes.items()}
        b["done"] = (b["done"] > 1.0).float()
        b["weights"] = b["weights"].abs() / b["weights"].abs().max()
        out.append(b)
    return out


def _params(agent, net: str):
    return dict(getattr(agent, net).named_parameters())


# The batched products (baddbmm) sum in another order than the alone runs' F.linear, so after 20
# updates of the same batches the weights agree to float32 rounding amplified by 20 Adam steps, not
# bit for bit: within 1e-5 absolute (weights are of order 0.1; Adam moves each by at most ~3e-4 per step).
BATCHED_ATOL = 1e-5


@pytest.mark.parametrize("noisy", [None, "laplace"])
def test_the_batched_path_agrees_with_the_agents_alone(one_torch_thread, noisy):
    from saidl.rl.packed import NETS, PackedTD3

    alone, twins = _agents(3, noisy=noisy), _agents(3, noisy=noisy)
    packed = PackedTD3(twins, exact=False)
    rng = np.random.default_rng(0)
    obs = [rng.standard_normal(11).astype(np.float32) for _ in range(3)]
    acts = packed.act(obs)
    assert acts == pytest.approx(np.stack([a.act(o, explore=True) for a, o in zip(alone, obs)]), abs=1e-6)
    for _ in range(20):
        batches = _batches(rng, 3)
        td = packed.update(batches)
        td_alone = np.stack([a.update(b)["td_errors"] for a, b in zip(alone, batches)])
        assert td == pytest.approx(td_alone, rel=1e-3, abs=1e-4)
    packed.sync()
    for a, t in zip(alone, twins):
        assert t.total_updates == a.total_updates == 20 and t.actor_updates == a.actor_updates == 10
        for net in NETS:
            for name, p in _params(a, net).items():
                assert (_params(t, net)[name] - p).abs().max().item() < BATCHED_ATOL, (net, name)


@pytest.mark.parametrize("exact", [True, False])
def test_a_diverging_member_does_not_poison_the_others(one_torch_thread, exact):
    """Member 1's critic holds a NaN: its update is NaN, and member 0's is exactly what it is in a
    pack where member 1 is healthy."""
    import torch

    from saidl.rl.packed import NETS, PackedTD3

    sick, healthy = PackedTD3(_agents(2), exact=exact), PackedTD3(_agents(2), exact=exact)
    with torch.no_grad():
        sick.P["critic"]["q1_net.0.weight"][1, 0, 0] = float("nan")
    rng = np.random.default_rng(1)
    for _ in range(4):
        batches = _batches(rng, 2)
        td_sick, td_healthy = sick.update(batches), healthy.update(batches)
        assert np.isnan(td_sick[1]).all() and np.array_equal(td_sick[0], td_healthy[0])
    for net in NETS:
        for name, p in sick.P[net].items():
            assert torch.equal(p[0], healthy.P[net][name][0]), (net, name)
    assert torch.isnan(sick.P["actor"]["net.0.weight"][1]).any()


def test_a_vmap_pack_refuses_members_that_cannot_stack(tmp_path):
    a, b = _members("td3")
    noisy = _members("noisy")[0]
    for other, why in (({**b, "lr": 0.01}, "differ in 'lr'"), (noisy, "differ in 'family'"),
                       ({**b, "sale": True}, "SALE runs are not batched")):
        spec = [{"config": a, "out": str(tmp_path / "a.json")}, {"config": other, "out": str(tmp_path / "b.json")}]
        proc = _train(["saidl.common.pack", "saidl.rl.train", "--members", json.dumps(spec), "--mode", "vmap"])
        assert proc.returncode == 2 and why in proc.stderr, proc.stderr[-2000:]
        assert not (tmp_path / "a.json").exists()


def test_rl_packs_follow_the_network_family_and_sale_packs_stay_serial(workflow_copy):
    """pack: 8 and pack_mode: vmap in the smoke block: TD3, noisy-net and SALE runs form separate
    packs (each variant here has one seed, so two seeds make the packs); the TD3 and noisy packs
    get --mode vmap, the SALE pack trains serially."""
    pack_smoke(workflow_copy, "rl")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "results/smoke/rl/summary.json",
                           "--cores", "1", "--config", "scale=smoke"], cwd=workflow_copy, capture_output=True,
                          text=True, timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rules = set(re.findall(r"^rule (rl_train\w*):$", proc.stdout, re.M))
    assert {r.split("_")[2] for r in rules} == {"td3", "noisy", "sale"}, rules
    cmds = [line for line in proc.stdout.splitlines() if "saidl.common.pack saidl.rl.train" in line]
    assert len(cmds) == 3
    for cmd in cmds:
        vmap = "--mode vmap --pack-ckpt results/smoke/rl/ckpt/pack-" in cmd
        assert vmap == ("sale-s0" not in cmd), cmd

    # What runs is what was planned: Snakemake evaluates a rule's `shell:` when the job runs, so a
    # pack's mode and checkpoint must not come from the loop that defined the rules (they once
    # did: every pack then got the last pack's, SALE's serial mode).
    td3 = next(r for r in rules if r.split("_")[2] == "td3")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "results/smoke/rl/runs/td3-s0.json", "--cores", "1",
                           "--config", "scale=smoke"], cwd=workflow_copy, capture_output=True, text=True,
                          timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for seed in (0, 1):
        doc = read_json(workflow_copy / f"results/smoke/rl/runs/td3-s{seed}.json")
        assert doc["timing"]["packed"] == {"mode": "vmap", "members": 2}, td3
