"""The context of the Core ML report template: the summary plus the numbers the prose needs."""

from __future__ import annotations

from saidl.common.config import full_protocol

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


def claim_evidence(claim: dict) -> Tex:
    """One sentence of numbers per claim."""
    cid, pieces = claim["id"], []
    for e in claim["evidence"]:
        if pieces:
            pieces.append("; ")
        if cid == "vanilla_collapse":
            pieces += [f"{e['loss']} ", pct(e["clean"]), " on clean labels vs ", pct(e["noisy"]),
                       ", fitting ", pct(e["noisy_fit"]),
                       " of the noisy training labels"]
        elif cid in ("normalized_robust", "normalized_underfit"):
            pieces += [f"{e['normalized']} ", pct(e["acc_normalized"]), f" vs {e['vanilla']} ", pct(e["acc_vanilla"])]
        elif cid == "apl_robust":
            pieces += [f"{e['loss']} ", pct(e["acc"]), " vs CE ", pct(e["acc_ce"]),
                       f" and {e['active']} alone ", pct(e["acc_active"])]
        else:
            pieces += [f"{e['loss']} ", pct(e["acc"]), " vs CE ", pct(e["acc_ce"])]
    where = ["clean labels"] if claim["eta"] == 0 else ["noise rate ", ETA, f" = {claim['eta']:g}"]
    return tex_join("At ", *where, " (last-epoch test accuracy, mean over seeds): ", *pieces, ".")


def reference_rows(summary: dict, n: Numbers) -> list[dict]:
    rows = []
    for (noise, eta), losses in REFERENCE.items():
        for loss, (value, tag) in losses.items():
            if n.cell(noise, eta, loss) is not None:
                rows.append({"noise": noise, "eta": eta, "loss": loss, "paper": value, "tag": tag,
                             "ours": n.acc(noise, eta, loss)})
    return rows


def context(summary: dict) -> dict:
    n = Numbers(summary)
    sym, asym = summary["etas"]["sym"], summary["etas"]["asym"]
    hi = max(sym) if sym else None
    losses = summary["losses"]
    claims = [{**c, "evidence_tex": claim_evidence(c)} for c in summary["claims"]]
    apl = [l for l in APL if l in losses]
    ds = summary["dataset"]["name"]
    prov = {**summary["provenance"], "scale": summary["scale"]}
    return {
        "s": summary, "n": n, "claims": claims, "provenance": prov,
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
