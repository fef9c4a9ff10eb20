"""The context of the diffusion report template: the summary plus the numbers the prose needs."""

from __future__ import annotations

from saidl.common.config import full_protocol

from saidl.report.latex import Tex, format_num, format_pct, format_short

DATASET_TEXT = {"fashion-mnist": "Fashion-MNIST", "wallpaper-crops": "crops of outdoor photos (MATE wallpapers)",
                "landscapes": "landscape pictures", "sun397": "SUN397"}
CONDITIONING_TEXT = {"adaln": "adaLN-Zero", "in_context": "in-context tokens", "cross_attn": "cross-attention"}
EMBEDDER_TEXT = {"inception": "Inception-v3", "efficientnet-lite0": "EfficientNet-Lite0", "clip": "CLIP",
                 "siglip": "SigLIP", "align": "ALIGN"}


def dataset_text(name: str | None, run: dict | None) -> str | None:
    """How the report names a DiT run's training set; SUN397 with the counts that were realised."""
    if name == "sun397" and run and run.get("num_classes") and run.get("n_images"):
        k = run["num_classes"]
        return f"SUN397 ({k} classes, {run['n_images'] // k} images each)"
    return DATASET_TEXT.get(name, name)


def reference_text(refs: dict, names: dict[str, str | None]) -> str:
    """The FID/CMMD reference sets as the reference jobs realised them (summary ``references``:
    ``n`` images embedded, and which part of the source): e.g. '5000 of SUN397 (held-out part:
    ...) and 863 of landscape pictures (held-out part: ...)'."""
    parts = []
    for g in sorted(refs, key=lambda g: (g != "conditional", g)):
        r = refs[g]
        split = r.get("split")
        parts.append(f"{r['n']} of {names.get(g) or r.get('source')}" + (f" ({split})" if split else ""))
    return " and ".join(parts)


VARIANCE_TEXT = {"learned_range": "learned variance", "fixed_small": "fixed posterior variance"}


def _arm_name(f: dict, variance: bool = True) -> str:
    v = f.get("variance")
    return f.get("sampler", "").upper() + (f" ({VARIANCE_TEXT.get(v, v)})" if v and variance else "")


def _score_text(f: dict, row: dict) -> str:
    return format_num(row["fd_probe"], 1) if f["metric"] == "fd" else format_short(row["confidence"], 3)


def _cost_text(f: dict) -> str:
    """How sampling time behaved across the step counts, from the measured times only."""
    times = ", ".join(f"{format_num(t, 1)}\\,s at {c}" for c, t in zip(f["counts"], f["times_s"]))
    if not f["time_monotone"]:
        return (f"the time did \\textbf{{not}} rise with the number of steps ({times}); each time is one "
                "measurement, and the study job does not reserve the CPU (other jobs of the workflow may run beside it), "
                "so these timings say nothing about the cost per step")
    if f["time_proportional"]:
        return f"the time grew in proportion to the steps ({times})"
    if f["time_ratio"] < f["steps_ratio"]:
        return (f"the time rose less than in proportion ({times}): fixed costs such as decoding and "
                "warm-up weigh at this size")
    return f"the time rose more than in proportion ({times}); one timing each, on a CPU the job does not reserve"


