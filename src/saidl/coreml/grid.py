"""The grid of Core ML runs at one scale: run ids and the full config of each run."""

from __future__ import annotations

import hashlib
import json

from saidl.common.config import RunGrid, scale_block
from saidl.common.errors import ConfigError
from saidl.coreml.names import PACK_SHARED_KEYS


def run_id(noise: str, eta: float, loss: str, seed: int) -> str:
    return f"{noise}-{eta:g}-{loss}-s{seed}"


def scale_config(task_cfg: dict, scale: str) -> dict:
    return scale_block(task_cfg, "coreml", scale)


def run_configs(task_cfg: dict, scale: str) -> dict[str, dict]:
    """Every run of the scale, keyed by run id; a run config holds all it needs to train."""
    sc = scale_config(task_cfg, scale)
    params = task_cfg["loss_params"].get(sc["dataset"])
    if params is None:
        raise ConfigError(f"coreml.loss_params has no entry for dataset '{sc['dataset']}'")
    base = {k: sc.get(k) for k in ("dataset", "data_dir", "model", "n_train", "n_val", "n_test",
                                    "epochs", "batch_size", "lr", "momentum", "weight_decay",
                                    "grad_clip", "augment", "device")}
    if "verify_checksums" in sc:  # CIFAR-10's md5 check (true at full; only the rehearsal's fake skips it)
        base["verify_checksums"] = bool(sc["verify_checksums"])
    if sc.get("hidden") is not None:  # the MLP's width; absent: the model's default (ids' configs stay stable)
        if sc["model"] != "mlp":
            raise ConfigError(f"coreml.scales.{scale}.hidden is the MLP's width; model '{sc['model']}' has none. "
                              "Remove 'hidden' or set model: mlp")
        base["hidden"] = int(sc["hidden"])
    if sc.get("precision", "fp32") != "fp32":  # fp32 is the trainer's default; keep ids' configs stable
        base["precision"] = sc["precision"]
    base["data_seed"] = 0
    runs = RunGrid("coreml")
    for noise in ("sym", "asym"):
        for i, eta in enumerate(sc[noise]):
            for loss in sc["losses"]:
                for seed in sc["seeds"]:
                    rid = run_id(noise, eta, loss, seed)
                    runs.add(rid, {**base, "run_id": rid, "scale": scale, "noise": noise,
                                   "eta": float(eta), "loss": loss, "seed": int(seed),
                                   "loss_params": params[noise].get(loss, {})},
                             f"coreml.scales.{scale}.{noise}[{i}] = {eta!r} (loss {loss}, seed {seed})")
    return dict(runs)


def pack_key(cfg: dict) -> str:
    """Runs that may train in one pack (config ``pack``): one noise setting, and the same data,
    model, optimiser and schedule (``PACK_SHARED_KEYS``, shown as a short digest), so that a vmap
    pack (saidl.coreml.packed) can stack them."""
    shared = json.dumps([cfg.get(k) for k in PACK_SHARED_KEYS], sort_keys=True)
    return f"{cfg['noise']}-{cfg['eta']:g}-{hashlib.sha1(shared.encode()).hexdigest()[:6]}"
