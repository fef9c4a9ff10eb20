"""The diffusion smoke report (built once per session by the ``smoke_workflow`` fixture): its
answer sheet, its numbers against the body and summary.json, its data tables."""

import subprocess

import pytest

from conftest import needs_latex, pdf_text as _pdf_text
from saidl.common.io import read_json

pytestmark = needs_latex


def pdf_text(path, first=None, last=None) -> str:
    return _pdf_text(path, first, last, mode="raw")

@pytest.fixture(scope="module")
def report(smoke_workflow):
    out = smoke_workflow / "results/smoke/diffusion"
    summary = read_json(out / "summary.json")
    front = pdf_text(out / "diffusion.pdf", 1, 2)
    assert "Abstract" in front, "the answer sheet must end before the abstract, on page 1 or 2"
    sheet = front.split("Abstract")[0]
    whole = pdf_text(out / "diffusion.pdf")
    body = whole[whole.index("Abstract"):]
    return out, summary, sheet, body


def test_diffusion_report_shows_every_dit_its_fid_and_the_generated_images(report):
    out, summary, _, text = report
    for name, run in summary["runs"].items():
        assert name in text and f"{run['fid']:.1f}" in text
        for e in summary["embedders"]:  # both CMMD estimators, as the text says
            assert f"{run['scores'][e]['cmmd']:.3f}" in text
            assert f"{run['scores'][e]['cmmd_unbiased']:.3f}" in text
        assert (out / "images" / f"{name}.png").stat().st_size > 100
    assert {r["backend"] for r in summary["backends"]["rows"] if r["ran"]} == {"matmul", "sdpa", "sliding"}
    assert "??" not in text and "Item4(bonus):conditioningmethods" in text
    assert "References" in text and "Hyperparameters" in text
    # the images are embedded in the PDF, one per sample grid at least
    images = subprocess.run(["pdfimages", "-list", str(out / "diffusion.pdf")], capture_output=True, text=True)
    assert images.returncode != 0 or len(images.stdout.splitlines()) - 2 >= len(summary["runs"]) + 2


def test_answer_sheet_is_on_page_one_with_every_item_in_order(report):
    out, *_ = report
    page1 = pdf_text(out / "diffusion.pdf", 1, 1)
    assert "Answersheet" in page1
    sheet = report[2]
    pos = [sheet.index(k) for k in ("1(a)", "1(b)", "2(a)", "2(b)", "3(a)", "3(b)", "Bonus")]
    assert pos == sorted(pos)
    assert "needsaGPUwithxformers" in sheet  # smoke: xformers does not run on the CPU
    assert "needsthefullscale:SigLIPandALIGNweights" in sheet


def test_answer_sheet_numbers_equal_the_body_and_the_summary(report):
    _, s, sheet, body = report
    n = s["study"]["config"]["n_study"]
    a, claims = s["analysis"], s["claims"]
    # 1(a): recognised samples at the lowest and highest guidance scale, and the diversity
    g = a["study"]["guidance"]
    for row in (g["lo"], g["hi"]):
        hits = f"{round(row['class_acc'] * n)}/{n}"
        assert hits in sheet and hits in body
        assert f"{row['diversity']:.2f}" in sheet and f"{row['diversity']:.2f}" in body
    assert claims["guidance"]["verdict"].replace(" ", "") in sheet
    # 1(b): the FD at every step count of every sampler
    for f in a["study"]["steps"].values():
        for row in (f["few"], f["mid"], f["many"]):
            if row and row.get("fd_probe") is not None:
                assert f"{row['fd_probe']:.1f}" in sheet and f"{row['fd_probe']:.1f}" in body
    # 2(a): the mean time of every backend that ran
    for b, t in claims["backends"]["times"].items():
        assert f"{t['mean']:.2f}" in sheet and f"{t['mean']:.2f}" in body
    # 2(b): the two FIDs and how many metrics favour SWA
    swa = a["swa"]
    for r in (swa["full"], swa["sliding"]):
        assert f"{s['runs'][r]['fid']:.1f}" in sheet and f"{s['runs'][r]['fid']:.1f}" in body
    assert f"SWAloweron{claims['swa']['n_lower']}of{claims['swa']['n_metrics']}" in sheet
    assert f"SWAisloweron{claims['swa']['n_lower']}of{claims['swa']['n_metrics']}" in body
    # 3(a): orderings in agreement
    cf = claims["cmmd_fid"]
    assert f"in{cf['n_same']}of{cf['n_orderings']}" in sheet and f"in{cf['n_same']}of{cf['n_orderings']}" in body
    # 4: the FID of every conditioning, and the verdict the statistics module gave
    for r in s["groups"]["conditional"]:
        assert f"{s['runs'][r]['fid']:.1f}" in sheet and f"{s['runs'][r]['fid']:.1f}" in body
    assert claims["conditioning"]["verdict"].replace(" ", "") in sheet
    assert claims["swa"]["verdict"] == "too few seeds"  # one run per model: nothing is called better


def test_data_tables_match_the_summary(report):
    _, s, _, body = report
    for g, ref in s["references"].items():  # reference sets as realised
        assert f"{ref['n']}of" in body
    for name, run in s["runs"].items():  # the runs table
        assert f"{run['n_params']:,}" in body and f"{run['steps_per_s']:.1f}" in body
    for g, ae in s["autoencoders"].items():
        assert f"{ae['psnr_db']:.1f}" in body and f"{ae['n_params']:,}" in body
    n = s["study"]["config"]["n_study"]
    for row in s["study"]["rows"]:  # the study table: recognised samples per setting
        assert f"{round(row['class_acc'] * n)}/{n}" in body
    # the hyperparameter table carries the run configs
    cfg = s["run_configs"]["cond-adaln"]
    assert f"{cfg['ema_decay']:g}" in body and f"{cfg['hidden_size']}" in body
