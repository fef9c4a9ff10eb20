"""The context of the SSM report template: the summary plus the numbers the prose needs.

Verdicts (claims, the best set, comparisons) come from the summary, where analyze.py asked
:mod:`saidl.common.stats` for them; this module only selects and formats.
"""

from __future__ import annotations

from saidl.common.config import full_protocol
from saidl.report.latex import NUMBER_WORDS, Tex
from saidl.report.tables import hparam_rows
from saidl.ssm.data import SEQ_DATASET_NAMES

# Published numbers (test accuracy %) with provenance tags, from shared/reference/s4.md:
# [V] read in the named repository file or abstract, [R] recalled from the paper, not re-verified.
REFERENCE = [
    {"what": "S4, LRA Image (grayscale, 1024 steps), repository reproduction", "value": 88.5, "tag": "V",
     "comparable": True},
    {"what": "S4, LRA Image, paper (updated version)", "value": 88.65, "tag": "R", "comparable": True},
    {"what": "Transformer, LRA Image (LRA README)", "value": 42.44, "tag": "V", "comparable": True},
    {"what": "S4, sequential CIFAR-10 (RGB), paper abstract", "value": 91.0, "tag": "V", "comparable": False},
    {"what": "minimal S4D (example.py, RGB sCIFAR, 200k parameters)", "value": 88.0, "tag": "V", "comparable": False},
]
MODEL_TEXT = {"s4": "S4 (DPLR)", "s4d": "S4D"}
INIT_TEXT = {"legs": "LegS", "lin": "S4D-Lin", "inv": "S4D-Inv"}
DISC_TEXT = {"bilinear": "bilinear", "zoh": "ZOH"}
CLAIM_KEY_TEXT = {"s4": "S4", "s4d-lin": "S4D-Lin", "s4d-inv": "S4D-Inv", "bilinear": "bilinear", "zoh": "ZOH"}

# The hyperparameter table: run-config key -> (name, note). Keys that name the model (kind, init,
# discretisation, implementation) are in the results table instead.
HPARAMS = {
    "dataset": ("data set", "sequences of grayscale pixels, one feature per step"),
    "data_dir": ("data directory", ""),
    "n_train": ("training sequences", "all: the 45,000 of the standard split"),
    "n_val": ("validation sequences", "held out of the training set"),
    "n_test": ("test sequences", "all: the 10,000 of the test set"),
    "data_seed": ("split seed", "the same split for every run"),
    "seeds": ("model seeds", "one run per model and seed"),
    "epochs": ("epochs", "cosine learning-rate schedule over all epochs"),
    "batch_size": ("batch size", ""),
    "d_model": ("channels $H$", "linear encoder from one input feature"),
    "n_layers": ("residual blocks", "SSM, GELU, GLU, residual, LayerNorm"),
    "d_state": ("state size $N$", "$N/2$ complex modes per channel"),
    "dropout": ("dropout", "tied over the sequence"),
    "lr": ("learning rate", "AdamW, every parameter but the SSM's"),
    "ssm_lr": ("SSM learning rate", "$\\Delta$, $A$, $P$, $B$; no weight decay"),
    "weight_decay": ("weight decay", "AdamW, every parameter but the SSM's"),
    "device": ("device", ""),
    "verify_checksums": ("verify checksums", "md5 of every data file"),
}
NONE_TEXT = {"n_train": "all", "n_test": "all", "data_dir": "the data set's default location"}
CLAIMS = ("zoh_vs_bilinear", "s4_vs_s4d")
COMPARISONS = ("lin_vs_inv", "numpy_vs_torch")
MODEL_KEYS = ("model", "kind", "init", "disc", "backend", "scale")


def _show(v) -> str:
    return hparam_rows({"v": v}, {"v": "v"})[0]["value"]


def hparams(summary: dict) -> list[dict]:
    """Rows of the hyperparameter table from the run configs: the value the PyTorch models share,
    and in the note where the NumPy model's config differs."""
    per = summary["per_model"]
    torch_cfgs = [per[m]["config"] for m in summary["models"] if per[m]["backend"] == "torch"]
    numpy_cfgs = [per[m]["config"] for m in summary["models"] if per[m]["backend"] == "numpy"]
    base = {**(torch_cfgs or numpy_cfgs)[0], "seeds": summary["seeds"]}
    labels = {k: v for k, v in HPARAMS.items() if k in base}
    rows = hparam_rows(base, labels, skip=MODEL_KEYS)
    for r, key in zip(rows, list(labels) + [None] * len(rows)):
        if key is None:
            continue
        note = r["note"]
        if base[key] is None:
            r["value"] = NONE_TEXT.get(key, "not set")
        elif key in ("n_train", "n_test"):
            note = ""  # the note explains what "all" means
        if key in base and key != "seeds" and any(c.get(key) != base[key] for c in torch_cfgs):
            note = "differs between models"
        if numpy_cfgs and key in numpy_cfgs[0] and numpy_cfgs[0][key] != base[key]:
            note = (note + "; " if note else "") + f"NumPy model: {_show(numpy_cfgs[0][key])}"
        r["name"] = Tex(r["name"]) if "$" in r["name"] else r["name"]
        r["note"] = Tex(note) if "$" in note else note
    return rows


