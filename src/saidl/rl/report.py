"""The context of the RL report template: the summary plus the numbers the prose needs.

Every interpretive sentence of the template is chosen here or in the template from the summary
and the config; verdicts use one margin rule (the paper task's): A beats B when the difference of
the means exceeds the larger of the two standard deviations (over seeds, or over trajectory folds
and seeds for the embedding probes), and nothing is decided with fewer than two values a side.
"""

from __future__ import annotations

import numpy as np

from saidl.common.config import full_protocol
from saidl.report.latex import Tex

# Published Hopper returns with provenance (shared/reference/td3.md, section 1). [V]: read in the
# named repository file; shown beside ours in the full protocol (full and its rehearsal).
# ``metric``: which of our numbers is the same kind of measurement ("max_mean": the maximum over
# evaluations of the mean curve, with the seed std at that evaluation; "final": the last evaluation).
REFERENCE = [
    {"what": "TD3 paper curves (Hopper-v1, 10 seeds): max of the mean curve", "mean": 3564.07, "std": 114.74,
     "tag": "V", "metric": "max_mean", "steps": 1_000_000},
    {"what": "TD3 paper curves (Hopper-v1, 10 seeds): final evaluation at 1M steps", "mean": 3390.8, "std": 377.8,
     "tag": "V", "metric": "final", "steps": 1_000_000},
    {"what": "CleanRL td3_continuous_action.py (Hopper-v4, 3 seeds, training returns)", "mean": 3134.61,
     "std": 360.18, "tag": "V", "metric": None, "steps": 1_000_000},
]
PUBLISHED_STEPS = 1_000_000
CEILING = 0.95  # a probe quantity is "at the ceiling" when every feature set reads it with R^2 >= 0.95
SIGMA_DOWN = 0.01  # sigma moved when it ends more than 1 % away from its first value (or below its peak)


def ret(x: float | None) -> Tex:
    return Tex("--") if x is None else Tex(f"{x:.0f}")


def _values(stats_or_values) -> list[float]:
    return list(stats_or_values["values"]) if isinstance(stats_or_values, dict) else list(stats_or_values)


def margin(a, b) -> str:
    """'win' / 'loss' / 'within noise' / 'not tested' for mean(a) against mean(b), both ``stats``
    dicts or value lists over seeds: the difference must exceed the larger std to count."""
    a, b = np.asarray(_values(a), dtype=float), np.asarray(_values(b), dtype=float)
    if a.size < 2 or b.size < 2:
        return "not tested"
    diff, m = a.mean() - b.mean(), max(a.std(ddof=1), b.std(ddof=1))
    return "win" if diff > m else ("loss" if -diff > m else "within noise")


def _sigma_turns(per: dict, noisy: list[str]) -> dict:
    """Per noisy law: the evaluation step of the peak of the mean sigma, the peak, the final value,
    and whether sigma turned down after the peak (ends more than SIGMA_DOWN below it)."""
    out = {}
    for v in noisy:
        sig = per[v]["sigma"]
        if not sig:
            continue
        i = int(np.argmax(sig))
        out[v] = {"peak_step": per[v]["steps"][i], "peak": sig[i], "final": sig[-1],
                  "down": i < len(sig) - 1 and sig[-1] < (1 - SIGMA_DOWN) * sig[i]}
    return out


def _embedding(per: dict) -> dict | None:
    """The probe table and the conclusions it supports, from the pooled summary and its verdicts."""
    emb = per.get("sale", {}).get("embedding")
    if not emb:
        return None
    rows = [{"name": k, **{f: emb["probe"][f][k] for f in emb["feature_sets"]},
             **{c: emb["verdicts"][k][c]["outcome"] for c in emb["verdicts"][k]}} for k in emb["targets"]]

    def where(comparison: str, outcome: str) -> list[str]:
        return [r["name"] for r in rows if r.get(comparison) == outcome]

    return {"e": emb, "rows": rows,
            "learned": where("trained_vs_untrained", "better"), "unlearned": where("trained_vs_untrained", "worse"),
            "beats_state": where("trained_vs_state", "better"), "loses_state": where("trained_vs_state", "worse"),
            "random_beats_state": where("untrained_vs_state", "better"),
            "tested": [r["name"] for r in rows if r.get("trained_vs_state") != "not tested"],
            # quantities every feature set reads almost perfectly: the probe cannot separate them
            "ceiling": [r["name"] for r in rows if all((r[f]["mean"] or 0) >= CEILING for f in emb["feature_sets"])],
            "ceiling_r2": CEILING, "min_gap": emb.get("min_r2_gap"),
            "one_step": emb["encoder_target"] == ["next_obs1"]}


def _published(per: dict, vs: list[str], cfg: dict) -> dict | None:
    """Our TD3 numbers in the published metrics, and where they fall against the published ones."""
    if "td3" not in vs:
        return None
    p = per["td3"]
    i = int(np.argmax(p["curve_mean"]))
    ours = {"max_mean": {"mean": p["curve_mean"][i], "std": p["curve_std"][i], "step": p["steps"][i]},
            "final": {"mean": p["final"]["mean"], "std": p["final"]["std"], "step": p["steps"][-1]}}
    lo = min(r["mean"] - r["std"] for r in REFERENCE)
    hi = max(r["mean"] + r["std"] for r in REFERENCE)
    final = ours["final"]["mean"]
    return {"ours": ours, "lo": lo, "hi": hi, "same_budget": cfg["total_steps"] == PUBLISHED_STEPS,
            "position": "below" if final < lo else ("above" if final > hi else "within")}


