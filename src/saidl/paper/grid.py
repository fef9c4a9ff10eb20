"""The grid of paper-task runs at one scale: run ids and the full config of each run.

A run config is a Core ML run config (``saidl.coreml.grid``) that the Core ML trainer runs as is,
with the loss, its parameters and the weight decay of a *variant*, plus ``task``, ``group`` and
``variant`` so the collect step can sort it. Groups:

``main``         variants x noise x eta x seed, the comparison of ANL with APL and CE;
``ablation``     ANL-CE with one ingredient changed, at one noise setting;
``sensitivity``  ANL-CE over an alpha x beta grid, or with ``cross`` one weight at a time around
                 the variant's own values (chosen on the validation split);
``transfer``     optional, the main comparison on another dataset (another Core ML scale block).

A sensitivity run whose config equals a main run's (the paper's alpha, beta) is not repeated, and
a run that trains exactly as a Core ML run (same :func:`run_identity`: CE, NCE+RCE and NCE+MAE at
Core ML's settings) is that run: :func:`shared_runs` maps it to the Core ML run, whose one job and
one JSON both tasks read (tasks/paper/rules.smk).
"""

from __future__ import annotations

import copy
import json

from saidl.common.config import RunGrid, defined_entry, scale_block, slug
from saidl.common.errors import ConfigError
from saidl.coreml.grid import run_configs as coreml_run_configs

GROUPS = ("main", "ablation", "sensitivity", "transfer")
LABELS = ("task", "group", "variant", "run_id", "scale")  # name and sort a run; not part of what it trains
TRAINER = "saidl.coreml.train"  # the module that trains every paper run, as it trains every Core ML run


def run_identity(cfg: dict, trainer: str = TRAINER) -> str:
    """What a run trains, as one string: its trainer module and its config without the labels, as
    canonical JSON. Two runs of one identity train the same (one checkout's trainer, same data,
    noise, loss and parameters, optimiser, seed): one job, one JSON."""
    return json.dumps({"trainer": trainer, "config": {k: v for k, v in cfg.items() if k not in LABELS}},
                      sort_keys=True, separators=(",", ":"))


def shared_runs(runs: dict[str, dict], coreml_runs: dict[str, dict]) -> dict[str, str]:
    """paper run id -> id of the Core ML run of the same :func:`run_identity`, for each paper run
    that has one (in the paper grid's order)."""
    coreml = {run_identity(cfg): rid for rid, cfg in coreml_runs.items()}
    return {rid: coreml[key] for rid, cfg in runs.items() if (key := run_identity(cfg)) in coreml}


def scale_config(task_cfg: dict, scale: str) -> dict:
    return scale_block(task_cfg, "paper", scale)


def run_id(group: str, noise: str, eta: float, variant: str, seed: int) -> str:
    """A file-name-safe id, e.g. ``main-sym-0.8-ANL-CE-s0`` or ``ablation-sym-0.8-ANL-CE_weight_decay-s1``."""
    return f"{group}-{noise}-{eta:g}-{slug(variant, keep='+-.')}-s{seed}"


def _variant(task_cfg: dict, name: str, where: str) -> dict:
    return defined_entry(task_cfg, "paper", "variants", name, where)


class _Builder:
    def __init__(self, task_cfg: dict, coreml_cfg: dict, scale: str):
        self.task_cfg, self.coreml_cfg, self.scale = task_cfg, coreml_cfg, scale
        self.runs = RunGrid("paper")
        self._bases: dict[str, dict] = {}

    def base(self, coreml_scale: str) -> dict:
        """One Core ML run config of that scale block, stripped of what a run sets itself."""
        if coreml_scale not in self._bases:
            runs = coreml_run_configs(self.coreml_cfg, coreml_scale)
            cfg = dict(next(iter(runs.values())))
            for key in ("run_id", "noise", "eta", "loss", "seed", "loss_params"):
                cfg.pop(key)
            self._bases[coreml_scale] = cfg
        return copy.deepcopy(self._bases[coreml_scale])

    def add(self, group: str, block: dict, noise: str, eta: float, variant: str, seed: int,
            where: str, params: dict | None = None, rid: str | None = None) -> str:
        v = _variant(self.task_cfg, variant, where)
        cfg = {**self.base(block.get("base", self.scale)), **block.get("overrides", {})}
        cfg.update({"scale": self.scale, "noise": noise, "eta": float(eta), "loss": v["loss"],
                    "loss_params": {**v["params"], **(params or {})}, "weight_decay": v["weight_decay"],
                    "seed": int(seed), "task": "paper", "group": group, "variant": variant})
        rid = rid or run_id(group, noise, eta, variant, seed)
        cfg["run_id"] = rid
        weights = f", alpha {params['alpha']!r}, beta {params['beta']!r}" if params else ""
        return self.runs.add(rid, cfg, f"paper.scales.{where} ({noise}, eta {eta!r}, variant '{variant}'{weights}, "
                                       f"seed {seed})")

    def find_same(self, cfg: dict) -> str | None:
        """The id of an existing run that trains exactly as ``cfg`` does (labels aside)."""
        key = run_identity(cfg)
        return next((rid for rid, other in self.runs.items() if run_identity(other) == key), None)


