"""Names from configs, summaries and datasets are drawn in every figure exactly as written (no
mathtext), and a character the figure font lacks stops the figure with one clear line."""

from __future__ import annotations

import base64
import importlib
import io
import json
import shutil
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from conftest import pdf_text  # noqa: E402
from saidl.report import figure_cli  # noqa: E402
from saidl.report.figstyle import apply_style, literal  # noqa: E402

# Mathtext would draw these as x squared, a subscript b; the others must survive as well.
ODD = ("$x^2$", "a_b", "50%", "{x}", "cost $5", "_lead")


def _stat(v: float, n: int = 2) -> dict:
    values = [v + 0.01 * k for k in range(n)]
    return {"mean": sum(values) / n, "std": 0.01, "values": values}


def _png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


# ------------------------------------------------------------------ small summaries per task


def coreml_summary(names=ODD) -> dict:
    losses = ["CE", "NCE", *names]
    etas = {"sym": [0.0, 0.8], "asym": [0.4]}
    cells = {n: {f"{e:g}": {loss: {"final": _stat(0.5)} for loss in losses} for e in es} for n, es in etas.items()}
    curve = {k: [0.2, 0.4, 0.5] for k in ("test_acc", "train_clean_acc", "train_noisy_fit")}
    k = len(names)
    trans = [[1.0 if i == j else 0.0 for j in range(k)] for i in range(k)]
    return {"etas": etas, "losses": losses, "cells": cells, "classes": list(names),
            "curves": {"sym": {"0.8": {loss: curve for loss in losses}}},
            "noise": {n: {f"{e:g}": {"realised_transition": trans} for e in es} for n, es in etas.items()}}


def paper_summary(names=ODD) -> dict:
    cell = {"final": _stat(0.5), "clean_fit": _stat(0.6), "noisy_fit": _stat(0.2)}
    curve = {k: [0.2, 0.4, 0.5] for k in ("train_clean_acc", "train_noisy_fit", "train_noisy_true", "test_acc")}
    main_names = ["ANL-CE", *names]
    return {
        "variant_order": main_names,
        "cells": {"main": {"sym": {"0.8": {v: cell for v in main_names}}},
                  "transfer": {"sym": {"0.8": {v: cell for v in names}}},
                  "ablation": {"sym": {"0.8": {v: cell for v in names}}}},
        "groups": {"main": {"dataset": names[0]}, "transfer": {"dataset": names[1]}},
        "design": {"ablation": {"noise": "sym", "eta": 0.8}},
        "curves": {"main": {"sym": {"0.8": {v: curve for v in main_names}}}},
        "sensitivity": {"alphas": [1.0, 5.0], "betas": [5.0], "noise": "sym", "eta": 0.8, "seeds": [0],
                        "paper": {"alpha": 5.0, "beta": 5.0}, "selected": {"alpha": 1.0, "beta": 5.0},
                        "points": [{"alpha": a, "beta": 5.0, "val_true": _stat(0.4), "final": _stat(0.5)}
                                   for a in (1.0, 5.0)]},
        "gradients": {"p_y": [0.1, 0.5, 0.9], "norms": {v: [1.0, 0.5, 0.1] for v in names}},
    }


def rl_summary(names=ODD) -> dict:
    emb = {"pca": [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], "pca_return": [1.0, 2.0, 3.0], "targets": list(names),
           "probe": {k: {t: [0.5, 0.6] for t in names} for k in ("trained", "untrained", "state")}}
    layer = {"mean": [0.5, 0.4], "lo": [0.45, 0.35], "hi": [0.55, 0.45]}
    rob = {"eps": [0.0, 0.1], "n": 4, "unit": "episode", "random": [_stat(2.0), _stat(1.0)],
           "critic": [_stat(2.0), _stat(0.5)]}
    per = {v: {"steps": [0, 10], "curve_mean": [1.0, 2.0], "curve_std": [0.1, 0.1], "sigma": [0.5, 0.4],
               "curve_lo": [0.9, 1.9], "curve_hi": [1.1, 2.1],
               "sigma_layers": {"steps": [0, 10], "n_layers": 3, "layers": [layer] * 3},
               "robustness": rob,
               "final": _stat(2.0), "best": _stat(2.5), "embedding": emb if i == 0 else None}
           for i, v in enumerate(names)}
    return {"variants": list(names), "per_variant": per, "random_return": {"mean": 0.5},
            "config": {"env_id": names[0]}}


