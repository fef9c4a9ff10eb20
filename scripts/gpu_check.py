"""Run every task's full-scale code path for a few steps on the GPU and say what ran.

Each task adds one function to ``CHECKS``: it takes the parsed arguments and returns its parts
as ``(name, callable)``; a part's callable prints what it does and raises on failure. Every part
ends in one ``OK``/``FAILED`` line, and the exit status is 1 if any part failed.

Usage: ``python scripts/gpu_check.py [--device cuda] [--steps 50] [--tasks coreml ...]``
"""

from __future__ import annotations

import argparse
import functools
import math
import resource
import sys
import tempfile
import time
import traceback
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]


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


@functools.lru_cache(maxsize=1)
def cifar10_or_stand_in(data_dir: Path):
    """None when CIFAR-10 is in ``data_dir`` (``prepare`` loads it), else random uint8 arrays
    of its shapes and balanced labels, standing in for it."""
    from saidl.coreml import data as D

    if (data_dir / "cifar-10-batches-py").is_dir() or (data_dir / "cifar-10-python.tar.gz").is_file():
        return None
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (60000, 3, 32, 32), dtype=np.uint8)
    labels = np.tile(np.arange(10), 6000)
    return D.Arrays(images[:50000], labels[:50000], images[50000:], labels[50000:],
                    D.CIFAR10_CLASSES, "random stand-in", "none")


def train_part(cfg: dict, args) -> None:
    """One Core ML-trainer run config: prepare the data, two timed epochs of ``args.steps``
    batches, evaluate, checkpoint and resume (shared by the Core ML and paper checks)."""
    from saidl.coreml import data as D
    from saidl.coreml.train import Trainer, prepare

    device = torch.device(args.device)
    cfg = {**cfg, "device": args.device, "n_train": args.steps * cfg["batch_size"], "n_test": args.eval_images}
    if cfg.get("n_val"):
        cfg["n_val"] = args.eval_images
    stand_in = cifar10_or_stand_in(ROOT / cfg["data_dir"]) if cfg["dataset"] == "cifar10" else None
    loader = (lambda *_: stand_in) if stand_in else D.load_dataset
    with mock.patch.object(D, "load_dataset", loader):
        prep = prepare(cfg, device)
    print(f"  data: {prep.dataset['source']}, {prep.dataset['n_train']} train / "
          f"{prep.dataset['n_val']} val / {prep.dataset['n_test']} test images, "
          f"realised noise {prep.noise['realised_rate']:.3f}")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    trainer = Trainer(cfg, prep, device)
    warm = trainer.train_epoch()  # first epoch: cuDNN/oneDNN set-up, allocator
    sync(device)
    t0 = time.perf_counter()
    loss = trainer.train_epoch()
    sync(device)
    secs = time.perf_counter() - t0
    print(f"  train ({cfg['loss']}, {cfg.get('loss_params') or 'defaults'}, weight decay {cfg['weight_decay']:g}): "
          f"{args.steps} steps in {secs:.2f} s = {args.steps / secs:.1f} steps/s, "
          f"{args.steps * cfg['batch_size'] / secs:.0f} images/s; loss {warm:.4f} -> {loss:.4f}; "
          f"{peak_memory(device)}")
    if not (math.isfinite(warm) and math.isfinite(loss)):
        raise RuntimeError(f"non-finite training loss ({warm}, {loss})")
    scores = trainer.evaluate()
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


def coreml_parts(args) -> list:
    """NCE+RCE and CE at 80% symmetric noise: prepare, train, evaluate, checkpoint and resume."""
    from saidl.coreml.grid import run_configs

    task_cfg = yaml.safe_load((ROOT / "tasks/coreml/config.yaml").read_text())["coreml"]
    runs = run_configs(task_cfg, "full")
    chosen = ("sym-0.8-NCE+RCE-s0", "sym-0.8-CE-s0")
    return [(f"coreml {rid} ({runs[rid]['model']}, {runs[rid]['dataset']})", lambda rid=rid: train_part(runs[rid], args))
            for rid in chosen]


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
    return [(f"paper {rid} ({runs[rid]['model']}, {runs[rid]['dataset']})", lambda rid=rid: train_part(runs[rid], args))
            for rid in chosen]


# --------------------------------------------------------------------------------------------
# SSM: S4 and S4D on LRA Image (1024 steps) with the reference minimal config


