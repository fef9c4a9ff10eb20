"""Collect the SSM run JSONs, the discretisation study and the kernel timings into one summary.

Every comparison between models goes through :mod:`saidl.common.stats` (runs of two models with
the same seed share the data split and the seed, so comparisons are paired). Per claim the
summary holds ``{id, verdict, comparisons, ...}``; the sentences that state and argue each claim
are written in ``templates/ssm/report.tex``.

Usage: ``python -m saidl.ssm.analyze --grid-json grid.json --runs-dir DIR --discretisation D.json
--timing T.json --out summary.json``
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from saidl.common import stats
from saidl.common.cli import collect_main
from saidl.common.provenance import summary_provenance
from saidl.common.runs import load_run

_CURVE = {"type": "array", "items": {"type": ["number", "null"]}}
RUN_SCHEMA = {
    "type": "object",
    "required": ["id", "task", "config", "metrics", "kernels", "timing", "provenance"],
    "properties": {
        "task": {"const": "ssm"},
        "metrics": {"type": "object", "required": ["train_loss", "val_acc", "test_acc", "final_test_acc", "n_params"],
                    "properties": {k: _CURVE for k in ("train_loss", "val_acc", "test_acc")}},
        "kernels": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        "timing": {"type": "object", "required": ["wall_time_s", "mean_epoch_time_s"]},
        "provenance": {"type": "object", "required": ["git_commit", "config_hash", "dataset"]},
    },
}
ORDER = {"s4": 0, "s4d": 1, "legs": 0, "lin": 1, "inv": 2, "bilinear": 0, "zoh": 1, "torch": 0, "numpy": 1}
PER_SEED_KEYS = ("run_id", "seed")  # config keys that differ between the seeds of one model


def _twin(per: dict, models: list[str], name: str, **change) -> str | None:
    """The torch model that differs from ``name`` only in the fields of ``change``."""
    want = {k: per[name][k] for k in ("kind", "init", "disc")} | change
    return next((m for m in models if per[m]["backend"] == "torch"
                 and all(per[m][k] == v for k, v in want.items())), None)


def comparisons(per: dict, models: list[str]) -> dict:
    """Claims and comparisons of the final test accuracy, each from ``stats.compare`` (paired)."""
    torch_models = [m for m in models if per[m]["backend"] == "torch"]

    def cmp(a: str, b: str) -> dict:
        return {**stats.compare(per[a]["final"], per[b]["final"], paired=True), "a": a, "b": b}

    claims = {}
    # the discretisation: ZOH against bilinear, for every SSM that the grid trains with both
    disc = {per[b]["kind"] + ("" if per[b]["kind"] == "s4" else "-" + per[b]["init"]): cmp(z, b)
            for b in torch_models if per[b]["disc"] == "bilinear"
            for z in [_twin(per, torch_models, b, disc="zoh")] if z}
    if disc:
        claims["zoh_vs_bilinear"] = {"id": "zoh_vs_bilinear", "verdict": stats.claim_verdict(list(disc.values())),
                                     "comparisons": disc}
    # S4 (DPLR, LegS) against S4D-Lin, under each discretisation that both are trained with
    dplr = {per[s]["disc"]: cmp(s, d) for s in torch_models if per[s]["kind"] == "s4"
            for d in [_twin(per, torch_models, s, kind="s4d", init="lin")] if d}
    if dplr:
        claims["s4_vs_s4d"] = {"id": "s4_vs_s4d", "verdict": stats.claim_verdict(list(dplr.values())),
                               "comparisons": dplr}
    other = {}
    inv = next((m for m in torch_models if per[m]["kind"] == "s4d" and per[m]["init"] == "inv"), None)
    lin = _twin(per, torch_models, inv, init="lin") if inv else None
    if inv and lin:
        other["lin_vs_inv"] = cmp(lin, inv)
    numpy_models = [m for m in models if per[m]["backend"] == "numpy"]
    twin = next((m for m in torch_models if (per[m]["kind"], per[m]["init"], per[m]["disc"]) == ("s4d", "lin", "zoh")), None)
    if numpy_models and twin:
        other["numpy_vs_torch"] = cmp(numpy_models[0], twin)
    arms = {m: per[m]["final"] for m in torch_models}
    best = stats.best(arms, paired=True) if arms else {"top": None, "set": [], "verdict": stats.TOO_FEW}
    best = {k: v for k, v in best.items() if k != "comparisons"} | {"n": min((per[m]["final"]["n"] for m in arms), default=0)}
    return {"claims": claims, "comparisons": other, "best": best}


def disc_facts(discretisation: dict) -> dict:
    """Numbers the discretisation section argues from, per initialisation: the first step size at
    which each method is unstable (max |A-bar| > 1), the slope of log error against log dt over
    the step sizes up to ``small_dt_max`` (1: first order), and the step size above which the
    fastest mode of the system turns more than pi radians per step (the Nyquist limit)."""
    from saidl.ssm.kernels import s4d_init

    out = {}
    n = discretisation["state"]
    for init in sorted({r["init"] for r in discretisation["rows"]}):
        rows = sorted((r for r in discretisation["rows"] if r["init"] == init), key=lambda r: r["dt"])
        fastest = float(s4d_init(n, init).imag.abs().max())
        facts = {"nyquist_dt": math.pi / fastest if fastest > 0 else None, "unstable": {}, "slope": {},
                 "radius_at_max_dt": {}, "max_dt": rows[-1]["dt"], "small_dt_max": 0.01}
        for m in ("euler", "bilinear", "zoh"):
            mine = [r for r in rows if r["method"] == m]
            facts["unstable"][m] = next((r["dt"] for r in mine if r["spectral_radius"] > 1.0), None)
            small = [r for r in mine if r["dt"] <= facts["small_dt_max"] * (1 + 1e-9) and r["rel_error"]]
            facts["slope"][m] = (float(np.polyfit(np.log([r["dt"] for r in small]), np.log([r["rel_error"] for r in small]), 1)[0])
                                 if len(small) >= 2 else None)
            facts["radius_at_max_dt"][m] = mine[-1]["spectral_radius"]
        out[init] = facts
    return out


def timing_facts(timing: dict) -> dict:
    """Per kernel path, the ratio of its times at the two largest lengths it was timed at."""
    out = {}
    for path in dict.fromkeys(r["path"] for r in timing["rows"]):
        rows = sorted((r for r in timing["rows"] if r["path"] == path), key=lambda r: r["length"])
        if len(rows) >= 2:
            a, b = rows[-2], rows[-1]
            out[path] = {"from": a["length"], "to": b["length"], "length_ratio": b["length"] / a["length"],
                         "time_ratio": b["seconds"] / a["seconds"]}
    return out


def collect(grid: dict[str, dict], runs_dir: Path, discretisation: dict, timing: dict) -> dict:
    runs = {rid: load_run(runs_dir / f"{rid}.json", cfg, RUN_SCHEMA) for rid, cfg in grid.items()}
    models = sorted({c["model"]: c for c in grid.values()}.values(),
                    key=lambda c: (ORDER[c["backend"]], ORDER[c["kind"]], ORDER[c["init"]], ORDER[c["disc"]]))
    models = [c["model"] for c in models]
    seeds = sorted({c["seed"] for c in grid.values()})
    per_model = {}
    for name in models:
        # one run per seed, in seed order, so that paired comparisons match seed with seed
        group = sorted((r for r in runs.values() if r["config"]["model"] == name), key=lambda r: r["config"]["seed"])
        m = [g["metrics"] for g in group]
        cfg = group[0]["config"]
        per_model[name] = {
            "kind": cfg["kind"], "init": cfg["init"], "disc": cfg["disc"], "backend": cfg["backend"],
            "d_model": cfg["d_model"], "n_layers": cfg["n_layers"], "d_state": cfg["d_state"],
            "n_train": cfg["n_train"], "epochs": cfg["epochs"], "lr": cfg["lr"], "ssm_lr": cfg["ssm_lr"],
            "weight_decay": cfg["weight_decay"], "batch_size": cfg["batch_size"],
            "config": {k: v for k, v in cfg.items() if k not in PER_SEED_KEYS},
            "seeds": [g["config"]["seed"] for g in group],
            "final": stats.interval([x["final_test_acc"] for x in m]),
            "val_selected": (stats.interval([x["val_selected_test_acc"] for x in m])
                             if m[0].get("val_selected_test_acc") is not None else None),
            "epoch_time_s": stats.interval([g["timing"]["mean_epoch_time_s"] for g in group]),
            "n_params": m[0]["n_params"],
            "curve": np.mean([x["test_acc"] for x in m], axis=0).tolist(),
            "loss_curve": np.mean([x["train_loss"] for x in m], axis=0).tolist(),
            "kernels": group[0]["kernels"],
        }
    first = next(iter(runs.values()))
    return {
        "task": "ssm", "scale": first["config"]["scale"], "models": models, "per_model": per_model,
        "seeds": seeds, **comparisons(per_model, models),
        "dataset": first["provenance"]["dataset"], "discretisation": discretisation, "timing": timing,
        "disc_facts": disc_facts(discretisation), "timing_facts": timing_facts(timing),
        "provenance": summary_provenance(grid, runs, [{"name": first["provenance"]["dataset"]["name"],
                                                      "checksum": first["provenance"]["dataset"]["checksum"]}]),
    }


def main(argv: list[str] | None = None) -> int:
    return collect_main(collect, __doc__.splitlines()[0], argv, extra_json=("discretisation", "timing"))


if __name__ == "__main__":
    sys.exit(main())