def etas_and_variants(block: dict, noise: str) -> list[tuple[float, list[str]]]:
    """(eta, variants) of a comparison block: a plain eta runs all the noise type's variants,
    ``{eta: x, variants: [...]}`` only those listed."""
    default = block["variants"] if noise == "sym" else block["asym_variants"]
    return [(float(e["eta"]), e["variants"]) if isinstance(e, dict) else (float(e), default)
            for e in block[noise]]


def _comparison(b: _Builder, group: str, block: dict, seeds: list[int]) -> None:
    for noise in ("sym", "asym"):
        for eta, names in etas_and_variants(block, noise):
            for variant in names:
                for seed in block.get("seeds", seeds):
                    b.add(group, block, noise, eta, variant, seed, f"{b.scale}.{group}")


def _build(task_cfg: dict, coreml_cfg: dict, scale: str) -> tuple[dict[str, dict], dict]:
    sc = scale_config(task_cfg, scale)
    b = _Builder(task_cfg, coreml_cfg, scale)
    _comparison(b, "main", sc["main"], sc["seeds"])

    ab = sc["ablation"]
    main_etas = [eta for eta, _ in etas_and_variants(sc["main"], ab["noise"])]
    if ab["eta"] not in main_etas:
        raise ConfigError(f"paper.scales.{scale}.ablation is at {ab['noise']} eta={ab['eta']:g}, which the "
                          f"main comparison does not run (its {ab['noise']} etas: {main_etas}); the ablation "
                          "is read against the main ANL-CE run there")
    for variant in ab["variants"]:
        for seed in sc["seeds"]:
            b.add("ablation", ab, ab["noise"], ab["eta"], variant, seed, f"{scale}.ablation")

    sens = sc["sensitivity"]
    _variant(task_cfg, sens["variant"], f"{scale}.sensitivity")
    if {**b.base(sens.get("base", scale)), **sens.get("overrides", {})}["n_val"] == 0:
        raise ConfigError(f"paper.scales.{scale}.sensitivity chooses alpha and beta on a validation split, "
                          "but its runs have n_val 0; set overrides: {n_train: ..., n_val: ...} there")
    points = []
    centre = task_cfg["variants"][sens["variant"]]["params"]
    for alpha in sens["alpha"]:
        for beta in sens["beta"]:
            if sens.get("cross") and alpha != centre.get("alpha") and beta != centre.get("beta"):
                continue  # one weight at a time around the variant's own (alpha, beta)
            ids = []
            for seed in sens["seeds"]:
                rid = run_id("sensitivity", sens["noise"], sens["eta"], f"{sens['variant']}-a{alpha:g}-b{beta:g}", seed)
                b.add("sensitivity", sens, sens["noise"], sens["eta"], sens["variant"], seed,
                      f"{scale}.sensitivity", {"alpha": float(alpha), "beta": float(beta)}, rid)
                same = b.find_same(b.runs[rid])
                if same is not None and same != rid:
                    del b.runs[rid]  # e.g. the paper's (alpha, beta): a main run already trains it
                    rid = same
                ids.append(rid)
            points.append({"alpha": float(alpha), "beta": float(beta), "runs": ids})

    if sc.get("transfer"):
        _comparison(b, "transfer", sc["transfer"], sc["seeds"])
    design = {
        "scale": scale, "seeds": sc["seeds"],
        "variants": {name: task_cfg["variants"][name] for name in dict.fromkeys(
            c["variant"] for c in b.runs.values())},
        # JSON files sort their keys: the config's order of the variants, for tables and figures
        "variant_order": [name for name in task_cfg["variants"] if any(
            c["variant"] == name for c in b.runs.values())],
        "main": sc["main"], "ablation": ab, "transfer": sc.get("transfer"),
        "sensitivity": {**{k: v for k, v in sens.items() if k not in ("alpha", "beta")},
                        "alphas": [float(a) for a in sens["alpha"]], "betas": [float(x) for x in sens["beta"]],
                        "points": points},
    }
    return b.runs, design


def run_configs(task_cfg: dict, coreml_cfg: dict, scale: str) -> dict[str, dict]:
    """Every run of the scale, keyed by run id; a run config holds all it needs to train."""
    return dict(_build(task_cfg, coreml_cfg, scale)[0])


def design(task_cfg: dict, coreml_cfg: dict, scale: str) -> dict:
    """What the runs are for: the groups' settings and the run ids of each sensitivity point."""
    return _build(task_cfg, coreml_cfg, scale)[1]
