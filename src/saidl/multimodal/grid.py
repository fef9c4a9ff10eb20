"""The runs of the multimodal task at one scale.

A run trains one R-GCN on one feature set with one seed. Groups:

``features``       every feature set of the scale with the main decomposition (the ablation:
                   structure only, each modality added alone, all modalities; simple encoders,
                   then pretrained ones);
``decomposition``  one feature set with each other decomposition (bases against blocks).

Feature names: ``stats`` / ``bow`` (simple image / text features), an encoder name
(``effnet-lite0``, ``minilm``, ``clip-image``, ``clip-text``), or a modality name for numbers,
dates and coordinates. Each is one features file made once per scale.
"""

from __future__ import annotations

from saidl.common.config import RunGrid, defined_entry, scale_block
from saidl.common.config import slug as _slug
from saidl.common.errors import ConfigError

MODALITY_ORDER = ("image", "text", "numeric", "temporal", "spatial")
IMAGE_FEATURES = ("stats", "effnet-lite0", "clip-image")
TEXT_FEATURES = ("bow", "minilm", "clip-text")
PRETRAINED = ("effnet-lite0", "minilm", "clip-image", "clip-text")


def scale_config(task_cfg: dict, scale: str) -> dict:
    return scale_block(task_cfg, "multimodal", scale)


def slug(name: str) -> str:
    """A feature set's name in a run id: ASCII letters, digits and ``-``; anything else ``_``."""
    return _slug(name)


def feature_names(fs: dict, where: str) -> dict[str, str]:
    """modality -> features file name of a feature set."""
    out = {}
    for m in fs["modalities"]:
        if m == "image":
            out[m] = fs.get("image", "stats")
        elif m == "text":
            out[m] = fs.get("text", "bow")
        else:
            out[m] = m
    if out.get("image", "stats") not in IMAGE_FEATURES or out.get("text", "bow") not in TEXT_FEATURES:
        raise ConfigError(f"multimodal.feature_sets.{where}: image must be one of {IMAGE_FEATURES} and text one of "
                          f"{TEXT_FEATURES} in tasks/multimodal/config.yaml")
    return {m: out[m] for m in MODALITY_ORDER if m in out}


def feature_set(task_cfg: dict, scale: str, name: str, where: str) -> dict:
    fs = defined_entry(task_cfg, "multimodal", "feature_sets", name, f"{scale}.{where}")
    return {"name": name, "features": feature_names(fs, name),
            "pretrained": any(f in PRETRAINED for f in feature_names(fs, name).values())}


def run_id(group: str, fs_name: str, decomposition: str, seed: int) -> str:
    return f"{group}-{slug(fs_name)}-{decomposition}-s{seed}"


def run_configs(task_cfg: dict, scale: str) -> dict[str, dict]:
    """Every training run of the scale, keyed by run id."""
    sc = scale_config(task_cfg, scale)
    dec = sc["decomposition"]
    runs = RunGrid("multimodal")

    def add(group: str, name: str, decomposition: str, seed: int, where: str) -> None:
        fs = feature_set(task_cfg, scale, name, where)
        rid = run_id(group, name, decomposition, seed)
        runs.add(rid, {"task": "multimodal", "scale": scale, "group": group, "run_id": rid,
                       "feature_set": name,
                       "position": sc["feature_sets"].index(name) if name in sc["feature_sets"] else -1,
                       "features": fs["features"], "seed": int(seed),
                       "model": {**sc["model"], "decomposition": decomposition}, "train": dict(sc["train"]),
                       "device": sc["device"]},
                 f"multimodal.scales.{scale}.{where} '{name}' ({decomposition}, seed {seed})")

    for name in sc["feature_sets"]:
        for seed in sc["seeds"]:
            add("features", name, dec["main"], seed, "feature_sets")
    if dec["main"] in dec["compare"]:
        raise ConfigError(f"multimodal.scales.{scale}.decomposition.compare repeats the main decomposition "
                          f"'{dec['main']}' in tasks/multimodal/config.yaml")
    if dec["compare"] and dec["feature_set"] not in sc["feature_sets"]:
        raise ConfigError(f"multimodal.scales.{scale}.decomposition.feature_set '{dec['feature_set']}' must also be in "
                          f"multimodal.scales.{scale}.feature_sets (its {dec['main']} runs are the comparison's "
                          "reference) in tasks/multimodal/config.yaml")
    for other in dec["compare"]:
        for seed in sc["seeds"]:
            add("decomposition", dec["feature_set"], other, seed, "decomposition.feature_set")
    return dict(runs)


def needed_features(task_cfg: dict, scale: str) -> list[str]:
    """Every features file some run, the embedding-time job or the fine-tuning job reads."""
    sc = scale_config(task_cfg, scale)
    names = {f for cfg in run_configs(task_cfg, scale).values() for f in cfg["features"].values()}
    for job in ("embed_timing", "finetune"):
        names |= set(feature_set(task_cfg, scale, sc[job]["feature_set"], f"{job}.feature_set")["features"].values())
    return sorted(names)


def job_config(task_cfg: dict, scale: str, job: str) -> dict:
    """The config of the embedding-time or the fine-tuning job: its block, the feature set's
    features, the model and training settings of the scale and the first seed."""
    sc = scale_config(task_cfg, scale)
    fs = feature_set(task_cfg, scale, sc[job]["feature_set"], f"{job}.feature_set")
    if job == "finetune" and not (set(fs["features"].values()) & set(PRETRAINED)):
        raise ConfigError(f"multimodal.scales.{scale}.finetune.feature_set must use a pretrained image or text "
                          "encoder (there is nothing to fine-tune otherwise)")
    return {"task": "multimodal", "scale": scale, "job": job, **sc[job], "features": fs["features"],
            "seed": int(sc["seeds"][0]), "model": {**sc["model"], "decomposition": sc["decomposition"]["main"]},
            "train": dict(sc["train"]), "encoders": dict(sc["encoders"]), "hub_cache": sc.get("hub_cache"),
            "device": sc["device"]}


def pack_key(cfg: dict) -> str:
    """Runs that may train in one pack (config ``pack``): one decomposition of the R-GCN."""
    return cfg["model"]["decomposition"]
