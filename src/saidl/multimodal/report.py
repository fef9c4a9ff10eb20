"""The context of the multimodal report template: the summary plus the numbers the prose needs."""

from __future__ import annotations

from saidl.common.config import full_protocol

from saidl.report.tables import hparam_rows

from .grid import PRETRAINED
from .tables import FEATURE_TEXT

MODALITY_TEXT = {"image": "images", "text": "texts", "numeric": "numbers", "temporal": "dates",
                 "spatial": "coordinates"}


# the hyperparameter table: run-config key -> (name, note)
HPARAMS = {
    "model.dim": ("input dimension", "every modality projected to it"),
    "model.hidden": ("hidden dimension", "of the two R-GCN layers"),
    "model.num_bases": ("bases", "basis decomposition of the relation weights"),
    "model.num_blocks": ("blocks", "block-diagonal decomposition (compared)"),
    "model.dropout": ("dropout", ""),
    "model.decomposition": ("decomposition (ablation)", ""),
    "train.epochs": ("epochs", "full batch; the best validation epoch is selected"),
    "train.lr": ("learning rate", "Adam"),
    "train.weight_decay": ("weight decay", ""),
    "train.hops": ("subgraph hops", "around the labelled nodes (exact for two layers)"),
    "seeds": ("seeds", "per setting"),
    "encoders.image_size": ("image size (px)", "pretrained image encoders"),
    "encoders.batch_size": ("encoder batch size", ""),
    "embed_timing.epochs": ("when to embed: epochs", "per arm"),
    "embed_timing.lr_grid": ("when to embed: learning rates", "chosen on validation"),
    "finetune.train_nodes": ("bonus: training nodes", "stratified subset"),
    "finetune.eval_nodes": ("bonus: validation and test nodes", "each"),
    "finetune.warmup_epochs": ("bonus: warm-up epochs", "R-GCN on frozen embeddings"),
    "finetune.epochs": ("bonus: epochs per arm", "after the warm-up"),
    "finetune.image_blocks": ("bonus: image blocks unfrozen", ""),
    "finetune.text_layers": ("bonus: text layers unfrozen", ""),
    "finetune.encoder_lr": ("bonus: encoder learning rate", "Adam, no weight decay"),
    "device": ("device", ""),
}


def hparams(summary: dict) -> list[dict]:
    """The hyperparameter rows, read from the run configs (a run's model and training settings,
    the seeds, and the two jobs' own settings)."""
    e, f = summary["embed_timing"]["config"], summary["finetune"]["config"]
    cfg = {"model": summary["model"], "train": summary["train"], "seeds": summary["seeds"],
           "encoders": e["encoders"],
           "embed_timing": {k: e[k] for k in ("epochs", "lr_grid") if k in e},
           "finetune": {k: f[k] for k in ("train_nodes", "eval_nodes", "warmup_epochs", "epochs", "image_blocks",
                                          "text_layers", "encoder_lr")},
           "device": e["device"]}
    labels = {k: v for k, v in HPARAMS.items() if k != "embed_timing.lr_grid" or "lr_grid" in e}
    return hparam_rows(cfg, labels)


def single(summary: dict) -> dict[str, str]:
    """modality -> the feature set that adds only that modality (simple encoders), if run."""
    out = {}
    for fs, c in summary["cells"].items():
        feats = c["features"]
        if len(feats) == 1 and not any(f in PRETRAINED for f in feats.values()):
            out[next(iter(feats))] = fs
    return out


def encoders_of(cell: dict) -> str:
    """The pretrained encoders of a feature set, e.g. "EfficientNet-Lite0 and all-MiniLM-L6-v2"."""
    return " and ".join(FEATURE_TEXT[f] for f in cell["features"].values() if f in PRETRAINED)


def pretrained_single(summary: dict) -> list[dict]:
    """Every feature set with one modality through a pretrained encoder (EfficientNet and CLIP
    images alike), in the summary's order: ``{"mod", "fs", "encoder"}``."""
    out = []
    for fs in summary["order"]:
        feats = summary["cells"][fs]["features"]
        if len(feats) == 1 and any(f in PRETRAINED for f in feats.values()):
            out.append({"mod": next(iter(feats)), "fs": fs, "encoder": encoders_of(summary["cells"][fs])})
    return out


