"""Collect the Core ML run JSONs into one small summary and check the paper's claims on it.

Usage: ``python -m saidl.coreml.analyze --config-json grid.json --runs-dir DIR --out summary.json``

Every interval, comparison and verdict follows the project's statistics rule
(:mod:`saidl.common.stats`): the runs of a grid share their seeds, so two settings are compared
seed by seed (a paired t-interval of the per-seed differences), and a claim's verdict is
``stats.claim_verdict`` of its comparisons. The claims hold numbers only; the sentences that
state and argue them are in ``templates/coreml/report.tex``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from saidl.common.cli import collect_main
from saidl.common.runs import load_run as load_checked_run
from saidl.common import stats
from saidl.common.stats import interval
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


def _by_seed(group: list[dict]) -> list[dict]:
    """The runs of one cell in seed order, so that two cells' value lists pair seed by seed."""
    return sorted(group, key=lambda r: r["config"]["seed"])


def _frac(values: list[float]) -> dict:
    """``interval`` of fractions (accuracies, fits), its t-interval cut to [0, 1]: the quantity
    cannot leave that range, and the cut interval keeps its coverage."""
    st = interval(values)
    if st["lo"] is not None:
        st["lo"], st["hi"] = max(0.0, st["lo"]), min(1.0, st["hi"])
    return st


def _cell(group: list[dict]) -> dict:
    """Intervals over seeds (``saidl.common.stats.interval``) of one (noise, eta, loss) cell."""
    m = [g["metrics"] for g in group]
    val = [x.get("val_selected_test_acc") for x in m]
    return {
        "seeds": [g["config"]["seed"] for g in group],
        "final": _frac([x["final_test_acc"] for x in m]),
        "best": _frac([x["best_test_acc"] for x in m]),
        "best_epoch": interval([x.get("best_test_epoch") or int(np.argmax(x["test_acc"])) + 1 for x in m]),
        "val_selected": _frac(val) if all(v is not None for v in val) else None,
        "val_epoch": (interval([x["val_selected_epoch"] for x in m])
                      if all(x.get("val_selected_epoch") is not None for x in m) else None),
        "clean_fit": _frac([x["train_clean_acc"][-1] for x in m]),
        "noisy_fit": (_frac([x["train_noisy_fit"][-1] for x in m])
                      if m[0]["train_noisy_fit"][-1] is not None else None),
        # the fit of the noisy labels at the epoch of the best test accuracy (before memorisation)
        "noisy_fit_at_best": (_frac([x["train_noisy_fit"][int(np.argmax(x["test_acc"]))] for x in m])
                              if m[0]["train_noisy_fit"][-1] is not None else None),
        "wall_time_s": interval([g["timing"]["wall_time_s"] for g in group]),
    }


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
                group = _by_seed([r for r in runs.values() if r["config"]["noise"] == n
                                  and r["config"]["eta"] == eta and r["config"]["loss"] == loss])
                if not group:
                    continue
                cells.setdefault(n, {}).setdefault(key, {})[loss] = _cell(group)
                curves.setdefault(n, {}).setdefault(key, {})[loss] = {
                    k: mean_curve(group, k) for k in ("test_acc", "train_clean_acc", "train_noisy_fit",
                                                       "train_noisy_true", "train_loss")}
            same_eta = [r for r in runs.values() if r["config"]["noise"] == n and r["config"]["eta"] == eta]
            noise.setdefault(n, {})[key] = {
                "realised_rate": _frac([r["noise"]["realised_rate"] for r in _by_seed(same_eta)
                                           if r["config"]["loss"] == same_eta[0]["config"]["loss"]]),
                "realised_transition": np.mean([r["noise"]["realised_transition"] for r in same_eta], 0).round(4).tolist(),
                "transition": same_eta[0]["noise"]["transition"],
                "n_train": same_eta[0]["noise"]["n_train"],
                "n_noisy": same_eta[0]["noise"]["n_noisy"],  # exact counts: the same for every seed
            }
    any_run = next(iter(runs.values()))
    walls = sorted(r["timing"]["wall_time_s"] for r in runs.values())
    summary = {
        "task": "coreml", "scale": first["scale"],
        "config": {k: v for k, v in first.items() if k not in ("run_id", "noise", "eta", "loss", "seed", "loss_params")},
        "loss_params": {n: {c["loss"]: c["loss_params"] for c in cfgs if c["noise"] == n} for n in ("sym", "asym")},
        "losses": losses, "etas": etas, "seeds": seeds, "classes": any_run["noise"]["classes"],
        "cells": cells, "curves": curves, "noise": noise,
        "dataset": any_run["provenance"]["dataset"],
        "timing": {"n_runs": len(walls), "min_s": walls[0], "max_s": walls[-1],
                   "median_s": float(np.median(walls)), "total_s": float(sum(walls))},
        "provenance": {
            **summary_provenance(grid, runs, [{"name": any_run["provenance"]["dataset"]["name"],
                                               "checksum": any_run["provenance"]["dataset"]["checksum"]}]),
            "run_commits": sorted({r["provenance"]["git_commit"] for r in runs.values()}),
        },
    }
    summary["best"] = best_per_cell(summary)
    summary["claims"] = check_claims(summary)
    summary["findings"] = findings(summary)
    return summary