def steps_prose(findings: dict) -> list[Tex]:
    """Item 1(b) in sentences, each one stated only when the study's numbers show it
    (``analysis.study``): per sampler the change from the fewest to the most steps, where the score
    was best and what the time did, then what the DDPM variance changed. Every score is one value
    of one model (no interval); the class-accuracy comparison is the template's claim."""
    from saidl.report.latex import escape_tex

    steps = findings.get("steps", {})
    out: list[Tex] = []
    for _, f in sorted(steps.items()):
        few, many = f["few"], f["many"]
        what = "Fr\\'echet distance (FD) to real images of the class" if f["metric"] == "fd" else "classifier confidence"
        verdict = "lower" if f["metric"] == "fd" else "higher"
        change = verdict if f["better_with_more"] else ("higher" if verdict == "lower" else "lower")
        text = (f"With {escape_tex(_arm_name(f, 'variance' in findings))}, going from {few['steps']} to {many['steps']} steps "
                f"changed the {what} from {_score_text(f, few)} to {_score_text(f, many)} ({change})")
        if len(f["counts"]) >= 3:
            mid = ", ".join(f"{_score_text(f, r)} at {r['steps']}" for r in [f["few"], f.get("mid"), f["many"]] if r)
            if f["improves_every_step"]:
                text += f", improving at every step count ({mid})"
            elif not f["best_at_most"]:
                text += (f", but not monotonically: the lowest value of this one run is at {f['best_count']} steps "
                         f"({mid})" if f["metric"] == "fd" else f", but not monotonically ({mid})")
            else:
                text += f", not monotonically ({mid})"
        text += f"; {_cost_text(f)}."
        out.append(Tex(text))
    v = findings.get("variance")
    if v:
        own = escape_tex(VARIANCE_TEXT.get(v["native"], v["native"]))
        other = escape_tex(VARIANCE_TEXT.get(v["other"], v["other"]))
        at = ", ".join(str(c) for c in v["own_better_at"])
        text = (f"DDPM with the {own} against the {other}, on the same noise: the {own} scored "
                + (f"better at {at} steps" if at else "better at no step count")
                + f" (by {'FD' if v['metric'] == 'fd' else 'confidence'}; one value per setting)")
        if v.get("matters_most_at_few") is not None:
            text += ("; the gap was largest at the fewest steps, where each reverse step is largest."
                     if v["matters_most_at_few"] else "; the gap did not shrink with more steps.")
        out.append(Tex(text))
    return out


def swa_prose(reach: dict) -> Tex:
    """What the sliding-window comparison measures at this setting and which code path ran, from
    ``analysis.swa.reach`` (window, grid and depth of the SWA run)."""
    g, w, L = reach["side"], reach["window"], reach["depth"]
    text = (f"With a ${g}\\times{g}$ token grid and $w={w}$, each token attends to at most "
            f"${reach['keys_per_layer']}$ of the {reach['tokens']} tokens in one layer "
            f"({format_pct(reach['fraction_per_layer'], 0)}). ")
    if reach["covers_grid"]:
        text += (f"The receptive field grows by $w$ per layer, so after {reach['layers_to_cover']} of the {L} "
                 f"layers every token can have received information from every other: the comparison measures "
                 f"\\textbf{{per-layer locality}} (attention restricted in every layer, global mixing relayed "
                 f"through {reach['layers_to_cover']} layers), not a model that never sees the whole image. ")
    else:
        layers = "the only layer" if L == 1 else f"all {L} layers"
        text += (f"After {layers} the receptive field spans {w * L} of the {g - 1} rows and columns "
                 f"needed to cover the grid: the SWA model \\textbf{{never}} relates the farthest tokens. ")
    path = reach["path"]
    text += (f"Code path that ran: the \\textbf{{{path}}} form "
             + (f"(a {reach['tokens']}$\\times${reach['tokens']} boolean mask in PyTorch's fused attention, "
                f"used up to {reach['dense_mask_max_tokens']} tokens): it computes all $N^2$ logits and masks them, so it saves no compute over full attention."
                if path == "dense mask" else
                f"(each token's $(2w+1)^2$ neighbours gathered, beyond {reach['dense_mask_max_tokens']} tokens), "
                "so its cost grows as $O(N w^2)$."))
    return Tex(text)


