"""Packed training against the same runs one after another, on one device (issue: pack small runs).

K Core ML members of one noise setting (different losses and seeds, as a pack holds them) train
``--steps`` batches each:

* serial: K ``Trainer``s, one ``train_epoch()`` after another (what ``pack_mode: serial`` and
          ``pack: 1`` cost per run, start-up aside);
* packed: one ``PackedTrainer`` (``pack_mode: vmap``): the K models' parameters stacked, one step
          for all of them, batched as ``saidl.coreml.packed.batched_path`` rules (``--batched``
          overrides it; the output's ``batched`` column says which ran).

Models at the scales' sizes: the full scale's 8-layer CNN on 3x32x32 images and the demo's MLP
(784-256-256-10) on 28x28 images, batch 128, random stand-in images (throughput does not depend
on their content). The two sides alternate; the best of ``--repeat`` passes counts, after one
warm-up pass; malloc keeps freed memory, as in the runs (``keep_freed_memory``). On a CPU expect
about 1.0x for both (a slowdown is a bug). ``--k 8 --steps 2 --threads 1`` on a busy 2-core
machine: the MLP (``bmm``) 1.01x to 1.07x; the CNN (``loop``: each member's forward and backward
on its own slices) 0.99x, where ``--batched vmap`` (grouped convolutions, what a CNN pack ran on
the CPU before the rule) gives 0.57x (0.42x before, without ``keep_freed_memory``); and
``--batched loop`` for the MLP 0.91x to 0.99x (4 and 8 steps): per-member Python costs about as
much as its small matmuls. The GPU numbers, ``vmap`` for the CNN, are what packing is for (``scripts/gpu_check.sh``
runs this with ``--device cuda``).

Usage: ``python benchmarks/bench_pack.py [--k 8] [--steps 4] [--models cnn8 mlp] [--device cpu]
[--threads 1] [--batched bmm|loop|vmap]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from saidl.common.datasets import NORMALISE
from saidl.common.runtime import keep_freed_memory
from saidl.coreml.packed import BATCHED_PATHS, PackedTrainer
from saidl.coreml.train import Prepared, Split, Trainer

BATCH = 128
LOSSES = ["CE", "FL", "NCE", "NFL", "NCE+RCE", "NCE+MAE", "NFL+RCE", "NFL+MAE"]
PARAMS = {"FL": {"gamma": 0.5}, "NFL": {"scale": 10.0, "gamma": 0.5}, "NCE": {"scale": 1.0},
          "NCE+RCE": {"alpha": 1.0, "beta": 1.0}, "NCE+MAE": {"alpha": 1.0, "beta": 1.0},
          "NFL+RCE": {"alpha": 1.0, "beta": 1.0, "gamma": 0.5}, "NFL+MAE": {"alpha": 1.0, "beta": 1.0, "gamma": 0.5}}
MODELS = {  # model -> (dataset, image shape, config of the scale that uses it)
    "cnn8": ("cifar10", (3, 32, 32), {"model": "cnn8", "augment": True, "lr": 0.01, "weight_decay": 1e-4}),
    "mlp": ("fashion_mnist", (1, 28, 28), {"model": "mlp", "hidden": 256, "augment": False, "lr": 0.02,
                                            "weight_decay": 1e-4}),
}


def member_configs(model: str, k: int) -> list[dict]:
    dataset, _, extra = MODELS[model]
    return [{"dataset": dataset, "batch_size": BATCH, "momentum": 0.9, "grad_clip": 5.0, "epochs": 120,
             "run_id": f"m{i}", "loss": LOSSES[i % len(LOSSES)], "loss_params": PARAMS.get(LOSSES[i % len(LOSSES)], {}),
             "seed": i // len(LOSSES), **extra} for i in range(k)]


def prepared(model: str, n: int, device: torch.device, seed: int) -> Prepared:
    dataset, shape, _ = MODELS[model]
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.integers(0, 256, (n, *shape), dtype=np.uint8)).to(device)
    y = torch.from_numpy(rng.integers(0, 10, n)).to(device)
    mean, std = (torch.tensor(v, device=device).view(1, -1, 1, 1) for v in NORMALISE[dataset])
    split = Split(x, y, y)
    return Prepared(train=split, val=split, test=split, mean=mean, std=std,
                    noise={"classes": [str(c) for c in range(10)]}, dataset={"name": "stand-in"})


class Serial:
    def __init__(self, cfgs, preps, device):
        self.trainers = [Trainer(c, p, device) for c, p in zip(cfgs, preps)]

    def run_pass(self):
        for t in self.trainers:
            t.train_epoch()


class Packed:
    def __init__(self, cfgs, preps, device, batched=None):
        self.trainer = PackedTrainer(cfgs, preps, device, batched)

    def run_pass(self):
        self.trainer.train_epoch()


def timed(side, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    side.run_pass()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=8, help="members per pack")
    ap.add_argument("--steps", type=int, default=4, help="batches of 128 per member per timed pass")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--batched", choices=BATCHED_PATHS, default=None,
                    help="how the pack batches a step (default: saidl.coreml.packed.batched_path's rule: bmm "
                         "for the MLP, loop for the CNN on a CPU, vmap for the CNN elsewhere; bmm fits the MLP only, "
                         "the CNN then follows the rule)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as saidl.coreml.train.run and saidl.coreml.packed.run_packed do
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__}, {name}, {args.threads} threads; K = {args.k} members x {args.steps} "
          f"steps of {BATCH}; best of {args.repeat} passes after a warm-up")
    print(f"{'model':<7}{'batched':>8}{'serial s':>10}{'packed s':>10}{'packed/serial throughput':>27}")
    for model in args.models:
        cfgs = member_configs(model, args.k)
        preps = [prepared(model, args.steps * BATCH, device, seed=i) for i in range(args.k)]
        batched = None if args.batched == "bmm" and model != "mlp" else args.batched
        sides = {"serial": Serial(cfgs, preps, device), "packed": Packed(cfgs, preps, device, batched)}
        for side in sides.values():
            side.run_pass()
        best = {s: float("inf") for s in sides}
        for _ in range(args.repeat):
            for s, side in sides.items():
                best[s] = min(best[s], timed(side, device))
        print(f"{model:<7}{sides['packed'].trainer.batched:>8}{best['serial']:>10.3f}{best['packed']:>10.3f}"
              f"{best['serial'] / best['packed']:>26.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