# ------------------------------------------------------------------------------------------
# Claims of the APL paper, each checked on the summary by the statistics rule
# (saidl.common.stats). The runs of one grid share their seeds (same seed list, in seed order),
# so every comparison is paired: a t-interval of the per-seed differences. A claim is
# {id, verdict, eta, rows}; each row holds the intervals it rests on and its comparisons (the
# ``stats.compare`` dicts, oriented so that ``better`` is what the claim predicts). The sentences
# that state and argue a claim are in templates/coreml/report.tex.


def _get(summary: dict, noise: str, eta: float, loss: str, what: str = "final") -> dict | None:
    cell = summary["cells"].get(noise, {}).get(f"{eta:g}", {}).get(loss)
    return None if cell is None else cell.get(what)


def _cmp(a: dict | None, b: dict | None) -> dict | None:
    """A against B, paired by seed (None when either is missing)."""
    if a is None or b is None:
        return None
    return stats.compare(a, b, paired=True)


def best_per_cell(summary: dict) -> dict:
    """Per noise type and eta: the best loss by last-epoch accuracy (``stats.best``, paired), its
    best set (every loss not shown worse than the top) and the verdict (best, tied, too few seeds)."""
    out: dict = {}
    for noise, by_eta in summary["cells"].items():
        for key, by_loss in by_eta.items():
            b = stats.best({l: c["final"] for l, c in by_loss.items()}, paired=True)
            out.setdefault(noise, {})[key] = {"top": b["top"], "set": b["set"], "verdict": b["verdict"]}
    return out


