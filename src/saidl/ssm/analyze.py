"""Collect the SSM run JSONs, the discretisation study and the kernel timings into one summary.

Usage: ``python -m saidl.ssm.analyze --grid-json grid.json --runs-dir DIR --discretisation D.json
--timing T.json --out summary.json``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from saidl.common.cli import collect_main
from saidl.common.provenance import summary_provenance
from saidl.common.runs import load_run, stats

_CURVE = {"type": "array", "items": {"type": ["number", "null"]}}
RUN_SCHEMA = {
    "type": "object",
    "required": ["id", "task", "config", "metrics", "kernels", "timing", "provenance"],
    "properties": {
        "task": {"const": "ssm"},
        "metrics": {"type": "object", "required": ["train_loss", "val_acc", "test_acc", "final_test_acc", "n_params"],
                    "properties": {k: _CURVE for k in ("train_loss", "val_acc", "test_acc")}},
        "kernels": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        "timing": {"type": "object", "required": ["wall_time_s", "mean_epoch_time_s"]},
        "provenance": {"type": "object", "required": ["git_commit", "config_hash", "dataset"]},
    },
}


def collect(grid: dict[str, dict], runs_dir: Path, discretisation: dict, timing: dict) -> dict:
    runs = {rid: load_run(runs_dir / f"{rid}.json", cfg, RUN_SCHEMA) for rid, cfg in grid.items()}
    order = {"s4": 0, "s4d": 1, "legs": 0, "lin": 1, "inv": 2, "bilinear": 0, "zoh": 1, "torch": 0, "numpy": 1}
    models = sorted({c["model"]: c for c in grid.values()}.values(),
                    key=lambda c: (order[c["backend"]], order[c["kind"]], order[c["init"]], order[c["disc"]]))
    models = [c["model"] for c in models]
    per_model = {}
    for name in models:
        group = [r for r in runs.values() if r["config"]["model"] == name]
        m = [g["metrics"] for g in group]
        cfg = group[0]["config"]
        per_model[name] = {
            "kind": cfg["kind"], "init": cfg["init"], "disc": cfg["disc"], "backend": cfg["backend"],
            "d_model": cfg["d_model"], "n_layers": cfg["n_layers"], "d_state": cfg["d_state"],
            "n_train": cfg["n_train"], "epochs": cfg["epochs"], "lr": cfg["lr"], "ssm_lr": cfg["ssm_lr"],
            "weight_decay": cfg["weight_decay"], "batch_size": cfg["batch_size"],
            "final": stats([x["final_test_acc"] for x in m]),
            "val_selected": (stats([x["val_selected_test_acc"] for x in m])
                             if m[0]["val_selected_test_acc"] is not None else None),
            "epoch_time_s": stats([g["timing"]["mean_epoch_time_s"] for g in group]),
            "n_params": m[0]["n_params"],
            "curve": np.mean([x["test_acc"] for x in m], axis=0).tolist(),
            "loss_curve": np.mean([x["train_loss"] for x in m], axis=0).tolist(),
            "kernels": group[0]["kernels"],
        }
    first = next(iter(runs.values()))
    return {
        "task": "ssm", "scale": first["config"]["scale"], "models": models, "per_model": per_model,
        "seeds": sorted({c["seed"] for c in grid.values()}),
        "dataset": first["provenance"]["dataset"], "discretisation": discretisation, "timing": timing,
        "provenance": summary_provenance(grid, runs, [{"name": first["provenance"]["dataset"]["name"],
                                                      "checksum": first["provenance"]["dataset"]["checksum"]}]),
    }


def main(argv: list[str] | None = None) -> int:
    return collect_main(collect, __doc__.splitlines()[0], argv, extra_json=("discretisation", "timing"))


if __name__ == "__main__":
    sys.exit(main())
