"""End to end at the rehearsal scale, in a copy of the workflow: the full configuration with only
budgets shrunk, on the format-exact fakes that ``python -m saidl.fakes`` makes. Every task's PDF
and the combined PDF are built; each full-only section is there with the runs' numbers, and page 1
lists exactly the rehearsal's differences from ``full``."""

import re
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, needs_latex
from saidl.common.config import scale_changes
from saidl.common.io import read_json

pytestmark = needs_latex
TASKS = ("coreml", "ssm", "rl", "diffusion", "paper", "multimodal")
IGNORE = shutil.ignore_patterns(".venv", "results", "logs", ".snakemake", "__pycache__", "*.egg-info",
                                ".pytest_cache", "data", ".whl")


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    root = tmp_path_factory.mktemp("rehearsal") / "repo"
    shutil.copytree(REPO, root, ignore=IGNORE)
    # a generous limit that only catches a hang: the rehearsal takes about 10 minutes on 2 idle cores
    proc = subprocess.run([sys.executable, "-m", "snakemake", "report", "--cores", "2", "--config", "scale=rehearsal"],
                          cwd=root, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise AssertionError(f"rehearsal report failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return root


def pdf_text(path, first=None, last=None) -> str:
    pages = [] if first is None else ["-f", str(first), "-l", str(last or first)]
    out = subprocess.run(["pdftotext", *pages, str(path), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", "", out)


def task_config(task: str) -> dict:
    return yaml.safe_load((REPO / f"tasks/{task}/config.yaml").read_text())[task]


def changes_of(task: str) -> list[dict]:
    tasks = ("paper", "coreml") if task == "paper" else (task,)
    return [c for t in tasks for c in scale_changes(task_config(t), t, "rehearsal")]


@pytest.mark.parametrize("task", TASKS)
def test_page_one_lists_every_change_from_full(workflow, task):
    pdf = workflow / f"results/rehearsal/{task}/{task}.pdf"
    first = pdf_text(pdf, 1, 2)  # the note starts on page 1; a long list may run onto page 2
    changes = changes_of(task)
    assert changes, f"{task} has no rehearsal changes"
    assert "Rehearsal:thesenumberstestthepipeline,notthemethods." in pdf_text(pdf, 1)
    assert f"withonlythe{len(changes)}valuesbelowchanged" in first
    for c in changes:
        assert re.sub(r"\s+", "", f"{c['key']}:{c['full']}") in first, c
    assert "??" not in pdf_text(pdf)


def test_combined_pdf_holds_every_task(workflow):
    out = workflow / "results/rehearsal"
    combined = out / "report.pdf"
    assert combined.stat().st_size > sum((out / t / f"{t}.pdf").stat().st_size for t in TASKS) * 0.5


def test_fakes_are_stamped_and_never_at_full(workflow):
    stamps = sorted((workflow / "data/rehearsal/.complete").glob("*.json"))
    assert stamps, "no fake assets were made"
    for stamp in stamps:
        assert read_json(stamp)["fake"] is True
    for task in TASKS:  # the full blocks never point at the fakes
        full = yaml.safe_dump(task_config(task)["scales"]["full"])
        assert "rehearsal" not in full, task
