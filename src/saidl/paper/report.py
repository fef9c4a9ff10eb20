"""The context of the paper-task report template: the summary plus the look-ups the prose needs.

No sentence of the report is written here: the claims (``summary["claims"]``, one dict per claim
with its verdict from :mod:`saidl.common.stats` and its numbers) are argued in
``templates/paper/report.tex``, one branch per verdict.
"""

from __future__ import annotations

import math

from saidl.common.config import full_protocol
from saidl.common.datasets import DATASET_NAMES
from saidl.common.stats import CLAIM_VERDICTS
from saidl.coreml.names import ANL_A, ANL_MIN_PROB, model_name
from saidl.paper.analyze import APL, best_apl, settings
from saidl.paper.reference import REFERENCE
from saidl.report.jinja import ci_filter
from saidl.report.tables import hparam_rows

# The paper's CIFAR-10 protocol (shared/reference/noisy_labels.md, sections 1 and 5).
PAPER_EPOCHS, PAPER_TRAIN_IMAGES, PAPER_BATCH = 120, 50_000, 128

# The hyperparameter table: run-config key -> (name, note). Every other key of the run config
# is appended by hparam_rows under its own name, so nothing the runs received is left out.
HPARAM_LABELS = {
    "dataset": ("dataset", "training images with noisy labels, test set clean"),
    "n_train": ("training images", "a fixed subset (data_seed)"),
    "n_val": ("validation images", "true labels; used only by the sensitivity study"),
    "n_test": ("test images", ""),
    "model": ("model", ""),
    "epochs": ("epochs", ""),
    "batch_size": ("batch size", ""),
    "lr": ("learning rate", "SGD, cosine schedule to 0"),
    "momentum": ("momentum", ""),
    "grad_clip": ("gradient-norm clip", "on the scaled loss's gradient"),
    "augment": ("augmentation", "random crop and flip when true"),
    "data_seed": ("data seed", "fixes the subsets; the run seed fixes noise and initialisation"),
    "device": ("device", ""),
}
HPARAM_SKIP = ("scale", "data_dir", "verify_checksums")


def hparams(summary: dict) -> list[dict]:
    """Rows of the hyperparameter table: the main group's run config, then what each other group
    changes, then the seeds; the loss weights of every variant are in the variants table."""
    configs = summary.get("run_configs", {})
    main = configs.get("main")
    if not main:
        return []
    rows = hparam_rows(main, {k: v for k, v in HPARAM_LABELS.items() if k in main}, skip=HPARAM_SKIP)
    for group in ("ablation", "sensitivity", "transfer"):
        cfg = configs.get(group)
        if not cfg:
            continue
        changed = {k: v for k, v in cfg.items() if k not in HPARAM_SKIP and main.get(k) != v}
        value = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in changed.items())
        rows.append({"name": f"{group} group", "value": value or "as main",
                     "note": "differences from the main group's config"})
    first = True
    for group in ("main", "ablation", "sensitivity", "transfer"):
        g = summary["groups"].get(group)
        if g:
            rows.append({"name": f"seeds, {group}", "value": ", ".join(str(s) for s in g["seeds"]),
                         "note": "a seed fixes the noisy labels and the initialisation; every variant of a "
                                 "group runs the same seeds" if first else ""})
            first = False
    return rows


class Numbers:
    """Look-ups into the summary: ``numbers.get('main', 'sym', 0.8, 'ANL-CE')`` (an interval, print
    it with ``| ci``), ``numbers.mean(...)`` (print it with ``| pct``) and friends. Nothing here
    formats a number: the template's filters do."""

    def __init__(self, summary: dict):
        self.summary = summary

    def cell(self, group: str, noise: str, eta: float, variant: str) -> dict | None:
        return self.summary["cells"].get(group, {}).get(noise, {}).get(f"{float(eta):g}", {}).get(variant)

    def mean(self, group: str, noise: str, eta: float, variant: str, what: str = "final") -> float | None:
        c = self.cell(group, noise, eta, variant)
        return None if c is None or c.get(what) is None else c[what]["mean"]

    def get(self, group: str, noise: str, eta: float, variant: str, what: str = "final") -> dict | None:
        """The interval over seeds of ``what`` (None when the cell was not run)."""
        c = self.cell(group, noise, eta, variant)
        return None if c is None else c.get(what)

    def best_apl(self, group: str, noise: str, eta: float) -> tuple[str, float] | None:
        cells = self.summary["cells"].get(group, {}).get(noise, {}).get(f"{float(eta):g}", {})
        got = best_apl(cells)
        return None if got is None else (got[0], got[1]["mean"])

    def realised_rate(self, group: str, noise: str, eta: float) -> float:
        """The share of wrong training labels the noise left at ``eta``."""
        return self.summary["noise"][group][noise][f"{float(eta):g}"]["realised_rate"]


def reference_rows(n: Numbers) -> list[dict]:
    rows = []
    for (noise, eta), variants in REFERENCE.items():
        for v, (value, tag) in variants.items():
            if n.cell("main", noise, eta, v) is not None:
                rows.append({"noise": noise, "eta": eta, "variant": v, "paper": value, "tag": tag,
                             "ours": ci_filter(n.get("main", noise, eta, v))})
    return rows