def ssm_summary(names=ODD) -> dict:
    per = {n: {"final": [0.5, 0.55], "disc": "bilinear" if i % 2 else "zoh", "kernels": [[1.0, 0.5, 0.25]] * 2,
               "curve": [0.3, 0.5], "loss_curve": [2.0, 1.5], "backend": "numpy" if i % 2 else "torch"}
           for i, n in enumerate(names)}
    rows = [{"init": "lin", "method": m, "dt": dt, "rel_error": 0.1 * dt, "spectral_radius": 0.9}
            for m in ("euler", "bilinear", "zoh") for dt in (0.01, 0.1)]
    return {"models": list(names), "per_model": per, "discretisation": {"rows": rows},
            "timing": {"channels": 4, "state": 8,
                       "rows": [{"path": p, "length": L, "seconds": 1e-3 * L} for p in names for L in (64, 256)]}}


def diffusion_summary(names=ODD) -> dict:
    runs = {r: {"curve": {"step": [0, 10], "fid": [80.0, 60.0], "n": 16}, "dataset": names[1],
                "loss": {"step": [0, 10], "loss": [1.0, 0.5]}, "fid": 60.0, "group": "conditional",
                "scores": {e: {"cmmd": 1.0} for e in names}} for r in names}
    # the figure writes a sampler in capitals ("DDPM (<variance>)"): an upper-case name, every variance
    steps = [{"part": "steps", "sampler": names[0].upper(), "variance": v, "steps": n, "class_acc": 0.5,
              "diversity": 1.0, "fd_probe": 2.0} for v in names for n in (10, 20)]
    guid = [{"part": "guidance", "cfg_scale": c, "class_acc": 0.5, "diversity": 1.0, "fd_probe": 2.0} for c in (1, 2)]
    return {"run_order": list(names), "runs": runs, "groups": {"conditional": list(names)},
            "autoencoders": {g: {"loss": {"step": [0, 10], "loss": [1.0, 0.5]}} for g in names},
            "embedders": list(names),
            "study": {"rows": guid + steps, "real": {"class_acc": 0.9, "diversity": 1.2, "fd_probe": 0.0}},
            "backends": {"n_images": 4, "steps": 10, "sampler": names[0],
                         "rows": [{"backend": b, "ran": True, "times_s": [1.0, 1.1]} for b in names]}}


def multimodal_summary(names=ODD) -> dict:
    k = len(names)
    curves = {"epoch": [1, 2], "loss": [1.0, 0.5], "val_acc": [0.4, 0.5]}
    cells = {fs: {"test_acc": _stat(0.5), "features": {"image": fs}, "confusion": [[1] * k for _ in range(k)],
                  "curves": curves} for fs in names}
    arm = {"curves": {**curves, "feature_seconds": [0.1, 0.1], "seconds": [0.3, 0.3]}}
    eda = {"class_names": list(names), "images": [{"class": n, "png": _png()} for n in names],
           "carries": {"fraction": [[0.5] * k for _ in range(k)], "classes": list(names), "datatypes": list(names)},
           "splits": {s: [3] * k for s in ("training", "validation", "testing")}, "degree": {"hist": [5, 3, 1]},
           "entity_classes": [{"name": n, "count": 10} for n in names],
           "annotations": [{"name": n, "count": 10, "modality": "text"} for n in names],
           "relations": [{"name": n, "count": 10} for n in names], "num_relations": k}
    return {"order": list(names), "cells": cells, "test_majority_acc": 0.3, "best": names[0], "baseline": names[1],
            "eda": eda,
            "embed_timing": {"arms": {"precomputed": arm, "on_the_fly": arm}, "ratio": 3.0,
                             "epoch_s": {"on_the_fly": 0.3}, "full_run_s": {"precomputed": 60, "on_the_fly": 180,
                                                                            "epochs": 10}},
            "finetune": {"warmup": {"curves": curves}, "arms": {"frozen": {"curves": curves},
                                                               "joint": {"curves": curves}}}}


