"""The coreml smoke report (built once per session by the ``smoke_workflow`` fixture): its
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


def test_report_builds_task_and_combined_pdfs_with_the_runs_numbers(smoke_workflow):
    out = smoke_workflow / "results/smoke"
    assert (out / "coreml/coreml.pdf").stat().st_size > 10_000
    assert (out / "report.pdf").stat().st_size > (out / "coreml/coreml.pdf").stat().st_size * 0.5
    summary = read_json(out / "coreml/summary.json")
    text = pdf_text(out / "coreml/coreml.pdf")
    ce = summary["cells"]["sym"]["0.8"]["CE"]["final"]["mean"]
    apl = summary["cells"]["sym"]["0.8"]["NCE+RCE"]["final"]["mean"]
    assert f"{100 * ce:.1f}%" in text and f"{100 * apl:.1f}%" in text
    assert f"{100 * summary['noise']['sym']['0.8']['realised_rate']['mean']:.1f}%" in text
    assert "??" not in text
    assert "Provenance" in text and summary["provenance"]["config_hash"] in text
