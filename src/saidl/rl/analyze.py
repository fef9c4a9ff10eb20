"""Collect the RL run JSONs into one summary: curves, final and best returns, robustness, sigma,
and the SALE embedding analysis (pooled over seeds, with its margin-rule verdicts).

Usage: ``python -m saidl.rl.analyze --grid-json grid.json --runs-dir DIR --out summary.json``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from saidl.common.cli import collect_main
from saidl.common.provenance import summary_provenance
from saidl.common.runs import load_run, stats
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
        group = [r for r in runs.values() if r["config"]["variant"] == v]
        m = [g["metrics"] for g in group]
        curves = np.asarray([x["eval_return"] for x in m], dtype=float)
        rob = {k: np.asarray([x["robustness"][k] for x in m], dtype=float) for k in ("random", "critic")}
        sig = [x["noisy_sigma"] for x in m]
        per[v] = {
            **{k: group[0]["config"][k] for k in ("exploration", "noisy", "sale")},
            "final": stats([x["final_return"] for x in m]), "best": stats([x["best_return"] for x in m]),
            "steps": m[0]["eval_steps"], "curve_mean": curves.mean(0).tolist(),
            "curve_std": (curves.std(0, ddof=1) if len(m) > 1 else np.zeros(curves.shape[1])).tolist(),
            "auc": stats([float(np.mean(c)) for c in curves]),
            "robust_eps": m[0]["robustness"]["eps"],
            "robust_random": rob["random"].mean(0).tolist(), "robust_critic": rob["critic"].mean(0).tolist(),
            "robust_seeds": {k: rob[k][:, -1].tolist() for k in rob},  # per seed, at the largest radius
            "sigma": (np.mean(np.asarray(sig, dtype=float), 0).tolist() if sig[0] and sig[0][0] is not None else None),
            "updates_per_s": stats([g["timing"]["updates_per_s"] for g in group]),
            "embedding": E.summarise([x["embedding"] for x in m]) if m[0].get("embedding") else None,
        }
        if all("clean_length" in x["robustness"] for x in m):  # mean episode length without attack
            per[v]["clean_length"] = stats([x["robustness"]["clean_length"] for x in m])
    first = next(iter(runs.values()))
    return {
        "task": "rl", "scale": first["config"]["scale"], "variants": variants, "per_variant": per,
        "seeds": sorted({c["seed"] for c in grid.values()}),
        "config": {k: v for k, v in first["config"].items() if k not in ("run_id", "seed", "variant",
                                                                         "exploration", "noisy", "sale")},
        "random_return": stats([r["metrics"]["random_return"] for r in runs.values()]),
        "dataset": first["provenance"]["dataset"],
        "provenance": summary_provenance(grid, runs, [{"name": first["config"]["env_id"], "checksum": "simulator, no data file"}]),
    }


def main(argv: list[str] | None = None) -> int:
    return collect_main(collect, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
