"""Cost of an ANL training step against a plain cross-entropy step, on the CPU.

Both sides run the Core ML trainer's ``train_epoch()`` (SGD, momentum 0.9, gradient clipping at 5,
cosine schedule) on the same random stand-in images, batch 128:

* baseline: CE with weight decay 1e-4 (the APL protocol's plain step);
* ANL-CE:   NCE + NNCE (alpha = beta = 5) + the L1 penalty delta * ||theta||_1 over all
            parameters, no weight decay (the paper's CIFAR-10 configuration);
* ANL-CE-ER: the same plus the entropy regulariser (asymmetric noise).

Two models: the paper's 8-layer CNN on 3x32x32 images (the full scale) and the demo's MLP on
1x28x28 images. Each side trains ``--steps`` batches per timed pass after one warm-up pass; the
passes alternate and the best of ``--repeat`` counts. The ratio is ANL time / CE time per step.

Usage: ``python benchmarks/bench_paper.py [--steps N] [--threads T] [--repeat R] [--models cnn8 mlp]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from saidl.common.datasets import CIFAR10_CLASSES, NORMALISE
from saidl.coreml.train import Prepared, Split, Trainer

BATCH = 128
BASE = {"batch_size": BATCH, "lr": 0.01, "momentum": 0.9, "grad_clip": 5.0, "augment": False,
        "epochs": 120, "seed": 0}
SIDES = {
    "CE": {"loss": "CE", "loss_params": {}, "weight_decay": 1e-4},
    "ANL-CE": {"loss": "ANL-CE", "loss_params": {"alpha": 5.0, "beta": 5.0, "delta": 5e-5}, "weight_decay": 0.0},
    "ANL-CE-ER": {"loss": "ANL-CE-ER", "loss_params": {"alpha": 5.0, "beta": 5.0, "delta": 5e-5, "lamb": 2.0},
                  "weight_decay": 0.0},
}
SHAPES = {"cnn8": (3, 32, "cifar10"), "mlp": (1, 28, "fashion_mnist")}


def make_trainer(model: str, side: dict, n: int) -> Trainer:
    channels, size, dataset = SHAPES[model]
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(0, 256, (n, channels, size, size), dtype=np.uint8))
    y = torch.from_numpy(rng.integers(0, 10, n))
    mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in NORMALISE[dataset])
    split = Split(x, y, y)
    prep = Prepared(train=split, val=split, test=split, mean=mean, std=std,
                    noise={"classes": list(CIFAR10_CLASSES)}, dataset={"name": "stand-in"})
    return Trainer({**BASE, **side, "model": model}, prep, torch.device("cpu"))


def timed(trainer: Trainer) -> float:
    t0 = time.perf_counter()
    trainer.train_epoch()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10, help="batches of 128 per timed pass")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per side (best counts)")
    ap.add_argument("--models", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    n = args.steps * BATCH
    print(f"torch {torch.__version__}, CPU, {args.threads} threads; {args.steps} steps x {BATCH} random "
          f"stand-in images per pass, best of {args.repeat}")
    for model in args.models:
        trainers = {name: make_trainer(model, side, n) for name, side in SIDES.items()}
        for t in trainers.values():  # warm-up: allocator, oneDNN kernels, first-batch costs
            t.train_epoch()
        best = {name: float("inf") for name in trainers}
        for _ in range(args.repeat):  # alternate the sides so drifting load hits both alike
            for name, t in trainers.items():
                best[name] = min(best[name], timed(t))
        params = sum(p.numel() for p in trainers["CE"].model.parameters())
        print(f"\n{model} ({params / 1e6:.2f} M parameters)   ms/step   ratio to CE")
        for name, secs in best.items():
            ms = 1000 * secs / args.steps
            print(f"  {name:<12}{ms:>14.2f}{best[name] / best['CE']:>12.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