def context(summary: dict) -> dict:
    per = summary["per_variant"]
    vs = summary["variants"]
    cfg = summary["config"]
    noisy = [v for v in vs if per[v]["noisy"]]
    best = max(vs, key=lambda v: per[v]["final"]["mean"])
    best_best = max(vs, key=lambda v: per[v]["best"]["mean"])
    best_auc = max(vs, key=lambda v: per[v]["auc"]["mean"])
    eps = per[vs[0]]["robust_eps"]
    n_seeds = len(summary["seeds"])

    def drop(v: str, kind: str) -> float | None:
        """Relative loss of return at the largest radius against no attack (negative: a gain)."""
        curve = per[v][f"robust_{kind}"]
        return None if not curve or curve[0] == 0 else 1.0 - curve[-1] / curve[0]

    def change(v: str, kind: str) -> Tex:
        d = drop(v, kind)
        if d is None:
            return Tex("--")
        pct = round(-100 * d)
        return Tex(f"{pct:+d}\\,\\%" if pct else "0\\,\\%")

    def attack_outcome(v: str) -> str:
        """The margin rule on the per-seed returns at the largest radius: does the critic attack
        lower the return more than random noise? ('win': it does, beyond the seed noise)."""
        seeds = per[v].get("robust_seeds")
        if not seeds:
            return "not tested"
        return margin([-x for x in seeds["random"]], [-x for x in seeds["critic"]])

    sigma_change = {v: (per[v]["sigma"][0], per[v]["sigma"][-1]) for v in noisy if per[v]["sigma"]}
    # sigma grew / shrank when it ends more than SIGMA_DOWN (1 %) above / below its first value
    sigma_up = [v for v, (a, b) in sigma_change.items() if b > (1 + SIGMA_DOWN) * a]
    sigma_shrank = [v for v, (a, b) in sigma_change.items() if b < (1 - SIGMA_DOWN) * a]
    sigma_turns = _sigma_turns(per, noisy)
    finals = [per[v]["final"]["mean"] for v in noisy]
    laws = {"spread": max(finals) - min(finals) if finals else None,
            "seed_std": sum(per[v]["final"]["std"] for v in noisy) / len(noisy) if noisy else None,
            "best": max(noisy, key=lambda v: per[v]["final"]["mean"]) if noisy else None,
            "worst": min(noisy, key=lambda v: per[v]["final"]["mean"]) if noisy else None}
    laws["verdict"] = margin(per[laws["best"]]["final"], per[laws["worst"]]["final"]) if len(noisy) > 1 else None
    outcomes = {v: attack_outcome(v) for v in vs}
    clean = [per[v]["clean_length"]["mean"] for v in vs if per[v].get("clean_length")]
    sale_vs_td3 = margin(per["sale"]["final"], per["td3"]["final"]) if "sale" in vs and "td3" in vs else None
    noisy_vs_td3 = (margin(per["noisy-gaussian"]["final"], per["td3"]["final"])
                    if "noisy-gaussian" in vs and "td3" in vs else None)
    return {
        "s": summary, "per": per, "variants": vs, "noisy": noisy, "best": best, "best_best": best_best,
        "best_auc": best_auc, "eps": eps, "n_seeds": n_seeds,
        "drop": drop, "change": change, "sigma_change": sigma_change, "sigma_up": sigma_up, "sigma_shrank": sigma_shrank, "ret": ret, "laws": laws,
        "sigma_turns": sigma_turns, "sigma_down": [v for v, t in sigma_turns.items() if t["down"]],
        "sigma_down_pct": int(100 * SIGMA_DOWN),
        "emb": _embedding(per), "sale_vs_td3": sale_vs_td3, "noisy_vs_td3": noisy_vs_td3,
        "attack_outcomes": outcomes,
        "attack_worse": [v for v in vs if outcomes[v] == "win"],
        "attack_tested": [v for v in vs if outcomes[v] != "not tested"],
        "attack_mean_worse": [v for v in vs if drop(v, "critic") is not None and drop(v, "random") is not None
                              and drop(v, "critic") > drop(v, "random")],
        "clean_length": (sum(clean) / len(clean)) if clean else None,
        "short_budget": cfg["total_steps"] < PUBLISHED_STEPS, "published_steps": PUBLISHED_STEPS,
        "beats_random": margin(per[best]["final"], summary["random_return"]),
        "scale": summary["scale"], "is_full": full_protocol(summary["scale"]),
        "cfg": cfg, "random": summary["random_return"],
        "sale": "sale" in vs, "td3": "td3" in vs,
        "reference": REFERENCE if full_protocol(summary["scale"]) else [],
        "published": _published(per, vs, cfg) if full_protocol(summary["scale"]) else None,
        "provenance": {**summary["provenance"], "scale": summary["scale"]},
        "n_runs": len(summary["provenance"]["runs"]),
        "total_minutes": summary["provenance"]["total_run_time_s"] / 60,
    }
