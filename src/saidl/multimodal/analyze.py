"""Collect the multimodal task's runs, EDA, features, embedding timing and fine-tuning into one
summary for the report.

    python -m saidl.multimodal.analyze --grid-json grid.json --runs-dir runs/ --dataset dataset.json \
        --eda eda.json --features-dir features/ --embed-timing embed_timing.json \
        --finetune finetune.json --out summary.json

A feature set *helps* when its mean test accuracy exceeds structure-only's by more than the
larger of the two seed standard deviations; *within noise* when higher but not by that much.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from saidl.common.io import read_json, write_json
from saidl.common.provenance import summary_provenance
from saidl.common.runs import load_run as load_checked_run
from saidl.common.runs import stats

log = logging.getLogger(__name__)
RUN_SCHEMA = {
    "type": "object",
    "required": ["config", "curves", "best", "final", "epoch_seconds", "subgraph", "timing", "provenance"],
    "properties": {
        "config": {"type": "object", "required": ["task", "group", "feature_set", "features", "seed", "model"],
                   "properties": {"task": {"const": "multimodal"}}},
        "best": {"type": "object", "required": ["epoch", "val_acc", "test"]},
        "curves": {"type": "object", "required": ["epoch", "loss", "train_acc", "val_acc", "seconds"]},
    },
}
BASELINE = "structure"


SINGLE_SEED = "one seed, no spread to judge by"


def verdict(a: dict, b: dict) -> str:
    """a against b (stats dicts): "helps" (the mean gain exceeds the larger seed std), "within
    noise" or "does not help"; with one seed on either side there is no spread, so no verdict."""
    if min(len(a["values"]), len(b["values"])) < 2:
        return SINGLE_SEED
    diff = a["mean"] - b["mean"]
    if diff > max(a["std"], b["std"]):
        return "helps"
    return "within noise" if diff > 0 else "does not help"


def cell(runs: list[dict]) -> dict:
    return {
        "test_acc": stats([r["best"]["test"]["acc"] for r in runs]),
        "test_f1": stats([r["best"]["test"]["macro_f1"] for r in runs]),
        "val_acc": stats([r["best"]["val_acc"] for r in runs]),
        "best_epoch": stats([r["best"]["epoch"] for r in runs]),
        "train_acc": stats([r["curves"]["train_acc"][-1] for r in runs]),
        "epoch_s": stats([r["epoch_seconds"] for r in runs]),
        "wall_s": stats([r["timing"]["wall_time_s"] for r in runs]),
        "curves": {k: np.mean([r["curves"][k] for r in runs], axis=0).tolist()
                   for k in ("epoch", "loss", "train_acc", "val_acc")},
        "confusion": np.sum([r["best"]["test"]["confusion"] for r in runs], axis=0).tolist(),
        "features": runs[0]["config"]["features"],
        "decomposition": runs[0]["config"]["model"]["decomposition"],
        "parameters": runs[0]["parameters"],
        "seeds": [r["config"]["seed"] for r in runs],
    }


def trim_arm(arm: dict) -> dict:
    return {k: arm[k] for k in ("curves", "best", "final", "epoch_seconds", "seconds") if k in arm}


def collect(grid: dict, runs_dir: Path, dataset: dict, eda: dict, features_dir: Path, embed: dict,
            finetune: dict) -> dict:
    runs = {rid: load_checked_run(Path(runs_dir) / f"{rid}.json", cfg, RUN_SCHEMA) for rid, cfg in grid.items()}
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in runs.values():
        c = r["config"]
        groups.setdefault((c["group"], c["feature_set"]), []).append(r)
    # the config's order of the feature sets (grid.json sorts its keys)
    order = list(dict.fromkeys(c["feature_set"] for c in sorted(grid.values(), key=lambda c: c["position"])
                               if c["group"] == "features"))
    cells = {fs: cell(groups[("features", fs)]) for fs in order}
    decomposition, dec_fs = {}, None
    for (group, fs), rs in groups.items():
        if group == "decomposition":
            decomposition[rs[0]["config"]["model"]["decomposition"]] = cell(rs)
    if decomposition:
        dec_fs = next(c["feature_set"] for c in grid.values() if c["group"] == "decomposition")
        main = cells[dec_fs]
        decomposition = {main["decomposition"]: main, **decomposition}
    base = cells.get(BASELINE)
    verdicts = {fs: verdict(c["test_acc"], base["test_acc"]) for fs, c in cells.items() if base and fs != BASELINE}
    best = max(cells, key=lambda fs: cells[fs]["test_acc"]["mean"])
    feats = {p.stem: read_json(p) for p in sorted(Path(features_dir).glob("*.json"))}
    any_run = next(iter(runs.values()))
    ds = {"name": dataset["name"], "checksum": dataset["checksum"]}
    if dataset.get("source") == "dmg777k" and not dataset.get("matches_published", True):
        ds["name"] += " (files not the published ones: their checksums differ)"
    labelled = sum(sum(v) for v in eda["splits"].values())
    majority = max(np.sum(list(eda["splits"].values()), axis=0)) / labelled
    test_majority = max(eda["splits"]["testing"]) / sum(eda["splits"]["testing"])
    return {
        "task": "multimodal", "scale": any_run["config"]["scale"], "dataset": dataset,
        "eda": eda, "features": feats, "order": order, "cells": cells, "decomposition": decomposition,
        "decomposition_feature_set": dec_fs,
        "baseline": BASELINE, "verdicts": verdicts, "best": best,
        "majority_acc": float(majority), "test_majority_acc": float(test_majority),
        "subgraph": any_run["subgraph"], "model": any_run["config"]["model"], "train": any_run["config"]["train"],
        "seeds": sorted({r["config"]["seed"] for r in runs.values()}),
        "embed_timing": {**{k: v for k, v in embed.items() if k != "arms"},
                         "arms": {k: trim_arm(v) for k, v in embed["arms"].items()}},
        "finetune": {**{k: v for k, v in finetune.items() if k != "arms"},
                     "arms": {k: trim_arm(v) for k, v in finetune["arms"].items()}},
        "provenance": {**summary_provenance(grid, runs, [ds]), "scale": any_run["config"]["scale"]},
    }


def main(argv: list[str] | None = None) -> int:
    from saidl.common.cli import exit_code

    ap = argparse.ArgumentParser(description="collect the multimodal runs into summary.json")
    for name in ("grid-json", "runs-dir", "dataset", "eda", "features-dir", "embed-timing", "finetune", "out"):
        ap.add_argument(f"--{name}", required=True, type=Path)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return exit_code(lambda: write_json(a.out, collect(
        read_json(a.grid_json), a.runs_dir, read_json(a.dataset), read_json(a.eda), a.features_dir,
        read_json(a.embed_timing), read_json(a.finetune))))


if __name__ == "__main__":
    raise SystemExit(main())
