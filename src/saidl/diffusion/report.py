"""The context of the diffusion report template: the summary plus the numbers the prose needs."""

from __future__ import annotations

from saidl.common.config import full_protocol

from saidl.report.latex import Tex

DATASET_TEXT = {"fashion-mnist": "Fashion-MNIST", "wallpaper-crops": "crops of outdoor photos (MATE wallpapers)",
                "landscapes": "landscape pictures", "sun397": "SUN397"}
CONDITIONING_TEXT = {"adaln": "adaLN-Zero", "in_context": "in-context tokens", "cross_attn": "cross-attention"}
EMBEDDER_TEXT = {"inception": "Inception-v3", "efficientnet-lite0": "EfficientNet-Lite0", "clip": "CLIP",
                 "siglip": "SigLIP", "align": "ALIGN"}


def f1(x: float | None) -> Tex:
    return Tex("--") if x is None else Tex(f"{x:.1f}")


def f3(x: float | None) -> Tex:
    return Tex("--") if x is None else Tex(f"{x:.3f}")


def best_runs(runs: dict, names: list[str], value) -> set[str]:
    """The runs whose value, rounded as displayed (3 significant digits), is the lowest."""
    if not names:
        return set()
    vals = {n: float(f"{value(runs[n]):.3g}") for n in names}
    low = min(vals.values())
    return {n for n, v in vals.items() if v == low}


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


def bold(text: Tex | str, on: bool) -> Tex:
    return Tex(f"\\textbf{{{text}}}") if on else Tex(str(text))


VARIANCE_TEXT = {"learned_range": "learned variance", "fixed_small": "fixed posterior variance"}


def _arm_name(f: dict, variance: bool = True) -> str:
    v = f.get("variance")
    return f.get("sampler", "").upper() + (f" ({VARIANCE_TEXT.get(v, v)})" if v and variance else "")


def _score_text(f: dict, row: dict) -> str:
    return f"{row['fd_probe']:.1f}" if f["metric"] == "fd" else f"{row['confidence']:.3g}"


def steps_prose(findings: dict) -> list[Tex]:
    """Item 1(b) in sentences, each one stated only when the study's numbers show it
    (``analysis.study``): per sampler the change from the fewest to the most steps and its cost,
    then why, conditioned on whether more steps helped, whether the gain shrank, whether DDIM
    changed less than DDPM, and what the DDPM variance changed."""
    from saidl.report.latex import escape_tex

    steps = findings.get("steps", {})
    out: list[Tex] = []
    for _, f in sorted(steps.items()):
        few, many = f["few"], f["many"]
        what = "Fr\\'echet distance to real images of the class" if f["metric"] == "fd" else "classifier confidence"
        verdict = "better" if f["better_with_more"] else "\\textbf{not better}"
        cost = ("time grows with the number of steps" if f["time_proportional"]
                else "less than in proportion: fixed costs such as decoding weigh at this size"
                if f["time_ratio"] < f["steps_ratio"] else
                "more than in proportion: at this size the timing is dominated by noise and warm-up")
        out.append(Tex(
            f"With {escape_tex(_arm_name(f, 'variance' in findings))}, going from {few['steps']} to {many['steps']} steps changed the "
            f"{what} from {_score_text(f, few)} to {_score_text(f, many)} ({verdict}) and the class accuracy "
            f"from {100 * few['class_acc']:.0f}\\,\\% to {100 * many['class_acc']:.0f}\\,\\%, and took "
            f"{f['time_ratio']:.1f} times as long for {f['steps_ratio']:.0f} times the steps ({cost})."))
    ddpm = steps.get("ddpm")
    if ddpm is not None:
        if ddpm["better_with_more"]:
            out.append(Tex(
                "That more DDPM steps helped is what the theory predicts: each step samples the Gaussian "
                "posterior $q(z_{t-\\Delta}\\mid z_t, \\hat z_0)$, and the true reverse step is close to "
                "Gaussian only for small jumps, so with few steps each jump is large and detail is lost."))
        else:
            out.append(Tex(
                "More DDPM steps did \\textbf{not} help here, so this run does not show the usual gain from "
                "finer steps (the Gaussian reverse step is accurate only for small jumps); with so few "
                "samples, or an undertrained model, such differences are within noise."))
        if ddpm.get("diminishing") is True:
            out.append(Tex(f"The gain shrank beyond {ddpm['mid']['steps']} steps: diminishing returns."))
        elif ddpm.get("diminishing") is False and ddpm["better_with_more"]:
            out.append(Tex(f"The gain did not shrink beyond {ddpm['mid']['steps']} steps."))
    if "ddim_more_robust" in findings:
        d, p = steps["ddim"], steps["ddpm"]
        change = f"score change {abs(d['gain']):.2g} against {abs(p['gain']):.2g}"
        if findings["ddim_more_robust"]:
            out.append(Tex(
                f"DDIM, which follows the deterministic probability-flow ODE, changed less between "
                f"{d['few']['steps']} and {d['many']['steps']} steps than DDPM ({change}): it degrades less "
                "at few steps."))
        else:
            out.append(Tex(
                f"DDIM changed \\textbf{{as much as or more}} than DDPM between {d['few']['steps']} and "
                f"{d['many']['steps']} steps ({change}), so the usual finding that DDIM degrades less at "
                "few steps does not show here."))
    v = findings.get("variance")
    if v:
        own = escape_tex(VARIANCE_TEXT.get(v["native"], v["native"]))
        other = escape_tex(VARIANCE_TEXT.get(v["other"], v["other"]))
        at = ", ".join(str(c) for c in v["own_better_at"])
        text = (f"DDPM with the {own} against the {other}, on the same noise: the {own} scored "
                + (f"better at {at} steps" if at else "better at no step count")
                + f" (by {'FD' if v['metric'] == 'fd' else 'confidence'})")
        if v.get("matters_most_at_few") is not None:
            text += ("; the variance mattered most at the fewest steps, where each reverse step is largest."
                     if v["matters_most_at_few"] else "; the gap between them did not shrink with more steps.")
        out.append(Tex(text))
    return out


