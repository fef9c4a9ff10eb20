"""Collect the RL run JSONs into one summary: curves, final and best returns, robustness, sigma,
the SALE embedding analysis (pooled over seeds), and the claims of the report.

Every number over seeds is a :func:`saidl.common.stats.interval`, and every claim carries the
:func:`saidl.common.stats.compare` dicts it rests on and its :func:`saidl.common.stats.claim_verdict`
(the runs of all variants share their seeds, so comparisons are paired by seed). Variants may train
for different numbers of steps (per-variant budgets): every comparison between variants is made at
the evaluation steps both reached (:func:`matched`). The attack study is paired per episode and
pooled over seeds (its unit is an episode), and runs only for the runs whose config asks for it. The sentences
that state the claims live in ``templates/rl/report.tex``.

Usage: ``python -m saidl.rl.analyze --grid-json grid.json --runs-dir DIR --out summary.json``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from saidl.common.cli import collect_main
from saidl.common.provenance import summary_provenance
from saidl.common import stats as S
from saidl.common.runs import load_run
from saidl.rl import embedding as E

RUN_SCHEMA = {
    "type": "object",
    "required": ["id", "task", "config", "metrics", "timing", "provenance"],
    "properties": {
        "task": {"const": "rl"},
        "metrics": {"type": "object", "required": ["eval_steps", "eval_return", "final_return", "best_return",
                                                   "robustness", "random_return"]},
        "timing": {"type": "object", "required": ["wall_time_s", "updates_per_s"]},
    },
}


# Run-config keys that may differ between variants at one scale (per-variant budgets; the attack
# study only where the run asks for it). Every other key is shared by all runs of a scale.
BUDGET_KEYS = ("total_steps", "start_steps", "eval_every", "attack")
NOT_SETTINGS = ("run_id", "seed", "variant", "exploration", "noisy", "sale")
ORDER = ["td3", "noisy-gaussian", "noisy-uniform", "noisy-laplace", "noisy-beta", "noisy-gamma", "sale"]


def _band(curves: np.ndarray) -> tuple[list, list]:
    """Per column of (seeds, evals): the t-interval's bounds over seeds (the mean where n < 2)."""
    cols = [S.interval(curves[:, j].tolist()) for j in range(curves.shape[1])]
    return ([c["mean"] if c["lo"] is None else c["lo"] for c in cols],
            [c["mean"] if c["hi"] is None else c["hi"] for c in cols])


def _curves(m: list[dict]) -> tuple[list[int], np.ndarray]:
    """The evaluation steps and the (seeds, evals) returns of one variant's runs (its runs share
    their budget; a shorter run, e.g. an old JSON, cuts every curve to the common prefix)."""
    n = min(len(x["eval_return"]) for x in m)
    return list(m[0]["eval_steps"][:n]), np.asarray([x["eval_return"][:n] for x in m], dtype=float)


def sigma_summary(m: list[dict], steps: list[int]) -> dict | None:
    """Learned |sigma| per noisy layer over training: per layer the mean and t-band over seeds at
    step 0 (initialisation) and at every evaluation, and the change from initialisation to the
    last evaluation, paired by seed (``better``: sigma grew, ``worse``: it shrank)."""
    rows = [x.get("noisy_sigma_layers") for x in m]
    if not all(rows) or any(r is None or any(v is None for v in r) for r in rows):
        return None
    n = min(len(r) for r in rows)
    arr = np.asarray([r[:n] for r in rows], dtype=float)  # (seeds, evals, layers)
    init = [x.get("noisy_sigma_layers_init") for x in m]
    has_init = all(i is not None for i in init)
    if has_init:
        arr = np.concatenate([np.asarray(init, dtype=float)[:, None, :], arr], axis=1)
    x_steps = ([0] if has_init else []) + list(steps[:n])
    layers = []
    for j in range(arr.shape[2]):
        a = arr[:, :, j]
        lo, hi = _band(a)
        first, last = S.interval(a[:, 0].tolist()), S.interval(a[:, -1].tolist())
        layers.append({"mean": a.mean(0).tolist(), "lo": lo, "hi": hi, "first": first, "last": last,
                       "change": S.compare(a[:, -1].tolist(), a[:, 0].tolist(), paired=True),
                       "seeds": a.tolist()})
    return {"steps": x_steps, "from_init": has_init, "n_layers": int(arr.shape[2]), "layers": layers}


