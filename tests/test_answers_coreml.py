"""The coreml smoke report (built once per session by the ``smoke_workflow`` fixture): its
answer sheet, its numbers against the body and summary.json, its data tables."""

import re

import pytest

from conftest import needs_latex, pdf_text as _pdf_text
from saidl.common.io import read_json

pytestmark = needs_latex
MINUS = "\u2212"  # pdftotext renders a maths minus as U+2212


def pdf_text(path, first=None, last=None, layout=False) -> str:
    return _pdf_text(path, first, last, mode="layout" if layout else None)

def num(x: float, sign: bool = False) -> str:
    """A fraction as the report prints it in %, one decimal, maths minus."""
    text = f"{100 * x:{'+' if sign else ''}.1f}"
    return text.replace("-", MINUS)


def ci(st: dict) -> str:
    """``| ci`` of an interval dict, whitespace removed: 60.1[58.2,62.0],n=3."""
    text = num(st["mean"])
    if st.get("lo") is not None:
        text += f"[{num(st['lo'])},{num(st['hi'])}]"
    return text + f",n={st['n']}"


def diff(c: dict) -> str:
    """``| diff`` of a compare dict, whitespace removed: +1.5[-0.3,3.3],n=3."""
    text = num(c["diff"], sign=True)
    if c.get("lo") is not None:
        text += f"[{num(c['lo'])},{num(c['hi'])}]"
    return text + f",n={c['n_pairs']}"


def in_order(parts, text) -> bool:
    """Every part occurs in ``text``, each after the previous one (the answer sheet's columns
    interleave in the extracted text, so an evidence cell may be split by its page number)."""
    at = 0
    for part in parts:
        at = text.find(part, at)
        if at < 0:
            return False
        at += len(part)
    return True


def split_evidence(ev: str) -> list[str]:
    """An evidence string as its label, its value and the pieces of its interval and n (a cell
    may wrap inside the interval, with another column's text in between)."""
    m = re.match(r"(.*?)([+\u2212]?\d+\.\d)(\[.*|,n=\d+.*)$", ev)
    label, value, rest = m.groups()
    return [p for p in (label, value, *re.split(r"(?<=,)", rest)) if p]


def weakest(rows, key):
    return min((r for r in rows if r.get(key)), key=lambda r: r[key]["diff"])


def sheet_and_body(pdf):
    """The answer sheet's text (pages 1-2, up to the first section) and the body's text after it."""
    first = pdf_text(pdf, 1, 2)
    start = first.index("Answersheet")
    sheet = first[start:first.index("Thequestion", start)]
    whole = pdf_text(pdf)
    return sheet, whole[whole.index("Thequestion", whole.index("Answersheet")):]


def expected_evidence(summary: dict) -> dict[str, str]:
    """The evidence each answer-sheet row prints, computed from summary.json."""
    claims = {c["id"]: c for c in summary["claims"]}
    out = {}
    if "normalized_robust" in claims:
        r = weakest(claims["normalized_robust"]["rows"], "cmp")
        out["normalized_robust"] = f"{r['normalized']}{MINUS}{r['vanilla']}:{diff(r['cmp'])}"
    if "normalized_underfit" in claims:
        r = weakest(claims["normalized_underfit"]["rows"], "cmp")
        out["normalized_underfit"] = f"{r['vanilla']}{MINUS}{r['normalized']}:{diff(r['cmp'])}"
    if "vanilla_collapse" in claims:
        r = claims["vanilla_collapse"]["rows"][0]
        out["vanilla_collapse"] = f"{r['loss']}fits{ci(r['noisy_fit'])}"
    if "apl_robust" in claims:
        r = weakest(claims["apl_robust"]["rows"], "vs_ce")
        out["apl_robust"] = f"{r['loss']}{MINUS}CE:{diff(r['vs_ce'])}"
    for cid in ("apl_clean", "apl_asym"):
        if cid in claims:
            r = weakest(claims[cid]["rows"], "cmp")
            out[cid] = f"{r['loss']}{MINUS}CE:{diff(r['cmp'])}"
    return out


@pytest.fixture(scope="module")
def built(smoke_workflow):
    out = smoke_workflow / "results/smoke/coreml"
    return {"out": out, "pdf": out / "coreml.pdf", "summary": read_json(out / "summary.json")}


def test_report_builds_task_and_combined_pdfs_with_the_runs_numbers(smoke_workflow, built):
    out = smoke_workflow / "results/smoke"
    assert built["pdf"].stat().st_size > 10_000
    assert (out / "report.pdf").stat().st_size > built["pdf"].stat().st_size * 0.5
    summary = built["summary"]
    text = pdf_text(built["pdf"])
    hi = f"{max(summary['etas']['sym']):g}"
    for loss in ("CE", "NCE+RCE"):  # each last-epoch accuracy at the highest noise, with its n
        assert ci(summary["cells"]["sym"][hi][loss]["final"]) in text, loss
    assert f"{100 * summary['noise']['sym'][hi]['realised_rate']['mean']:.1f}%" in text
    assert "??" not in text and "ten CPU seconds" not in text
    assert "Provenance" in text and summary["provenance"]["config_hash"] in text


def test_answer_sheet_numbers_equal_the_body_and_the_summary(built):
    sheet, body = sheet_and_body(built["pdf"])
    expected = expected_evidence(built["summary"])
    assert expected, "no claim in the smoke summary"
    for cid, ev in expected.items():
        assert in_order(split_evidence(ev), sheet), f"{cid}: {ev!r} not on the answer sheet"
        assert ev in body, f"{cid}: {ev!r} on the answer sheet but not in the claim in the body"
    # the best loss at the highest symmetric noise, with its interval
    s = built["summary"]
    hi = f"{max(e for e in s['etas']['sym'] if e > 0):g}"
    top = s["best"]["sym"][hi]["top"]
    assert in_order([top, *split_evidence(ci(s["cells"]["sym"][hi][top]["final"]))], sheet)
    assert ci(s["cells"]["sym"][hi][top]["final"]) in body
    # item 1: the realised noise rate
    rate = f"{100 * s['noise']['sym'][hi]['realised_rate']['mean']:.1f}%"
    assert in_order(["realisedrate", rate], sheet)


def test_noise_and_hyperparameter_tables_match_the_summary(built):
    s = built["summary"]
    table = (built["out"] / "tex/tables/table_noise.tex").read_text()
    text = pdf_text(built["pdf"], layout=True)
    for noise in ("sym", "asym"):
        for eta in s["etas"][noise]:
            cell = s["noise"][noise][f"{eta:g}"]
            name = "symmetric" if noise == "sym" else "asymmetric"
            row = f"{name}&{eta:g}&{100 * cell['realised_rate']['mean']:.1f}\\,\\%&{cell['n_noisy']} / {cell['n_train']}"
            assert row in table, row
            assert f"{name}{eta:g}{100 * cell['realised_rate']['mean']:.1f}%{cell['n_noisy']}/{cell['n_train']}" in text
            assert cell["n_train"] == s["dataset"]["n_train"]
    # the hyperparameter table: the splits the runs used
    for name, key in (("trainingimages", "n_train"), ("validationimages", "n_val"), ("testimages", "n_test")):
        assert f"{name}{s['dataset'][key]}" in text, name
    assert f"epochs{s['config']['epochs']}" in text
