"""The context of the paper-task report template: the summary plus the numbers the prose needs."""

from __future__ import annotations

from saidl.common.config import full_protocol

from saidl.coreml.names import ANL_A, ANL_MIN_PROB, DATASET_NAMES, MODEL_NAMES
from saidl.coreml.report import pct, tex_join
from saidl.paper.analyze import APL, best_apl, settings
from saidl.paper.reference import REFERENCE
from saidl.report.latex import Tex, format_pm

# The paper's CIFAR-10 protocol (shared/reference/noisy_labels.md, sections 1 and 5).
PAPER_EPOCHS, PAPER_TRAIN_IMAGES, PAPER_BATCH = 120, 50_000, 128
OUTCOME = {"win": "higher beyond the seed spread", "within noise": "higher but within the seed spread",
           "loss": "not higher", "missing": "not run"}
ETA = Tex(r"$\eta$")


def where(noise: str, eta: float) -> list:
    return [("symmetric" if noise == "sym" else "asymmetric") + " ", ETA, f" = {eta:g}"]


class Numbers:
    """Look-ups into the summary: ``n.acc('main', 'sym', 0.8, 'ANL-CE')`` and friends."""

    def __init__(self, summary: dict):
        self.s = summary

    def cell(self, group: str, noise: str, eta: float, variant: str) -> dict | None:
        return self.s["cells"].get(group, {}).get(noise, {}).get(f"{float(eta):g}", {}).get(variant)

    def mean(self, group: str, noise: str, eta: float, variant: str, what: str = "final") -> float | None:
        c = self.cell(group, noise, eta, variant)
        return None if c is None or c.get(what) is None else c[what]["mean"]

    def pct(self, group: str, noise: str, eta: float, variant: str, what: str = "final") -> Tex:
        return pct(self.mean(group, noise, eta, variant, what))

    def acc(self, group: str, noise: str, eta: float, variant: str, what: str = "final") -> Tex:
        """mean ± std over seeds in %."""
        c = self.cell(group, noise, eta, variant)
        if c is None or c.get(what) is None:
            return Tex("--")
        return format_pm(c[what]["mean"], c[what]["std"] if len(c[what]["values"]) > 1 else None)

    def best_apl(self, group: str, noise: str, eta: float) -> tuple[str, float] | None:
        cells = self.s["cells"].get(group, {}).get(noise, {}).get(f"{float(eta):g}", {})
        got = best_apl(cells)
        return None if got is None else (got[0], got[1]["mean"])

    def realised(self, group: str, noise: str, eta: float) -> Tex:
        return pct(self.s["noise"][group][noise][f"{float(eta):g}"]["realised_rate"])


def _pm(mean: float, std: float, seeds: int) -> Tex:
    return format_pm(mean, std if seeds > 1 else None)


