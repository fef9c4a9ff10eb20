"""Training one SSM run (a model, a discretisation, a seed) on sequential images.

PyTorch models (S4, S4D): AdamW with the SSM parameters at their own learning rate and no weight
decay, a per-step cosine schedule, per-epoch validation and test accuracy. The NumPy model (the
bonus) trains through ``saidl.ssm.numpy_s4d.train`` on the same splits.

Usage: ``python -m saidl.ssm.train --config-json '{...}' --out run.json [--threads N]``
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from saidl.common.checkpoint import finish_run, load_checkpoint, save_checkpoint
from saidl.common.cli import exit_code, train_args
from saidl.common.provenance import run_provenance
from saidl.common.runtime import choose_device, keep_freed_memory, seed_everything, skip_dynamo_import
from saidl.ssm.data import Sequences, load_sequences

N_KERNEL_CHANNELS = 4  # learned kernels kept per run for the report's figure


def build_model(cfg: dict) -> torch.nn.Module:
    from saidl.ssm.models import SSMClassifier

    return SSMClassifier(d_input=1, n_classes=10, d_model=cfg["d_model"], n_layers=cfg["n_layers"],
                         d_state=cfg["d_state"], dropout=cfg["dropout"], kind=cfg["kind"],
                         init=cfg["init"], disc=cfg["disc"], ssm_lr=cfg["ssm_lr"])


@torch.inference_mode()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> float | None:
    if len(y) == 0:
        return None
    model.eval()
    with model.frozen_kernels(x.shape[1]):  # the kernels once, not once per batch
        correct = sum(int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
                      for i in range(0, len(y), batch))
    return correct / len(y)


def optimiser(model: torch.nn.Module, cfg: dict, n_train: int, groups: list[dict] | None = None):
    """AdamW over ``groups`` (default: the model's param groups: SSM parameters at ssm_lr without
    weight decay) and its per-step cosine schedule over the whole run."""
    opt = torch.optim.AdamW(model.param_groups(cfg["lr"], cfg["weight_decay"]) if groups is None else groups)
    steps = cfg["epochs"] * math.ceil(n_train / cfg["batch_size"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    return opt, sched


def split_tensors(data: Sequences, device: torch.device) -> dict[str, torch.Tensor]:
    """The splits as tensors on ``device``: x_tr, y_tr, x_va, y_va, x_te, y_te."""
    return {f"{a}_{s}": torch.from_numpy(getattr(data, f"{a}_{name}")).to(device)
            for s, name in (("tr", "train"), ("va", "val"), ("te", "test")) for a in ("x", "y")}


def evaluate(model: torch.nn.Module, t: dict[str, torch.Tensor], cfg: dict) -> dict[str, float | None]:
    """Validation and test accuracy after an epoch."""
    bs = cfg.get("eval_batch_size", 256)
    return {"val_acc": accuracy(model, t["x_va"], t["y_va"], bs), "test_acc": accuracy(model, t["x_te"], t["y_te"], bs)}


def rng_state(device: torch.device) -> dict:
    """The generators dropout draws from on ``device`` (saved in checkpoints: a resumed run's
    dropout masks continue the stream instead of restarting it)."""
    st = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        st["cuda"] = torch.cuda.get_rng_state(device)
    return st


def set_rng_state(st: dict, device: torch.device) -> None:
    torch.set_rng_state(st["cpu"].cpu())
    if device.type == "cuda" and "cuda" in st:
        torch.cuda.set_rng_state(st["cuda"].cpu(), device)


def torch_outcome(model: torch.nn.Module, hist: dict, data: Sequences) -> dict:
    """What a PyTorch run reports after training: its history, first kernels and size."""
    with torch.no_grad():
        kernels = model.kernels(data.info["length"])[0][:N_KERNEL_CHANNELS].double().cpu().numpy()
    n_params = sum(p.numel() for p in model.parameters())
    return {"history": hist, "kernels": kernels.round(6).tolist(), "n_params": int(n_params)}


def train_torch(cfg: dict, data: Sequences, device: torch.device, ckpt: Path | None) -> dict:
    skip_dynamo_import()  # torch.optim's import of torch.compile's tracer: ~1 CPU-s per run
    seed_everything(cfg["seed"])
    model = build_model(cfg).to(device)
    t = split_tensors(data, device)
    x_tr, y_tr = t["x_tr"], t["y_tr"]
    bs, epochs = cfg["batch_size"], cfg["epochs"]
    opt, sched = optimiser(model, cfg, len(y_tr))
    gen = torch.Generator().manual_seed(cfg["seed"])
    hist = {k: [] for k in ("train_loss", "val_acc", "test_acc", "epoch_time_s")}
    start = 0
    state = load_checkpoint(ckpt, cfg, map_location=device)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        gen.set_state(state["gen"].cpu())  # map_location may have moved it to the GPU
        if "rng" in state:  # dropout's generators (older checkpoints restarted them)
            set_rng_state(state["rng"], device)
        hist, start = state["history"], state["epoch"]
    from tqdm import tqdm

    for epoch in tqdm(range(start, epochs), desc=cfg["run_id"], initial=start, total=epochs,
                      file=sys.stderr, mininterval=2.0):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(y_tr), generator=gen).to(device)
        total = 0.0
        for i in range(0, len(perm), bs):
            idx = perm[i:i + bs]
            loss = torch.nn.functional.cross_entropy(model(x_tr[idx]), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        hist["train_loss"].append(total / len(y_tr))
        for k, v in evaluate(model, t, cfg).items():
            hist[k].append(v)
        hist["epoch_time_s"].append(time.perf_counter() - t0)
        if ckpt is not None:
            save_checkpoint(ckpt, {"model": model.state_dict(), "opt": opt.state_dict(),
                                   "sched": sched.state_dict(), "gen": gen.get_state(), "rng": rng_state(device),
                                   "history": hist, "epoch": epoch + 1, "config": cfg})
    return torch_outcome(model, hist, data)


def train_numpy(cfg: dict, data: Sequences) -> dict:
    """The NumPy S4D (bonus) on the same splits; validation accuracy after the last epoch only."""
    from saidl.ssm import numpy_s4d

    out = numpy_s4d.train(data.x_train, data.y_train, data.x_test, data.y_test,
                          d_model=cfg["d_model"], n_layers=cfg["n_layers"], d_state=cfg["d_state"],
                          epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"],
                          ssm_lr=cfg["ssm_lr"], weight_decay=cfg["weight_decay"], seed=cfg["seed"])
    params = out["params"]
    _, val_acc = numpy_s4d.evaluate(params, data.x_val, data.y_val) if len(data.y_val) else (None, None)
    n_epochs = len(out["test_acc"])
    hist = {"train_loss": out["train_loss"], "val_acc": [None] * (n_epochs - 1) + [val_acc],
            "test_acc": out["test_acc"], "epoch_time_s": out["epoch_time_s"]}
    k, _ = numpy_s4d.ssm_kernel(*(params[f"layers.0.{n}"] for n in
                                  ("log_dt", "log_A_real", "A_imag", "C_re", "C_im")), data.info["length"])
    return {"history": hist, "kernels": np.asarray(k, dtype=np.float64)[:N_KERNEL_CHANNELS].round(6).tolist(),
            "n_params": int(out["n_params"])}


def run_result(cfg: dict, res: dict, data: Sequences, device: torch.device, wall_time_s: float) -> dict:
    """A finished run's JSON document from its outcome (``train_torch``, ``train_numpy``); a pack
    member's too (saidl.ssm.packed)."""
    h = res["history"]
    has_val = all(v is not None for v in h["val_acc"])
    val_best = int(np.argmax(h["val_acc"])) if has_val else None
    return {
        "id": cfg["run_id"], "task": "ssm", "config": cfg,
        "metrics": {"epochs": list(range(1, len(h["test_acc"]) + 1)),
                    **{k: v for k, v in h.items() if k != "epoch_time_s"},
                    "final_test_acc": float(h["test_acc"][-1]), "best_test_acc": float(max(h["test_acc"])),
                    "final_val_acc": h["val_acc"][-1],
                    "val_selected_test_acc": None if val_best is None else h["test_acc"][val_best],
                    "n_params": res["n_params"]},
        "kernels": res["kernels"],
        "timing": {"wall_time_s": wall_time_s, "epoch_time_s": h["epoch_time_s"],
                   "mean_epoch_time_s": float(np.mean(h["epoch_time_s"]))},
        "provenance": run_provenance(cfg, str(device), data.info),
    }


def run(cfg: dict, out: Path, ckpt: Path | None = None) -> dict:
    t0 = time.perf_counter()
    keep_freed_memory()
    data = load_sequences(cfg)
    if cfg["backend"] == "numpy":
        device = torch.device("cpu")
        res = train_numpy(cfg, data)
    else:
        device = choose_device(cfg.get("device", "auto"))
        res = train_torch(cfg, data, device, ckpt)
    return finish_run(out, run_result(cfg, res, data, device, time.perf_counter() - t0), ckpt)


def main(argv: list[str] | None = None) -> int:
    cfg, args = train_args(__doc__.splitlines()[0], argv, ckpt=True)
    return exit_code(lambda: run(cfg, args.out, args.ckpt))


if __name__ == "__main__":
    sys.exit(main())