SUMMARIES = {"coreml": coreml_summary, "paper": paper_summary, "rl": rl_summary, "ssm": ssm_summary,
             "diffusion": diffusion_summary, "multimodal": multimodal_summary}
# figures that draw no name from a config or summary (only our own labels)
NO_NAMES = {("coreml", "normalized_vs_vanilla"), ("rl", "sale_vs_td3"), ("paper", "sensitivity"), ("ssm", "discretisation"),
            ("multimodal", "embed_time"), ("multimodal", "finetune")}
# figures that show only some of the names by design (the learning curves: the baseline and the best three)
SHOWN = {("multimodal", "curves"): ODD[:4]}
ALL_FIGURES = [(task, fig) for task in SUMMARIES
               for fig in importlib.import_module(f"saidl.{task}.figures").FIGURES]


def drawn_texts(fig) -> list[tuple[str, bool]]:
    """(the string matplotlib draws, whether it draws it as mathtext) of every visible text."""
    fig.canvas.draw()  # creates the tick labels
    out = []
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text():
            shown, ismath = t._preprocess_math(t.get_text())
            out.append((shown.replace("\u200b", ""), bool(ismath)))
    return out


@pytest.mark.parametrize("task,name", ALL_FIGURES, ids=[f"{t}-{f}" for t, f in ALL_FIGURES])
def test_config_names_are_drawn_literally(task, name):
    apply_style()
    module = importlib.import_module(f"saidl.{task}.figures.{name}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph or a bad label must not pass as a warning
        fig = module.plot(SUMMARIES[task]())
        texts = drawn_texts(fig)
    plt.close(fig)
    for shown, ismath in texts:
        if any(odd.strip("$_") in shown for odd in ODD if odd != "50%"):
            assert not ismath, f"{task}/{name}: {shown!r} would be drawn as mathtext"
    if (task, name) in NO_NAMES:
        return
    plain = [shown for shown, ismath in texts if not ismath]
    for odd in SHOWN.get((task, name), ODD):
        assert any(odd in s for s in plain), f"{task}/{name}: {odd!r} is not drawn as written; texts: {plain}"


def test_literal_escapes_only_dollars_and_hides_nothing():
    assert literal("$x^2$") == r"\$x^2\$"
    assert literal("a_b 50% {x}") == "a_b 50% {x}"
    assert literal(0.5) == "0.5"
    assert literal("_lead").lstrip("\u200b") == "_lead" and not literal("_lead").startswith("_")
    t = Text(0, 0, literal(r"a\$b $y$"))
    assert t._preprocess_math(t.get_text()) == (r"a\$b $y$", False)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext missing")
def test_figure_cli_pdf_holds_the_names_as_written(tmp_path):
    from saidl.rl.figures import learning_curves

    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps(rl_summary()))
    out = tmp_path / "learning_curves.pdf"
    assert figure_cli.main(learning_curves.plot, ["--summary", str(summary), "--out", str(out)]) == 0
    text = pdf_text(out).replace("\u200b", "")
    for odd in ODD:
        assert odd.replace(" ", "") in text


def test_missing_glyph_is_one_clear_error(tmp_path, capsys):
    from saidl.ssm.figures import accuracy

    summary = tmp_path / "summary.json"
    summary.write_text(json.dumps(ssm_summary(("S4D", "模型 v2"))))
    out = tmp_path / "figures" / "accuracy.pdf"
    assert figure_cli.main(accuracy.plot, ["--summary", str(summary), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: figure {out}: the label '模型 v2' has the character '模' (U+6A21 ")
    assert "cannot draw; rename that entry in the config" in err
    assert not out.exists()
    print(err, end="")
