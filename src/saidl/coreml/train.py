"""Training one (noise, eta, loss, seed) run of the Core ML task.

The data live as uint8 tensors on the device; batches are gathered by index, augmented and
normalised as whole tensors (no DataLoader, no per-sample Python). Each epoch records the
training loss, validation and test accuracy, and how the model fits the training samples whose
labels are clean and those whose labels are noisy (memorisation). Long runs checkpoint and
resume; the same seed gives the same run JSON on the CPU, timings aside.

Usage: ``python -m saidl.coreml.train --config-json '{...}' --out run.json [--threads N]``
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from saidl.common.checkpoint import finish_run, load_checkpoint, save_checkpoint
from saidl.common.cli import exit_code, train_args
from saidl.common.datasets import NORMALISE, stratified_split
from saidl.common.provenance import run_provenance
from saidl.common.runtime import choose_device, keep_freed_memory, seed_everything, skip_dynamo_import
from saidl.coreml import data as D
from saidl.coreml.losses import build_loss
from saidl.coreml.models import build_model


@dataclass
class Split:
    x: torch.Tensor          # uint8 (N, C, H, W)
    y: torch.Tensor          # labels used for training / selection (noisy on train and val)
    y_true: torch.Tensor     # original labels


@dataclass
class Prepared:
    train: Split
    val: Split
    test: Split
    mean: torch.Tensor
    std: torch.Tensor
    noise: dict
    dataset: dict


def prepare(cfg: dict, device: torch.device) -> Prepared:
    """Load the dataset, carve train/val/test subsets, corrupt the train and val labels."""
    arrays = D.load_dataset(cfg["dataset"], cfg.get("data_dir"), cfg.get("verify_checksums", True))
    k = len(arrays.classes)
    # Subsets are fixed by data_seed (not the run seed), so every run sees the same images; the
    # labels of the training and validation subsets are then corrupted with exact counts.
    tr_idx, va_idx = stratified_split(arrays.y_train, [cfg["n_train"], cfg["n_val"]], cfg["data_seed"], k)
    te_idx = (np.arange(len(arrays.y_test)) if cfg["n_test"] is None
              else stratified_split(arrays.y_test, [cfg["n_test"]], cfg["data_seed"], k)[0])
    y_tr, y_va = arrays.y_train[tr_idx], arrays.y_train[va_idx]
    noisy_tr, t = D.noisy_labels(y_tr, cfg["dataset"], cfg["noise"], cfg["eta"], cfg["seed"], k, "train")
    noisy_va, _ = D.noisy_labels(y_va, cfg["dataset"], cfg["noise"], cfg["eta"], cfg["seed"], k, "val")

    def split(x, y, y_true):
        return Split(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device),
                     torch.from_numpy(y_true).to(device))

    train = split(arrays.x_train[tr_idx], noisy_tr, y_tr)
    realised = D.realised_transition(y_tr, noisy_tr, k)
    mean, std = NORMALISE[cfg["dataset"]]
    shape = (1, -1, 1, 1)
    return Prepared(
        train=train,
        val=split(arrays.x_train[va_idx], noisy_va, y_va),
        test=split(arrays.x_test[te_idx], arrays.y_test[te_idx], arrays.y_test[te_idx]),
        mean=torch.tensor(mean, device=device).view(shape), std=torch.tensor(std, device=device).view(shape),
        noise={"type": cfg["noise"], "eta": cfg["eta"], "n_train": int(len(tr_idx)),
               "n_noisy": int((noisy_tr != y_tr).sum()),
               "realised_rate": float((noisy_tr != y_tr).mean()),
               "transition": t.round(6).tolist(), "realised_transition": realised.round(6).tolist(),
               "classes": list(arrays.classes)},
        dataset={"name": cfg["dataset"], "source": arrays.source, "checksum": arrays.checksum,
                 "n_train": int(len(tr_idx)), "n_val": int(len(va_idx)), "n_test": int(len(te_idx))},
    )


def random_crop_flip(x: torch.Tensor, pad: int, g: torch.Generator) -> torch.Tensor:
    """RandomCrop(size, padding=pad) + RandomHorizontalFlip on a whole uint8 batch at once."""
    b, c, h, w = x.shape
    padded = nn.functional.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=g, device=g.device).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=g, device=g.device).to(x.device)
    flip = torch.rand(b, generator=g, device=g.device).to(x.device) < 0.5
    rows = oy[:, None] + torch.arange(h, device=x.device)
    cols = ox[:, None] + torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    bidx = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[bidx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


class Trainer:
    """SGD with momentum, cosine schedule, global-norm gradient clipping, per-epoch evaluation."""

    def __init__(self, cfg: dict, prep: Prepared, device: torch.device):
        self.cfg, self.prep, self.device = cfg, prep, device
        skip_dynamo_import()  # torch.optim's import of torch.compile's tracer: ~1 CPU-s per run
        seed_everything(cfg["seed"])
        c, s = prep.train.x.shape[1], prep.train.x.shape[-1]
        k = len(prep.noise["classes"])
        self.model = build_model(cfg["model"], c, k, s,
                                 **({"hidden": cfg["hidden"]} if cfg.get("hidden") else {})).to(device)
        self.channels_last = cfg["model"] == "cnn8"
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.criterion = build_loss(cfg["loss"], k, cfg.get("loss_params"))
        self.loss_needs_model = getattr(self.criterion, "needs_model", False)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=cfg["lr"], momentum=cfg["momentum"],
                                   weight_decay=cfg["weight_decay"], nesterov=cfg.get("nesterov", False))
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=cfg["epochs"],
                                                                eta_min=cfg.get("lr_min", 0.0))
        self.gen = torch.Generator(device="cpu").manual_seed(cfg["seed"])
        # Opt-in bf16 autocast (fp32 master weights): faster on GPUs and on CPUs with AMX/AVX512-BF16.
        self.autocast_dtype = {"fp32": None, "bf16": torch.bfloat16}[cfg.get("precision", "fp32")]
        # Each split normalised once, as float32 (what _inputs gives batch by batch, bit for bit:
        # the same element-wise operations): saves the conversion on every batch and every
        # evaluation. Augmented training batches are cropped as uint8 first, so they are
        # normalised batch by batch (the cache then serves the evaluation only).
        self.inputs = {name: self._cached_inputs(getattr(prep, name).x)
                       for name in ("train", "val", "test")}
        self.history: dict[str, list] = {k: [] for k in (
            "train_loss", "val_acc", "val_acc_true", "test_acc",
            "train_clean_acc", "train_noisy_fit", "train_noisy_true", "epoch_time_s")}
        self.epoch = 0

    # -- one batch ------------------------------------------------------------------------
    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float().div_(255.0) - self.prep.mean) / self.prep.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    CACHE_BYTES = 1 << 30  # a split larger than this as float32 is normalised batch by batch

    @torch.no_grad()
    def _cached_inputs(self, x: torch.Tensor) -> torch.Tensor | None:
        if x.numel() * 4 > self.CACHE_BYTES:
            return None
        return (x.float().div_(255.0) - self.prep.mean) / self.prep.std

    def _batch(self, split: str, idx) -> torch.Tensor:
        """The normalised inputs of ``split`` at ``idx`` (an index tensor or a slice)."""
        cached = self.inputs[split]
        if cached is None:
            return self._inputs(getattr(self.prep, split).x[idx])
        x = cached[idx]
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def train_epoch(self) -> float:
        self.model.train()
        tr, bs = self.prep.train, self.cfg["batch_size"]
        perm = torch.randperm(len(tr.y), generator=self.gen).to(self.device)
        total, seen = torch.zeros((), device=self.device), 0
        augment = bool(self.cfg.get("augment"))
        for i in range(0, len(perm), bs):
            idx = perm[i:i + bs]
            if augment:
                xb = self._inputs(random_crop_flip(tr.x[idx], 4, self.gen))
            else:
                xb = self._batch("train", idx)
            with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.bfloat16,
                                enabled=self.autocast_dtype is not None):
                logits = self.model(xb).float()
                # ANL's L1 penalty needs the parameters: such a loss is called with the model.
                loss = (self.criterion(logits, tr.y[idx], self.model) if self.loss_needs_model
                        else self.criterion(logits, tr.y[idx]))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.cfg.get("grad_clip"):
                nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg["grad_clip"])
            self.opt.step()
            total += loss.detach() * len(idx)
            seen += len(idx)
        self.sched.step()
        return float(total / seen)

    @torch.inference_mode()
    def predict(self, split: str) -> torch.Tensor:
        """Predicted classes of every image of ``split`` (train, val or test)."""
        self.model.eval()
        bs, n = self.cfg.get("eval_batch_size", 1024), len(getattr(self.prep, split).y)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.bfloat16,
                            enabled=self.autocast_dtype is not None):
            preds = [self.model(self._batch(split, slice(i, i + bs))).argmax(1) for i in range(0, n, bs)]
        return torch.cat(preds) if preds else torch.empty(0, dtype=torch.long, device=self.device)

    def evaluate(self) -> dict:
        p = self.prep
        tr_pred = self.predict("train")
        clean = p.train.y == p.train.y_true
        va_pred, te_pred = self.predict("val"), self.predict("test")

        def acc(pred, y, mask=None):
            if mask is not None:
                pred, y = pred[mask], y[mask]
            return float((pred == y).float().mean()) if len(y) else None  # None: empty split

        return {"val_acc": acc(va_pred, p.val.y), "val_acc_true": acc(va_pred, p.val.y_true),
                "test_acc": acc(te_pred, p.test.y),
                "train_clean_acc": acc(tr_pred, p.train.y, clean),
                "train_noisy_fit": acc(tr_pred, p.train.y, ~clean),
                "train_noisy_true": acc(tr_pred, p.train.y_true, ~clean)}

    # -- checkpoints ------------------------------------------------------------------------
    def state(self) -> dict:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                "sched": self.sched.state_dict(), "gen": self.gen.get_state(),
                "torch_rng": torch.get_rng_state(), "history": self.history, "epoch": self.epoch,
                "config": self.cfg}

    def load_state(self, st: dict) -> None:
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        self.sched.load_state_dict(st["sched"])
        self.gen.set_state(st["gen"].cpu())  # map_location may have moved it to the GPU
        torch.set_rng_state(st["torch_rng"].cpu())
        self.history, self.epoch = st["history"], st["epoch"]

    def save_checkpoint(self, path: Path) -> None:
        save_checkpoint(path, self.state())

    def try_resume(self, path: Path) -> bool:
        state = load_checkpoint(path, self.cfg, map_location=self.device)
        if state is not None:
            self.load_state(state)
        return state is not None

    # -- the loop ---------------------------------------------------------------------------
    def fit(self, ckpt: Path | None = None, ckpt_interval_s: float = 120.0,
            stop_after: int | None = None) -> dict:
        if ckpt is not None:
            self.try_resume(ckpt)
        from tqdm import tqdm

        last_ckpt = time.monotonic()
        bar = tqdm(range(self.epoch, self.cfg["epochs"]), desc=self.cfg.get("run_id", "train"),
                   initial=self.epoch, total=self.cfg["epochs"], file=sys.stderr, mininterval=2.0)
        for epoch in bar:
            t0 = time.perf_counter()
            self.history["train_loss"].append(self.train_epoch())
            for key, val in self.evaluate().items():
                self.history[key].append(val)
            self.history["epoch_time_s"].append(time.perf_counter() - t0)
            self.epoch = epoch + 1
            bar.set_postfix(loss=f"{self.history['train_loss'][-1]:.3f}",
                            test=f"{self.history['test_acc'][-1]:.3f}")
            if ckpt is not None and (time.monotonic() - last_ckpt >= ckpt_interval_s):
                self.save_checkpoint(ckpt)
                last_ckpt = time.monotonic()
            if stop_after is not None and self.epoch >= stop_after:
                if ckpt is not None:
                    self.save_checkpoint(ckpt)
                break
        return self.history


def summarise(history: dict) -> dict:
    """Final (last-epoch) numbers; the best test epoch is recorded but never used to select."""
    test = history["test_acc"]
    best = int(np.argmax(test))
    has_val = history["val_acc"][-1] is not None  # the full scale trains on all images (n_val 0)
    val_best = int(np.argmax(history["val_acc"])) if has_val else None
    return {"final_test_acc": test[-1], "best_test_acc": test[best], "best_test_epoch": best + 1,
            "final_val_acc": history["val_acc"][-1],
            "val_selected_epoch": None if val_best is None else val_best + 1,
            "val_selected_test_acc": None if val_best is None else test[val_best],
            "final_train_clean_acc": history["train_clean_acc"][-1],
            "final_train_noisy_fit": history["train_noisy_fit"][-1]}


def run(cfg: dict, out: Path, ckpt: Path | None = None, ckpt_interval_s: float = 120.0,
        stop_after: int | None = None) -> dict | None:
    """Train one run and write its JSON atomically; returns it (None if stopped early)."""
    t0 = time.perf_counter()
    keep_freed_memory()
    device = choose_device(cfg.get("device", "auto"))
    prep = prepare(cfg, device)
    trainer = Trainer(cfg, prep, device)
    history = trainer.fit(ckpt, ckpt_interval_s, stop_after)
    if trainer.epoch < cfg["epochs"]:
        return None
    return finish_run(out, run_result(cfg, prep, history, time.perf_counter() - t0, device), ckpt)


def run_result(cfg: dict, prep: Prepared, history: dict, wall_time_s: float, device: torch.device) -> dict:
    """The run JSON of a finished run (also of a member of a packed run, saidl.coreml.packed)."""
    return {
        "id": cfg["run_id"], "task": cfg.get("task", "coreml"), "config": cfg,
        "metrics": {"epochs": list(range(1, cfg["epochs"] + 1)),
                    **{k: v for k, v in history.items() if k != "epoch_time_s"}, **summarise(history)},
        "noise": prep.noise,
        "timing": {"wall_time_s": wall_time_s, "epoch_time_s": history["epoch_time_s"]},
        "provenance": run_provenance(cfg, str(device), prep.dataset),
    }


def main(argv: list[str] | None = None) -> int:
    cfg, args = train_args(__doc__.splitlines()[0], argv, ckpt=True)
    return exit_code(lambda: run(cfg, args.out, args.ckpt, args.ckpt_interval))


if __name__ == "__main__":
    sys.exit(main())
