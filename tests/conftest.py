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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small networks on a busy 2-core machine: one intra-op thread is much faster than two."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
