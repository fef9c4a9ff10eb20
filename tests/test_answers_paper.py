"""The paper smoke report (built once per session by the ``smoke_workflow`` fixture): its
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


def test_paper_report_gives_a_verdict_on_every_claim_with_its_numbers(smoke_workflow):
    out = smoke_workflow / "results/smoke/paper"
    summary = read_json(out / "summary.json")
    text = pdf_text(out / "paper.pdf")
    assert "??" not in text and "Verdicts" in text
    assert len(summary["claims"]) >= 5
    for claim in summary["claims"]:
        assert claim["verdict"] in ("supported", "partly supported", "not supported")
    anl = summary["cells"]["main"]["sym"]["0.8"]["ANL-CE"]["final"]["mean"]
    assert f"ANL-CE{100 * anl:.1f}%" in text
