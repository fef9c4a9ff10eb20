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

from saidl.common import stats
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
    """Do FID and CMMD (each embedder) order ``names`` the same way? Lower is better for all. These
    are point estimates of one run each: which model is lowest is a description, not a verdict."""
    fid = [runs[n]["fid"] for n in names]
    low_fid = names[int(np.argmin(fid))]
    out = {"runs": names, "lowest_by_fid": low_fid, "fid_order": [names[i] for i in np.argsort(fid)],
           "embedders": {}}
    for e in embedders:
        c = [runs[n]["scores"][e]["cmmd"] for n in names]
        out["embedders"][e] = {"lowest_by_cmmd": names[int(np.argmin(c))],
                               "same_lowest": names[int(np.argmin(c))] == low_fid,
                               "order": [names[i] for i in np.argsort(c)],
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
    # FID along training (every DiT with EMA snapshots): first, last, where the curve is lowest
    analysis["fid_curves"] = {rid: fid_curve(d["curve"]) for rid, d in dits.items()}
    land = [r for r in groups.get("unconditional", []) if dits[r]["attention"] in ("sdpa", "matmul", "sliding")]
    full = next((r for r in land if dits[r]["attention"] != "sliding"), None)
    swa = next((r for r in land if dits[r]["attention"] == "sliding"), None)
    if full and swa:
        analysis["swa"] = {"full": full, "sliding": swa,
                           "fid_diff": dits[swa]["fid"] - dits[full]["fid"],
                           "train_speed_ratio": dits[swa]["steps_per_s"] / dits[full]["steps_per_s"],
                           "reach": swa_reach(dits[swa])}
    cond = [r for r in groups.get("conditional", [])]
    if len(cond) >= 2:
        analysis["conditioning"] = rank_agreement(dits, cond, embedders)
    if land:
        analysis["landscape_ranking"] = rank_agreement(dits, land, embedders)
    n_study = int(study["config"]["n_study"])
    analysis["study"] = study_findings(study["metrics"], n_study)
    claims = make_claims(dits, analysis, backends["metrics"], embedders)
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
        "analysis": analysis, "claims": claims,
        "run_configs": {rid: runs[rid]["config"] for rid in sorted(runs)},
        "provenance": summary_provenance(grid, runs, datasets),
    }


def swa_reach(run: dict) -> dict:
    """The sliding-window run's window against its grid and depth, and the code path that ran
    (``attention.window_reach`` on the run's token grid, window and depth)."""
    from saidl.diffusion.attention import window_reach

    side = int(round(run["tokens"] ** 0.5))
    return window_reach(side, int(run["window"]), int(run["depth"]))


def fid_curve(curve: dict) -> dict:
    """The FID-along-training curve of one DiT, as the report describes it: its first and last
    points, its lowest point and where it lies, and whether it fell at every snapshot. Each point
    is one FID of one run (no interval)."""
    steps, fid = list(curve["step"]), list(curve["fid"])
    i = int(np.argmin(fid))
    return {"first": fid[0], "last": fid[-1], "first_step": steps[0], "last_step": steps[-1],
            "min": fid[i], "min_step": steps[i], "n_points": len(fid), "n": curve.get("n"),
            "min_at_end": i == len(fid) - 1, "falls": fid[-1] < fid[0],
            "monotone_down": all(b < a for a, b in zip(fid, fid[1:])),
            "rise_after_min": fid[-1] - fid[i]}


def hits(rate: float, n: int) -> list[float]:
    """The per-sample outcomes (1 = recognised as the class) behind a class accuracy over ``n``
    samples: ``rate`` is a mean of 0/1 values, so it fixes them up to order."""
    k = int(round(rate * n))
    return [1.0] * k + [0.0] * (n - k)


def acc_compare(a: dict, b: dict, n: int) -> dict:
    """Class accuracy of setting ``a`` against ``b`` (``stats.compare`` over the n samples of each;
    Welch, since only the accuracies are stored). The samples are the units: this interval measures
    sampling noise of one trained model, not the spread over training seeds. A difference of two
    proportions lies in [-1, 1], so the t-interval is cut to that range (its verdict, decided on
    the uncut interval, is unchanged: the cut never crosses zero)."""
    out = stats.compare(hits(a["class_acc"], n), hits(b["class_acc"], n))
    if out["lo"] is not None:
        out["lo"], out["hi"] = max(out["lo"], -1.0), min(out["hi"], 1.0)
    return out


def _step_score(row: dict) -> tuple[str, float]:
    """(name, value; higher is better) the step-count comparison uses: the Fréchet distance to
    real images of the class when there is one (negated), else the classifier's confidence."""
    if row.get("fd_probe") is not None:
        return "fd", -row["fd_probe"]
    return "confidence", row["confidence"]