def all_sets(summary: dict) -> dict:
    """"simple" -> the feature set with every modality through simple features (if run);
    "pretrained" -> every set with every modality and pretrained encoders, as ``{"fs", "encoders"}``."""
    out: dict = {"simple": None, "pretrained": []}
    for fs in summary["order"]:
        c = summary["cells"][fs]
        if len(c["features"]) >= 5:
            if any(f in PRETRAINED for f in c["features"].values()):
                out["pretrained"].append({"fs": fs, "encoders": encoders_of(c)})
            elif out["simple"] is None:
                out["simple"] = fs
    return out


def fake_weights(summary: dict) -> dict[str, list[str]]:
    """The description of each fake hub snapshot a features file was computed with (its
    ``saidl_fake.json``; the rehearsal's) -> the features computed with it."""
    out: dict[str, list[str]] = {}
    for name, f in summary["features"].items():
        if f.get("fake_weights"):
            out.setdefault(f["fake_weights"], []).append(FEATURE_TEXT.get(name, name))
    return out


def context(summary: dict) -> dict:
    cells, eda = summary["cells"], summary["eda"]
    base = cells.get(summary["baseline"])
    singles, pre_singles, alls = single(summary), pretrained_single(summary), all_sets(summary)
    ranked_single = sorted(singles.items(), key=lambda kv: -cells[kv[1]]["test_acc"]["mean"])
    e, f = summary["embed_timing"], summary["finetune"]
    frozen, joint = f["arms"]["frozen"]["final"], f["arms"]["joint"]["final"]
    gen = summary["dataset"].get("generator") or {}
    return {
        "summary": summary, "eda": eda, "cells": cells, "scale": summary["scale"],
        "is_full": full_protocol(summary["scale"]), "synthetic": summary["dataset"]["synthetic"], "generator": gen,
        "baseline_cell": base, "single_sets": singles, "pretrained_single_sets": pre_singles,
        "all_modality_sets": alls, "ranked_single": ranked_single,
        "verdicts": summary["verdicts"], "best": summary["best"], "best_cell": cells[summary["best"]],
        "best_set": summary["best_set"], "claims": summary["claims"], "hparams": hparams(summary),
        "test_nodes": sum(eda["splits"]["testing"]),
        "val_nodes": sum(eda["splits"]["validation"]), "train_nodes": sum(eda["splits"]["training"]),
        "modality_text": MODALITY_TEXT, "feature_text": FEATURE_TEXT,
        "embed_timing": e, "ratio": e["ratio"], "finetune": f, "frozen": frozen, "joint": joint,
        "ft_delta": joint["testing"]["acc"] - frozen["testing"]["acc"],
        "ft_val_delta": joint["validation"]["acc"] - frozen["validation"]["acc"],
        "ft_f1_delta": joint["testing"]["macro_f1"] - frozen["testing"]["macro_f1"],
        "entity_names": [d["name"] for d in eda["entity_classes"][:6]],
        "top_relations": [d["name"] for d in eda["relations"][:5]],
        "n_literals": sum(d["count"] for d in eda["annotations"] if d["modality"] != "structure"),
        "n_entities": sum(d["count"] for d in eda["annotations"] if d["annotation"] in ("iri", "blank_node")),
        "provenance": {**summary["provenance"], "scale": summary["scale"]},
        "max_epoch_s": max(c["epoch_s"]["mean"] for c in cells.values()),
        "clip_features": [FEATURE_TEXT[n] for n in ("clip-image", "clip-text") if n in summary["features"]],
        # hub weights that are a rehearsal fake (saidl_fake.json in the snapshot): what they are -> features
        "fake_weights": fake_weights(summary),
        # a verdict needs a spread: with one seed the statistics module says "too few seeds"
        "judged": len(summary["seeds"]) > 1,
        "n_runs": len(summary["provenance"]["runs"]),
        "total_minutes": summary["provenance"]["total_run_time_s"] / 60,
    }
