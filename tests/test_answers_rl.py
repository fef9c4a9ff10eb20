"""The rl smoke report (built once per session by the ``smoke_workflow`` fixture): its
answer sheet, its numbers against summary.json, its data tables."""

import re
import subprocess

from conftest import needs_latex
from saidl.common.io import read_json

pytestmark = needs_latex


def pdf_text(path, first=None, last=None) -> str:
    """The PDF's text with all whitespace removed (pages first..last when given)."""
    pages = [] if first is None else ["-f", str(first), "-l", str(last or first)]
    return re.sub(r"\s+", "", subprocess.run(["pdftotext", *pages, str(path), "-"], capture_output=True,
                                              text=True, check=True).stdout)


def test_rl_report_shows_every_variant_and_the_attacks(smoke_workflow):
    out = smoke_workflow / "results/smoke/rl"
    summary = read_json(out / "summary.json")
    text = pdf_text(out / "rl.pdf")
    for name, v in summary["per_variant"].items():
        assert name in text and f"{v['final']['mean']:.0f}" in text
    assert "??" not in text and "Adversarialrobustness" in text and "Bonus:SALErepresentations" in text