def ssm_parts(args) -> list:
    """Each full-scale PyTorch SSM model: a few AdamW steps on stand-in 1024-step sequences, and
    the convolution mode against the recurrent mode on a short sequence."""
    from saidl.ssm.grid import run_configs
    from saidl.ssm.train import build_model

    task_cfg = yaml.safe_load((ROOT / "tasks/ssm/config.yaml").read_text())["ssm"]
    runs = {rid: cfg for rid, cfg in run_configs(task_cfg, "full").items()
            if cfg["backend"] == "torch" and cfg["seed"] == 0}
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
        t0 = time.perf_counter()
        for _ in range(args.steps):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss))
        sync(device)
        secs = time.perf_counter() - t0
        print(f"  train: {args.steps} steps of {cfg['batch_size']} x 1024 in {secs:.2f} s = "
              f"{args.steps / secs:.2f} steps/s; loss {losses[0]:.4f} -> {losses[-1]:.4f}; {peak_memory(device)}")
        if not all(math.isfinite(v) for v in losses):
            raise RuntimeError(f"non-finite training loss {losses}")
        model.eval()
        with torch.no_grad():
            short = x[:2, :64]
            gap = float((model(short) - model.forward_recurrent(short)).abs().max())
        print(f"  convolution vs recurrent mode (64 steps, float32): max |diff| {gap:.2e}")
        if gap > 1e-2:
            raise RuntimeError(f"convolution and recurrent modes disagree ({gap:.2e})")

    return [(f"ssm {rid} ({cfg['kind']}, {cfg['disc']}, d_model {cfg['d_model']})", lambda cfg=cfg: part(cfg))
            for rid, cfg in runs.items()]


# --------------------------------------------------------------------------------------------
# RL: TD3 (+PER, n-step), a noisy actor and SALE on Hopper with the full-scale settings


def rl_parts(args) -> list:
    """TD3, noisy-gaussian and SALE at the full scale's sizes: a few hundred environment steps,
    then ``args.steps`` gradient updates on the device, and one attacked evaluation step."""
    from saidl.rl.buffer import NStepAccumulator, ReplayBuffer
    from saidl.rl.grid import run_configs
    from saidl.rl.train import make_agent, make_env

    task_cfg = yaml.safe_load((ROOT / "tasks/rl/config.yaml").read_text())["rl"]
    runs = run_configs(task_cfg, "full")
    device = torch.device(args.device)

    def part(cfg: dict) -> None:
        env = make_env(cfg["env_id"])
        agent = make_agent(cfg, 11, 3, device)
        buf = ReplayBuffer(11, 3, 10_000, prioritized=cfg["prioritized"], seed=0)
        acc = NStepAccumulator(cfg["n_step"], cfg["gamma"])
        obs, _ = env.reset(seed=0)
        for t in range(max(300, cfg["batch_size"] + 10)):
            act = agent.act(obs, explore=True)
            nxt, r, term, trunc, _ = env.step(act)
            for tr in acc.push(obs, act, r, nxt, term, trunc):
                buf.add(*tr)
            obs = env.reset()[0] if term or trunc else nxt
        t0 = time.perf_counter()
        for _ in range(args.steps):
            b = buf.sample(cfg["batch_size"], beta=0.5, device=device)
            info = agent.update(b)
            buf.update_priorities(b["indices"], info["td_errors"])
        sync(device)
        secs = time.perf_counter() - t0
        print(f"  {args.steps} updates (batch {cfg['batch_size']}) in {secs:.2f} s = {args.steps / secs:.1f} "
              f"updates/s; critic loss {info['critic_loss']:.4f}; {peak_memory(device)}")
        if not math.isfinite(info["critic_loss"]):
            raise RuntimeError("non-finite critic loss")
        from saidl.rl.attacks import critic_attack

        adv = critic_attack(obs, agent, 0.1, steps=2)
        print(f"  critic attack on one observation: max |delta| {float(np.abs(adv - obs).max()):.3f}")

    chosen = [rid for rid in ("td3-s0", "noisy-gaussian-s0", "sale-s0") if rid in runs]
    return [(f"rl {rid} ({runs[rid]['env_id']})", lambda rid=rid: part(runs[rid])) for rid in chosen]


CHECKS = {"coreml": coreml_parts, "ssm": ssm_parts, "rl": rl_parts, "paper": paper_parts}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=50, help="training batches per timed epoch")
    ap.add_argument("--eval-images", type=int, default=2000, help="test images to evaluate on")
    ap.add_argument("--tasks", nargs="+", default=list(CHECKS), choices=list(CHECKS))
    args = ap.parse_args(argv)
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
            else:
                print(f"OK {name} ({time.perf_counter() - t0:.1f} s)")
            sys.stdout.flush()
    print(f"\n{'FAILED: ' + ', '.join(failed) if failed else 'all parts OK'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