def robustness_summary(m: list[dict]) -> dict | None:
    """The attack study of one variant, pooled over its seeds; None unless every run has it.

    The unit is an episode: the clean, random and critic evaluations of a run reset the same
    episodes, so the return drop (clean - attacked) and the difference random - critic are paired
    per episode and pooled over seeds (n = episodes per seed x seeds). Runs written before the
    per-episode record fall back to one value per seed (its mean)."""
    rob = [x.get("robustness") for x in m]
    if not rob or any(r is None for r in rob):
        return None
    eps = list(rob[0]["eps"])
    per_episode = all("clean_episodes" in r for r in rob)
    if per_episode:
        clean = [v for r in rob for v in r["clean_episodes"]]
        att = {k: [[v for r in rob for v in r[f"{k}_episodes"][i]] for i in range(len(eps))] for k in ("random", "critic")}
    else:
        i0 = eps.index(0.0) if 0.0 in eps else 0
        clean = [r["random"][i0] for r in rob]
        att = {k: [[r[k][i] for r in rob] for i in range(len(eps))] for k in ("random", "critic")}
    out = {
        "eps": eps, "unit": "episode" if per_episode else "seed", "n_seeds": len(rob), "n": len(clean),
        "per_seed": len(clean) // len(rob), "random_law": rob[0].get("random_law", "uniform"),
        "clean": S.interval(clean),
        **{k: [S.interval(v) for v in att[k]] for k in ("random", "critic")},
        # return drop under each attack, paired per episode; "better": the attack lowers the return
        "drop": {k: [None if e <= 0 else S.compare(clean, att[k][i], paired=True) for i, e in enumerate(eps)]
                 for k in ("random", "critic")},
        # random - critic, paired per episode; "better": the critic attack lowers the return more
        "critic_vs_random": [None if e <= 0 else S.compare(att["random"][i], att["critic"][i], paired=True)
                             for i, e in enumerate(eps)],
        "clean_length": S.interval([r["clean_length"] for r in rob if "clean_length" in r]),
    }
    if all("clean_lengths" in r for r in rob):
        out["lengths"] = {"clean": S.interval([v for r in rob for v in r["clean_lengths"]]),
                          **{k: [S.interval([v for r in rob for v in r[f"{k}_lengths"][i]]) for i in range(len(eps))]
                             for k in ("random", "critic")}}
    return out


