"""A refactor changes no PDF: the smoke reports built from this checkout read the same as the ones
built from an earlier commit, apart from numbers (timings differ from run to run; every digit is
masked) and the captions of code listings named in ``ALLOWED``.

Opt-in, because it builds the smoke workflow a second time (about 4 minutes on two idle cores):
``SAIDL_COMPARE_REF=<commit> pytest tests/test_same_pdfs.py``."""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
import io

import pytest

from conftest import HANG_TIMEOUT, REPO, needs_latex, pdf_text, smoke_snakemake

REF = os.environ.get("SAIDL_COMPARE_REF")
TASKS = ("coreml", "ssm", "rl", "diffusion", "paper", "multimodal")
pytestmark = [needs_latex, pytest.mark.timeout(HANG_TIMEOUT),
              pytest.mark.skipif(not REF, reason="set SAIDL_COMPARE_REF=<commit> to compare against it")]


@pytest.fixture(scope="module")
def before(tmp_path_factory):
    """The smoke workflow of ``REF``, built in a temporary folder."""
    root = tmp_path_factory.mktemp("before") / "repo"
    root.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", REF], cwd=REPO, capture_output=True,
                             check=True, timeout=HANG_TIMEOUT).stdout
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(root, filter="data")
    smoke_snakemake(root, "report", "--cores", "2")
    return root


def lines(pdf) -> list[str]:
    text = pdf_text(pdf, mode="layout", strip=False)
    masked = re.sub(r"\d+(\.\d+)?", "N", text)
    return [" ".join(line.split()) for line in masked.splitlines() if line.strip()]


@pytest.mark.parametrize("name", [*TASKS, "report"])
def test_pdf_text_is_unchanged(name, before, smoke_workflow):
    rel = "results/smoke/report.pdf" if name == "report" else f"results/smoke/{name}/{name}.pdf"
    old, new = lines(before / rel), lines(smoke_workflow / rel)
    import difflib

    diff = [d for d in difflib.unified_diff(old, new, lineterm="", n=0) if d[:1] in "+-" and d[:3] not in ("+++", "---")]
    assert not diff, f"{name}: {len(diff)} lines differ from {REF}:\n" + "\n".join(diff[:60])
