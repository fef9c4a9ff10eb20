"""The grid of SSM runs at one scale: run ids and the full config of each run."""

from __future__ import annotations

from saidl.common.config import RunGrid, defined_entry, scale_block

RUN_KEYS = ("dataset", "data_dir", "n_train", "n_val", "n_test", "epochs", "batch_size", "d_model",
            "n_layers", "d_state", "dropout", "lr", "ssm_lr", "weight_decay", "device")
OPTIONAL_KEYS = ("verify_checksums",)  # in a run config only where the scale block sets them


def scale_config(task_cfg: dict, scale: str) -> dict:
    return scale_block(task_cfg, "ssm", scale)


def run_configs(task_cfg: dict, scale: str) -> dict[str, dict]:
    """Every run of the scale keyed by ``<model>-s<seed>``; the NumPy model gets its overrides."""
    sc = scale_config(task_cfg, scale)
    runs = RunGrid("ssm")
    for name in sc["models"]:
        model = defined_entry(task_cfg, "ssm", "models", name, f"{scale}.models")
        base = {k: sc.get(k) for k in RUN_KEYS}
        base.update({k: sc[k] for k in OPTIONAL_KEYS if k in sc})
        if model["backend"] == "numpy":
            base.update(sc.get("numpy", {}), device="cpu")
        for seed in sc["seeds"]:
            rid = f"{name}-s{seed}"
            runs.add(rid, {**base, **model, "model": name, "run_id": rid, "scale": scale,
                           "seed": int(seed), "data_seed": 0}, f"ssm.scales.{scale}.models '{name}' (seed {seed})")
    return dict(runs)


def pack_key(cfg: dict) -> str:
    """Runs that may train in one pack (config ``pack``): the seeds of one model."""
    return cfg["model"]


# What the members of a batched pack (``pack_mode: vmap``, saidl.ssm.packed) share: the data, the
# model's shapes and kind, and the optimiser's schedule, so that their parameters stack and one
# AdamW steps them all; a member's own is its seed (initial weights, batch order, dropout masks).
PACK_SHARED_KEYS = ("dataset", "data_dir", "verify_checksums", "n_train", "n_val", "n_test", "data_seed", "epochs",
                    "batch_size", "eval_batch_size", "d_model", "n_layers", "d_state", "dropout", "lr", "ssm_lr",
                    "weight_decay", "device", "model", "kind", "init", "disc", "backend")


def pack_mode(cfgs: list[dict], configured: str) -> str:
    """How a pack trains: the scale's ``pack_mode``, except that packs of the NumPy model always
    train serially (saidl.ssm.packed batches the PyTorch models only)."""
    return "serial" if any(c["backend"] != "torch" for c in cfgs) else configured
