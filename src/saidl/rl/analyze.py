"""Collect the RL run JSONs into one summary: curves, final and best returns, robustness, sigma,
the SALE embedding analysis (pooled over seeds), and the claims of the report.

Every number over seeds is a :func:`saidl.common.stats.interval`, and every claim carries the
:func:`saidl.common.stats.compare` dicts it rests on and its :func:`saidl.common.stats.claim_verdict`
(the runs of all variants share their seeds, so comparisons are paired by seed). The sentences
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


def collect(grid: dict[str, dict], runs_dir: Path) -> dict:
    runs = {rid: load_run(runs_dir / f"{rid}.json", cfg, RUN_SCHEMA) for rid, cfg in grid.items()}
    variants = list(dict.fromkeys(c["variant"] for c in sorted(grid.values(), key=lambda c: c["run_id"])))
    order = ["td3", "noisy-gaussian", "noisy-uniform", "noisy-laplace", "noisy-beta", "noisy-gamma", "sale"]
    variants.sort(key=lambda v: order.index(v) if v in order else len(order))
    per = {}
    for v in variants:
        group = sorted((r for r in runs.values() if r["config"]["variant"] == v), key=lambda r: r["config"]["seed"])
        m = [g["metrics"] for g in group]
        curves = np.asarray([x["eval_return"] for x in m], dtype=float)
        rob = {k: np.asarray([x["robustness"][k] for x in m], dtype=float) for k in ("random", "critic")}
        sig = [x["noisy_sigma"] for x in m]
        per[v] = {
            **{k: group[0]["config"][k] for k in ("exploration", "noisy", "sale")},
            "seeds": [g["config"]["seed"] for g in group],
            "final": S.interval([x["final_return"] for x in m]), "best": S.interval([x["best_return"] for x in m]),
            "steps": m[0]["eval_steps"], "curve_mean": curves.mean(0).tolist(),
            "curve_std": (curves.std(0, ddof=1) if len(m) > 1 else np.zeros(curves.shape[1])).tolist(),
            "auc": S.interval([float(np.mean(c)) for c in curves]),
            "random_return": S.interval([x["random_return"] for x in m]),
            "robust_eps": m[0]["robustness"]["eps"],
            "robust_random": rob["random"].mean(0).tolist(), "robust_critic": rob["critic"].mean(0).tolist(),
            "robust_seeds": {k: rob[k][:, -1].tolist() for k in rob},  # per seed, at the largest radius
            "robust_seed_curves": {k: rob[k].tolist() for k in rob},  # [seed][radius]
            "sigma": (np.mean(np.asarray(sig, dtype=float), 0).tolist() if sig[0] and sig[0][0] is not None else None),
            "updates_per_s": S.interval([g["timing"]["updates_per_s"] for g in group]),
            "embedding": E.summarise([x["embedding"] for x in m]) if m[0].get("embedding") else None,
        }
        if all("clean_length" in x["robustness"] for x in m):  # mean episode length without attack
            per[v]["clean_length"] = S.interval([x["robustness"]["clean_length"] for x in m])
        if per[v]["embedding"]:
            per[v]["embedding"]["verdicts"] = probe_verdicts(per[v]["embedding"])
    first = next(iter(runs.values()))
    return {
        "task": "rl", "scale": first["config"]["scale"], "variants": variants, "per_variant": per,
        "seeds": sorted({c["seed"] for c in grid.values()}),
        "config": {k: v for k, v in first["config"].items() if k not in ("run_id", "seed", "variant",
                                                                         "exploration", "noisy", "sale")},
        # one random-policy return per seed (every variant of a seed measures the same one)
        "random_return": S.interval(per[variants[0]]["random_return"]["values"]),
        "claims": claims(per, variants),
        "dataset": first["provenance"]["dataset"],
        "provenance": summary_provenance(grid, runs, [{"name": first["config"]["env_id"], "checksum": "simulator, no data file"}]),
    }


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
    """The report's claims: per claim an id, its stats verdict and the comparisons it rests on."""
    out: dict[str, dict] = {}

    def vs(a: str, b: str, key: str) -> dict:
        return S.compare(per[a][key], per[b][key], paired=_paired(per, a, b))

    # 2(a): does noisy-net (independent Gaussian) exploration gain return over TD3's action noise?
    if "noisy-gaussian" in variants and "td3" in variants:
        final, auc = vs("noisy-gaussian", "td3", "final"), vs("noisy-gaussian", "td3", "auc")
        out["noisy_gain"] = {"id": "noisy_gain", "verdict": S.claim_verdict([final, auc]), "final": final, "auc": auc}
    # 2(a): do the noise laws differ? The best set by final return, and every pair's comparison.
    noisy = [v for v in variants if per[v]["noisy"]]
    if len(noisy) > 1:
        paired = all(_paired(per, noisy[0], v) for v in noisy)
        best = S.best({v: per[v]["final"] for v in noisy}, paired=paired)
        by_mean = sorted(noisy, key=lambda v: -per[v]["final"]["mean"])
        pairs = [{"a": a, "b": b, **vs(a, b, "final")} for i, a in enumerate(by_mean) for b in by_mean[i + 1:]]
        top_worst = vs(by_mean[0], by_mean[-1], "final")
        out["noise_laws"] = {"id": "noise_laws", "verdict": S.claim_verdict([top_worst]), "best": best,
                             "top": by_mean[0], "worst": by_mean[-1], "top_vs_worst": top_worst,
                             "decided": [p for p in pairs if p["verdict"] in (S.BETTER, S.WORSE)],
                             "n_pairs": len(pairs)}
    # 2(b): at the largest radius, does the critic attack lower the return more than random noise
    # in the same L-inf ball? Paired by seed (both evaluations reset the same episodes). Oriented so
    # that "better" means the critic attack hurts more: random minus critic.
    per_attack = {}
    for v in variants:
        r = per[v]
        if len(r["robust_eps"]) < 2:
            continue
        c = S.compare(r["robust_seeds"]["random"], r["robust_seeds"]["critic"], paired=True)
        # returns that rise under attack: attacked (largest radius) against clean, per kind
        clean = [row[0] for row in r["robust_seed_curves"]["random"]]
        rise = {k: S.compare(r["robust_seeds"][k], clean, paired=True) for k in ("random", "critic")}
        per_attack[v] = {"critic_vs_random": c, "rise": rise,
                         "clean": S.interval(clean),
                         "random": S.interval(r["robust_seeds"]["random"]),
                         "critic": S.interval(r["robust_seeds"]["critic"])}
    if per_attack:
        cmps = [a["critic_vs_random"] for a in per_attack.values()]
        verdicts = [c["verdict"] for c in cmps]
        rises = [(v, k) for v, a in per_attack.items() for k, c in a["rise"].items() if c["diff"] is not None and c["diff"] > 0]
        out["critic_attack"] = {
            "id": "critic_attack", "verdict": S.claim_verdict(cmps), "per_variant": per_attack,
            "eps": per[variants[0]]["robust_eps"][-1],
            "stronger": [v for v, a in per_attack.items() if a["critic_vs_random"]["verdict"] == S.BETTER],
            "weaker": [v for v, a in per_attack.items() if a["critic_vs_random"]["verdict"] == S.WORSE],
            "undecided": [v for v, a in per_attack.items() if a["critic_vs_random"]["verdict"] == S.NO_DIFFERENCE],
            "too_few": verdicts.count(S.TOO_FEW) == len(verdicts),
            "mean_lower": [v for v, a in per_attack.items()
                           if a["critic_vs_random"]["diff"] is not None and a["critic_vs_random"]["diff"] > 0],
        }
        out["attack_rise"] = {
            "id": "attack_rise",
            # the claim "returns rise under attack": supported only where a rise is stats-decided
            "verdict": S.claim_verdict([a["rise"][k] for a in per_attack.values() for k in ("random", "critic")]),
            "mean_rises": [{"variant": v, "kind": k, **per_attack[v]["rise"][k]} for v, k in rises],
            "decided_rises": [{"variant": v, "kind": k, **per_attack[v]["rise"][k]} for v, k in rises
                              if per_attack[v]["rise"][k]["verdict"] == S.BETTER],
            "decided_falls": [{"variant": v, "kind": k, **a["rise"][k]} for v, a in per_attack.items()
                              for k in ("random", "critic") if a["rise"][k]["verdict"] == S.WORSE],
            "n_cells": 2 * len(per_attack),
        }
    # Bonus (b): does SALE gain return over TD3?
    if "sale" in variants and "td3" in variants:
        final, auc = vs("sale", "td3", "final"), vs("sale", "td3", "auc")
        out["sale_gain"] = {"id": "sale_gain", "verdict": S.claim_verdict([final, auc]), "final": final, "auc": auc}
    # Which variant ends best (all variants; paired by seed when every list matches)?
    paired = all(_paired(per, variants[0], v) for v in variants)
    top = S.best({v: per[v]["final"] for v in variants}, paired=paired)
    above = {v: S.compare(per[v]["final"], per[v]["random_return"], paired=True) for v in variants}
    out["learned"] = {"id": "learned", "verdict": S.claim_verdict(list(above.values())), "best": top,
                      "above_random": above,
                      "n_above": sum(c["verdict"] == S.BETTER for c in above.values())}
    return out


def main(argv: list[str] | None = None) -> int:
    return collect_main(collect, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
