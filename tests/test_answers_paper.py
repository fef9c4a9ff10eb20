"""The paper smoke report (built once per session by the ``smoke_workflow`` fixture): its
answer sheet, its numbers against the body and summary.json, its data tables."""

import re
import subprocess

from conftest import needs_latex, pdf_text as _pdf_text
from saidl.common.io import read_json
from saidl.common.stats import CLAIM_VERDICTS

pytestmark = needs_latex

# Where the answer sheet ends: the first sentence after it (templates/paper/report.tex).
SHEET_END = "This report answers the Paper Implementation task"
# References to sections, tables and figures are not numbers of the runs.
REFS = re.compile(r"(Sec(tion)?s?\.?|Table|Fig(ure)?\.?|Appendix)\s*~?\d+(\.\d+)*(\s*[–-]\s*\d+(\.\d+)*)?")
NUMBER = re.compile(r"[+−-]?\d+\.\d+")


def pdf_text(path, first=None, last=None, strip=True) -> str:
    return _pdf_text(path, first, last, strip=strip)

def numbers(text: str) -> list[str]:
    """The decimal numbers of a text (unicode minus as '-'), section/table/figure numbers left out."""
    return [x.replace("−", "-") for x in NUMBER.findall(REFS.sub(" ", re.sub(r"\s+", " ", text)))]


def summary_numbers(summary) -> set[str]:
    """Every float of summary.json as the report prints it: % with one decimal (signed or not),
    and plain with two decimals (the gradient ratios)."""
    out: set[str] = set()

    def walk(x):
        if isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        elif isinstance(x, float):
            out.update({f"{100 * x:.1f}", f"{100 * x:+.1f}", f"{x:.2f}", f"{x:.1f}"})
    walk(summary)
    return {s.replace("-0.0", "0.0") if s == "-0.0" else s for s in out} | {"+0.0", "0.0"}


def split_report(pdf):
    text = pdf_text(pdf, strip=False)
    assert SHEET_END in text.replace("\n", " "), "the sheet's end marker moved; update SHEET_END"
    flat = re.sub(r"\s+", " ", text)
    sheet, body = flat.split(SHEET_END, 1)
    return sheet, body


def test_paper_report_gives_a_verdict_on_every_claim_with_its_numbers(smoke_workflow):
    out = smoke_workflow / "results/smoke/paper"
    summary = read_json(out / "summary.json")
    text = pdf_text(out / "paper.pdf")
    assert "??" not in text and "Verdicts" in text
    assert len(summary["claims"]) >= 5
    for claim in summary["claims"]:
        assert set(claim) >= {"id", "verdict"} and "statement" not in claim
        assert claim["verdict"] in CLAIM_VERDICTS
        assert claim["verdict"].replace(" ", "") in text
    anl = summary["cells"]["main"]["sym"]["0.8"]["ANL-CE"]["final"]["mean"]
    assert f"ANL-CE{100 * anl:.1f}" in text


def test_answer_sheet_is_on_page_one_and_its_numbers_are_the_bodys_and_the_summarys(smoke_workflow):
    out = smoke_workflow / "results/smoke/paper"
    summary = read_json(out / "summary.json")
    page1 = pdf_text(out / "paper.pdf", 1, 1)
    assert "Answersheet" in page1
    for item in ("1", "2", "3a", "4"):
        assert item in page1
    sheet, body = split_report(out / "paper.pdf")
    sheet_numbers = numbers(sheet.split("Answer sheet", 1)[-1])
    assert sheet_numbers, "the answer sheet quotes no number"
    body_numbers = set(numbers(body))
    known = summary_numbers(summary)
    for x in sheet_numbers:
        assert x in body_numbers, f"answer-sheet number {x} does not appear in the report's body"
        assert x in known or x.lstrip("+") in known, f"answer-sheet number {x} is not a number of summary.json"
    # the main comparison's difference, as the sheet and the claim box print it
    ab = summary["design"]["ablation"]
    row = next(r for c in summary["claims"] if c["id"] == "anl_beats_apl" for r in c["rows"]
               if r["noise"] == ab["noise"] and r["eta"] == ab["eta"] and r["variant"] == "ANL-CE")
    diff = f"{100 * row['cmp']['diff']:+.1f}".replace("-", "−")
    assert diff in sheet and diff in body


def test_data_tables_and_counts_match_the_summary(smoke_workflow):
    out = smoke_workflow / "results/smoke/paper"
    summary = read_json(out / "summary.json")
    text = pdf_text(out / "paper.pdf")
    layout = subprocess.run(["pdftotext", "-layout", str(out / "paper.pdf"), "-"], capture_output=True, text=True,
                            check=True).stdout  # table rows stay on one line
    cfg = summary["run_configs"]["main"]
    for label, key in (("training images", "n_train"), ("validation images", "n_val"), ("test images", "n_test"),
                       ("epochs", "epochs"), ("batch size", "batch_size")):
        assert re.search(rf"^\s*{label}\s+{cfg[key]}\b", layout, re.M), f"hyperparameter table: {label} is not {cfg[key]}"
        assert summary["groups"]["main"][key] == cfg[key]
    seeds = ", ".join(str(s) for s in summary["groups"]["main"]["seeds"])
    assert re.search(rf"^\s*seeds, main\s+{re.escape(seeds)}\b", layout, re.M)
    for noise, per_eta in summary["noise"]["main"].items():
        for eta, v in per_eta.items():
            if float(eta) > 0:
                rate = re.escape(f"{100 * v['realised_rate']:.1f}%")
                assert re.search(rf"realisednoiserate(PI-\d+)?{rate}", text)  # a page may break there
    prose = text.split("ACodelistings")[0]  # the listings are Python, where None is a word
    assert prose != text
    for word in ("seed(s)", "None", "U+", "±0.0"):
        assert word not in prose, f"{word!r} in the paper report"
    assert "U+" not in text
