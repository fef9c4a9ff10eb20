"""The context of the RL report template: the summary plus the numbers the prose needs.

Every verdict printed comes from the claims of the summary (saidl.rl.analyze.claims, through
saidl.common.stats); this module only selects and arranges numbers, and the template chooses the
sentence by the verdict.
"""

from __future__ import annotations

import numpy as np

from saidl.common import stats as S
from saidl.common.config import full_protocol
from saidl.report.latex import Tex
from saidl.report.tables import hparam_rows

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
             **{c: emb["verdicts"][k][c]["verdict"] for c in emb["verdicts"][k]},
             "cmp": emb["verdicts"][k]} for k in emb["targets"]]

    # quantities every feature set reads almost perfectly: the probe cannot separate them, so their
    # verdicts (differences in the third decimal) are shown in the table but not interpreted
    ceiling = [r["name"] for r in rows if all((r[f]["mean"] or 0) >= CEILING for f in emb["feature_sets"])]

    def where(comparison: str, outcome: str) -> list[str]:
        return [r["name"] for r in rows if r.get(comparison) == outcome and r["name"] not in ceiling]

    return {"pooled": emb, "rows": rows,
            "learned": where("trained_vs_untrained", "better"), "unlearned": where("trained_vs_untrained", "worse"),
            "beats_state": where("trained_vs_state", "better"), "loses_state": where("trained_vs_state", "worse"),
            "random_beats_state": where("untrained_vs_state", "better"),
            "tested": [r["name"] for r in rows if r.get("trained_vs_state") not in (None, S.TOO_FEW)],
            # quantities every feature set reads almost perfectly: the probe cannot separate them
            "ceiling": ceiling,
            "ceiling_r2": CEILING,
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


# The hyperparameter table: run-config key -> (name, note); every other config key is appended.
HPARAMS = {
    "env_id": ("environment", "gymnasium MuJoCo"),
    "total_steps": ("environment steps per run", "published TD3: 1,000,000"),
    "start_steps": ("random warm-up steps", "uniform random actions before learning"),
    "max_episode_steps": ("episode time limit", "truncation keeps the bootstrap"),
    "seeds": ("seeds per variant", "shared by all variants (paired comparisons)"),
    "variants": ("variants", ""),
    "hidden": ("hidden units (2 layers)", "actor and both critics"),
    "lr": ("Adam learning rate", "actor and critics"),
    "batch_size": ("batch size", ""),
    "buffer_size": ("replay buffer size", ""),
    "gamma": ("discount $\\gamma$", ""),
    "tau": ("Polyak $\\tau$", "target networks"),
    "policy_delay": ("policy delay $d$", "critic updates per actor update"),
    "target_policy_smoothing": ("target policy smoothing", "assignment item 1(b): off"),
    "expl_noise": ("action-noise std", "td3 and sale; noisy nets use none"),
    "n_step": ("$n$ of $n$-step returns", ""),
    "prioritized": ("prioritized replay", "proportional, sum tree"),
    "per_alpha": ("PER $\\alpha$", "priority exponent"),
    "per_beta0": ("PER $\\beta_0$", "annealed to 1"),
    "eval_every": ("evaluation every (steps)", "deterministic policy"),
    "eval_episodes": ("evaluation episodes", ""),
    "attack_eps": ("attack radii $\\epsilon$", "$L_\\infty$, in state-std units"),
    "attack_steps": ("attack gradient steps", "projected gradient descent on $Q_1$"),
    "attack_episodes": ("episodes per attack and seed", ""),
    "zs_dim": ("SALE embedding size", "$z_s$ and $z_{sa}$"),
    "probe_episodes": ("probe episodes per seed", "SALE embedding analysis"),
}


def hparams(summary: dict) -> list[dict]:
    """Rows of the hyperparameter table from the run configs (the values every run shares)."""
    cfg = {**summary["config"], "seeds": summary["seeds"], "variants": summary["variants"]}
    labels = {k: v for k, v in HPARAMS.items() if k in cfg}
    rows = hparam_rows(cfg, {k: (Tex(n) if "$" in n else n, note) for k, (n, note) in labels.items()},
                       skip=("scale", "threads"))
    for r in rows:  # notes with maths are LaTeX
        if "$" in r["note"]:
            r["note"] = Tex(r["note"])
    return rows


def context(summary: dict) -> dict:
    per = summary["per_variant"]
    vs = summary["variants"]
    cfg = summary["config"]
    claims = summary["claims"]
    noisy = [v for v in vs if per[v]["noisy"]]
    # bold in the returns table: the best set of each column by the statistics rule
    paired = all(per[v]["seeds"] == per[vs[0]]["seeds"] for v in vs)
    bold = {key: S.best({v: per[v][key] for v in vs}, paired=paired) for key in ("final", "best", "auc")}
    n_seeds = len(summary["seeds"])
    top = claims["learned"]["best"]

    sigma_change = {v: (per[v]["sigma"][0], per[v]["sigma"][-1]) for v in noisy if per[v]["sigma"]}
    # sigma grew / shrank when it ends more than SIGMA_DOWN (1 %) above / below its first value
    sigma_up = [v for v, (a, b) in sigma_change.items() if b > (1 + SIGMA_DOWN) * a]
    sigma_shrank = [v for v, (a, b) in sigma_change.items() if b < (1 - SIGMA_DOWN) * a]
    sigma_turns = _sigma_turns(per, noisy)
    clean = [x for v in vs if per[v].get("clean_length") for x in per[v]["clean_length"]["values"]]
    clean_length = S.interval(clean) if clean else None
    short_budget = cfg["total_steps"] < PUBLISHED_STEPS
    # a weak policy: its unattacked episodes end (fall) after less than a quarter of the time limit
    weak = clean_length is not None and clean_length["mean"] < 0.25 * cfg["max_episode_steps"]
    return {
        "summary": summary, "per_variant": per, "variants": vs, "noisy": noisy, "n_seeds": n_seeds,
        "claims": claims, "bold": {k: (b["set"] if b["verdict"] in ("best", "tied") and len(b["set"]) < len(vs) else [])
                                   for k, b in bold.items()},
        "top": top, "sigma_change": sigma_change, "sigma_up": sigma_up, "sigma_shrank": sigma_shrank,
        "sigma_turns": sigma_turns, "sigma_down": [v for v, t in sigma_turns.items() if t["down"]],
        "sigma_threshold": SIGMA_DOWN,
        "embedding": _embedding(per), "clean_length": clean_length, "weak": weak,
        "short_budget": short_budget, "published_steps": PUBLISHED_STEPS,
        "scale": summary["scale"], "is_full": full_protocol(summary["scale"]),
        "config": cfg, "random_return": summary["random_return"], "hparams": hparams(summary),
        "sale": "sale" in vs, "td3": "td3" in vs,
        "reference": REFERENCE if full_protocol(summary["scale"]) else [],
        "published": _published(per, vs, cfg) if full_protocol(summary["scale"]) else None,
        "provenance": {**summary["provenance"], "scale": summary["scale"]},
        "n_runs": len(summary["provenance"]["runs"]),
        "total_minutes": summary["provenance"]["total_run_time_s"] / 60,
    }
