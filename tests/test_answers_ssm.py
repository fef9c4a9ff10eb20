"""The ssm smoke report (built once per session by the ``smoke_workflow`` fixture): its
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


def test_ssm_report_shows_every_model_and_the_discretisation_study(smoke_workflow):
    out = smoke_workflow / "results/smoke/ssm"
    summary = read_json(out / "summary.json")
    text = pdf_text(out / "ssm.pdf")
    for name, model in summary["per_model"].items():
        assert name in text and f"{100 * model['final']['mean']:.1f}" in text
    assert {r["method"] for r in summary["discretisation"]["rows"]} == {"euler", "bilinear", "zoh"}
    assert "??" not in text and "Bonus:S4DinNumPyonly" in text
