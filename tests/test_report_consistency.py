"""Consistency checks every smoke report must pass (the classes of defect a reviewer marks down):
captioned tables, no overfull box wider than a few points, no "(s)", "U+", "None" or "??" in the
text, an answer sheet on page 1 whose page numbers exist, a bibliography, and a combined PDF whose
page numbers agree with its contents."""

import re
import subprocess

import pytest

from conftest import needs_latex, pdf_text
from saidl.report.build import PAGE_PREFIX

pytestmark = needs_latex
TASKS = ("coreml", "ssm", "rl", "diffusion", "paper", "multimodal")
OVERFULL_PT = 5.0
FLOATS = re.compile(r"\\begin\{(table|figure)\*?\}.*?\\end\{\1\*?\}", re.S)
LONGTABLES = re.compile(r"\\begin\{longtable\}.*?\\end\{longtable\}", re.S)
BOXES = re.compile(r"\\fcolorbox.*?\\end\{minipage\}\}", re.S)


def text_of(pdf, first=None, last=None, layout=False) -> str:
    return pdf_text(pdf, first, last, mode="layout" if layout else None, strip=False)


def page_count(pdf) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


@pytest.fixture(scope="module", params=TASKS)
def report(request, smoke_workflow):
    task = request.param
    out = smoke_workflow / "results/smoke" / task
    return {"task": task, "pdf": out / f"{task}.pdf", "tex": (out / "tex/report.tex").read_text(),
            "log": (out / "tex/build-report/report.log").read_text(errors="replace")}


def test_every_table_has_a_caption(report):
    tex = report["tex"]
    for block in [m.group(0) for m in FLOATS.finditer(tex) if m.group(1) == "table"] + LONGTABLES.findall(tex):
        assert "\\caption" in block, f"{report['task']}: a table without a caption:\n{block[:400]}"
    rest = BOXES.sub("", LONGTABLES.sub("", FLOATS.sub("", tex)))
    rest = re.sub(r"\\begin\{lstlisting\}.*?\\end\{lstlisting\}", "", rest, flags=re.S)
    assert "\\begin{tabular" not in rest, f"{report['task']}: a tabular outside a captioned table float"
    assert not re.search(r"\\input\{[^}]*tables/", rest), f"{report['task']}: a generated table outside a float"


def test_no_overfull_box_wider_than_a_few_points(report):
    wide = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", report["log"])
            if float(w) > OVERFULL_PT]
    assert not wide, f"{report['task']}: overfull boxes of {wide} pt (see tex/build-report/report.log)"


def body_pages(pdf) -> str:
    """The text of the pages before the references (the appendix holds code, where ``None`` is
    Python)."""
    pages = text_of(pdf).split("\f")
    end = next((i for i, p in enumerate(pages) if re.search(r"^References$", p, re.M)), len(pages))
    return "\f".join(pages[:end + 1])


def test_no_placeholder_or_raw_character_in_the_text(report):
    text = text_of(report["pdf"])
    for bad in ("U+", "??"):
        assert bad not in text, f"{report['task']}: {bad!r} in the PDF text"
    body = body_pages(report["pdf"])
    assert not re.search(r"[A-Za-z]\(s\)", body), f"{report['task']}: a plural written '(s)' in the report's text"
    assert not re.search(r"\bNone\b", body), f"{report['task']}: 'None' in the report's text"
    assert not re.search(r"\b(nan|NaN)\b", body), f"{report['task']}: 'nan' in the report's text"


def test_answer_sheet_on_page_one_with_pages_that_exist(report):
    pdf, prefix = report["pdf"], PAGE_PREFIX[report["task"]]
    first = text_of(pdf, 1, 1)
    assert "Answer sheet" in first, f"{report['task']}: no answer sheet on page 1"
    n = page_count(pdf)
    for i in range(1, n + 1):
        footer = text_of(pdf, i, i, layout=True).strip().splitlines()[-1].strip()
        assert footer == f"{prefix}{i}", f"{report['task']}: page {i} is numbered {footer!r}"
    sheet = text_of(pdf, 1, 2, layout=True)
    sheet = sheet[:sheet.find("\f", sheet.find("Answer sheet"))] if "\f" in sheet else sheet
    pages = [int(p) for p in re.findall(rf"{re.escape(prefix)}(\d+)\s*$", sheet, re.M)]
    assert pages and all(1 <= p <= n for p in pages), f"{report['task']}: answer-sheet pages {pages} of {n}"


def test_references_are_cited_and_listed(report):
    assert "\\cite" in report["tex"] and "\\saidlreferences" in report["tex"]
    assert "References" in text_of(report["pdf"])
    assert "Citation" not in report["log"] or "undefined" not in report["log"].split("Citation", 1)[1][:200], \
        f"{report['task']}: an undefined citation"


def test_code_listings_are_in_the_appendix(report):
    tex = report["tex"]
    if "\\begin{lstlisting}" in tex:
        assert "\\appendix" in tex and tex.index("\\begin{lstlisting}") > tex.index("\\appendix"), \
            f"{report['task']}: a code listing before the appendix"


def test_combined_pdf_opens_with_every_answer_sheet_and_keeps_each_reports_page_numbers(smoke_workflow):
    combined = smoke_workflow / "results/smoke/report.pdf"
    n = page_count(combined)
    pages = [text_of(combined, i, i, layout=True) for i in range(1, n + 1)]
    contents = pages[0] + pages[1]
    # the answer sheets come right after the front matter, one per task, in task order
    sheets = [i for i, p in enumerate(pages) if "Answer sheet" in p]
    assert len(sheets) >= 2 * len(TASKS)
    for task in TASKS:
        prefix = PAGE_PREFIX[task]
        task_pages = page_count(smoke_workflow / f"results/smoke/{task}/{task}.pdf")
        numbered = [p.strip().splitlines()[-1].strip() for p in pages if p.strip()]
        # every page of the report appears with its own number, and the contents name its first page
        for i in range(1, task_pages + 1):
            assert f"{prefix}{i}" in numbered, f"{task}: page {prefix}{i} missing from the combined PDF"
        assert re.search(rf"{re.escape(prefix)}1\s*$", contents, re.M), f"{task}: not in the contents"


UNESCAPE = {r"\_": "_", r"\#": "#", r"\%": "%", r"\&": "&", r"\{": "{", r"\}": "}", r"\$": "$",
            r"\textasciitilde{}": "~", r"\textasciicircum{}": "^", r"\textbackslash{}": "\\", "{}": ""}


def test_every_command_and_path_pastes_back_exactly(report):
    """What a report sets in typewriter (commands, options, paths, module names) comes out of the
    PDF as typed: no `--` joined into an en dash, no curly quotes (checked with pdftotext)."""
    text = " ".join(text_of(report["pdf"]).split())
    assert not re.search(r"(^|\s)[–—][a-z]", text), f"{report['task']}: an option printed with an en dash"
    typed = re.findall(r"\\(?:saidlcmd|texttt)\{((?:[^{}\\]|\\[_#%&{}$]|\\text\w+\{\}|\{\})*)\}", report["tex"])
    checked = 0
    for raw in set(typed):
        literal = raw
        for esc, char in UNESCAPE.items():
            literal = literal.replace(esc, char)
        literal = " ".join(literal.split())
        if "\\" in literal or len(literal) < 4:
            continue
        assert literal in text, f"{report['task']}: {literal!r} is set in the PDF but does not paste back"
        checked += 1
    assert checked, f"{report['task']}: no command or path found to check"
