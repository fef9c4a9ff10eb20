"""Choose the demo protocol on a validation split (never the test set).

Trains CE, NCE, NCE+MAE and NCE+RCE at symmetric eta 0.4 and 0.8 for each candidate
(learning rate, epochs, training-subset size) and prints, per epoch block, the accuracy on the
validation split against its *true* labels and how much of the noisy training labels each model
has memorised. The demo needs CE to memorise the noise (the paper's regime) while every APL loss
still trains, inside about 10 s of CPU per run.

    python scripts/tune_demo.py --lr 0.01 0.02 0.03 --epochs 50 --n-train 2500
    python scripts/tune_demo.py --hidden 256 512     # the MLP's width
"""

from __future__ import annotations

import argparse
import copy
import itertools
import tempfile
import time
from pathlib import Path

import yaml

from saidl.common.runtime import set_threads
from saidl.coreml.grid import run_configs
from saidl.coreml.train import run

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lr", type=float, nargs="+", default=[0.02])
    ap.add_argument("--epochs", type=int, nargs="+", default=[50])
    ap.add_argument("--n-train", type=int, nargs="+", default=[2500])
    ap.add_argument("--hidden", type=int, nargs="+", default=[None], help="MLP widths (default: the config's)")
    ap.add_argument("--losses", nargs="+", default=["CE", "NCE", "NCE+MAE", "NCE+RCE"])
    ap.add_argument("--etas", type=float, nargs="+", default=[0.4, 0.8])
    args = ap.parse_args()
    set_threads(1)
    cfg = yaml.safe_load((ROOT / "tasks/coreml/config.yaml").read_text())["coreml"]
    grid = run_configs(cfg, "demo")
    print("lr epochs n_train hidden loss eta | val acc (true labels), last epoch | noisy labels memorised | s")
    for lr, epochs, n_train, hidden in itertools.product(args.lr, args.epochs, args.n_train, args.hidden):
        for loss in args.losses:
            for eta in args.etas:
                run_cfg = copy.deepcopy(grid[f"sym-{eta:g}-{loss}-s0"])
                run_cfg.update(lr=lr, epochs=epochs, n_train=n_train)
                if hidden is not None:
                    run_cfg["hidden"] = hidden
                t0 = time.perf_counter()
                with tempfile.TemporaryDirectory() as tmp:
                    m = run(run_cfg, Path(tmp) / "run.json")["metrics"]
                print(f"{lr:g} {epochs} {n_train} {run_cfg.get('hidden', 512)} {loss} {eta:g} | "
                      f"{m['val_acc_true'][-1]:.3f} | {m['final_train_noisy_fit']:.3f} | "
                      f"{time.perf_counter() - t0:.0f}", flush=True)


if __name__ == "__main__":
    main()
