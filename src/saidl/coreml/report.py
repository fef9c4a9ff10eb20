"""The context of the Core ML report template: the summary plus the numbers the prose needs."""

from __future__ import annotations

import math

from saidl.common import stats
from saidl.common.config import full_protocol
from saidl.common.datasets import DATASET_NAMES
from saidl.coreml.data import ASYM_MAPS
from saidl.coreml.names import APL, NORMALIZED, RCE_CONSTANT, VANILLA, model_name
from saidl.coreml.reference import REFERENCE
from saidl.report.latex import format_pct
from saidl.report.tables import hparam_rows


class Numbers:
    """Look-ups into the summary for the template: ``numbers.get('sym', 0.8, 'CE')`` (an interval
    dict, print it with ``| ci``), ``numbers.mean('sym', 0.8, 'CE')`` (its mean, print it with
    ``| pct``). Nothing here formats a number: the template's filters do."""

    def __init__(self, summary: dict):
        self.summary = summary

    def cell(self, noise: str, eta: float, loss: str) -> dict | None:
        return self.summary["cells"].get(noise, {}).get(f"{eta:g}", {}).get(loss)

    def get(self, noise: str, eta: float, loss: str, what: str = "final") -> dict | None:
        c = self.cell(noise, eta, loss)
        return None if c is None else c.get(what)

    def mean(self, noise: str, eta: float, loss: str, what: str = "final") -> float | None:
        st = self.get(noise, eta, loss, what)
        return None if st is None else st["mean"]

    def means(self, noise: str, eta: float, losses) -> list[float]:
        """The mean final accuracies of ``losses`` that were run (the template prints their range)."""
        return [m for m in (self.mean(noise, eta, loss) for loss in losses) if m is not None]

    def realised_rate(self, noise: str, eta: float) -> float:
        """The mean share of wrong training labels the noise left at ``eta``."""
        return self.summary["noise"][noise][f"{eta:g}"]["realised_rate"]["mean"]


def asym_pairs(dataset: str, classes: list[str]) -> list[dict]:
    """The class flips of the asymmetric map as name pairs, swaps shown once as ↔."""
    mapping = ASYM_MAPS[dataset]
    out, seen = [], set()
    for src, dst in mapping.items():
        if src in seen:
            continue
        swap = mapping.get(dst) == src
        seen.update({src, dst} if swap else {src})
        out.append({"src": classes[src], "dst": classes[dst], "swap": swap})
    return out


def reference_rows(summary: dict, n: Numbers) -> list[dict]:
    rows = []
    for (noise, eta), losses in REFERENCE.items():
        for loss, (value, tag) in losses.items():
            if n.cell(noise, eta, loss) is not None:
                rows.append({"noise": noise, "eta": eta, "loss": loss, "paper": value, "tag": tag,
                             "ours": format_pct((n.get(noise, eta, loss) or {}).get("mean"), unit=False)})
    return rows


def noise_split(summary: dict, noise: str, eta: float | None) -> dict | None:
    """What the realised config's transition matrix does at ``eta``: for symmetric noise the share a
    class keeps and the share each other class gets; for asymmetric noise the share a source class
    keeps and the share moved to its target (the first pair of the map)."""
    cell = summary["noise"].get(noise, {}).get(f"{eta:g}") if eta else None
    if cell is None:
        return None
    t = cell["transition"]
    if noise == "sym":
        return {"keep": t[0][0], "other": t[0][1]}
    src, dst = next(iter(ASYM_MAPS[summary["dataset"]["name"]].items()))
    return {"keep": t[src][src], "moved": t[src][dst]}


def focal_gammas(summary: dict) -> list[dict]:
    """The focal exponent of every loss of the grid that has one, grouped by value:
    ``[{"gamma": 0.5, "losses": ["FL", "NFL"]}]`` (from the runs' loss parameters)."""
    groups: dict[float, list[str]] = {}
    for loss in summary["losses"]:
        for noise in ("sym", "asym"):
            gamma = summary["loss_params"].get(noise, {}).get(loss, {}).get("gamma")
            if gamma is not None:
                names = groups.setdefault(gamma, [])
                if loss not in names:
                    names.append(loss)
    return [{"gamma": g, "losses": names} for g, names in groups.items()]


HPARAM_LABELS = {
    "dataset": ("dataset", ""),
    "model": ("model", ""),
    "n_train": ("training images", "a class-stratified subset"),
    "n_val": ("validation images", "noisy labels, as a practitioner would have"),
    "n_test": ("test images", "clean labels, never used for selection"),
    "epochs": ("epochs", ""),
    "batch_size": ("batch size", ""),
    "lr": ("learning rate", "SGD, cosine schedule to 0 over the epochs"),
    "momentum": ("momentum", ""),
    "weight_decay": ("weight decay", ""),
    "grad_clip": ("gradient clipping", "global norm, every loss (APL protocol)"),
    "augment": ("augmentation", ""),
    "device": ("device", ""),
    "data_seed": ("data seed", "fixes the subsets; the run seed fixes noise, init and batches"),
}