def peak(curve: list[float | None]) -> tuple[float, int] | None:
    """The largest value of a mean curve and its epoch (1-based)."""
    if not curve or any(v is None for v in curve):
        return None
    i = max(range(len(curve)), key=lambda j: curve[j])
    return curve[i], i + 1


def clean_peaks(summary: dict, noise: str, eta: float) -> list[dict]:
    """Per main variant at one setting: the peak of the clean-label fit curve, its epoch, the end value."""
    curves = summary["curves"]["main"][noise][f"{eta:g}"]
    cells = summary["cells"]["main"][noise][f"{eta:g}"]
    out = []
    for v in summary["variant_order"]:
        pk = peak(curves[v]["train_clean_acc"]) if v in curves else None
        if pk is not None:
            out.append({"variant": v, "peak": pk[0], "epoch": pk[1], "final": cells[v]["clean_fit"]["mean"]})
    return out


def fall_backs(summary: dict, noise: str, eta: float, threshold: float = 0.05) -> list[dict]:
    """Variants at one setting (main and ablation) whose last epoch lies more than ``threshold``
    below their best epoch (means over seeds), largest drop first."""
    key = f"{eta:g}"
    cells = {**summary["cells"]["main"].get(noise, {}).get(key, {}),
             **summary["cells"].get("ablation", {}).get(noise, {}).get(key, {})}
    out = [{"variant": v, "best": c["best"]["mean"], "final": c["final"]["mean"],
            "drop": c["best"]["mean"] - c["final"]["mean"]} for v, c in cells.items()]
    return sorted((r for r in out if r["drop"] > threshold), key=lambda r: -r["drop"])


def context(summary: dict) -> dict:
    n = Numbers(summary)
    main = summary["groups"]["main"]
    ds = main["dataset"]
    n_seeds = len(main["seeds"])
    claims = {c["id"]: c for c in summary["claims"]}
    verdicts = [c["verdict"] for c in summary["claims"]]
    ab = summary["design"]["ablation"]
    sens = summary["sensitivity"]
    main_settings = [(s[0], float(s[1])) for s in settings(summary, "main")]
    main_rows = [{"noise": noise, "eta": float(eta), "variants": [  # every setting run, clean labels too
        v for v in summary["variant_order"] if n.cell("main", noise, eta, v) is not None]}
        for noise, eta in settings(summary, "main", with_clean=True)]
    anl = [v for v in ("ANL-CE", "ANL-FL", "ANL-CE-ER") if v in summary["variants"]]
    apl = [v for v in APL if v in summary["variants"]]
    prov = {**summary["provenance"], "scale": summary["scale"]}
    transfer = summary["groups"].get("transfer")
    grads = summary["gradients"]["norms"]
    steps = main["epochs"] * -(-main["n_train"] // main["batch_size"])
    return {
        "summary": summary, "numbers": n, "claims": claims, "claim_list": summary["claims"],
        "provenance": prov,
        "scale": summary["scale"], "is_full": full_protocol(summary["scale"]),
        "dataset": DATASET_NAMES.get(ds, ds), "stand_in": ds != "cifar10",
        "model": model_name(main), "main": main, "n_seeds": n_seeds,
        "transfer": transfer,
        "transfer_dataset": DATASET_NAMES.get(transfer["dataset"], transfer["dataset"]) if transfer else None,
        "main_settings": main_settings, "main_rows": main_rows, "anl": anl, "apl": apl,
        "ablation": ab, "ablation_eta": float(ab["eta"]), "sensitivity": sens,
        "verdict_counts": [(v, verdicts.count(v)) for v in CLAIM_VERDICTS if verdicts.count(v)],
        "n_claims": len(verdicts),
        "anl_a": ANL_A, "anl_min_prob_exponent": math.log10(ANL_MIN_PROB),
        "reference": reference_rows(n) if full_protocol(summary["scale"]) else [],
        "total_minutes": summary["provenance"]["total_run_time_s"] / 60,
        "n_runs": len(summary["provenance"]["runs"]),
        "n_shared": len(summary["provenance"].get("shared", {})),  # Core ML's runs, trained once for both
        "grad_ratio": max(grads["MAE"]) / max(grads["NNCE"]),
        "noise_word": lambda noise: "symmetric" if noise == "sym" else "asymmetric",
        "sensitivity_cross": bool(summary["design"]["sensitivity"].get("cross")),
        "clean_peaks": clean_peaks(summary, ab["noise"], ab["eta"]),
        "fall_backs": fall_backs(summary, ab["noise"], ab["eta"]), "fall_back_threshold": 0.05,
        "sweeps": summary["sweeps"], "control": summary["scale_control"],
        "hparams": hparams(summary),
        "steps": steps, "paper_steps": PAPER_EPOCHS * -(-PAPER_TRAIN_IMAGES // PAPER_BATCH),
    }