def swa_prose(reach: dict) -> Tex:
    """What the sliding-window comparison measures at this setting and which code path ran, from
    ``analysis.swa.reach`` (window, grid and depth of the SWA run)."""
    g, w, L = reach["side"], reach["window"], reach["depth"]
    text = (f"With a ${g}\\times{g}$ token grid and $w={w}$, each token attends to at most "
            f"${reach['keys_per_layer']}$ of the {reach['tokens']} tokens in one layer "
            f"({100 * reach['fraction_per_layer']:.0f}\\,\\%). ")
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


def context(summary: dict) -> dict:
    runs, groups, emb = summary["runs"], summary["groups"], summary["embedders"]
    cond, land = groups.get("conditional", []), groups.get("unconditional", [])
    best = {}
    for g, names in groups.items():
        best[(g, "fid")] = best_runs(runs, names, lambda r: r["fid"])
        for e in emb:
            best[(g, e)] = best_runs(runs, names, lambda r, e=e: r["scores"][e]["cmmd"])
            best[(g, "fd-" + e)] = best_runs(runs, names, lambda r, e=e: r["scores"][e]["fd"])

    def cell(run: str, metric: str) -> Tex:
        r, g = runs[run], runs[run]["group"]
        if metric == "fid":
            return bold(f1(r["fid"]), run in best[(g, "fid")])
        if metric.startswith("fd-"):
            return bold(f1(r["scores"][metric[3:]]["fd"]), run in best[(g, metric)])
        return bold(f3(r["scores"][metric]["cmmd"]), run in best[(g, metric)])

    st = summary["study"]
    guidance = sorted((r for r in st["rows"] if r["part"] == "guidance"), key=lambda r: r["cfg_scale"])
    steps = sorted((r for r in st["rows"] if r["part"] == "steps"), key=lambda r: (r["sampler"], r["steps"]))
    b = summary["backends"]
    ran = [r for r in b["rows"] if r["ran"]]
    skipped = [r for r in b["rows"] if not r["ran"]]
    fastest = min(ran, key=lambda r: r["time_s"]) if ran else None
    a = summary["analysis"]
    cond_ds = runs[cond[0]]["dataset"] if cond else None
    land_ds = runs[land[0]]["dataset"] if land else None
    falls = a["fid_falls"]
    curves = {r: v for r, v in falls.items() if v["first_step"] != v["last_step"]}
    n_falls = sum(1 for v in curves.values() if v["falls"])
    emb_desc = {}
    for ref in summary["references"].values():
        emb_desc.update(ref["embedders"])
    cond_fid_text = ", ".join(f"{r} {runs[r]['fid']:.1f}" for r in cond)
    return {
        "s": summary, "emb_desc": emb_desc, "cond_fid_text": cond_fid_text, "runs": runs, "order": summary["run_order"], "cond": cond, "land": land, "emb": emb,
        "cell": cell, "f1": f1, "f3": f3, "scale": summary["scale"], "is_full": full_protocol(summary["scale"]),
        "cond_ds": dataset_text(cond_ds, runs[cond[0]] if cond else None),
        "land_ds": dataset_text(land_ds, runs[land[0]] if land else None),
        "ref_text": reference_text(summary["references"], {"conditional": dataset_text(cond_ds, None),
                                                           "unconditional": dataset_text(land_ds, None)}),
        "land_stand_in": land_ds == "wallpaper-crops", "cond_stand_in": cond_ds == "fashion-mnist",
        "own_codec": summary["codec"] == "autoencoder", "aes": summary["autoencoders"],
        "cond_text": CONDITIONING_TEXT, "emb_text": EMBEDDER_TEXT, "refs": summary["references"],
        "st": st, "guidance": guidance, "steps": steps, "gf": a["study"].get("guidance"), "sf": a["study"]["steps"],
        "b": b, "ran": ran, "skipped": skipped, "fastest": fastest,
        "swa": a.get("swa"), "cr": a.get("conditioning"), "lr_rank": a.get("landscape_ranking"),
        "steps_text": steps_prose(a["study"]), "sv": a["study"].get("variance"),
        "variance_text": VARIANCE_TEXT, "variance_short": {"learned_range": "learned var.", "fixed_small": "fixed var."},
        "codec_desc": "; ".join(sorted({r.get("codec") or "--" for r in runs.values()})),
        "swa_text": swa_prose(a["swa"]["reach"]) if a.get("swa") and a["swa"].get("reach") else None,
        "falls": falls, "n_falls": n_falls, "curves": curves,
        "ev": summary["evaluation"],
        "provenance": {**summary["provenance"], "scale": summary["scale"]},
        "n_runs": len(summary["provenance"]["runs"]),
        "total_minutes": summary["provenance"]["total_run_time_s"] / 60,
    }
