"""The context of the multimodal report template: the summary plus the numbers the prose needs."""

from __future__ import annotations

from saidl.common.config import full_protocol

from saidl.report.latex import Tex, format_pm

from .grid import PRETRAINED
from .tables import FEATURE_TEXT

MODALITY_TEXT = {"image": "images", "text": "texts", "numeric": "numbers", "temporal": "dates",
                 "spatial": "coordinates"}


def acc(cell: dict | None, key: str = "test_acc") -> Tex:
    """mean ± std over seeds in %."""
    if cell is None:
        return Tex("--")
    s = cell[key]
    return format_pm(s["mean"], s["std"] if len(s["values"]) > 1 else None)


def pct(x: float | None) -> Tex:
    return Tex("--") if x is None else Tex(f"{100 * x:.1f}")


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
    gain = {fs: c["test_acc"]["mean"] - base["test_acc"]["mean"] for fs, c in cells.items()} if base else {}
    e, f = summary["embed_timing"], summary["finetune"]
    frozen, joint = f["arms"]["frozen"]["final"], f["arms"]["joint"]["final"]
    gen = summary["dataset"].get("generator") or {}
    return {
        "s": summary, "eda": eda, "cells": cells, "scale": summary["scale"], "is_full": full_protocol(summary["scale"]),
        "synthetic": summary["dataset"]["synthetic"], "gen": gen, "acc": acc, "pct": pct,
        "base": base, "singles": singles, "pre_singles": pre_singles, "alls": alls, "ranked_single": ranked_single,
        "gain": gain, "verdicts": summary["verdicts"], "best": summary["best"], "best_cell": cells[summary["best"]],
        "modality_text": MODALITY_TEXT, "feature_text": FEATURE_TEXT,
        "e": e, "ratio": e["ratio"], "f": f, "frozen": frozen, "joint": joint,
        "ft_delta": joint["testing"]["acc"] - frozen["testing"]["acc"],
        "ft_val_delta": joint["validation"]["acc"] - frozen["validation"]["acc"],
        "entity_names": [d["name"] for d in eda["entity_classes"][:6]],
        "top_relations": [d["name"] for d in eda["relations"][:5]],
        "n_literals": sum(d["count"] for d in eda["annotations"] if d["modality"] != "structure"),
        "n_entities": sum(d["count"] for d in eda["annotations"] if d["annotation"] in ("iri", "blank_node")),
        "provenance": {**summary["provenance"], "scale": summary["scale"]},
        "max_epoch_s": max(c["epoch_s"]["mean"] for c in cells.values()),
        "clip_features": [FEATURE_TEXT[n] for n in ("clip-image", "clip-text") if n in summary["features"]],
        # hub weights that are a rehearsal fake (saidl_fake.json in the snapshot): what they are -> features
        "fake_weights": fake_weights(summary),
        # a verdict needs a spread: with one seed no setting is said to help (analyze.verdict)
        "judged": len(summary["seeds"]) > 1,
        "n_runs": len(summary["provenance"]["runs"]),
        "total_minutes": summary["provenance"]["total_run_time_s"] / 60,
    }
