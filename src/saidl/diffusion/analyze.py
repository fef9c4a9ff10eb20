"""Collect the diffusion task's runs and evaluations into one summary, with the comparisons the
report states (each computed here from the numbers, never typed).

Usage: ``python -m saidl.diffusion.analyze --grid-json grid.json --runs-dir DIR --evals-dir DIR
--references-dir DIR --study study.json --backends backends.json --out summary.json``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from saidl.common.cli import exit_code
from saidl.common.errors import RunSchemaError
from saidl.common.io import read_json, write_json
from saidl.common.provenance import summary_provenance
from saidl.common.runs import load_run

RUN_SCHEMA = {
    "type": "object",
    "required": ["id", "task", "kind", "config", "metrics", "timing", "provenance"],
    "properties": {"task": {"const": "diffusion"}, "kind": {"enum": ["autoencoder", "dit"]},
                   "timing": {"type": "object", "required": ["wall_time_s"]},
                   "provenance": {"type": "object", "required": ["git_commit", "config_hash", "dataset"]}},
}


def _read(path: Path, what: str) -> dict:
    if not Path(path).is_file():
        raise RunSchemaError(f"{what} {path} is missing: rerun snakemake (it rebuilds missing inputs)")
    return read_json(path)


def spearman(a: list[float], b: list[float]) -> float | None:
    """Rank correlation of two equally long lists (None for fewer than 3 values)."""
    if len(a) < 3:
        return None
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def rank_agreement(runs: dict, names: list[str], embedders: list[str]) -> dict:
    """Do FID and CMMD (each embedder) order ``names`` the same way? Lower is better for all."""
    fid = [runs[n]["fid"] for n in names]
    best_fid = names[int(np.argmin(fid))]
    out = {"runs": names, "best_by_fid": best_fid, "embedders": {}}
    for e in embedders:
        c = [runs[n]["scores"][e]["cmmd"] for n in names]
        out["embedders"][e] = {"best_by_cmmd": names[int(np.argmin(c))], "same_best": names[int(np.argmin(c))] == best_fid,
                               "same_order": list(np.argsort(c)) == list(np.argsort(fid)), "spearman": spearman(fid, c)}
    return out


def collect(grid: dict, runs_dir: Path, evals_dir: Path, refs_dir: Path, study: dict, backends: dict) -> dict:
    runs = {rid: load_run(runs_dir / f"{rid}.json", cfg, RUN_SCHEMA) for rid, cfg in grid.items()}
    aes = {r["config"]["group"]: {"psnr_db": r["metrics"]["psnr_db"], "latent_scale": r["metrics"]["latent_scale"],
                                  "n_params": r["metrics"]["n_params"], "latent_shape": r["metrics"]["latent_shape"],
                                  "steps": r["config"]["ae_steps"], "n_train": r["config"]["n_train"],
                                  "train_time_s": r["timing"]["train_time_s"], "loss": r["metrics"]["history"]}
           for r in runs.values() if r["kind"] == "autoencoder"}
    dits, groups = {}, {}
    for rid, r in runs.items():
        if r["kind"] != "dit":
            continue
        ev = _read(evals_dir / f"{rid}.json", "evaluation")
        c, m = r["config"], r["metrics"]
        em = ev["metrics"]
        dits[rid] = {"group": c["group"], "dataset": c["dataset"], "conditioning": c["conditioning"],
                     "attention": c["attention"], "window": c["window"], "n_params": m["n_params"],
                     "tokens": m["tokens"], "latent_shape": m["latent_shape"], "steps": c["steps"],
                     "batch_size": c["batch_size"], "lr": c["lr"], "hidden_size": c["hidden_size"],
                     "depth": c["depth"], "num_heads": c["num_heads"], "patch_size": c["patch_size"],
                     "num_classes": c["num_classes"], "ema_decay": c["ema_decay"],
                     "train_time_s": r["timing"]["train_time_s"], "steps_per_s": r["timing"]["steps_per_s"],
                     "final_loss": m["final_loss"], "loss": m["history"], "fid": em["fid"], "scores": em["scores"],
                     "curve": em["curve"], "n_eval": em["n"], "sample_time_s": ev["timing"]["sample_time_s"],
                     "dataset_source": r["provenance"]["dataset"].get("source"), "codec": m.get("codec"),
                     "n_images": r["provenance"]["dataset"].get("n")}
        groups.setdefault(c["group"], []).append(rid)
    refs = {}
    for g in groups:
        ref = _read(refs_dir / f"{g}.json", "reference")
        # n: the reference set as realised (what the reference job embedded), not the config's size
        refs[g] = {"n": ref["metrics"]["n"], "n_requested": ref["metrics"].get("n_requested"),
                   "split": ref["metrics"].get("split", ""),
                   "embedders": ref["metrics"]["embedders"], "dims": ref["metrics"]["dims"],
                   "source": ref["provenance"]["dataset"].get("source"),
                   "notes": ref["provenance"]["dataset"].get("notes", [])}
    ev_cfg = _read(evals_dir / f"{next(iter(dits))}.json", "evaluation")["config"]
    embedders = ev_cfg["embedders"]
    analysis = {}
    # FID along training (every DiT): did it fall from the first snapshot to the end?
    analysis["fid_falls"] = {rid: {"first": d["curve"]["fid"][0], "last": d["curve"]["fid"][-1],
                                   "first_step": d["curve"]["step"][0], "last_step": d["curve"]["step"][-1],
                                   "falls": d["curve"]["fid"][-1] < d["curve"]["fid"][0]} for rid, d in dits.items()}
    land = [r for r in groups.get("unconditional", []) if dits[r]["attention"] in ("sdpa", "matmul", "sliding")]
    full = next((r for r in land if dits[r]["attention"] != "sliding"), None)
    swa = next((r for r in land if dits[r]["attention"] == "sliding"), None)
    if full and swa:
        analysis["swa"] = {"full": full, "sliding": swa,
                           "fid_diff": dits[swa]["fid"] - dits[full]["fid"],
                           "better_by_fid": swa if dits[swa]["fid"] < dits[full]["fid"] else full,
                           "better_by_cmmd": {e: (swa if dits[swa]["scores"][e]["cmmd"] < dits[full]["scores"][e]["cmmd"]
                                                  else full) for e in embedders},
                           "train_speed_ratio": dits[swa]["steps_per_s"] / dits[full]["steps_per_s"],
                           "reach": swa_reach(dits[swa])}
        analysis["swa"]["metrics_agree"] = all(b == analysis["swa"]["better_by_fid"]
                                               for b in analysis["swa"]["better_by_cmmd"].values())
    cond = [r for r in groups.get("conditional", [])]
    if len(cond) >= 2:
        analysis["conditioning"] = rank_agreement(dits, cond, embedders)
    if land:
        analysis["landscape_ranking"] = rank_agreement(dits, land, embedders)
    analysis["study"] = study_findings(study["metrics"])
    first = next(iter(runs.values()))
    datasets = list({r["provenance"]["dataset"]["checksum"]: {"name": r["provenance"]["dataset"]["source"],
                                                              "checksum": r["provenance"]["dataset"]["checksum"]}
                     for r in runs.values()}.values())
    return {
        "task": "diffusion", "scale": first["config"]["scale"], "autoencoders": aes, "runs": dits,
        "run_order": sorted(dits, key=lambda r: (dits[r]["group"] != "conditional", r)), "groups": groups,
        "references": refs, "embedders": embedders, "evaluation": ev_cfg, "codec": first["config"]["codec"],
        "study": {"config": study["config"], "run_config": study["run_config"], **study["metrics"]},
        "backends": {"config": backends["config"], "run_config": backends["run_config"], **backends["metrics"],
                     "device": backends["provenance"]["hardware"]["device"]},
        "analysis": analysis,
        "provenance": summary_provenance(grid, runs, datasets),
    }


def swa_reach(run: dict) -> dict:
    """The sliding-window run's window against its grid and depth, and the code path that ran
    (``attention.window_reach`` on the run's token grid, window and depth)."""
    from saidl.diffusion.attention import window_reach

    side = int(round(run["tokens"] ** 0.5))
    return window_reach(side, int(run["window"]), int(run["depth"]))


def _step_score(row: dict) -> tuple[str, float]:
    """(name, value; higher is better) the step-count comparison uses: the Fréchet distance to
    real images of the class when there is one (negated), else the classifier's confidence."""
    if row.get("fd_probe") is not None:
        return "fd", -row["fd_probe"]
    return "confidence", row["confidence"]


def step_findings(rows: list[dict]) -> dict:
    """Fewest against most sampling steps for one (sampler, variance): did more steps help (by the
    score of :func:`_step_score`), did the gain shrink (three or more step counts), and did time
    grow in proportion to the steps."""
    rows = sorted(rows, key=lambda r: r["steps"])
    few, many = rows[0], rows[-1]
    metric = _step_score(few)[0]
    score = [_step_score(r)[1] for r in rows]
    gains = [b - a for a, b in zip(score, score[1:])]
    time_ratio = many["time_s"] / max(few["time_s"], 1e-9)
    steps_ratio = many["steps"] / few["steps"]
    out = {"few": few, "many": many, "sampler": few["sampler"], "variance": few.get("variance"), "metric": metric,
           "counts": [r["steps"] for r in rows], "gain": score[-1] - score[0],
           "better_with_more": score[-1] > score[0],
           "fd_better_with_more": None if metric != "fd" else score[-1] > score[0],
           "diminishing": (len(rows) >= 3 and gains[0] > 0 and gains[-1] < gains[0]) if len(rows) >= 3 else None,
           "time_ratio": time_ratio, "steps_ratio": steps_ratio,
           "time_proportional": 0.6 * steps_ratio <= time_ratio <= 1.4 * steps_ratio}
    if len(rows) >= 3:
        out["mid"] = rows[len(rows) // 2]
    return out


def study_findings(m: dict) -> dict:
    """Guidance: lowest vs highest scale; steps: fewest vs most, for each sampler."""
    g = sorted((r for r in m["rows"] if r["part"] == "guidance"), key=lambda r: r["cfg_scale"])
    out = {}
    if len(g) >= 2:
        lo, hi = g[0], g[-1]
        out["guidance"] = {"lo": lo, "hi": hi, "acc_up": hi["class_acc"] > lo["class_acc"],
                           "diversity_down": hi["diversity"] < lo["diversity"],
                           "best_fd": min(g, key=lambda r: (r["fd_probe"] is None, r["fd_probe"] or 0.0))}
    # one entry per (sampler, DDPM variance): "ddpm" / "ddim" for the model's own, "ddpm-fixed_small"
    # for a comparison variance (steps_variances)
    native = m.get("variance_type", "fixed_small")
    arms: dict[str, list[dict]] = {}
    for r in (r for r in m["rows"] if r["part"] == "steps"):
        v = r.get("variance")
        arms.setdefault(r["sampler"] if v in (None, native) else f"{r['sampler']}-{v}", []).append(r)
    steps = {k: step_findings(rows) for k, rows in sorted(arms.items())}
    out["steps"] = steps
    if "ddpm" in steps and "ddim" in steps:  # which sampler changed less from the fewest to the most steps
        out["ddim_more_robust"] = abs(steps["ddim"]["gain"]) < abs(steps["ddpm"]["gain"])
    other = next((k for k in steps if k.startswith("ddpm-")), None)
    if "ddpm" in steps and other:  # the model's own variance against the comparison, step count by step count
        own = {r["steps"]: _step_score(r)[1] for r in arms["ddpm"]}
        alt = {r["steps"]: _step_score(r)[1] for r in arms[other]}
        counts = sorted(set(own) & set(alt))
        diff = {c: own[c] - alt[c] for c in counts}  # > 0: the model's own variance scored better
        out["variance"] = {"native": native, "other": steps[other]["variance"], "key": other,
                           "metric": steps["ddpm"]["metric"], "diff": {str(c): d for c, d in diff.items()},
                           "own_better_at": [c for c in counts if diff[c] > 0],
                           "gap_few": abs(diff[counts[0]]) if counts else None,
                           "gap_many": abs(diff[counts[-1]]) if counts else None}
        if counts:
            out["variance"]["matters_most_at_few"] = abs(diff[counts[0]]) > abs(diff[counts[-1]])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("grid-json", "runs-dir", "evals-dir", "references-dir", "study", "backends", "out"):
        ap.add_argument(f"--{name}", required=True, type=Path)
    a = ap.parse_args(argv)
    return exit_code(lambda: write_json(a.out, collect(read_json(a.grid_json), a.runs_dir, a.evals_dir,
                                                       a.references_dir, _read(a.study, "study"),
                                                       _read(a.backends, "backend timing"))))


if __name__ == "__main__":
    sys.exit(main())
