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
LAYER_NAMES = ("input", "hidden", "output")  # the actor's three noisy layers, input to output


def _sigma(per: dict, noisy: list[str], claim: dict | None) -> dict | None:
    """The sigma table: per noise law and noisy layer, sigma at the start and at the last
    evaluation (intervals over seeds) and the stats verdict of the change, paired by seed."""
    rows = []
    for v in noisy:
        sl = per[v].get("sigma_layers")
        if not sl:
            continue
        for j, layer in enumerate(sl["layers"]):
            name = LAYER_NAMES[j] if sl["n_layers"] == len(LAYER_NAMES) else f"layer {j + 1}"
            rows.append({"variant": v, "layer": name, "index": j, "first": layer["first"], "last": layer["last"],
                         "change": layer["change"], "first_step": sl["steps"][0], "last_step": sl["steps"][-1],
                         "from_init": sl["from_init"]})
    if not rows:
        return None

    layer_name = {(r["variant"], r["index"]): r["layer"] for r in rows}

    def names(cells: list[dict]) -> list[str]:
        return [f"{c['variant']} ({layer_name[c['variant'], c['layer']]})" for c in cells]

    return {"rows": rows, "from_init": all(r["from_init"] for r in rows),
            "grew": names(claim["grew"]) if claim else [], "shrank": names(claim["shrank"]) if claim else [],
            "n_undecided": len(claim["undecided"]) if claim else 0, "n_cells": len(rows),
            "n_mean_up": len(claim["mean_up"]) if claim else 0, "n_mean_down": len(claim["mean_down"]) if claim else 0}


def _protocol(summary: dict) -> dict:
    """The demo protocol, read from the summary: each variant's budget, which ones the attack
    study uses, and the sets of long and short variants."""
    pr = summary["protocol"]
    budgets = pr["budgets"]
    vs = summary["variants"]
    long = [v for v in vs if budgets[v]["total_steps"] == pr["max_steps"]]
    short = [v for v in vs if v not in long]
    return {**pr, "long": long, "short": short, "rows": [{"variant": v, **budgets[v]} for v in vs],
            # the budget goes to the attacked variants: all of them train longest, some others less
            "to_attack": bool(pr["attacked"]) and bool(short) and all(v in long for v in pr["attacked"]),
            "short_same": len({budgets[v]["total_steps"] for v in short}) <= 1}


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
            "below_ceiling": [r["name"] for r in rows if r["name"] not in ceiling],
            "ceiling_r2": CEILING,
            "one_step": emb["encoder_target"] == ["next_obs1"]}


def _published(per: dict, vs: list[str]) -> dict | None:
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
    return {"ours": ours, "lo": lo, "hi": hi, "steps": p["budget"]["total_steps"],
            "same_budget": p["budget"]["total_steps"] == PUBLISHED_STEPS,
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
    "attack": ("attack study", "observation attacks after training"),
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


def _attack(claims: dict, per: dict) -> dict | None:
    """The attack rows (variant, radius > 0) and the word for each verdict."""
    c = claims.get("critic_attack")
    if not c:
        return None
    first = c["attacked"][0]
    rob = per[first]["robustness"]
    return {"claim": c, "cells": c["cells"], "unit": c["unit"], "n": rob["n"], "per_seed": rob["per_seed"],
            "n_seeds": rob["n_seeds"], "main": "td3" if "td3" in c["attacked"] else first,
            "lengths": {v: per[v]["robustness"].get("lengths") for v in c["attacked"]}}


def context(summary: dict) -> dict:
    per = summary["per_variant"]
    vs = summary["variants"]
    cfg = summary["config"]
    claims = summary["claims"]
    noisy = [v for v in vs if per[v]["noisy"]]
    protocol = _protocol(summary)
    matched = summary.get("matched")
    # bold in the returns table: the best set by the statistics rule, only in the columns that
    # compare like with like (the same budget for every variant, or the matched-budget column)
    paired = all(per[v]["seeds"] == per[vs[0]]["seeds"] for v in vs)
    bold = {key: S.best({v: per[v][key] for v in vs}, paired=paired) if protocol["same_steps"] else None
            for key in ("final", "best", "auc")}
    if matched and not protocol["same_steps"]:
        bold["matched"] = S.best(matched["final"], paired=paired)
    n_seeds = len(summary["seeds"])
    top = claims["learned"]["best"]

    clean = [x for v in vs if per[v].get("clean_length") for x in per[v]["clean_length"]["values"]]
    clean_length = S.interval(clean) if clean else None
    max_steps = protocol["max_steps"]
    short_budget = max_steps < PUBLISHED_STEPS
    # a weak policy: its unattacked episodes end (fall) after less than a quarter of the time limit
    weak = clean_length is not None and clean_length["mean"] < 0.25 * cfg["max_episode_steps"]
    return {
        "summary": summary, "per_variant": per, "variants": vs, "noisy": noisy, "n_seeds": n_seeds,
        "claims": claims, "bold": {k: (b["set"] if b and b["verdict"] in ("best", "tied") and len(b["set"]) < len(vs) else [])
                                   for k, b in bold.items()},
        "top": top, "sigma": _sigma(per, noisy, claims.get("sigma")),
        "attack": _attack(claims, per),
        "protocol": protocol, "matched": matched, "max_steps": max_steps,
        "embedding": _embedding(per), "clean_length": clean_length, "weak": weak,
        "short_budget": short_budget, "published_steps": PUBLISHED_STEPS,
        "scale": summary["scale"], "is_full": full_protocol(summary["scale"]),
        "config": cfg, "random_return": summary["random_return"], "hparams": hparams(summary),
        "sale": "sale" in vs, "td3": "td3" in vs,
        "reference": REFERENCE if full_protocol(summary["scale"]) else [],
        "published": _published(per, vs) if full_protocol(summary["scale"]) else None,
        "provenance": {**summary["provenance"], "scale": summary["scale"]},
        "n_runs": len(summary["provenance"]["runs"]),
        "total_minutes": summary["provenance"]["total_run_time_s"] / 60,
    }