def disc_numbers(summary: dict) -> dict:
    """Kernel errors at a few step sizes for the S4D-Lin system (the figure's system)."""
    rows = [r for r in summary["discretisation"]["rows"] if r["init"] == "lin"]
    dts = sorted({r["dt"] for r in rows})

    def at(method: str, dt: float) -> dict:
        return min((r for r in rows if r["method"] == method), key=lambda r: abs(r["dt"] - dt))

    def lower(a: str, b: str, dt: float) -> bool | None:
        """Whether method a's kernel error is below b's at dt (None if either is unbounded)."""
        ea, eb = at(a, dt)["rel_error"], at(b, dt)["rel_error"]
        return None if ea is None or eb is None else ea < eb

    # the largest ratio between the bilinear and the ZOH kernel error over the initial range of dt
    ratios = [max(b["rel_error"] / z["rel_error"], z["rel_error"] / b["rel_error"])
              for b in rows if b["method"] == "bilinear" and 1e-3 * (1 - 1e-9) <= b["dt"] <= 0.1 * (1 + 1e-9)
              for z in rows if z["method"] == "zoh" and z["dt"] == b["dt"] and z["rel_error"] and b["rel_error"]]
    facts = summary["disc_facts"]["lin"]
    return {"dts": dts, "at": at, "lower": lower, "unstable": facts["unstable"], "facts": facts,
            "ratio": max(ratios) if ratios else None}


def timing_note(repeat: int) -> str:
    """How each timing was taken: the fastest of ``repeat`` calls after one warm-up call."""
    if repeat == 1:
        return "one timed call after a warm-up"
    return f"best of {NUMBER_WORDS.get(repeat, str(repeat))} calls after a warm-up"


def seed_gap(per: dict):
    """The largest per-seed gap |a_i - b_i| between the final accuracies of two models (a paired
    comparison dict with its ``a``, ``b``), or None when they share no seed."""
    def gap(cmp: dict) -> float | None:
        a, b = per[cmp["a"]], per[cmp["b"]]
        common = dict(zip(a["seeds"], a["final"]["values"])), dict(zip(b["seeds"], b["final"]["values"]))
        gaps = [abs(common[0][s] - common[1][s]) for s in common[0] if s in common[1]]
        return max(gaps) if gaps else None
    return gap


def context(summary: dict) -> dict:
    per = summary["per_model"]
    torch_models = [m for m in summary["models"] if per[m]["backend"] == "torch"]
    numpy_models = [m for m in summary["models"] if per[m]["backend"] == "numpy"]
    ds = summary["dataset"]["name"]
    best = summary["best"]
    n_seeds = len(summary["seeds"])
    return {
        "summary": summary, "per_model": per, "models": summary["models"], "torch_models": torch_models,
        "best": best, "top": best["top"],
        # every claim / comparison the template asks for, None where this scale's grid cannot make it
        "claims": {k: None for k in CLAIMS} | summary["claims"],
        "comparisons": {k: None for k in COMPARISONS} | summary["comparisons"],
        "numpy_models": numpy_models, "torch_twin": (summary["comparisons"].get("numpy_vs_torch") or {}).get("b"),
        "scale": summary["scale"], "is_full": full_protocol(summary["scale"]),
        "dataset": SEQ_DATASET_NAMES.get(ds, ds), "stand_in": ds != "cifar10_gray",
        "length": summary["dataset"].get("length"), "discretisation": disc_numbers(summary),
        "timing_facts": summary["timing_facts"], "claim_key_text": CLAIM_KEY_TEXT, "seed_gap": seed_gap(per),
        "timing_note": timing_note(summary["timing"].get("repeat", 3)),
        "model_text": MODEL_TEXT, "init_text": INIT_TEXT, "disc_text": DISC_TEXT,
        "n_seeds": n_seeds,
        "hparams": hparams(summary),
        "reference": REFERENCE if full_protocol(summary["scale"]) else [],
        "provenance": {**summary["provenance"], "scale": summary["scale"]},
        "n_runs": len(summary["provenance"]["runs"]),
        "total_minutes": summary["provenance"]["total_run_time_s"] / 60,
    }
