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


def pretrained_single(summary: dict) -> dict[str, str]:
    out = {}
    for fs, c in summary["cells"].items():
        feats = c["features"]
        if len(feats) == 1 and any(f in PRETRAINED for f in feats.values()):
            out[next(iter(feats))] = fs
    return out


def all_sets(summary: dict) -> dict[str, str]:
    """"simple" / "pretrained" -> the feature set with every modality of that kind, if run."""
    out = {}
    for fs, c in summary["cells"].items():
        if len(c["features"]) >= 5:
            out["pretrained" if any(f in PRETRAINED for f in c["features"].values()) else "simple"] = fs
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
        "n_runs": len(summary["provenance"]["runs"]),
        "total_minutes": summary["provenance"]["total_run_time_s"] / 60,
    }