DIT_HPARAMS = {
    "dataset": "training set", "image_size": "image side (px)", "n_train": "training images",
    "num_classes": ("classes", "0: unconditional"), "patch_size": "patch size $p$ (latent pixels)",
    "hidden_size": "hidden size", "depth": "depth (blocks)", "num_heads": "attention heads",
    "conditioning": "conditioning", "attention": "attention", "window": ("window $w$", "sliding window only"),
    "steps": "training steps", "batch_size": "batch size", "lr": ("learning rate", "AdamW, weight decay 0"),
    "warmup_steps": "warm-up steps", "ema_decay": ("EMA decay", "EMA weights sample"),
    "class_dropout": ("label dropout", "classifier-free guidance training"),
    "num_train_timesteps": "diffusion steps $T$", "beta_start": "$\\beta_1$", "beta_end": "$\\beta_T$",
    "snapshot_fractions": ("EMA snapshots", "fractions of training, for the FID curve"),
    "codec": "latent codec", "seed": "seed",
}
DIT_SKIP = ("run_id", "kind", "group", "scale", "device", "data_seed", "hub_cache", "vae_id")
AE_HPARAMS = {"latent_channels": "latent channels", "ae_width": "width", "ae_lr": "learning rate",
              "ae_steps": "training steps", "ae_batch_size": "batch size", "n_train": "training images"}
EVAL_HPARAMS = {"n_eval": "samples per model (FID, CMMD)", "n_curve": "samples per FID-curve point",
                "eval_steps": "sampling steps", "eval_sampler": "sampler", "eval_cfg_scale": "CFG scale (conditional)",
                "embedders": "embedders"}


def _short(rids: list[str], every: list[str]) -> str:
    """Run names of one value, every run of a prefix written as 'cond-*' (of all runs ``every``)."""
    out, done = [], set()
    for r in rids:
        pre = r.split("-")[0] + "-"
        same = [x for x in every if x.startswith(pre)]
        if len(same) > 1 and all(x in rids for x in same):
            if pre not in done:
                out.append(pre + "*")
                done.add(pre)
        else:
            out.append(r)
    return ", ".join(out)


def merged_hparams(configs: dict[str, dict], labels: dict, skip=(), prefix: str = "") -> list[dict]:
    """One hyperparameter row per setting over several run configs (``saidl.report.tables.
    hparam_rows`` of each): the value when all runs share it, else each value with its runs."""
    from saidl.report.latex import escape_tex
    from saidl.report.tables import hparam_rows

    per = {rid: hparam_rows(c, {k: v for k, v in labels.items() if k in c}, skip=skip) for rid, c in configs.items()}
    names: list[tuple[str, str]] = []
    for rows in per.values():
        for r in rows:
            if (r["name"], r["note"]) not in names:
                names.append((r["name"], r["note"]))
    out = []
    for name, note in names:
        vals: dict[str, list[str]] = {}
        for rid, rows in per.items():
            r = next((r for r in rows if r["name"] == name), None)
            vals.setdefault("n/a" if r is None or r["value"] in ("", "none") else r["value"], []).append(rid)
        if len(vals) == 1:
            value = Tex(escape_tex(next(iter(vals))))
        else:
            value = Tex("; ".join(f"{escape_tex(v)} ({escape_tex(_short(r, list(configs)))})" for v, r in vals.items()))
        label = name if isinstance(name, Tex) else Tex(name if "$" in name else escape_tex(name))
        out.append({"name": Tex(f"{escape_tex(prefix)}{label}"), "value": value, "note": note})
    return out


def hparam_table(summary: dict) -> list[dict]:
    """The hyperparameter table: every DiT run's config (shared values once), the autoencoders'
    and the evaluation's settings."""
    cfgs = summary.get("run_configs", {})
    dits = {r: c for r, c in cfgs.items() if c.get("kind") == "dit"}
    aes = {r: c for r, c in cfgs.items() if c.get("kind") == "autoencoder"}
    def unlabelled(configs: dict, labels: dict) -> tuple:
        return tuple(sorted({k for c in configs.values() for k in c if k not in labels}))

    rows = merged_hparams(dits, DIT_HPARAMS, skip=DIT_SKIP + unlabelled(dits, DIT_HPARAMS))
    if aes:
        rows += merged_hparams(aes, AE_HPARAMS, skip=unlabelled(aes, AE_HPARAMS), prefix="autoencoder: ")
    ev = summary["evaluation"]
    rows += merged_hparams({"evaluation": ev}, EVAL_HPARAMS,
                           skip=tuple(k for k in ev if k not in EVAL_HPARAMS), prefix="evaluation: ")
    return rows


