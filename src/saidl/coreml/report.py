"""The context of the Core ML report template: the summary plus the numbers the prose needs."""

from __future__ import annotations

from saidl.common.config import full_protocol

from saidl.coreml.analyze import (CLEAN_TOLERANCE, COLLAPSE_NOISY_FIT, COLLAPSE_RATIO, MARGIN_RULE, compare)
from saidl.coreml.data import ASYM_MAPS
from saidl.coreml.names import APL, DATASET_NAMES, MODEL_NAMES, NORMALIZED, RCE_CONSTANT, VANILLA
from saidl.coreml.reference import REFERENCE
from saidl.report.latex import Tex, escape_tex, format_pm



def pct(x: float | None) -> Tex:
    return Tex("--") if x is None else Tex(f"{100 * x:.1f}\\,\\%")


class Numbers:
    """Look-ups into the summary for the template: ``n.acc('sym', 0.8, 'CE')`` and friends."""

    def __init__(self, summary: dict):
        self.s = summary

    def cell(self, noise: str, eta: float, loss: str) -> dict | None:
        return self.s["cells"].get(noise, {}).get(f"{eta:g}", {}).get(loss)

    def mean(self, noise: str, eta: float, loss: str, what: str = "final") -> float | None:
        c = self.cell(noise, eta, loss)
        return None if c is None or c.get(what) is None else c[what]["mean"]

    def acc(self, noise: str, eta: float, loss: str, what: str = "final") -> Tex:
        """mean ± std over seeds in %, e.g. ``52.3 $\\pm$ 1.2``."""
        c = self.cell(noise, eta, loss)
        if c is None or c.get(what) is None:
            return Tex("--")
        return format_pm(c[what]["mean"], c[what]["std"] if len(c[what]["values"]) > 1 else None)

    def pct(self, noise: str, eta: float, loss: str, what: str = "final") -> Tex:
        return pct(self.mean(noise, eta, loss, what))

    def best(self, noise: str, eta: float, losses) -> tuple[str, float] | None:
        got = [(l, self.mean(noise, eta, l)) for l in losses if self.mean(noise, eta, l) is not None]
        return max(got, key=lambda t: t[1]) if got else None

    def span(self, noise: str, eta: float, losses) -> Tex:
        """The lowest to the highest mean final accuracy of ``losses``, e.g. ``77.8--79.5\\,\\%``."""
        got = [m for m in (self.mean(noise, eta, l) for l in losses) if m is not None]
        if not got:
            return Tex("--")
        return Tex(f"{100 * min(got):.1f}--{100 * max(got):.1f}\\,\\%")

    def realised(self, noise: str, eta: float) -> Tex:
        r = self.s["noise"][noise][f"{eta:g}"]["realised_rate"]
        return pct(r["mean"])


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


def tex_join(*parts) -> Tex:
    """Concatenate pieces: Tex pieces stay raw, everything else is escaped."""
    return Tex("".join(p if isinstance(p, Tex) else escape_tex(p) for p in parts))


ETA = Tex(r"$\eta$")


# How a comparison came out under the margin rule (saidl.coreml.analyze.compare), in words.
OUTCOME = {"win": "higher beyond the seed spread", "within noise": "higher but within the seed spread",
           "loss": "not higher", "missing": "not run"}


def pm(mean: float | None, std: float | None, n_seeds: int) -> Tex:
    """mean ± std in % (no ± with one seed), or -- when missing."""
    if mean is None:
        return Tex("--")
    return format_pm(mean, std if n_seeds > 1 and std is not None else None)


def claim_evidence(claim: dict, n_seeds: int = 1) -> Tex:
    """One sentence of numbers per claim, each comparison with its outcome under the margin rule."""
    cid, pieces = claim["id"], []
    for e in claim["evidence"]:
        if pieces:
            pieces.append("; ")
        if cid == "vanilla_collapse":
            drop = {"win": "a drop beyond the seed spread", "within noise": "a drop within the seed spread",
                    "missing": "not run"}.get(e["outcome"], "no collapse by the rule above")
            pieces += [f"{e['loss']} ", pm(e["clean"], e["std_clean"], n_seeds), " on clean labels vs ",
                       pm(e["noisy"], e["std_noisy"], n_seeds), ", fitting ", pct(e["noisy_fit"]),
                       f" of the noisy training labels ({drop})"]
        elif cid == "normalized_robust":
            pieces += [f"{e['normalized']} ", pm(e["acc_normalized"], e["std_normalized"], n_seeds),
                       f" vs {e['vanilla']} ", pm(e["acc_vanilla"], e["std_vanilla"], n_seeds),
                       f" ({e['normalized']} {OUTCOME[e['outcome']]})"]
        elif cid == "normalized_underfit":
            pieces += [f"{e['normalized']} ", pm(e["acc_normalized"], e["std_normalized"], n_seeds),
                       f" vs {e['vanilla']} ", pm(e["acc_vanilla"], e["std_vanilla"], n_seeds),
                       f" ({e['vanilla']} {OUTCOME[e['outcome']]})"]
        elif cid == "apl_robust":
            pieces += [f"{e['loss']} ", pm(e["acc"], e["std"], n_seeds), " vs CE ", pm(e["acc_ce"], e["std_ce"], n_seeds),
                       f" and {e['active']} alone ", pm(e["acc_active"], e["std_active"], n_seeds),
                       f" ({e['loss']} against the closer of the two: {OUTCOME[e['outcome']]})"]
        elif cid == "apl_clean":
            pieces += [f"{e['loss']} ", pm(e["acc"], e["std"], n_seeds), " vs CE ", pm(e["acc_ce"], e["std_ce"], n_seeds),
                       " (within one point or better)" if e["outcome"] == "win" else " (more than one point below)"]
        else:
            pieces += [f"{e['loss']} ", pm(e["acc"], e["std"], n_seeds), " vs CE ", pm(e["acc_ce"], e["std_ce"], n_seeds),
                       f" ({OUTCOME[e['outcome']]})"]
    where = ["On clean labels"] if claim["eta"] == 0 else ["At noise rate ", ETA, f" = {claim['eta']:g}"]
    spread = ", mean $\\pm$ standard deviation over seeds" if n_seeds > 1 else ", one seed"
    return tex_join(*where, " (last-epoch test accuracy", Tex(spread), "): ", *pieces, ".")


