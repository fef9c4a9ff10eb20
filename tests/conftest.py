"""Shared test fixtures: the repository root and the smoke-scale run config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

needs_latex = pytest.mark.skipif(shutil.which("latexmk") is None,
                                 reason="latexmk missing: run `make env` (as root) first")


@pytest.fixture(scope="session")
def coreml_cfg() -> dict:
    return yaml.safe_load((REPO / "tasks/coreml/config.yaml").read_text())["coreml"]


@pytest.fixture()
def tiny_run_cfg(coreml_cfg) -> dict:
    """One tiny Core ML run config on Fashion-MNIST (a few seconds on a CPU)."""
    from saidl.coreml.grid import run_configs

    cfg = run_configs(coreml_cfg, "smoke")["sym-0.8-NCE+RCE-s0"]
    return {**cfg, "n_train": 300, "n_val": 100, "n_test": 200, "epochs": 3}
