"""Shared test fixtures: the repository root and the smoke-scale run config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

needs_latex = pytest.mark.skipif(shutil.which("latexmk") is None,
                                 reason="latexmk missing: run `make env` (as root) first")


def pdf_text(path, first=None, last=None, *, mode=None, strip=True, dehyphen=False) -> str:
    """The text of a PDF by pdftotext (pages first..last when given). ``mode``: None (reading
    order), "layout" (the page's lines) or "raw" (content order: a table row's cells together).
    ``strip`` removes all whitespace; ``dehyphen`` first joins words broken at a line end."""
    import re
    import subprocess

    args = ["pdftotext", *([f"-{mode}"] if mode else [])]
    if first is not None:
        args += ["-f", str(first), "-l", str(last or first)]
    text = subprocess.run([*args, str(path), "-"], capture_output=True, text=True, check=True).stdout
    if dehyphen:
        text = re.sub(r"(?<=[a-z])-\n(?=[a-z])", "", text)
    return re.sub(r"\s+", "", text) if strip else text


SMOKE_IGNORE = shutil.ignore_patterns(".venv", "results", "logs", ".snakemake", "__pycache__", "*.egg-info",
                                      ".pytest_cache")


def smoke_snakemake(cwd, *args, check=True):
    """``snakemake <args> --config scale=smoke`` in ``cwd``; a failure shows the log tails."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "snakemake", *args, "--config", "scale=smoke"],
                          cwd=cwd, capture_output=True, text=True, timeout=SMOKE_BUILD_TIMEOUT)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


# Every timeout in the tests only catches a hang, never slowness: a test that takes a minute on two
# idle cores takes several on a machine loaded to 3x its cores (CI runners, parallel builds). One
# value for every subprocess a test starts and for every test that builds a workflow.
HANG_TIMEOUT = 3600
# The smoke build behind ``smoke_workflow`` takes about 4 minutes on 2 idle cores.
SMOKE_BUILD_TIMEOUT = HANG_TIMEOUT


def pytest_collection_modifyitems(items):
    for item in items:
        if "smoke_workflow" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(SMOKE_BUILD_TIMEOUT))


@pytest.fixture(scope="session")
def smoke_workflow(tmp_path_factory) -> Path:
    """A copy of the workflow with every smoke report built (all task PDFs and the combined one).
    Shared by every test module that reads smoke PDFs: read it, never modify it (copy it first).
    ``SAIDL_SMOKE_WORKFLOW=<dir>`` reuses a workflow copy built before (to iterate on the checks)."""
    import os

    if os.environ.get("SAIDL_SMOKE_WORKFLOW"):
        return Path(os.environ["SAIDL_SMOKE_WORKFLOW"])
    root = tmp_path_factory.mktemp("smoke") / "repo"
    shutil.copytree(REPO, root, ignore=SMOKE_IGNORE)
    smoke_snakemake(root, "report", "--cores", "2")
    return root


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


def save_tiny_clip(path: Path) -> Path:
    """A randomly initialised two-layer CLIP with a byte-level tokenizer, saved like a real one."""
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    chars = list(bytes_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)} | {c + "</w>": i + len(chars) for i, c in enumerate(chars)}
    vocab |= {"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1}
    tok = CLIPTokenizer(vocab=vocab, merges=[])
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    cfg = CLIPConfig(text_config=dict(small, vocab_size=len(vocab), max_position_embeddings=77,
                                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                      pad_token_id=tok.pad_token_id),
                     vision_config=dict(small, image_size=32, patch_size=8), projection_dim=16)
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture
def workflow_copy(tmp_path) -> Path:
    """A copy of the workflow (code, configs, templates; the data folder linked), so that a test
    may edit a shipped config or leave a lock without touching the checkout."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("Snakefile", "pyproject.toml"):
        shutil.copy2(REPO / name, root / name)
    for name in ("config", "tasks", "src", "templates", "tex", "profiles", "envs"):
        if (REPO / name).exists():
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    if (REPO / "data").exists():
        (root / "data").symlink_to(REPO / "data")
    return root


def pack_smoke(root: Path, task: str, mode: str = "vmap", seeds: tuple[int, ...] = (0, 1)) -> None:
    """Set ``pack: 8`` and ``pack_mode`` in the smoke block of a workflow copy's task config, with
    ``seeds`` (the smoke blocks train one seed, and a pack needs two runs of one key)."""
    path = root / f"tasks/{task}/config.yaml"
    text = path.read_text()
    head = "    smoke:\n"
    assert head in text and "      seeds: [0]\n" in text
    path.write_text(text.replace(head, head + f"      pack: 8\n      pack_mode: {mode}\n", 1).replace(
        "      seeds: [0]\n", f"      seeds: {list(seeds)}\n", 1))