def collect(grid: dict[str, dict], runs_dir: Path) -> dict:
    runs = {rid: load_run(runs_dir / f"{rid}.json", cfg, RUN_SCHEMA) for rid, cfg in grid.items()}
    variants = list(dict.fromkeys(c["variant"] for c in sorted(grid.values(), key=lambda c: c["run_id"])))
    variants.sort(key=lambda v: ORDER.index(v) if v in ORDER else len(ORDER))
    cfgs = [r["config"] for r in runs.values()]
    first = next(iter(runs.values()))
    shared = {k: v for k, v in first["config"].items()
              if k not in NOT_SETTINGS and all(k in c and c[k] == v for c in cfgs)}
    varying = sorted({k for c in cfgs for k in c if k not in NOT_SETTINGS and k not in shared})
    per = {}
    for v in variants:
        group = sorted((r for r in runs.values() if r["config"]["variant"] == v), key=lambda r: r["config"]["seed"])
        m = [g["metrics"] for g in group]
        steps, curves = _curves(m)
        lo, hi = _band(curves)
        sig = [x["noisy_sigma"] for x in m]
        c0 = group[0]["config"]
        per[v] = {
            **{k: c0[k] for k in ("exploration", "noisy", "sale")},
            "seeds": [g["config"]["seed"] for g in group],
            # this variant's budget (the keys that may differ between variants)
            "budget": {k: c0.get(k, True if k == "attack" else None) for k in (*BUDGET_KEYS, *varying)},
            "final": S.interval([x["final_return"] for x in m]), "best": S.interval([x["best_return"] for x in m]),
            "steps": steps, "curve_mean": curves.mean(0).tolist(),
            "curve_std": (curves.std(0, ddof=1) if len(m) > 1 else np.zeros(curves.shape[1])).tolist(),
            "curve_lo": lo, "curve_hi": hi, "seed_curves": curves.tolist(),
            "auc": S.interval([float(np.mean(c)) for c in curves]),
            "random_return": S.interval([x["random_return"] for x in m]),
            "sigma": (np.mean(np.asarray(sig, dtype=float), 0).tolist() if sig[0] and sig[0][0] is not None else None),
            "sigma_layers": sigma_summary(m, steps),
            "robustness": robustness_summary(m),
            "updates_per_s": S.interval([g["timing"]["updates_per_s"] for g in group]),
            "embedding": E.summarise([x["embedding"] for x in m]) if m[0].get("embedding") else None,
        }
        if per[v]["robustness"]:  # mean episode length without attack; which policy was attacked
            per[v]["clean_length"] = per[v]["robustness"]["clean_length"]
            policies = [x.get("attack_policy") for x in m]
            per[v]["robustness"]["policy"] = None if any(p is None for p in policies) else {
                "rule": policies[0]["rule"], "steps": [p["step"] for p in policies],
                "eval_return": S.interval([p["eval_return"] for p in policies])}
        if per[v]["embedding"]:
            per[v]["embedding"]["verdicts"] = probe_verdicts(per[v]["embedding"])
    budgets = {v: per[v]["budget"] for v in variants}
    return {
        "task": "rl", "scale": first["config"]["scale"], "variants": variants, "per_variant": per,
        "seeds": sorted({c["seed"] for c in grid.values()}),
        # the settings every run shares; the per-variant budgets are in protocol
        "config": shared, "varying": varying,
        "protocol": {"budgets": budgets,
                     "uniform": all(b == budgets[variants[0]] for b in budgets.values()),
                     "same_steps": len({b["total_steps"] for b in budgets.values()}) == 1,
                     "attacked": [v for v in variants if per[v]["robustness"]],
                     "max_steps": max(b["total_steps"] for b in budgets.values()),
                     "min_steps": min(b["total_steps"] for b in budgets.values())},
        "matched": matched(per, variants),
        # one random-policy return per seed (every variant of a seed measures the same one)
        "random_return": S.interval(per[variants[0]]["random_return"]["values"]),
        "claims": claims(per, variants),
        "dataset": first["provenance"]["dataset"],
        "provenance": summary_provenance(grid, runs, [{"name": first["config"]["env_id"], "checksum": "simulator, no data file"}]),
    }


def matched(per: dict, names: list[str]) -> dict | None:
    """The variants' returns at a matched budget: the evaluation steps every one of them has (up
    to the shortest run's last), the return at the last of them (``final``) and the mean return
    over them (``auc``, the area under the curve up to the matched budget over its length), per
    seed. None when the variants share no evaluation step."""
    common = sorted(set.intersection(*(set(per[v]["steps"]) for v in names)))
    if not common:
        return None
    out = {"step": common[-1], "steps": common, "final": {}, "auc": {}}
    for v in names:
        idx = [per[v]["steps"].index(s) for s in common]
        rows = [[c[i] for i in idx] for c in per[v]["seed_curves"]]
        out["final"][v] = S.interval([r[-1] for r in rows])
        out["auc"][v] = S.interval([float(np.mean(r)) for r in rows])
    return out


def probe_verdicts(emb: dict) -> dict:
    """Per probe target and comparison (A_vs_B of embedding.COMPARISONS): the stats comparison of
    the held-out R^2 values of A and B, paired by (seed, fold): the same held-out episodes."""
    out = {}
    for k in emb["targets"]:
        out[k] = {}
        for a, b in E.COMPARISONS:
            if a in emb["probe"] and b in emb["probe"]:
                va, vb = emb["probe"][a][k]["values"], emb["probe"][b][k]["values"]
                out[k][f"{a}_vs_{b}"] = S.compare(va, vb, paired=len(va) == len(vb))
    return out