def step_findings(rows: list[dict], n: int | None = None) -> dict:
    """Fewest against most sampling steps for one (sampler, variance): the score of
    :func:`_step_score` at every step count (one value each), where it is best, whether it improved
    at every step, the class accuracy of the most against the fewest steps (``stats.compare`` over
    the samples when ``n`` is given), and the wall-clock time per step count: whether it rose with
    the steps at all, and whether it grew in proportion."""
    rows = sorted(rows, key=lambda r: r["steps"])
    few, many = rows[0], rows[-1]
    metric = _step_score(few)[0]
    score = [_step_score(r)[1] for r in rows]
    gains = [b - a for a, b in zip(score, score[1:])]
    times = [r["time_s"] for r in rows]
    time_ratio = many["time_s"] / max(few["time_s"], 1e-9)
    steps_ratio = many["steps"] / few["steps"]
    monotone_time = all(b > a for a, b in zip(times, times[1:]))
    pair_ratios = [(t2 / max(t1, 1e-9)) / (s2["steps"] / s1["steps"])
                   for (s1, t1), (s2, t2) in zip(zip(rows, times), zip(rows[1:], times[1:]))]
    ibest = int(np.argmax(score))
    out = {"few": few, "many": many, "sampler": few["sampler"], "variance": few.get("variance"), "metric": metric,
           "counts": [r["steps"] for r in rows], "gain": score[-1] - score[0],
           "better_with_more": score[-1] > score[0],
           "fd_better_with_more": None if metric != "fd" else score[-1] > score[0],
           "improves_every_step": all(g > 0 for g in gains),
           "best_count": rows[ibest]["steps"], "best_at_most": ibest == len(rows) - 1,
           "diminishing": (len(rows) >= 3 and gains[0] > 0 and gains[-1] < gains[0]) if len(rows) >= 3 else None,
           "times_s": times, "ms_per_step": [1000 * t / r["steps"] for r, t in zip(rows, times)],
           "time_ratio": time_ratio, "steps_ratio": steps_ratio, "time_monotone": monotone_time,
           "time_proportional": monotone_time and all(0.6 <= q <= 1.4 for q in pair_ratios)}
    if n:
        out["acc"] = acc_compare(many, few, n)
    out["mid"] = rows[len(rows) // 2] if len(rows) >= 3 else None
    return out


def guidance_findings(g: list[dict], n: int | None) -> dict:
    """Guidance scales, lowest against highest: class accuracy (``stats.compare`` over the samples),
    confidence, diversity and pixel spread (one value each), and the plain conditional setting
    (scale 1, when it ran) against unconditional sampling (scale 0)."""
    lo, hi = g[0], g[-1]
    out = {"lo": lo, "hi": hi, "rows": g, "acc_up": hi["class_acc"] > lo["class_acc"],
           "diversity_down": hi["diversity"] < lo["diversity"],
           "pixel_std_down": hi["pixel_std_across_samples"] < lo["pixel_std_across_samples"],
           "confidence_up": hi["confidence"] > lo["confidence"]}
    if n:
        out["acc"] = acc_compare(hi, lo, n)
        out["acc_vs_lo"] = {str(r["cfg_scale"]): acc_compare(r, lo, n) for r in g[1:]}
    one = next((r for r in g if r["cfg_scale"] == 1.0), None)
    if one is not None and lo["cfg_scale"] == 0.0:
        above = [r for r in g if r["cfg_scale"] > 1.0]
        out["plain"] = {"row": one, "uncond": lo, "hits": int(round(one["class_acc"] * n)) if n else None,
                        "acc_up": one["class_acc"] > lo["class_acc"],
                        "confidence_up": one["confidence"] > lo["confidence"],
                        "fd_change": None if one.get("fd_probe") is None or lo.get("fd_probe") is None
                        else one["fd_probe"] - lo["fd_probe"],
                        "first_above": above[0] if above else None}
        if n:
            out["plain"]["acc"] = acc_compare(one, lo, n)
            if above:
                out["plain"]["acc_next"] = acc_compare(above[0], one, n)
    return out


def study_findings(m: dict, n: int | None = None) -> dict:
    """Guidance: lowest vs highest scale; steps: fewest vs most, for each sampler (``n``: samples
    per setting, for the class-accuracy comparisons)."""
    g = sorted((r for r in m["rows"] if r["part"] == "guidance"), key=lambda r: r["cfg_scale"])
    out = {}
    if len(g) >= 2:
        out["guidance"] = guidance_findings(g, n)
    # one entry per (sampler, DDPM variance): "ddpm" / "ddim" for the model's own, "ddpm-fixed_small"
    # for a comparison variance (steps_variances)
    native = m.get("variance_type", "fixed_small")
    arms: dict[str, list[dict]] = {}
    for r in (r for r in m["rows"] if r["part"] == "steps"):
        v = r.get("variance")
        arms.setdefault(r["sampler"] if v in (None, native) else f"{r['sampler']}-{v}", []).append(r)
    steps = {k: step_findings(rows, n) for k, rows in sorted(arms.items())}
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


def one_run(a: float, b: float) -> dict:
    """A against B when each is one number of one run (lower is better): ``stats.compare`` says
    ``too few seeds``, and the report prints the difference without a verdict."""
    return stats.compare([a], [b], higher_is_better=False)


def make_claims(dits: dict, analysis: dict, backends: dict, embedders: list[str]) -> dict:
    """Per claim of the report: ``{id, verdict, ...}``, each comparison a ``stats.compare`` dict
    oriented so that ``better`` is what the claim predicts. The sentences are in the template."""
    claims: dict[str, dict] = {}
    st = analysis["study"]
    g = st.get("guidance")
    if g and "acc" in g:  # 1(a): the maximum guidance scale raises class accuracy over scale 0
        claims["guidance"] = {"id": "guidance", "verdict": stats.claim_verdict([g["acc"]]), "acc": g["acc"],
                              "lo": g["lo"]["cfg_scale"], "hi": g["hi"]["cfg_scale"]}
        if "plain" in g and "acc" in g["plain"]:  # scale 1 (the label alone) against scale 0
            claims["plain_cfg"] = {"id": "plain_cfg", "verdict": stats.claim_verdict([g["plain"]["acc"]]),
                                   "acc": g["plain"]["acc"], "acc_next": g["plain"].get("acc_next")}
    arms = {k: f["acc"] for k, f in st.get("steps", {}).items() if "acc" in f}
    if arms:  # 1(b): more sampling steps raise class accuracy (per sampler)
        claims["steps"] = {"id": "steps", "verdict": stats.claim_verdict(list(arms.values())), "arms": arms}
    ran = {r["backend"]: r for r in backends["rows"] if r["ran"]}
    if "matmul" in ran:  # 2(a): every other exact backend samples faster than plain matmul attention
        cmp = {b: stats.compare(r["times_s"], ran["matmul"]["times_s"], higher_is_better=False)
               for b, r in ran.items() if b not in ("matmul", "sliding")}
        fastest = stats.best({b: r["times_s"] for b, r in ran.items() if b != "sliding"}, higher_is_better=False)
        claims["backends"] = {"id": "backends", "verdict": stats.claim_verdict(list(cmp.values())), "vs_matmul": cmp,
                              "fastest": fastest, "times": {b: stats.interval(r["times_s"]) for b, r in ran.items()},
                              "xformers_ran": "xformers" in ran}
    swa = analysis.get("swa")
    if swa:  # 2(b): SWA is better than full attention (by FID and every CMMD; one run each)
        f, s = dits[swa["full"]], dits[swa["sliding"]]
        comps = {"fid": one_run(s["fid"], f["fid"]),
                 **{e: one_run(s["scores"][e]["cmmd"], f["scores"][e]["cmmd"]) for e in embedders}}
        lower = {k: (c["diff"] < 0) for k, c in comps.items()}
        claims["swa"] = {"id": "swa", "verdict": stats.claim_verdict(list(comps.values())), "comparisons": comps,
                         "sliding_lower": lower, "n_lower": sum(lower.values()), "n_metrics": len(lower)}
    cond = [r for r in dits if dits[r]["group"] == "conditional"]
    base = next((r for r in cond if dits[r]["conditioning"] == "adaln"), None)
    if base and len(cond) > 1:  # 4: another conditioning beats adaLN (FID and every CMMD; one run each)
        per = {}
        for r in cond:
            if r == base:
                continue
            d, b = dits[r], dits[base]
            comps = {"fid": one_run(d["fid"], b["fid"]),
                     **{e: one_run(d["scores"][e]["cmmd"], b["scores"][e]["cmmd"]) for e in embedders}}
            per[r] = {"conditioning": d["conditioning"], "comparisons": comps,
                      "n_lower": sum(c["diff"] < 0 for c in comps.values()), "n_metrics": len(comps),
                      "verdict": stats.claim_verdict(list(comps.values()))}
        claims["conditioning"] = {"id": "conditioning", "base": base, "per_run": per,
                                  "verdict": stats.claim_verdict([c for p in per.values()
                                                                  for c in p["comparisons"].values()]),
                                  "fid_best": stats.best({r: [dits[r]["fid"]] for r in cond}, higher_is_better=False)}
    # 3(a): do FID and CMMD order the models the same way (point estimates, one run each)?
    agree = {}
    for key in ("conditioning", "landscape_ranking"):
        ra = analysis.get(key)
        if ra:
            agree[key] = {e: v["same_order"] for e, v in ra["embedders"].items()}
    n_agree = sum(v for a in agree.values() for v in a.values())
    claims["cmmd_fid"] = {"id": "cmmd_fid", "verdict": stats.claim_verdict([]), "same_order": agree,
                          "n_same": n_agree, "n_orderings": sum(len(a) for a in agree.values())}
    return claims


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