def reference_rows(summary: dict, n: Numbers) -> list[dict]:
    rows = []
    for (noise, eta), losses in REFERENCE.items():
        for loss, (value, tag) in losses.items():
            if n.cell(noise, eta, loss) is not None:
                rows.append({"noise": noise, "eta": eta, "loss": loss, "paper": value, "tag": tag,
                             "ours": n.acc(noise, eta, loss)})
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
    ``[{"gamma": "0.5", "losses": ["FL", "NFL"]}]`` (from the runs' loss parameters)."""
    groups: dict[str, list[str]] = {}
    for loss in summary["losses"]:
        for noise in ("sym", "asym"):
            gamma = summary["loss_params"].get(noise, {}).get(loss, {}).get("gamma")
            if gamma is not None:
                names = groups.setdefault(f"{gamma:g}", [])
                if loss not in names:
                    names.append(loss)
    return [{"gamma": g, "losses": names} for g, names in groups.items()]


def context(summary: dict) -> dict:
    n = Numbers(summary)
    sym, asym = summary["etas"]["sym"], summary["etas"]["asym"]
    hi = max(sym) if sym else None
    losses = summary["losses"]
    claims = [{**c, "evidence_tex": claim_evidence(c, len(summary["seeds"]))} for c in summary["claims"]]
    apl = [l for l in APL if l in losses]
    ds = summary["dataset"]["name"]
    prov = {**summary["provenance"], "scale": summary["scale"]}
    ce_hi = n.cell("sym", hi, "CE") if hi is not None else None
    ce_fit = ce_hi["noisy_fit"]["mean"] if ce_hi and ce_hi.get("noisy_fit") else None
    hi_asym = max(asym) if asym else None
    apl_fits = [n.mean("asym", hi_asym, a, "noisy_fit") for a in apl] if asym else []
    apl_fits = [f for f in apl_fits if f is not None]
    ce_asym_fit = n.mean("asym", hi_asym, "CE", "noisy_fit") if asym else None
    n_seeds = len(summary["seeds"])
    return {
        "s": summary, "n": n, "claims": claims, "provenance": prov,
        "verdicts": {c["id"]: c["verdict"] for c in summary["claims"]},
        "margin_rule": MARGIN_RULE,
        "margin_seeds": ("With one seed there is no spread, so every positive difference counts as a win."
                         if n_seeds < 2 else ""),
        "collapse_ratio": COLLAPSE_RATIO, "collapse_fit": COLLAPSE_NOISY_FIT, "clean_tolerance": CLEAN_TOLERANCE,
        "sym_split": noise_split(summary, "sym", hi), "asym_split": noise_split(summary, "asym", hi_asym),
        "focal": focal_gammas(summary),
        "grad_clip": (f"{summary['config']['grad_clip']:g}" if summary["config"].get("grad_clip") else None),
        # CE's epoch-wise best against its last epoch, under the margin rule ('win': it fell)
        "ce_peak": compare(ce_hi["best"], ce_hi["final"]) if ce_hi else None,
        "ce_memorises": ce_fit is not None and ce_fit > COLLAPSE_NOISY_FIT,
        "apl_asym_fit": (sum(apl_fits) / len(apl_fits) - ce_asym_fit
                         if apl_fits and ce_asym_fit is not None else None),
        "mean_run_s": summary["provenance"]["total_run_time_s"] / max(1, len(summary["provenance"]["runs"])),
        "scale": summary["scale"], "is_full": full_protocol(summary["scale"]),
        "dataset": DATASET_NAMES.get(ds, ds), "stand_in": ds != "cifar10",
        "model": MODEL_NAMES.get(summary["config"]["model"], summary["config"]["model"]),
        "sym": sym, "asym": asym, "hi": hi, "hi_asym": max(asym) if asym else None,
        "losses": losses, "apl": apl, "vanilla": [l for l in VANILLA if l in losses],
        "normalized": [l for l in NORMALIZED if l in losses],
        "best_apl_hi": n.best("sym", hi, apl) if hi is not None else None,
        "best_apl_clean": n.best("sym", 0.0, apl) if 0.0 in sym else None,
        "best_apl_asym": n.best("asym", max(asym), apl) if asym else None,
        "asym_pairs": asym_pairs(ds, summary["classes"]),
        "rce_const": f"{RCE_CONSTANT:.4f}",
        "reference": reference_rows(summary, n) if full_protocol(summary["scale"]) else [],
        "pct": pct,
        "k": lambda eta: f"{eta:g}",
        "total_minutes": summary["provenance"]["total_run_time_s"] / 60,
        "n_runs": len(summary["provenance"]["runs"]),
    }
