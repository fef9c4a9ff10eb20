"""The context of the RL report template: the summary plus the numbers the prose needs."""

from __future__ import annotations

from saidl.common.config import full_protocol

from saidl.report.latex import Tex

# Published Hopper returns with provenance (shared/reference/td3.md, section 1). [V]: read in the
# named repository file; shown beside ours at the full scale only.
REFERENCE = [
    {"what": "TD3 paper curves (Hopper-v1, 10 seeds): max of the mean curve", "value": "3564 ± 115", "tag": "V"},
    {"what": "TD3 paper curves (Hopper-v1): final evaluation at 1M steps", "value": "3391 ± 378", "tag": "V"},
    {"what": "CleanRL td3_continuous_action.py (Hopper-v4, 3 seeds, training returns)", "value": "3135 ± 360", "tag": "V"},
]


def ret(x: float | None) -> Tex:
    return Tex("--") if x is None else Tex(f"{x:.0f}")


def _probe_gap(per: dict) -> float | None:
    """Mean held-out R^2 of the probes from the SALE embedding minus from the raw state."""
    emb = per.get("sale", {}).get("embedding")
    if not emb or "state" not in emb["probe"]:
        return None
    names = list(emb["probe"]["embedding"])
    return sum(emb["probe"]["embedding"][n] - emb["probe"]["state"][n] for n in names) / len(names)


def context(summary: dict) -> dict:
    per = summary["per_variant"]
    vs = summary["variants"]
    noisy = [v for v in vs if per[v]["noisy"]]
    best = max(vs, key=lambda v: per[v]["final"]["mean"])
    best_best = max(vs, key=lambda v: per[v]["best"]["mean"])
    best_auc = max(vs, key=lambda v: per[v]["auc"]["mean"])
    eps = per[vs[0]]["robust_eps"]

    def drop(v: str, kind: str) -> float | None:
        """Relative loss of return at the largest radius against no attack (negative: a gain)."""
        curve = per[v][f"robust_{kind}"]
        return None if not curve or curve[0] == 0 else 1.0 - curve[-1] / curve[0]

    def change(v: str, kind: str) -> Tex:
        d = drop(v, kind)
        return Tex("--") if d is None else Tex(f"{-100 * d:+.0f}\\,\\%")

    sigma_change = {v: (per[v]["sigma"][0], per[v]["sigma"][-1]) for v in noisy if per[v]["sigma"]}
    sigma_up = [v for v, (a, b) in sigma_change.items() if b > a]
    finals = [per[v]["final"]["mean"] for v in noisy]
    laws = {"spread": max(finals) - min(finals) if finals else None,
            "seed_std": sum(per[v]["final"]["std"] for v in noisy) / len(noisy) if noisy else None,
            "best": max(noisy, key=lambda v: per[v]["final"]["mean"]) if noisy else None,
            "worst": min(noisy, key=lambda v: per[v]["final"]["mean"]) if noisy else None}
    return {
        "s": summary, "per": per, "variants": vs, "noisy": noisy, "best": best, "best_best": best_best,
        "best_auc": best_auc, "eps": eps,
        "drop": drop, "change": change, "sigma_change": sigma_change, "sigma_up": sigma_up, "ret": ret, "laws": laws,
        "probe_gap": _probe_gap(per),
        "attack_worse": [v for v in vs if drop(v, "critic") is not None and drop(v, "random") is not None
                         and drop(v, "critic") > drop(v, "random")],
        "scale": summary["scale"], "is_full": full_protocol(summary["scale"]),
        "cfg": summary["config"], "random": summary["random_return"],
        "sale": "sale" in vs, "td3": "td3" in vs,
        "reference": REFERENCE if full_protocol(summary["scale"]) else [],
        "provenance": {**summary["provenance"], "scale": summary["scale"]},
        "n_runs": len(summary["provenance"]["runs"]),
        "total_minutes": summary["provenance"]["total_run_time_s"] / 60,
    }
