"""Collect the Core ML run JSONs into one small summary and check the paper's claims on it.

Usage: ``python -m saidl.coreml.analyze --config-json grid.json --runs-dir DIR --out summary.json``

Every verdict follows the margin rule (``MARGIN_RULE``; the paper task uses the same ``compare``
and ``verdict``): a comparison of two settings is a *win* when the difference of the means exceeds
the larger of their standard deviations over seeds, *within noise* when it is positive but smaller,
and a *loss* otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from saidl.common.cli import collect_main
from saidl.common.runs import load_run as load_checked_run
from saidl.common.runs import stats
from saidl.common.provenance import summary_provenance
from saidl.coreml.names import APL, NORMALIZED, VANILLA

_CURVE = {"type": "array", "items": {"type": ["number", "null"]}}
RUN_SCHEMA = {
    "type": "object",
    "required": ["id", "task", "config", "metrics", "noise", "timing", "provenance"],
    "properties": {
        "id": {"type": "string"},
        "task": {"const": "coreml"},
        "config": {"type": "object", "required": ["noise", "eta", "loss", "seed", "epochs"]},
        "metrics": {"type": "object", "required": [
            "test_acc", "train_loss", "val_acc", "train_clean_acc", "train_noisy_fit",
            "train_noisy_true", "final_test_acc", "best_test_acc"],
            "properties": {k: _CURVE for k in ("test_acc", "train_loss", "val_acc", "train_clean_acc",
                                               "train_noisy_fit", "train_noisy_true")}},
        "noise": {"type": "object", "required": ["realised_rate", "realised_transition", "transition"]},
        "timing": {"type": "object", "required": ["wall_time_s"]},
        "provenance": {"type": "object", "required": ["git_commit", "config_hash", "dataset"]},
    },
}


def load_run(path: Path, expected: dict) -> dict:
    return load_checked_run(path, expected, RUN_SCHEMA)


def mean_curve(runs: list[dict], key: str) -> list[float | None]:
    """The per-epoch mean of one curve over runs (all None if any run lacks a value)."""
    curves = [r["metrics"][key] for r in runs]
    if any(v is None for c in curves for v in c):
        return [None] * len(curves[0])
    return np.mean(np.asarray(curves, dtype=float), axis=0).tolist()


def collect(grid: dict[str, dict], runs_dir: Path) -> dict:
    runs = {rid: load_run(runs_dir / f"{rid}.json", cfg) for rid, cfg in grid.items()}
    first = next(iter(grid.values()))
    cfgs = list(grid.values())
    losses = list(dict.fromkeys(c["loss"] for c in cfgs))
    etas = {n: sorted({c["eta"] for c in cfgs if c["noise"] == n}) for n in ("sym", "asym")}
    seeds = sorted({c["seed"] for c in cfgs})
    cells: dict = {}
    noise: dict = {}
    curves: dict = {}
    for n, eta_list in etas.items():
        for eta in eta_list:
            key = f"{eta:g}"
            for loss in losses:
                group = [r for r in runs.values()
                         if r["config"]["noise"] == n and r["config"]["eta"] == eta and r["config"]["loss"] == loss]
                if not group:
                    continue
                m = [g["metrics"] for g in group]
                cells.setdefault(n, {}).setdefault(key, {})[loss] = {
                    "final": stats([x["final_test_acc"] for x in m]),
                    "best": stats([x["best_test_acc"] for x in m]),
                    "clean_fit": stats([x["train_clean_acc"][-1] for x in m]),
                    "noisy_fit": (stats([x["train_noisy_fit"][-1] for x in m])
                                  if m[0]["train_noisy_fit"][-1] is not None else None),
                    "wall_time_s": stats([g["timing"]["wall_time_s"] for g in group]),
                }
                curves.setdefault(n, {}).setdefault(key, {})[loss] = {
                    k: mean_curve(group, k) for k in ("test_acc", "train_clean_acc", "train_noisy_fit",
                                                       "train_noisy_true", "train_loss")}
            same_eta = [r for r in runs.values() if r["config"]["noise"] == n and r["config"]["eta"] == eta]
            noise.setdefault(n, {})[key] = {
                "realised_rate": stats([r["noise"]["realised_rate"] for r in same_eta]),
                "realised_transition": np.mean([r["noise"]["realised_transition"] for r in same_eta], 0).round(4).tolist(),
                "transition": same_eta[0]["noise"]["transition"],
                "n_train": same_eta[0]["noise"]["n_train"],
                "n_noisy": same_eta[0]["noise"]["n_noisy"],
            }
    any_run = next(iter(runs.values()))
    summary = {
        "task": "coreml", "scale": first["scale"],
        "config": {k: v for k, v in first.items() if k not in ("run_id", "noise", "eta", "loss", "seed", "loss_params")},
        "loss_params": {n: {c["loss"]: c["loss_params"] for c in cfgs if c["noise"] == n} for n in ("sym", "asym")},
        "losses": losses, "etas": etas, "seeds": seeds, "classes": any_run["noise"]["classes"],
        "cells": cells, "curves": curves, "noise": noise,
        "dataset": any_run["provenance"]["dataset"],
        "provenance": {
            **summary_provenance(grid, runs, [{"name": any_run["provenance"]["dataset"]["name"],
                                               "checksum": any_run["provenance"]["dataset"]["checksum"]}]),
            "run_commits": sorted({r["provenance"]["git_commit"] for r in runs.values()}),
        },
    }
    summary["claims"] = check_claims(summary)
    return summary


# ------------------------------------------------------------------------------------------
# Claims of the APL paper, each checked on the summary


# The margin rule, shared with the paper task (saidl.paper.analyze uses these two functions).
MARGIN_RULE = ("A comparison counts as a win when the difference of the two means exceeds the larger of their "
               "standard deviations over seeds, as within noise when it is positive but smaller, and as a loss "
               "otherwise; a claim resting on several comparisons is supported when all are wins, partly "
               "supported when at least one is a win or within noise, and not supported otherwise.")
CLEAN_TOLERANCE = 0.01   # "keeps clean accuracy": at most one point below CE
COLLAPSE_RATIO = 0.75    # "collapses": below 75 % of the clean accuracy ...
COLLAPSE_NOISY_FIT = 0.5  # ... while reproducing more than half of the noisy training labels


def compare(a: dict | None, b: dict | None) -> str:
    """'win', 'within noise' or 'loss' for mean(a) > mean(b), from two ``stats`` dicts."""
    if a is None or b is None:
        return "missing"
    diff = a["mean"] - b["mean"]
    if diff <= 0:
        return "loss"
    return "win" if diff > max(a["std"], b["std"]) else "within noise"


def verdict(outcomes: list[str]) -> str:
    outcomes = [o for o in outcomes if o != "missing"]
    if not outcomes:
        return "not tested"
    if all(o == "win" for o in outcomes):
        return "supported"
    return "partly supported" if any(o in ("win", "within noise") for o in outcomes) else "not supported"


def worst(*outcomes: str) -> str:
    """The weakest of several outcomes that must all hold (missing ones aside)."""
    order = ("loss", "within noise", "win")
    got = [o for o in outcomes if o != "missing"]
    return min(got, key=order.index) if got else "missing"


def _stat(summary: dict, noise: str, eta: float, loss: str, what: str = "final") -> dict | None:
    cell = summary["cells"].get(noise, {}).get(f"{eta:g}", {}).get(loss)
    return None if cell is None else cell.get(what)


def _mean(stat: dict | None) -> float | None:
    return None if stat is None else stat["mean"]


def _std(stat: dict | None) -> float | None:
    return None if stat is None else stat["std"]


def check_claims(summary: dict) -> list[dict]:
    """Each claim: id, statement, verdict, and the numbers (fractions) it rests on. Every
    comparison of two settings follows the margin rule (``compare``, ``MARGIN_RULE``)."""
    sym = summary["etas"]["sym"]
    losses = summary["losses"]
    claims = []
    if len(sym) >= 2 and 0.0 in sym:
        hi = max(sym)
        # 1. Vanilla losses memorise the noise and collapse: clean accuracy beats the high-noise one
        # by the margin, the latter is below COLLAPSE_RATIO of the former, and the noisy labels are fitted.
        rows = []
        for l in (v for v in VANILLA if v in losses):
            clean, noisy, fit = _stat(summary, "sym", 0.0, l), _stat(summary, "sym", hi, l), _stat(summary, "sym", hi, l, "noisy_fit")
            o = compare(clean, noisy)
            if o != "missing" and not (noisy["mean"] < COLLAPSE_RATIO * clean["mean"]
                                       and fit is not None and fit["mean"] > COLLAPSE_NOISY_FIT):
                o = "loss"
            rows.append({"loss": l, "clean": _mean(clean), "noisy": _mean(noisy), "std_clean": _std(clean),
                         "std_noisy": _std(noisy), "noisy_fit": _mean(fit), "outcome": o})
        claims.append({"id": "vanilla_collapse", "verdict": verdict([r["outcome"] for r in rows]), "eta": hi,
                       "statement": "Vanilla CE and FL are not robust: at high symmetric noise they fit the noisy labels and their test accuracy collapses.",
                       "evidence": rows})
        # 2. Normalized losses are more robust than their vanilla counterparts.
        rows = []
        for n, v in ((n, v) for n, v in zip(NORMALIZED, VANILLA) if n in losses and v in losses):
            a, b = _stat(summary, "sym", hi, n), _stat(summary, "sym", hi, v)
            rows.append({"normalized": n, "vanilla": v, "acc_normalized": _mean(a), "acc_vanilla": _mean(b),
                         "std_normalized": _std(a), "std_vanilla": _std(b), "outcome": compare(a, b)})
        claims.append({"id": "normalized_robust", "verdict": verdict([r["outcome"] for r in rows]), "eta": hi,
                       "statement": "Normalized losses (NCE, NFL) are more robust than their vanilla counterparts (CE, FL) at high noise.",
                       "evidence": rows})
        # 3. Normalized losses alone underfit on clean data: the vanilla loss is higher there.
        rows = []
        for n, v in ((n, v) for n, v in zip(NORMALIZED, VANILLA) if n in losses and v in losses):
            a, b = _stat(summary, "sym", 0.0, n), _stat(summary, "sym", 0.0, v)
            rows.append({"normalized": n, "vanilla": v, "acc_normalized": _mean(a), "acc_vanilla": _mean(b),
                         "std_normalized": _std(a), "std_vanilla": _std(b), "outcome": compare(b, a)})
        claims.append({"id": "normalized_underfit", "verdict": verdict([r["outcome"] for r in rows]), "eta": 0.0,
                       "statement": "Normalized losses alone underfit: on clean labels they reach lower accuracy than the vanilla losses.",
                       "evidence": rows})
        # 4. APL beats its active loss alone and CE at high noise.
        apl = [a for a in APL if a in losses]
        rows = []
        for a in apl:
            active = a.split("+")[0]
            acc, act, ce = (_stat(summary, "sym", hi, x) for x in (a, active, "CE"))
            rows.append({"loss": a, "acc": _mean(acc), "std": _std(acc), "active": active, "acc_active": _mean(act),
                         "std_active": _std(act), "acc_ce": _mean(ce), "std_ce": _std(ce),
                         "outcome": "missing" if ce is None else worst(compare(acc, ce), compare(acc, act))})
        claims.append({"id": "apl_robust", "verdict": verdict([r["outcome"] for r in rows]), "eta": hi,
                       "statement": "APL pairs are more robust than CE and than their active (normalized) loss alone at high noise.",
                       "evidence": rows})
        # 5. APL keeps clean accuracy (no robustness-for-accuracy trade-off): a tolerance, not a win.
        rows = []
        for a in apl:
            acc, ce = _stat(summary, "sym", 0.0, a), _stat(summary, "sym", 0.0, "CE")
            o = "missing" if ce is None else ("win" if acc["mean"] >= ce["mean"] - CLEAN_TOLERANCE else "loss")
            rows.append({"loss": a, "acc": _mean(acc), "acc_ce": _mean(ce), "std": _std(acc), "std_ce": _std(ce),
                         "outcome": o})
        claims.append({"id": "apl_clean", "verdict": verdict([r["outcome"] for r in rows]), "eta": 0.0,
                       "statement": "APL maintains clean accuracy: on clean labels each APL pair is within one point of CE or better.",
                       "evidence": rows})
    asym = summary["etas"]["asym"]
    if asym:
        hi = max(asym)
        rows = []
        for a in (a for a in APL if a in losses):
            acc, ce = _stat(summary, "asym", hi, a), _stat(summary, "asym", hi, "CE")
            rows.append({"loss": a, "acc": _mean(acc), "acc_ce": _mean(ce), "std": _std(acc), "std_ce": _std(ce),
                         "outcome": compare(acc, ce)})
        claims.append({"id": "apl_asym", "verdict": verdict([r["outcome"] for r in rows]), "eta": hi,
                       "statement": "Under asymmetric (class-dependent) noise, APL pairs beat CE.",
                       "evidence": rows})
    return [c for c in claims if c["verdict"] != "not tested"]


def main(argv: list[str] | None = None) -> int:
    return collect_main(collect, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