def context(summary: dict) -> dict:
    runs, groups, emb = summary["runs"], summary["groups"], summary["embedders"]
    cond, land = groups.get("conditional", []), groups.get("unconditional", [])
    study = summary["study"]
    guidance_rows = sorted((r for r in study["rows"] if r["part"] == "guidance"), key=lambda r: r["cfg_scale"])
    steps_rows = sorted((r for r in study["rows"] if r["part"] == "steps"), key=lambda r: (r["sampler"], r["steps"]))
    backends = summary["backends"]
    ran = [r for r in backends["rows"] if r["ran"]]
    skipped = [r for r in backends["rows"] if not r["ran"]]
    a = summary["analysis"]
    cond_ds = runs[cond[0]]["dataset"] if cond else None
    land_ds = runs[land[0]]["dataset"] if land else None
    curves = {r: v for r, v in a["fid_curves"].items() if v["n_points"] > 1}
    emb_desc = {}
    for ref in summary["references"].values():
        emb_desc.update(ref["embedders"])
    n_study = study["config"]["n_study"]
    base = next((r for r in cond if runs[r]["conditioning"] == "adaln"), None)
    return {
        "summary": summary, "embedder_descriptions": emb_desc, "runs": runs, "order": summary["run_order"],
        "cond_runs": cond, "land_runs": land, "embedders": emb, "claims": summary["claims"], "scale": summary["scale"],
        "is_full": full_protocol(summary["scale"]),
        "cond_dataset": dataset_text(cond_ds, runs[cond[0]] if cond else None),
        "land_dataset": dataset_text(land_ds, runs[land[0]] if land else None),
        "reference_sets_text": reference_text(summary["references"], {"conditional": dataset_text(cond_ds, None),
                                                           "unconditional": dataset_text(land_ds, None)}),
        "land_stand_in": land_ds == "wallpaper-crops", "cond_stand_in": cond_ds == "fashion-mnist",
        "own_codec": summary["codec"] == "autoencoder", "autoencoders": summary["autoencoders"],
        "conditioning_text": CONDITIONING_TEXT, "embedder_text": EMBEDDER_TEXT, "references": summary["references"],
        "study": study, "n_study": n_study, "guidance_rows": guidance_rows, "steps_rows": steps_rows,
        "guidance": a["study"].get("guidance"), "steps_findings": a["study"]["steps"],
        "backends": backends, "ran": ran, "skipped": skipped, "adaln_run": base,
        "swa": a.get("swa"), "cond_ranking": a.get("conditioning"), "land_ranking": a.get("landscape_ranking"),
        "steps_text": steps_prose(a["study"]), "variance_findings": a["study"].get("variance"),
        "variance_text": VARIANCE_TEXT, "variance_short": {"learned_range": "learned var.", "fixed_small": "fixed var."},
        "codec_description": "; ".join(sorted({r.get("codec") or "--" for r in runs.values()})),
        "swa_text": swa_prose(a["swa"]["reach"]) if a.get("swa") and a["swa"].get("reach") else None,
        "curves": curves, "n_curves_min_inside": sum(1 for v in curves.values() if not v["min_at_end"]),
        "evaluation": summary["evaluation"], "hparams": hparam_table(summary),
        "provenance": {**summary["provenance"], "scale": summary["scale"]},
        "n_runs": len(summary["provenance"]["runs"]),
        "total_minutes": summary["provenance"]["total_run_time_s"] / 60,
    }