def _paired(per: dict, a: str, b: str) -> bool:
    """Runs of two variants share their seeds (same seed list, same order): compare per seed."""
    return per[a]["seeds"] == per[b]["seeds"]


def claims(per: dict, variants: list[str]) -> dict:
    """The report's claims: per claim an id, its stats verdict and the comparisons it rests on.
    Every comparison between variants is at a matched budget (:func:`matched`): variants may
    train for different numbers of steps."""
    out: dict[str, dict] = {}

    def gain(a: str, b: str, cid: str) -> dict | None:
        mt = matched(per, [a, b])
        if mt is None:
            return None
        final = S.compare(mt["final"][a], mt["final"][b], paired=_paired(per, a, b))
        auc = S.compare(mt["auc"][a], mt["auc"][b], paired=_paired(per, a, b))
        return {"id": cid, "verdict": S.claim_verdict([final, auc]), "final": final, "auc": auc,
                "step": mt["step"], "steps": mt["steps"], "matched": mt,
                "budgets": {a: per[a]["budget"]["total_steps"], b: per[b]["budget"]["total_steps"]}}

    # 2(a): does noisy-net (independent Gaussian) exploration gain return over TD3's action noise?
    if "noisy-gaussian" in variants and "td3" in variants:
        c = gain("noisy-gaussian", "td3", "noisy_gain")
        if c:
            out["noisy_gain"] = c
    # 2(a): do the noise laws differ? The best set by the return at their matched budget, and
    # every pair's comparison.
    noisy = [v for v in variants if per[v]["noisy"]]
    mt = matched(per, noisy) if len(noisy) > 1 else None
    if mt:
        paired = all(_paired(per, noisy[0], v) for v in noisy)
        at = mt["final"]
        best = S.best({v: at[v] for v in noisy}, paired=paired)
        by_mean = sorted(noisy, key=lambda v: -at[v]["mean"])

        def vs(a: str, b: str) -> dict:
            return S.compare(at[a], at[b], paired=_paired(per, a, b))

        pairs = [{"a": a, "b": b, **vs(a, b)} for i, a in enumerate(by_mean) for b in by_mean[i + 1:]]
        top_worst = vs(by_mean[0], by_mean[-1])
        out["noise_laws"] = {"id": "noise_laws", "verdict": S.claim_verdict([top_worst]), "best": best,
                             "top": by_mean[0], "worst": by_mean[-1], "top_vs_worst": top_worst,
                             "step": mt["step"], "at": at,
                             "decided": [p for p in pairs if p["verdict"] in (S.BETTER, S.WORSE)],
                             "n_pairs": len(pairs)}
    # 2(a): the learned sigma of each noisy layer, last evaluation against initialisation, paired
    # by seed: "better" = it grew, "worse" = it shrank.
    cells = [{"variant": v, "layer": j, **layer["change"]} for v in noisy if per[v]["sigma_layers"]
             for j, layer in enumerate(per[v]["sigma_layers"]["layers"])]
    if cells:
        out["sigma"] = {"id": "sigma", "verdict": S.claim_verdict(cells), "cells": cells,
                        "grew": [c for c in cells if c["verdict"] == S.BETTER],
                        "shrank": [c for c in cells if c["verdict"] == S.WORSE],
                        "undecided": [c for c in cells if c["verdict"] == S.NO_DIFFERENCE],
                        "too_few": all(c["verdict"] == S.TOO_FEW for c in cells),
                        "mean_up": [c for c in cells if (c["diff"] or 0) > 0],
                        "mean_down": [c for c in cells if (c["diff"] or 0) < 0]}
    # 2(b): at each radius, does the critic attack lower the return more than random noise in the
    # same L-inf ball (a random corner: never smaller in norm)? Paired per episode (the same reset
    # seeds), pooled over seeds. Oriented so that "better" means the critic attack hurts more.
    attacked = [v for v in variants if per[v]["robustness"]]
    cells = []
    for v in attacked:
        r = per[v]["robustness"]
        for i, e in enumerate(r["eps"]):
            if e > 0:
                cells.append({"variant": v, "eps": e, "clean": r["clean"], "random": r["random"][i],
                              "critic": r["critic"][i], "drop_random": r["drop"]["random"][i],
                              "drop_critic": r["drop"]["critic"][i], "critic_vs_random": r["critic_vs_random"][i]})
    if cells:
        cmps = [c["critic_vs_random"] for c in cells]
        verdicts = [c["verdict"] for c in cmps]

        def where(verdict: str, key: str = "critic_vs_random") -> list[dict]:
            return [{"variant": c["variant"], "eps": c["eps"]} for c in cells if c[key]["verdict"] == verdict]

        out["critic_attack"] = {
            "id": "critic_attack", "verdict": S.claim_verdict(cmps), "cells": cells, "attacked": attacked,
            "not_attacked": [v for v in variants if v not in attacked],
            "eps": max(c["eps"] for c in cells), "unit": per[attacked[0]]["robustness"]["unit"],
            "stronger": where(S.BETTER), "weaker": where(S.WORSE), "undecided": where(S.NO_DIFFERENCE),
            "too_few": verdicts.count(S.TOO_FEW) == len(verdicts),
            "mean_lower": [{"variant": c["variant"], "eps": c["eps"]} for c in cells
                           if c["critic_vs_random"]["diff"] is not None and c["critic_vs_random"]["diff"] > 0],
            # does each attack lower the return at all (clean - attacked)?
            "drop": {k: {"verdict": S.claim_verdict([c[f"drop_{k}"] for c in cells]),
                         "lowers": where(S.BETTER, f"drop_{k}"), "raises": where(S.WORSE, f"drop_{k}"),
                         "undecided": where(S.NO_DIFFERENCE, f"drop_{k}")} for k in ("random", "critic")},
        }
        # returns that rise under attack: attacked above clean (negative drop)
        rises = [{"variant": c["variant"], "eps": c["eps"], "kind": k, **c[f"drop_{k}"]} for c in cells
                 for k in ("random", "critic") if c[f"drop_{k}"]["diff"] is not None and c[f"drop_{k}"]["diff"] < 0]
        out["attack_rise"] = {
            "id": "attack_rise",
            # the claim "returns rise under attack": supported only where a rise is stats-decided
            "verdict": S.claim_verdict([S.WORSE if c[f"drop_{k}"]["verdict"] == S.BETTER else
                                        S.BETTER if c[f"drop_{k}"]["verdict"] == S.WORSE else c[f"drop_{k}"]["verdict"]
                                        for c in cells for k in ("random", "critic")]),
            "mean_rises": rises, "decided_rises": [r for r in rises if r["verdict"] == S.WORSE],
            "n_cells": 2 * len(cells),
        }
    # Bonus (b): does SALE gain return over TD3 at a matched budget?
    if "sale" in variants and "td3" in variants:
        c = gain("sale", "td3", "sale_gain")
        if c:
            out["sale_gain"] = c
    # Which variant is best at the budget every variant reaches (paired by seed when every list
    # matches)? Whether each variant ends above a random policy is within the variant.
    paired = all(_paired(per, variants[0], v) for v in variants)
    mt = matched(per, variants)
    top = (S.best({v: mt["final"][v] for v in variants}, paired=paired) if mt else
           {"top": None, "set": [], "verdict": S.TOO_FEW, "comparisons": {}})
    above = {v: S.compare(per[v]["final"], per[v]["random_return"], paired=True) for v in variants}
    out["learned"] = {"id": "learned", "verdict": S.claim_verdict(list(above.values())), "best": top,
                      "step": mt["step"] if mt else None, "above_random": above,
                      "n_above": sum(c["verdict"] == S.BETTER for c in above.values())}
    return out


def main(argv: list[str] | None = None) -> int:
    return collect_main(collect, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
