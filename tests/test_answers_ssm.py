"""The ssm smoke report (built once per session by the ``smoke_workflow`` fixture): its
answer sheet, its numbers against summary.json, its data tables."""

import re
import subprocess

from conftest import needs_latex, pdf_text as _pdf_text
from saidl.common.io import read_json
from saidl.common.stats import interval

pytestmark = needs_latex


def pdf_text(path, first=None, last=None, layout=False) -> str:
    return _pdf_text(path, first, last, mode="layout" if layout else None, strip=not layout)

def ci_text(values) -> str:
    """What the ``ci`` filter prints for a value list, as pdftotext gives it without spaces."""
    iv = interval(values)
    text = f"{100 * iv['mean']:.1f}"
    if iv["lo"] is not None:
        text += f"[{100 * iv['lo']:.1f},{100 * iv['hi']:.1f}]"
    return (text + f",n={iv['n']}").replace("-", "\u2212")


def sheet_and_body(pdf) -> tuple[str, str, str]:
    """The answer sheet (page 1, at most page 2, up to the first section), its evidence column
    alone (words placed between the "Evidence" and "p." headers, in reading order, so a cell
    that wraps reads as one string), and the text after the sheet."""
    head = pdf_text(pdf, 1, 2)
    assert "Thequestions" in head, "the answer sheet runs past page 2"
    sheet = head.split("Thequestions")[0]
    body = pdf_text(pdf).split("Thequestions", 1)[1]
    html = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "2", str(pdf), "-"],
                          capture_output=True, text=True, check=True).stdout
    evidence = []
    for page in html.split("<page")[1:]:
        words = [(float(y0), float(x0), float(x1), html_unescape(w)) for x0, y0, x1, w in
                 re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">(.*?)</word>', page)]
        head_ev = [w for w in words if w[3] == "Evidence"]
        head_p = [w for w in words if w[3] == "p." and head_ev and abs(w[0] - head_ev[0][0]) < 1]
        if not head_ev or not head_p:
            continue
        end = min((w[0] for w in words if w[3] == "questions" and w[0] > head_ev[0][0]), default=1e9)
        left, right = head_ev[0][1] - 1, head_p[0][1] - 1
        cell = sorted(w for w in words if head_ev[0][0] < w[0] < end and left <= w[1] and w[2] <= right)
        lines: list[list] = []  # words of one text line (baselines of different fonts differ a little)
        for w in cell:
            if lines and w[0] - lines[-1][0][0] < 4:
                lines[-1].append(w)
            else:
                lines.append([w])
        evidence += [w[3] for line in lines for w in sorted(line, key=lambda w: w[1])]
        if end < 1e9:
            break
    return sheet, "".join(evidence), body


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


def test_ssm_report_shows_every_model_and_the_discretisation_study(smoke_workflow):
    out = smoke_workflow / "results/smoke/ssm"
    summary = read_json(out / "summary.json")
    text = pdf_text(out / "ssm.pdf")
    for name, model in summary["per_model"].items():
        assert name in text and f"{100 * model['final']['mean']:.1f}" in text
    assert {r["method"] for r in summary["discretisation"]["rows"]} == {"euler", "bilinear", "zoh"}
    assert "??" not in text and "Bonus:S4DinNumPyonly" in text
    assert "Answersheet" in pdf_text(out / "ssm.pdf", 1) and "References" in text
    assert "Hyperparameters,readfromtherunconfigurations" in text


def test_ssm_answer_sheet_numbers_equal_the_body_and_the_summary(smoke_workflow):
    out = smoke_workflow / "results/smoke/ssm"
    summary = read_json(out / "summary.json")
    sheet, evidence, body = sheet_and_body(out / "ssm.pdf")
    per = summary["per_model"]
    # item 2: the model with the best mean, its interval and n, in the sheet and in the results table
    top = summary["best"]["top"]
    want = ci_text(per[top]["final"]["values"])
    assert f"{top}:{want}" in evidence and want in body
    assert summary["best"]["verdict"] in ("best", "tied", "too few seeds")
    if summary["best"]["verdict"] == "too few seeds":
        assert "themodelscannotbe" in sheet
    # item 4: the NumPy model
    for name, p in per.items():
        if p["backend"] == "numpy":
            want = ci_text(p["final"]["values"])
            assert f"{name}:{want}" in evidence and want in body
    # item 1: the measured growth of the Cauchy kernel's time, as in the body
    tc = summary["timing_facts"]["cauchy (S4, bilinear)"]
    assert f"×{tc['time_ratio']:.1f}timefor×{tc['length_ratio']:.0f}length" in sheet
    assert f"Cauchytimegrows×{tc['time_ratio']:.1f}" in body
    # item 3 (why): the step size from which forward Euler is unstable, in the sheet and the body
    euler = summary["disc_facts"]["lin"]["unstable"]["euler"]
    assert f"unstablefrom∆={euler:#.2g}".rstrip(".") in sheet
    assert f"from∆={euler:#.2g}".rstrip(".") + "on" in body
    # item 3 (results): each ZOH-minus-bilinear difference of the claim, where the grid has one
    claim = summary["claims"].get("zoh_vs_bilinear")
    for cmp in (claim or {}).get("comparisons", {}).values():
        d = f"{100 * cmp['diff']:+.2f}".replace("-", "\u2212")
        assert d in evidence and d in body
    # no interval, and no "±", from a single seed
    if len(summary["seeds"]) < 2:
        assert "±" not in body and "n=1" in evidence


def test_ssm_data_tables_match_the_summary(smoke_workflow):
    out = smoke_workflow / "results/smoke/ssm"
    summary = read_json(out / "summary.json")
    pdf = out / "ssm.pdf"
    lines = pdf_text(pdf, layout=True).splitlines()
    ds = summary["dataset"]
    # the hyperparameter table: split sizes and seeds as collected
    for label, value in (("training sequences", ds["n_train"]), ("validation sequences", ds["n_val"]),
                         ("test sequences", ds["n_test"]), ("model seeds", ", ".join(map(str, summary["seeds"])))):
        row = [m.group(1) for ln in lines for m in [re.match(rf"\s*{label}\s{{2,}}(\S+)", ln)] if m]
        assert row and row[0].rstrip(",") == str(value).split(",")[0], (label, row)
    text = pdf_text(pdf, 1)
    assert f"{ds['length']}stepspersequence,{ds['n_train']:,}trainingand{ds['n_test']:,}test" in text
    # the results table: one row per model with its parameters and its interval over every seed
    for name, p in summary["per_model"].items():
        row = [ln for ln in lines if ln.strip().startswith(name + " ")]
        assert row, name
        assert f"{p['n_params']:,}" in row[0]
        assert ci_text(p["final"]["values"]) in re.sub(r"\s+", "", row[0])
        assert p["final"]["n"] == len(summary["seeds"]) == len(p["seeds"])
