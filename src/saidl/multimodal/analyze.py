"""Collect the multimodal task's runs, EDA, features, embedding timing and fine-tuning into one
summary for the report.

    python -m saidl.multimodal.analyze --grid-json grid.json --runs-dir runs/ --dataset dataset.json \
        --eda eda.json --features-dir features/ --embed-timing embed_timing.json \
        --finetune finetune.json --out summary.json

Every verdict comes from saidl.common.stats: feature sets share their seeds, so each is compared
with structure only (and pretrained with simple encoders) by the paired t-interval of the
per-seed differences; the best feature set is ``stats.best`` of the test accuracies. The
one-seed jobs (embedding timing, fine-tuning) are compared over their epochs or test nodes, and
say so. Each claim is ``{id, verdict, ...numbers}``; the sentences live in the template.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from saidl.common.io import read_json, write_json
from saidl.common.provenance import summary_provenance
from saidl.common import stats
from saidl.common.runs import load_run as load_checked_run

from .grid import PRETRAINED

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


def cell(runs: list[dict]) -> dict:
    return {
        "test_acc": stats.interval([r["best"]["test"]["acc"] for r in runs]),
        "test_f1": stats.interval([r["best"]["test"]["macro_f1"] for r in runs]),
        "val_acc": stats.interval([r["best"]["val_acc"] for r in runs]),
        "best_epoch": stats.interval([r["best"]["epoch"] for r in runs]),
        "train_acc": stats.interval([r["curves"]["train_acc"][-1] for r in runs]),
        "epoch_s": stats.interval([r["epoch_seconds"] for r in runs]),
        "wall_s": stats.interval([r["timing"]["wall_time_s"] for r in runs]),
        "curves": {k: np.mean([r["curves"][k] for r in runs], axis=0).tolist()
                   for k in ("epoch", "loss", "train_acc", "val_acc")},
        "confusion": np.sum([r["best"]["test"]["confusion"] for r in runs], axis=0).tolist(),
        "features": runs[0]["config"]["features"],
        "decomposition": runs[0]["config"]["model"]["decomposition"],
        "parameters": runs[0]["parameters"],
        "seeds": [r["config"]["seed"] for r in runs],
    }


def guarded(a: dict, b: dict) -> dict:
    """Cell A against cell B on test accuracy: the paired comparison over seeds (stats.compare), held
    to "no difference shown" unless the test nodes show the same (Welch over every seed's test nodes
    right/wrong, from the summed confusion matrices). Accuracies on a few hundred nodes are discrete,
    so two seeds can differ by the same few nodes and give a zero-width interval; a difference of a
    few nodes is not called better. ``seed_verdict`` and ``nodes`` keep both comparisons."""
    seeds = stats.compare(a["test_acc"], b["test_acc"], paired=True)
    nodes = stats.compare(node_correct(a["confusion"]), node_correct(b["confusion"]))
    verdict = seeds["verdict"]
    if verdict in (stats.BETTER, stats.WORSE) and nodes["verdict"] != verdict:
        verdict = stats.NO_DIFFERENCE
    per_seed = int(np.sum(a["confusion"])) // max(a["test_acc"]["n"], 1)  # test nodes of one seed
    return {**seeds, "verdict": verdict, "seed_verdict": seeds["verdict"], "nodes": nodes, "test_nodes": per_seed,
            "node_diff": None if seeds["diff"] is None else int(round(seeds["diff"] * per_seed))}


def simple_twin(cells: dict, fs: str) -> str | None:
    """The feature set with the same modalities as ``fs`` through simple encoders (image
    statistics, bag of words), if it was run."""
    twin = {m: "stats" if m == "image" else "bow" if m == "text" else f for m, f in cells[fs]["features"].items()}
    return next((k for k, c in cells.items() if c["features"] == twin and k != fs), None)


def node_correct(confusion: list[list[int]]) -> list[float]:
    """One value per test node: 1 when it was classified right, 0 otherwise (from a confusion matrix)."""
    conf = np.asarray(confusion)
    right, total = int(np.trace(conf)), int(conf.sum())
    return [1.0] * right + [0.0] * (total - right)


def loss_rise(finetune: dict) -> dict:
    """The training loss after the warm-up, per arm: its peak, the epoch of the peak and its rise
    over the warm-up's last loss; ``spike`` when the rise exceeds the largest epoch-to-epoch change
    of the warm-up's last five epochs. Both arms start from the same state with the same seed (the
    same dropout masks), so joint minus frozen, epoch by epoch, is what the unfreezing changed."""
    w = finetune["warmup"]["curves"]["loss"]
    tail = w[-6:]
    step = max((abs(a - b) for a, b in zip(tail, tail[1:])), default=0.0)
    out: dict = {"warmup_last": float(w[-1]), "warmup_step": float(step)}
    for arm in ("frozen", "joint"):
        loss = finetune["arms"][arm]["curves"]["loss"]
        k = int(np.argmax(loss))
        out[arm] = {"peak": float(loss[k]), "epoch": k + 1, "rise": float(loss[k] - w[-1]),
                    "spike": bool(loss[k] - w[-1] > step)}
    gap = [j - f for j, f in zip(finetune["arms"]["joint"]["curves"]["loss"], finetune["arms"]["frozen"]["curves"]["loss"])]
    out["joint_minus_frozen"] = [float(g) for g in gap]
    return out


def claims(cells: dict, decomposition: dict, embed: dict, finetune: dict, eda: dict) -> dict:
    """Every claim of the report: ``{id, verdict, ...numbers}``, each comparison a stats.compare dict
    oriented so that ``better`` is what the claim predicts."""
    out = {}
    base = cells.get(BASELINE)
    if base:
        simple = {fs: guarded(c, base) for fs, c in cells.items()
                  if fs != BASELINE and not any(f in PRETRAINED for f in c["features"].values())}
        out["simple_features"] = {"id": "simple_features", "verdict": stats.claim_verdict(list(simple.values())),
                                  "comparisons": simple}
    pre = {}
    for fs, c in cells.items():
        twin = simple_twin(cells, fs) if any(f in PRETRAINED for f in c["features"].values()) else None
        if twin:
            pre[fs] = {**guarded(c, cells[twin]), "against": twin,
                       "f1": stats.compare(c["test_f1"], cells[twin]["test_f1"], paired=True)}
    out["pretrained_features"] = {"id": "pretrained_features", "verdict": stats.claim_verdict(list(pre.values())),
                                  "comparisons": pre}
    if len(decomposition) > 1:
        (main, m), *others = decomposition.items()
        out["decomposition"] = {"id": "decomposition", "main": main,
                                "comparisons": {k: stats.compare(c["test_acc"], m["test_acc"], paired=True)
                                                for k, c in others}}
    # when to embed: one seed, so the epochs are the samples; precomputed predicted faster
    secs = {a: embed["arms"][a]["curves"]["seconds"] for a in ("precomputed", "on_the_fly")}
    faster = stats.compare(secs["precomputed"], secs["on_the_fly"], higher_is_better=False)
    pre_arm = embed["arms"]["precomputed"]["final"]
    val_majority = max(eda["splits"]["validation"]) / sum(eda["splits"]["validation"])
    classes = embed.get("test_pred_classes", {}).get("precomputed") or np.sum(
        pre_arm["testing"]["confusion"], axis=0).tolist()
    out["embed_once"] = {
        "id": "embed_once", "verdict": stats.claim_verdict([faster]), "faster": faster,
        "seconds": {a: stats.interval(v) for a, v in secs.items()},
        "val_acc": pre_arm["validation"]["acc"], "val_majority": float(val_majority),
        "test_acc": pre_arm["testing"]["acc"], "test_f1": pre_arm["testing"]["macro_f1"],
        "predicted_classes": int(sum(1 for n in classes if n)),
        "nontrivial": bool(sum(1 for n in classes if n) > 1 and pre_arm["validation"]["acc"] > val_majority),
    }
    # the bonus: one seed, so the test nodes are the samples (unpaired: conservative for the same nodes)
    fr, jo = (finetune["arms"][a]["final"]["testing"] for a in ("frozen", "joint"))
    nodes = stats.compare(node_correct(jo["confusion"]), node_correct(fr["confusion"]))
    seeds = stats.compare([jo["acc"]], [fr["acc"]])
    out["finetune"] = {
        "id": "finetune", "verdict": stats.claim_verdict([nodes]), "nodes": nodes, "seeds": seeds,
        "test_nodes": int(np.sum(fr["confusion"])), "acc": {"frozen": fr["acc"], "joint": jo["acc"]},
        "f1": {"frozen": fr["macro_f1"], "joint": jo["macro_f1"]}, "f1_diff": jo["macro_f1"] - fr["macro_f1"],
        "right": {"frozen": int(np.trace(fr["confusion"])), "joint": int(np.trace(jo["confusion"]))},
        "recall": {a: [row[i] / max(sum(row), 1) for i, row in enumerate(finetune["arms"][a]["final"]["testing"]["confusion"])]
                   for a in ("frozen", "joint")},
        "class_nodes": [int(sum(row)) for row in fr["confusion"]],
        "recall_fell": [], "recall_rose": [],
        "loss": loss_rise(finetune),
    }
    ft = out["finetune"]
    for i, (r_j, r_f) in enumerate(zip(ft["recall"]["joint"], ft["recall"]["frozen"])):
        if ft["class_nodes"][i] and r_j != r_f:
            ft["recall_fell" if r_j < r_f else "recall_rose"].append(i)
    # the joint arm trades small classes for the largest one (accuracy up or level, macro-F1 down)
    largest = int(np.argmax(ft["class_nodes"]))
    ft["toward_largest"] = bool(ft["recall_rose"] == [largest] and ft["recall_fell"])
    ft["largest"] = largest
    return out


def trim_arm(arm: dict) -> dict:
    return {k: arm[k] for k in ("curves", "best", "final", "epoch_seconds", "seconds") if k in arm}


def collect(grid: dict, runs_dir: Path, dataset: dict, eda: dict, features_dir: Path, embed: dict,
            finetune: dict) -> dict:
    runs = {rid: load_checked_run(Path(runs_dir) / f"{rid}.json", cfg, RUN_SCHEMA) for rid, cfg in grid.items()}
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in sorted(runs.values(), key=lambda r: r["config"]["seed"]):  # one seed order in every cell
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
    verdicts = {fs: guarded(c, base) for fs, c in cells.items() if base and fs != BASELINE}
    best = stats.best({fs: c["test_acc"] for fs, c in cells.items()}, paired=True)
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
        "baseline": BASELINE, "verdicts": verdicts, "best": best["top"], "best_set": best,
        "claims": claims(cells, decomposition, embed, finetune, eda),
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
