"""The diffusion smoke report (built once per session by the ``smoke_workflow`` fixture): its
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


def test_diffusion_report_shows_every_dit_its_fid_and_the_generated_images(smoke_workflow):
    out = smoke_workflow / "results/smoke/diffusion"
    summary = read_json(out / "summary.json")
    text = pdf_text(out / "diffusion.pdf")
    for name, run in summary["runs"].items():
        assert name in text and f"{run['fid']:.1f}" in text
        assert f"{run['scores']['inception']['cmmd']:.3f}" in text
        assert (out / "images" / f"{name}.png").stat().st_size > 100
    assert {r["backend"] for r in summary["backends"]["rows"] if r["ran"]} == {"matmul", "sdpa", "sliding"}
    assert "??" not in text and "Item4(bonus):conditioningmethods" in text
    # the images are embedded in the PDF, one per sample grid at least
    images = subprocess.run(["pdfimages", "-list", str(out / "diffusion.pdf")], capture_output=True, text=True)
    assert images.returncode != 0 or len(images.stdout.splitlines()) - 2 >= len(summary["runs"]) + 2
