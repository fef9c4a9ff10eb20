"""The jobs of the diffusion task at one scale and each job's full config.

- autoencoders (demo, smoke): one per image group, ``ae-<group>``;
- DiT runs: ``cond-*`` (class-conditional, item 1 and the bonus) and ``land-*`` (unconditional,
  items 2(b) and 3);
- one reference job per group, one sample job per DiT run, the study and the backend timing.
"""

from __future__ import annotations

from saidl.common.config import RunGrid, defined_entry, scale_block
from saidl.common.errors import ConfigError

GROUPS = ("conditional", "unconditional")
RESERVED = ("study_guidance", "study_steps")  # the study's image files, beside the runs' (images/<run>.png)


def scale_config(task_cfg: dict, scale: str) -> dict:
    return scale_block(task_cfg, "diffusion", scale)


def _common(sc: dict, scale: str) -> dict:
    return {"scale": scale, "device": sc["device"], "codec": sc["codec"], "data_seed": 0, "seed": 0,
            **({"vae_id": sc["vae_id"]} if "vae_id" in sc else {}),
            **({"hub_cache": sc["hub_cache"]} if "hub_cache" in sc else {})}  # hub models and datasets


def autoencoder_configs(task_cfg: dict, scale: str) -> dict[str, dict]:
    """``ae-<group>`` for every group a DiT run of the scale uses (none with the SD VAE)."""
    sc = scale_config(task_cfg, scale)
    if sc["codec"] != "autoencoder":
        return {}
    if not sc.get("autoencoder"):
        raise ConfigError(f"diffusion.scales.{scale}: codec 'autoencoder' needs an autoencoder block")
    used = sorted({task_cfg["runs"][r]["group"] for r in sc["runs"]})
    return {f"ae-{g}": {**_common(sc, scale), **sc["groups"][g], **sc["autoencoder"], "kind": "autoencoder",
                        "group": g, "run_id": f"ae-{g}"} for g in used}


def run_configs(task_cfg: dict, scale: str) -> dict[str, dict]:
    """Every DiT run of the scale keyed by its name."""
    sc = scale_config(task_cfg, scale)
    runs = RunGrid("diffusion")
    for i, name in enumerate(sc["runs"]):
        spec = defined_entry(task_cfg, "diffusion", "runs", name, f"{scale}.runs")
        if name.startswith("ae-") or name in RESERVED:
            raise ConfigError(f"diffusion run name '{name}' (diffusion.scales.{scale}.runs[{i}]) would share its "
                              "files with an autoencoder (ae-<group>) or the study's images; rename the run in "
                              "tasks/diffusion/config.yaml")
        group = sc["groups"][spec["group"]]  # a group's keys override the scale's dit block
        if spec["conditioning"] != "adaln" and not group["num_classes"]:
            raise ConfigError(f"diffusion run '{name}': {spec['conditioning']} conditioning needs a class-conditional "
                              "group (num_classes > 0)")
        runs.add(name, {**_common(sc, scale), **sc["schedule"], **sc["dit"], **group, **spec, "kind": "dit",
                        "window": sc["window"] if spec["attention"] == "sliding" else None, "run_id": name},
                 f"diffusion.scales.{scale}.runs[{i}] '{name}'")
    return dict(runs)


def eval_config(task_cfg: dict, scale: str, what: str) -> dict:
    """The config of an evaluation job: 'evaluation', 'study' or 'backends' (+ device, seed)."""
    sc = scale_config(task_cfg, scale)
    base = {**_common(sc, scale), **sc["evaluation"]}
    if what == "evaluation":
        return base
    if what == "backends":
        if sc["backends"]["backend_run"] not in sc["runs"]:
            raise ConfigError(f"diffusion.scales.{scale}.backends.backend_run '{sc['backends']['backend_run']}' is "
                              f"not one of the scale's runs ({', '.join(sc['runs'])}) in tasks/diffusion/config.yaml")
        return {**base, **sc["backends"], "window": sc["window"]}
    if what == "study":
        if sc["study"]["study_run"] not in (*sc["runs"], "pretrained"):
            raise ConfigError(f"diffusion.scales.{scale}.study.study_run '{sc['study']['study_run']}' is neither one "
                              f"of the scale's runs ({', '.join(sc['runs'])}) nor 'pretrained' in "
                              "tasks/diffusion/config.yaml")
        return {**base, **sc["study"]}
    raise ConfigError(f"unknown diffusion evaluation '{what}'")


def reference_configs(task_cfg: dict, scale: str) -> dict[str, dict]:
    """One reference job per group that a DiT run of the scale uses: ``ref-<group>``."""
    sc = scale_config(task_cfg, scale)
    used = sorted({task_cfg["runs"][r]["group"] for r in sc["runs"]})
    ev = sc["evaluation"]
    return {f"ref-{g}": {**_common(sc, scale), **sc["groups"][g], "group": g, "n_reference": ev["n_reference"],
                         "embedders": ev["embedders"]} for g in used}


def run_group(task_cfg: dict, run: str) -> str:
    return task_cfg["runs"][run]["group"]