def check_claims(summary: dict) -> list[dict]:
    """Each claim: ``{id, verdict, eta, rows}`` (see above); only claims the grid can test."""
    sym, asym = summary["etas"]["sym"], summary["etas"]["asym"]
    losses = summary["losses"]
    claims = []

    def claim(cid: str, eta: float, rows: list[dict], keys: tuple[str, ...]) -> None:
        rows = [r for r in rows if all(r.get(k) is not None for k in keys)]
        if rows:
            claims.append({"id": cid, "eta": eta, "rows": rows,
                           "verdict": stats.claim_verdict([r[k] for r in rows for k in keys])})

    pairs = [(n, v) for n, v in zip(NORMALIZED, VANILLA) if n in losses and v in losses]
    apl = [a for a in APL if a in losses]
    noisy_sym = [e for e in sym if e > 0]
    if noisy_sym:
        hi = max(noisy_sym)
        # 1. The vanilla losses are not robust: accuracy falls from clean labels to the highest
        # noise rate, and at that rate it falls after an early peak (they memorise the noise). The
        # peak is the epoch chosen on the (noisy) validation split, which the test set does not
        # influence; only runs without a validation split fall back on the test-selected best
        # epoch, which is biased upwards (a maximum over epochs).
        rows = []
        for l in (v for v in VANILLA if v in losses):
            clean, noisy = _get(summary, "sym", 0.0, l), _get(summary, "sym", hi, l)
            val = _get(summary, "sym", hi, l, "val_selected")
            peak = val if val is not None else _get(summary, "sym", hi, l, "best")
            rows.append({"loss": l, "clean": clean, "noisy": noisy, "peak": peak,
                         "peak_kind": "validation" if val is not None else "test",
                         "noisy_fit": _get(summary, "sym", hi, l, "noisy_fit"),
                         "drop": _cmp(clean, noisy), "fall": _cmp(peak, noisy)})
        claim("vanilla_collapse", hi, rows, ("drop", "fall") if 0.0 in sym else ("fall",))
        # 2. The normalized losses are more robust than their vanilla counterparts at high noise.
        claim("normalized_robust", hi, [
            {"normalized": n, "vanilla": v, "acc_normalized": _get(summary, "sym", hi, n),
             "acc_vanilla": _get(summary, "sym", hi, v),
             "cmp": _cmp(_get(summary, "sym", hi, n), _get(summary, "sym", hi, v))} for n, v in pairs], ("cmp",))
        # 4. APL beats CE and its active (normalized) loss alone at high noise.
        rows = []
        for a in apl:
            active = a.split("+")[0]
            acc, act, ce = (_get(summary, "sym", hi, x) for x in (a, active, "CE"))
            rows.append({"loss": a, "active": active, "acc": acc, "acc_active": act, "acc_ce": ce,
                         "vs_ce": _cmp(acc, ce), "vs_active": _cmp(acc, act)})
        claim("apl_robust", hi, [r for r in rows if r["vs_ce"] is not None], ("vs_ce", "vs_active")
              if all(r["vs_active"] is not None for r in rows) else ("vs_ce",))
    if 0.0 in sym:
        # 3. The normalized losses alone underfit: on clean labels the vanilla loss is higher.
        claim("normalized_underfit", 0.0, [
            {"normalized": n, "vanilla": v, "acc_normalized": _get(summary, "sym", 0.0, n),
             "acc_vanilla": _get(summary, "sym", 0.0, v),
             "cmp": _cmp(_get(summary, "sym", 0.0, v), _get(summary, "sym", 0.0, n))} for n, v in pairs], ("cmp",))
        # 5. APL keeps (or raises) CE's clean accuracy: "better" means APL above CE.
        claim("apl_clean", 0.0, [
            {"loss": a, "acc": _get(summary, "sym", 0.0, a), "acc_ce": _get(summary, "sym", 0.0, "CE"),
             "cmp": _cmp(_get(summary, "sym", 0.0, a), _get(summary, "sym", 0.0, "CE"))} for a in apl], ("cmp",))
    if asym:
        hi = max(asym)
        # 6. Under asymmetric (class-dependent) noise, APL beats CE.
        claim("apl_asym", hi, [
            {"loss": a, "acc": _get(summary, "asym", hi, a), "acc_ce": _get(summary, "asym", hi, "CE"),
             "cmp": _cmp(_get(summary, "asym", hi, a), _get(summary, "asym", hi, "CE"))} for a in apl], ("cmp",))
    return claims


# ------------------------------------------------------------------------------------------
# Findings the report explains (issue 13): CE's epoch-wise best against APL's last epoch, and
# two APL pairs that differ only in their active loss giving nearly the same accuracy.

PROBES = {  # probability vectors (label = class 0) at which the loss gradients are compared
    "uniform prediction": None,
    "p_y = 0.5": ("label", 0.5),
    "p_y = 0.9": ("label", 0.9),
    "wrong class 0.9, p_y = 0.02": ("wrong", 0.9, 0.02),
}


def _probe_probs(spec, k: int) -> list[float]:
    if spec is None:
        return [1.0 / k] * k
    if spec[0] == "label":
        return [spec[1]] + [(1 - spec[1]) / (k - 1)] * (k - 1)
    _, wrong, py = spec
    return [py, wrong] + [(1 - wrong - py) / (k - 2)] * (k - 2)


