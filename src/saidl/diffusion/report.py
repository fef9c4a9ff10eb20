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
        "falls": falls, "n_falls": n_falls, "curves": curves,
        "ev": summary["evaluation"],
        "provenance": {**summary["provenance"], "scale": summary["scale"]},
        "n_runs": len(summary["provenance"]["runs"]),
        "total_minutes": summary["provenance"]["total_run_time_s"] / 60,
    }