def hparams(summary: dict) -> list[dict]:
    """The hyperparameter table's rows, read from the run configs (``summary['config']``), plus
    the seeds and noise rates of the grid."""
    cfg = summary["config"]
    labels = {k: v for k, v in HPARAM_LABELS.items() if k in cfg}
    rows = hparam_rows(cfg, labels, skip=("scale", "data_dir"))
    for row in rows:
        if row["name"] == "dataset":
            row["value"] = DATASET_NAMES.get(cfg["dataset"], cfg["dataset"])
            if cfg["dataset"] != "cifar10":
                row["note"] = "stands in for CIFAR-10 at this scale"
        elif row["name"] == "model":
            row["value"] = model_name(cfg)
        elif row["name"] in ("training images", "test images") and row["value"] == "none":
            row["value"], row["note"] = "all", ""
        elif row["name"] == "augmentation":
            row["value"] = "random crop (pad 4), horizontal flip" if cfg["augment"] else "none"
        elif row["name"] == "gradient clipping" and not cfg.get("grad_clip"):
            row["value"], row["note"] = "off", ""
        elif row["name"] == "verify_checksums":
            row["name"], row["note"] = "dataset checksums", "md5 of every CIFAR-10 batch"
    seeds = summary["seeds"]
    rows += [
        {"name": "seeds", "value": ", ".join(str(x) for x in seeds),
         "note": f"{len(seeds)} {'seed' if len(seeds) == 1 else 'seeds'} per setting, shared by every setting"},
        {"name": "symmetric noise rates", "value": ", ".join(f"{e:g}" for e in summary["etas"]["sym"]) or "none",
         "note": ""},
        {"name": "asymmetric noise rates", "value": ", ".join(f"{e:g}" for e in summary["etas"]["asym"]) or "none",
         "note": ""},
        {"name": "reported accuracy", "value": "last epoch", "note": "test accuracy after the last epoch"},
    ]
    return rows


def weakest(rows: list[dict], key: str) -> dict | None:
    """The row whose comparison ``key`` has the smallest difference (the claim's weakest link)."""
    got = [r for r in rows if r.get(key) is not None and r[key].get("diff") is not None]
    return min(got, key=lambda r: r[key]["diff"]) if got else None


def count_verdicts(cmps, verdict: str) -> int:
    """How many of the comparisons ``cmps`` have ``verdict``."""
    return sum(1 for c in cmps if c is not None and c["verdict"] == verdict)


def context(summary: dict) -> dict:
    n = Numbers(summary)
    sym, asym = summary["etas"]["sym"], summary["etas"]["asym"]
    noisy_sym = [e for e in sym if e > 0]
    hi = max(noisy_sym) if noisy_sym else None
    hi_asym = max(asym) if asym else None
    losses = summary["losses"]
    apl = [l for l in APL if l in losses]
    ds = summary["dataset"]["name"]
    prov = {**summary["provenance"], "scale": summary["scale"]}
    n_seeds = len(summary["seeds"])
    findings = summary.get("findings", {})
    swap = findings.get("active_swap")
    grads = swap["gradients"] if swap else []
    mae_grads = [g for g in grads if g["passive"] == "MAE"]
    return {
        "summary": summary, "numbers": n, "provenance": prov,
        "claims": {c["id"]: c for c in summary["claims"]},
        "best": summary.get("best", {}), "findings": findings, "timing": summary["timing"],
        "ce_peak": findings.get("ce_peak"), "swap": swap,
        "swap_mae": next((f for f in swap["families"] if f["passive"] == "MAE"), None) if swap else None,
        "swap_rce": next((f for f in swap["families"] if f["passive"] == "RCE"), None) if swap else None,
        # two pairs that differ only in the active loss "agree seed by seed" when the median of
        # their per-seed differences (in absolute value) is below the median range of two seeds
        # of one loss (the seed moves a run more than the swap of the active loss does) and the
        # paired comparison decides a difference in fewer than half of the settings
        "swap_agree": {f["passive"]: (swap["seed_range_median"] is not None
                                      and f["median_abs_diff"] < swap["seed_range_median"]
                                      and 2 * f["n_decided"] < f["n_cells"])
                       for f in swap["families"]} if swap else {},
        "grad_max_gap": {p: max((g["rel_diff"] for g in grads if g["passive"] == p), default=None)
                         for p in ("MAE", "RCE")},
        "grad_uniform_gap": next((g["rel_diff"] for g in grads if g["probe"] == "uniform prediction"), None),
        # the passive (MAE) gradient against the active (NCE) one at the probes where the label
        # class is predicted at least as likely as any other (p_y uniform, 0.5, 0.9)
        "mae_ratio": ([g["passive_norm"] / g["nce"] for g in mae_grads if not g["probe"].startswith("wrong")]
                      if mae_grads else []),
        "hparams": hparams(summary),
        "sym_split": noise_split(summary, "sym", hi), "asym_split": noise_split(summary, "asym", hi_asym),
        "focal_gammas": focal_gammas(summary),
        "grad_clip": summary["config"].get("grad_clip") or None,
        "scale": summary["scale"], "is_full": full_protocol(summary["scale"]),
        "dataset": DATASET_NAMES.get(ds, ds), "stand_in": ds != "cifar10",
        "model": model_name(summary["config"]),
        "sym_etas": sym, "asym_etas": asym, "high_eta": hi, "high_asym_eta": hi_asym, "noisy_sym_etas": noisy_sym,
        "losses": losses, "apl_losses": apl,
        "normalized_pairs": [(a, b) for a, b in zip(NORMALIZED, VANILLA) if a in losses and b in losses],
        "asym_pairs": asym_pairs(ds, summary["classes"]),
        "rce_constant": RCE_CONSTANT,
        "reference": reference_rows(summary, n) if full_protocol(summary["scale"]) else [],
        "weakest": weakest, "count_verdicts": count_verdicts,
        "n_seeds": n_seeds, "enough_seeds": n_seeds >= 2,
        # the half-width of a t-interval over n seeds in units of their standard deviation
        "t_factor": stats.t_quantile(n_seeds - 1) / math.sqrt(n_seeds) if n_seeds >= 2 else None,
        "total_minutes": summary["timing"]["total_s"] / 60,
        "n_runs": summary["timing"]["n_runs"],
    }