def claim_evidence(claim: dict, n_seeds: int) -> Tex:
    """The numbers behind one claim, as one or two sentences."""
    cid, e, p = claim["id"], claim["evidence"], []
    if cid == "mechanism":
        p = ["Gradient norm with respect to the logits at p = 0.99 relative to p = 0.5 (the other classes "
             "sharing the rest equally): NNCE ", Tex(f"$\\times${e['ratio_nnce']:.2f}"), ", MAE ",
             Tex(f"$\\times${e['ratio_mae']:.2f}"), " (", Tex(r"Figure~\ref{fig:gradients}"), ")."]
    elif cid in ("anl_beats_apl", "other_dataset"):
        p = ["Last-epoch test accuracy, mean over seeds: "]
        for i, r in enumerate(e):
            p += ["; " if i else "", *where(r["noise"], r["eta"]), f": {r['variant']} ",
                  _pm(r["acc"], r["std"], n_seeds), f" vs {r['apl']} ", _pm(r["acc_apl"], r["std_apl"], n_seeds),
                  f" ({OUTCOME[r['outcome']]})"]
        p.append(".")
    elif cid == "fits_clean":
        p = ["Training labels fitted after the last epoch, ANL-CE vs NCE+MAE: "]
        for i, r in enumerate(e):
            p += ["; " if i else "", *where(r["noise"], r["eta"]), ": clean ", pct(r["clean_anl"]), " vs ",
                  pct(r["clean_mae"]), ", noisy ", pct(r["noisy_anl"]), " vs ", pct(r["noisy_mae"])]
        p.append(".")
    elif cid == "passive_swap":
        p = [*where(claim["noise"], claim["eta"]), ": NCE+NNCE (ANL-CE) ", _pm(e["acc_nnce"], e["std_nnce"], n_seeds),
             " vs NCE+MAE with the same weights and penalty ", _pm(e["acc_mae"], e["std_mae"], n_seeds),
             f" ({OUTCOME[e['outcome']]}); clean training labels fitted ", pct(e["clean_nnce"]), " vs ",
             pct(e["clean_mae"]), ", noisy labels memorised ", pct(e["noisy_nnce"]), " vs ", pct(e["noisy_mae"]), "."]
    elif cid == "l1_penalty":
        p = [*where(claim["noise"], claim["eta"]), ": with the L1 penalty ", _pm(e["acc_l1"], e["std_l1"], n_seeds)]
        for r in e["rows"]:
            p += [f"; {r['variant'].replace('ANL-CE, ', '')} ", _pm(r["acc"], r["std"], n_seeds),
                  f" (L1 {OUTCOME[r['outcome']]})"]
        p.append(".")
    elif cid == "sensitivity":
        sel = e["selected"]
        p = [*where(claim["noise"], claim["eta"]), ": the validation split picks ", Tex(r"$\alpha$"),
             f" = {sel['alpha']:g}, ", Tex(r"$\beta$"), f" = {sel['beta']:g} (validation ", pct(e["val_selected"]),
             "), whose test accuracy is ", pct(e["acc_selected"]), f" against {e['apl']}'s ", pct(e["acc_apl"]),
             f"; {e['n_beat']} of {e['n_points']} settings tried beat {e['apl']}; their test accuracy spans ",
             pct(e["acc_min"]), " to ", pct(e["acc_max"]), "."]
    elif cid == "er_asym":
        for i, r in enumerate(e):
            p += ["; " if i else "", "Asymmetric ", ETA, f" = {r['eta']:g}: ANL-CE-ER ", pct(r["acc_er"]),
                  " vs ANL-CE ", pct(r["acc_ce"]), f" ({OUTCOME[r['outcome']]})"]
        p.append(".")
    elif cid == "anl_clean":
        for i, r in enumerate(e):
            p += ["; " if i else "Clean labels: ", f"{r['variant']} ", pct(r["acc"]), " vs CE ", pct(r["acc_ce"])]
        p.append(".")
    return tex_join(*p)


def reference_rows(n: Numbers) -> list[dict]:
    rows = []
    for (noise, eta), variants in REFERENCE.items():
        for v, (value, tag) in variants.items():
            if n.cell("main", noise, eta, v) is not None:
                rows.append({"noise": noise, "eta": eta, "variant": v, "paper": value, "tag": tag,
                             "ours": n.acc("main", noise, eta, v)})
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


def context(summary: dict) -> dict:
    n = Numbers(summary)
    main = summary["groups"]["main"]
    ds = main["dataset"]
    n_seeds = len(main["seeds"])
    claims = [{**c, "evidence_tex": claim_evidence(c, n_seeds)} for c in summary["claims"]]
    verdicts = [c["verdict"] for c in claims]
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
        "s": summary, "n": n, "claims": claims, "by_id": {c["id"]: c for c in claims},
        "provenance": prov, "pct": pct,
        "scale": summary["scale"], "is_full": full_protocol(summary["scale"]),
        "dataset": DATASET_NAMES.get(ds, ds), "stand_in": ds != "cifar10",
        "model": MODEL_NAMES.get(main["model"], main["model"]), "main": main, "n_seeds": n_seeds,
        "transfer": transfer,
        "transfer_dataset": DATASET_NAMES.get(transfer["dataset"], transfer["dataset"]) if transfer else None,
        "main_settings": main_settings, "main_rows": main_rows, "anl": anl, "apl": apl,
        "ab": ab, "ab_eta": float(ab["eta"]), "sens": sens,
        "n_supported": verdicts.count("supported"), "n_partly": verdicts.count("partly supported"),
        "n_not": verdicts.count("not supported"), "n_claims": len(claims),
        "anl_a": f"{ANL_A:.3f}", "anl_min_prob": f"{ANL_MIN_PROB:g}",
        "reference": reference_rows(n) if full_protocol(summary["scale"]) else [],
        "total_minutes": summary["provenance"]["total_run_time_s"] / 60,
        "n_runs": len(summary["provenance"]["runs"]),
        "k": lambda eta: f"{float(eta):g}",
        "grad_ratio": max(grads["MAE"]) / max(grads["NNCE"]),
        "g": lambda x: f"{float(x):g}",
        "sens_cross": bool(summary["design"]["sensitivity"].get("cross")),
        "clean_peaks": clean_peaks(summary, ab["noise"], ab["eta"]),
        "sens_alphas": ", ".join(f"{a:g}" for a in sens["alphas"]),
        "sens_betas": ", ".join(f"{b:g}" for b in sens["betas"]),
        "steps": steps, "paper_steps": PAPER_EPOCHS * -(-PAPER_TRAIN_IMAGES // PAPER_BATCH),
    }