def gradient_probe(loss_params: dict, k: int) -> list[dict]:
    """For each APL family that shares its passive loss (NCE+X and NFL+X), at each probe point:
    the gradient norms (w.r.t. the logits) of alpha * active and beta * passive as the losses are
    built for training (``saidl.coreml.losses.build_loss`` with the runs' loss parameters), and
    ||grad(NFL+X) - grad(NCE+X)|| / ||grad(NCE+X)||: how far apart the two pairs' updates are."""
    import torch

    from saidl.coreml.losses import build_loss

    def grad(name: str, params: dict, probs: list[float]) -> "torch.Tensor":
        z = torch.log(torch.tensor([probs], dtype=torch.float64)).requires_grad_(True)
        build_loss(name, k, params)(z, torch.tensor([0])).backward()
        return z.grad[0]

    rows = []
    for passive in ("MAE", "RCE"):
        a, b = f"NCE+{passive}", f"NFL+{passive}"
        if a not in loss_params or b not in loss_params:
            continue
        pa, pb = loss_params[a], loss_params[b]
        for label, spec in PROBES.items():
            probs = _probe_probs(spec, k)
            g_nce = pa.get("alpha", 1.0) * grad("NCE", {}, probs)
            g_nfl = pb.get("alpha", 1.0) * grad("NFL", {"gamma": pb.get("gamma", 0.5)}, probs)
            g_pas_a = pa.get("beta", 1.0) * grad(passive, {}, probs)
            g_pas_b = pb.get("beta", 1.0) * grad(passive, {}, probs)
            rows.append({"pair_a": a, "pair_b": b, "passive": passive, "probe": label,
                         "nce": float(g_nce.norm()), "nfl": float(g_nfl.norm()),
                         "passive_norm": float(g_pas_a.norm()),
                         "rel_diff": float(((g_nfl + g_pas_b) - (g_nce + g_pas_a)).norm() / (g_nce + g_pas_a).norm())})
    return rows


def findings(summary: dict) -> dict:
    losses, sym = summary["losses"], summary["etas"]["sym"]
    out: dict = {}
    noisy_sym = [e for e in sym if e > 0]
    apl = [a for a in APL if a in losses]
    if "CE" in losses and noisy_sym:
        hi = max(noisy_sym)
        g = lambda loss, what="final": _get(summary, "sym", hi, loss, what)  # noqa: E731
        ce = {k: g("CE", k) for k in ("final", "best", "best_epoch", "val_selected", "val_epoch",
                                        "noisy_fit", "noisy_fit_at_best")}
        out["ce_peak"] = {
            "eta": hi, **ce, "epochs": summary["config"]["epochs"],
            "peak_vs_last": _cmp(ce["best"], ce["final"]),
            "val_vs_last": _cmp(ce["val_selected"], ce["final"]),
            # CE's test-selected best epoch and its validation-selected epoch against each APL
            # pair's last epoch (A = CE, B = APL)
            "best_vs_apl": {a: _cmp(ce["best"], g(a)) for a in apl},
            "val_vs_apl": {a: _cmp(ce["val_selected"], g(a)) for a in apl} if ce["val_selected"] else {},
            "apl_final": {a: g(a) for a in apl},
        }
    families = []
    for passive in ("MAE", "RCE"):
        a, b = f"NCE+{passive}", f"NFL+{passive}"
        if a not in losses or b not in losses:
            continue
        cells = []
        for noise in ("sym", "asym"):
            for eta in summary["etas"][noise]:
                x, y = _get(summary, noise, eta, a), _get(summary, noise, eta, b)
                if x is None or y is None:
                    continue
                diffs = [u - v for u, v in zip(x["values"], y["values"])]
                cells.append({"noise": noise, "eta": eta, "a": x, "b": y, "cmp": _cmp(x, y), "diffs": diffs})
        if cells:
            families.append({"a": a, "b": b, "passive": passive, "cells": cells,
                             "max_abs_diff": max(abs(d) for c in cells for d in c["diffs"]),
                             "median_abs_diff": float(np.median([abs(d) for c in cells for d in c["diffs"]])),
                             "n_decided": sum(c["cmp"]["verdict"] in (stats.BETTER, stats.WORSE) for c in cells),
                             "n_cells": len(cells),
                             "n_no_difference": sum(c["cmp"]["verdict"] != stats.BETTER
                                                    and c["cmp"]["verdict"] != stats.WORSE for c in cells)})
    if families:
        # how far apart two seeds of one loss are: the median range over every (noise, eta, loss) cell
        ranges = [max(c["final"]["values"]) - min(c["final"]["values"])
                  for by_eta in summary["cells"].values() for by_loss in by_eta.values()
                  for c in by_loss.values() if c["final"]["n"] > 1]
        out["active_swap"] = {
            "families": families,
            "seed_range_median": float(np.median(ranges)) if ranges else None,
            "gradients": gradient_probe(summary["loss_params"]["sym"], len(summary["classes"])),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    return collect_main(collect, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
