"""The context of the SSM report template: the summary plus the numbers the prose needs."""

from __future__ import annotations

from saidl.common.config import full_protocol

from saidl.report.latex import Tex
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


def pct(x: float | None) -> Tex:
    return Tex("--") if x is None else Tex(f"{100 * x:.1f}\\,\\%")


def disc_numbers(summary: dict) -> dict:
    """Kernel errors at a few step sizes and the first step size at which forward Euler (and
    each method) becomes unstable, for the S4D-Lin system."""
    rows = [r for r in summary["discretisation"]["rows"] if r["init"] == "lin"]
    dts = sorted({r["dt"] for r in rows})

    def at(method: str, dt: float) -> dict:
        return min((r for r in rows if r["method"] == method), key=lambda r: abs(r["dt"] - dt))

    unstable = {m: next((r["dt"] for r in sorted(rows, key=lambda r: r["dt"])
                         if r["method"] == m and r["spectral_radius"] > 1.0), None)
                for m in ("euler", "bilinear", "zoh")}
    def err(method: str, dt: float) -> Tex:
        e = at(method, dt)["rel_error"]
        return Tex("unbounded") if e is None else Tex(f"{e:.2g}")

    return {"dts": dts, "at": at, "err": err, "unstable": unstable}


NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def timing_note(repeat: int) -> str:
    """How each timing was taken: the fastest of ``repeat`` calls after one warm-up call."""
    if repeat == 1:
        return "one timed call after a warm-up"
    return f"best of {NUMBER_WORDS.get(repeat, str(repeat))} calls after a warm-up"


def context(summary: dict) -> dict:
    per = summary["per_model"]
    torch_models = [m for m in summary["models"] if per[m]["backend"] == "torch"]
    best = max(torch_models, key=lambda m: per[m]["final"]["mean"]) if torch_models else None
    pairs = []  # the same model under both discretisations
    for m in torch_models:
        if per[m]["disc"] == "bilinear":
            twin = next((o for o in torch_models if o != m and per[o]["kind"] == per[m]["kind"]
                         and per[o]["init"] == per[m]["init"] and per[o]["disc"] == "zoh"), None)
            if twin:
                pairs.append((m, twin))
    numpy_models = [m for m in summary["models"] if per[m]["backend"] == "numpy"]
    torch_twin = next((m for m in torch_models if per[m]["kind"] == "s4d" and per[m]["init"] == "lin"
                       and per[m]["disc"] == "zoh"), None)
    ds = summary["dataset"]["name"]
    return {
        "s": summary, "per": per, "models": summary["models"], "torch_models": torch_models,
        "best": best, "pairs": pairs, "numpy_models": numpy_models, "torch_twin": torch_twin,
        "scale": summary["scale"], "is_full": full_protocol(summary["scale"]),
        "dataset": SEQ_DATASET_NAMES.get(ds, ds), "stand_in": ds != "cifar10_gray",
        "length": summary["dataset"].get("length"), "pct": pct, "disc": disc_numbers(summary),
        "timing_note": timing_note(summary["timing"].get("repeat", 3)),
        "model_text": MODEL_TEXT, "init_text": INIT_TEXT, "disc_text": DISC_TEXT,
        "reference": REFERENCE if full_protocol(summary["scale"]) else [],
        "provenance": {**summary["provenance"], "scale": summary["scale"]},
        "n_runs": len(summary["provenance"]["runs"]),
        "total_minutes": summary["provenance"]["total_run_time_s"] / 60,
    }
