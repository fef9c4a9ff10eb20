"""Collect the Core ML run JSONs into one small summary and check the paper's claims on it.

Usage: ``python -m saidl.coreml.analyze --config-json grid.json --runs-dir DIR --out summary.json``
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


def _final(summary: dict, noise: str, eta: float, loss: str) -> float | None:
    cell = summary["cells"].get(noise, {}).get(f"{eta:g}", {}).get(loss)
    return None if cell is None else cell["final"]["mean"]


def _verdict(n_ok: int, n_all: int) -> str:
    if n_all == 0:
        return "not tested"
    return "supported" if n_ok == n_all else ("partly supported" if n_ok else "not supported")


def check_claims(summary: dict) -> list[dict]:
    """Each claim: id, statement, verdict, and the numbers (fractions) it rests on."""
    sym = summary["etas"]["sym"]
    losses = summary["losses"]
    claims = []
    if len(sym) >= 2 and 0.0 in sym:
        hi = max(sym)
        # 1. Vanilla losses memorise the noise and collapse.
        pairs = [(l, _final(summary, "sym", 0.0, l), _final(summary, "sym", hi, l),
                  summary["cells"]["sym"][f"{hi:g}"][l]["noisy_fit"]) for l in VANILLA if l in losses]
        ok = [p for p in pairs if p[2] < 0.75 * p[1] and p[3] and p[3]["mean"] > 0.5]
        claims.append({"id": "vanilla_collapse", "verdict": _verdict(len(ok), len(pairs)), "eta": hi,
                       "statement": "Vanilla CE and FL are not robust: at high symmetric noise they fit the noisy labels and their test accuracy collapses.",
                       "evidence": [{"loss": l, "clean": c, "noisy": h, "noisy_fit": f["mean"] if f else None} for l, c, h, f in pairs]})
        # 2. Normalized losses are more robust than their vanilla counterparts.
        pairs = [(n, v, _final(summary, "sym", hi, n), _final(summary, "sym", hi, v))
                 for n, v in zip(NORMALIZED, VANILLA) if n in losses and v in losses]
        ok = [p for p in pairs if p[2] > p[3]]
        claims.append({"id": "normalized_robust", "verdict": _verdict(len(ok), len(pairs)), "eta": hi,
                       "statement": "Normalized losses (NCE, NFL) are more robust than their vanilla counterparts (CE, FL) at high noise.",
                       "evidence": [{"normalized": n, "vanilla": v, "acc_normalized": a, "acc_vanilla": b} for n, v, a, b in pairs]})
        # 3. Normalized losses alone underfit on clean data.
        pairs = [(n, v, _final(summary, "sym", 0.0, n), _final(summary, "sym", 0.0, v))
                 for n, v in zip(NORMALIZED, VANILLA) if n in losses and v in losses]
        ok = [p for p in pairs if p[2] < p[3]]
        claims.append({"id": "normalized_underfit", "verdict": _verdict(len(ok), len(pairs)), "eta": 0.0,
                       "statement": "Normalized losses alone underfit: on clean labels they reach lower accuracy than the vanilla losses.",
                       "evidence": [{"normalized": n, "vanilla": v, "acc_normalized": a, "acc_vanilla": b} for n, v, a, b in pairs]})
        # 4. APL beats its active loss alone and the vanilla losses at high noise.
        apl = [a for a in APL if a in losses]
        rows = []
        for a in apl:
            active = a.split("+")[0]
            acc = _final(summary, "sym", hi, a)
            rows.append({"loss": a, "acc": acc, "active": active, "acc_active": _final(summary, "sym", hi, active),
                         "acc_ce": _final(summary, "sym", hi, "CE")})
        ok = [r for r in rows if r["acc_ce"] is not None and r["acc"] > r["acc_ce"]
              and (r["acc_active"] is None or r["acc"] > r["acc_active"])]
        claims.append({"id": "apl_robust", "verdict": _verdict(len(ok), len(rows)), "eta": hi,
                       "statement": "APL pairs are more robust than CE and than their active (normalized) loss alone at high noise.",
                       "evidence": rows})
        # 5. APL keeps clean accuracy (no robustness-for-accuracy trade-off).
        rows = [{"loss": a, "acc": _final(summary, "sym", 0.0, a), "acc_ce": _final(summary, "sym", 0.0, "CE")} for a in apl]
        ok = [r for r in rows if r["acc_ce"] is not None and r["acc"] >= r["acc_ce"] - 0.01]
        claims.append({"id": "apl_clean", "verdict": _verdict(len(ok), len(rows)), "eta": 0.0,
                       "statement": "APL maintains clean accuracy: on clean labels each APL pair is within one point of CE or better.",
                       "evidence": rows})
    asym = summary["etas"]["asym"]
    if asym:
        hi = max(asym)
        apl = [a for a in APL if a in losses]
        rows = [{"loss": a, "acc": _final(summary, "asym", hi, a), "acc_ce": _final(summary, "asym", hi, "CE")} for a in apl]
        ok = [r for r in rows if r["acc_ce"] is not None and r["acc"] > r["acc_ce"]]
        claims.append({"id": "apl_asym", "verdict": _verdict(len(ok), len(rows)), "eta": hi,
                       "statement": "Under asymmetric (class-dependent) noise, APL pairs beat CE.",
                       "evidence": rows})
    return [c for c in claims if c["verdict"] != "not tested"]


def main(argv: list[str] | None = None) -> int:
    return collect_main(collect, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
