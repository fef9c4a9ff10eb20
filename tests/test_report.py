"""Tests of the shared LaTeX report machinery (saidl.report)."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import unicodedata
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from saidl.common.errors import LatexError, TemplateError
from saidl.report import latex as latex_mod
from saidl.coreml.styles import loss_style
from saidl.report.figstyle import apply_style, save_figure
from saidl.report.jinja import load_srcmap, make_env, render_template
from saidl.report.latex import Tex, escape_tex
from saidl.report.latexmk import compile_pdf, first_latex_error
from saidl.report.listings import code_listing
from saidl.report.tables import mean_std_table, simple_table

REPO = Path(__file__).resolve().parents[1]
STY_DIR = REPO / "tex"
TEMPLATES = REPO / "templates"

needs_latex = pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
    reason="latexmk/pdftotext not installed (CI installs TeX Live and poppler-utils)",
)

HOSTILE_VALUES = [
    r"\input{/etc/passwd}",
    r"$ % & _ # { } ~ ^ \ end",
    "café Zürich naïve µ – ü",
    "→ ≈ ± η Ω",
    "a--b---c",
    "<|> \"q\" 'p' `g`",
    "smile \U0001f642",
]

DOC_TEMPLATE = r"""\documentclass{article}
\usepackage{saidl}
\BLOCK{ import 'common/macros.tex' as m }
\begin{document}
%% for v in values
[\VAR{ v }]

%% endfor
\VAR{ coverage }

\VAR{ listing }
\VAR{ m.claim('NFL beats FL', 'partly supported', evidence) }
\VAR{ m.table('acc.tex', 'Accuracy', 'tab:acc') }
\VAR{ m.figure('curve.pdf', 'A curve', 'fig:curve', width='0.4\\linewidth') }
Raw part: \VAR{ raw | tex } end.
\appendix
\BLOCK{ include 'common/provenance.tex' }
\end{document}
"""

PROVENANCE = {
    "git_commit": "0123abcd",
    "git_dirty": True,
    "config_hash": "cafe_babe",
    "scale": "smoke",
    "packages": {"torch": "2.9.0", "numpy": "2.4.0"},
    "hardware": {"cpu": "Test CPU", "device": "cpu", "threads": 4, "platform": "Linux"},
    "datasets": [{"name": "cifar10", "checksum": "f" * 64}],
    "runs": [{"id": f"run_{i}", "wall_time_s": 1.5 * i, "device": "cpu"} for i in range(25)],
    "built_at": "2025-01-01T00:00:00Z",
}


def _write_doc(tmp_path: Path, raw: str) -> Path:
    """Render the test document (with its table and figure) and return the .tex path."""
    (tmp_path / "tpl").mkdir(exist_ok=True)
    (tmp_path / "tpl" / "doc.tex").write_text(DOC_TEMPLATE, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    (out / "acc.tex").write_text(mean_std_table(["CE", "NCE"], ["0.4"], {("CE", "0.4"): [0.5, 0.6]}))
    apply_style()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], **loss_style("NCE+RCE"))
    save_figure(fig, out / "curve.pdf")
    plt.close(fig)
    env = make_env([tmp_path / "tpl", TEMPLATES])
    context = {
        "values": HOSTILE_VALUES,
        "listing": code_listing("saidl.report.latex.escape_tex"),
        "evidence": "50% & more_than {x}",
        "raw": raw,
        "coverage": " ".join([*sorted(latex_mod._TABLE), *map(chr, range(0xA0, 0x180))]),
        "provenance": PROVENANCE,
    }
    return render_template(env, "doc.tex", context, out / "doc.tex")


def _pdf_text(pdf: Path) -> str:
    """The text of a PDF, NFKC-normalised (µ and μ compare equal)."""
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True, text=True).stdout
    return unicodedata.normalize("NFKC", text)


# ---------------------------------------------------------------- escaping


def test_escape_tex_escapes_specials_and_passes_tex_unchanged():
    assert escape_tex(r"\input{x}") == r"\textbackslash{}input\{x\}"
    assert escape_tex("50% & $_#") == r"50\% \& \$\_\#"
    assert escape_tex(Tex(r"\textbf{x}")) == r"\textbf{x}"
    assert escape_tex(0.5) == "0.5"
    assert escape_tex("a--b") == "a-{}-b"


def test_escape_tex_maps_symbols_and_marks_unknown_characters():
    assert escape_tex("→") == r"\textrightarrow{}"
    assert escape_tex("≈") == r"\ensuremath{\approx}"
    assert escape_tex("µ±") == r"\textmu{}\textpm{}"
    assert escape_tex("η") == r"\ensuremath{\eta}"
    assert escape_tex("café") == "café"
    assert escape_tex("\U0001f642") == r"\texttt{U+1F642}"


@needs_latex
def test_hostile_and_non_ascii_values_render_literally_in_the_pdf(tmp_path):
    tex = _write_doc(tmp_path, raw="ok")
    pdf = compile_pdf(tex, tmp_path / "doc.pdf", texinputs=[STY_DIR])
    text = _pdf_text(pdf)
    expected = [v.replace("\U0001f642", "U+1F642") for v in HOSTILE_VALUES]
    for value in expected:
        assert f"[{unicodedata.normalize('NFKC', value)}]" in text, value
    assert "50% & more_than {x}" in text
    assert "partly supported" in text
    assert "def escape_tex(value: Any) -> Tex:" in text
    assert "run_24" in text and "0123abcd (uncommitted changes)" in text


# ---------------------------------------------------------------- errors


@needs_latex
def test_compile_timeout_kills_latex_and_says_so(tmp_path):
    tex = tmp_path / "loop.tex"
    tex.write_text("\\documentclass{article}\\begin{document}\\def\\x{\\x}\\x\\end{document}\n")
    with pytest.raises(LatexError, match=r"timed out after 1 s"):
        compile_pdf(tex, tmp_path / "loop.pdf", timeout=1)
    assert not (tmp_path / "loop.pdf").exists()


@needs_latex
def test_latex_error_names_generated_line_and_template_line(tmp_path):
    tex = _write_doc(tmp_path, raw=r"\undefinedmacro")
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"stale")
    with pytest.raises(LatexError) as info:
        compile_pdf(tex, pdf, texinputs=[STY_DIR])
    message = str(info.value)
    generated_line = tex.read_text(encoding="utf-8").splitlines().index(r"Raw part: \undefinedmacro end.") + 1
    template_line = DOC_TEMPLATE.splitlines().index(r"Raw part: \VAR{ raw | tex } end.") + 1
    assert f"{tex}:{generated_line}: Undefined control sequence \\undefinedmacro" in message
    assert r"the generated line reads: Raw part: \undefinedmacro end." in message
    assert f"this line comes from {_display(tmp_path / 'tpl' / 'doc.tex')}:{template_line}" in message
    assert "doc.log" in message
    assert not pdf.exists()


def _display(path: Path) -> str:
    """A path as error messages show it (relative to the working directory when inside it)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


def test_undefined_variable_raises_template_error_with_file_and_line(tmp_path):
    (tmp_path / "t.tex").write_text("first\n%% for r in rows\n\\VAR{ r.acc } \\VAR{ r.nope }\n%% endfor\n")
    env = make_env([tmp_path])
    with pytest.raises(TemplateError, match=r"undefined .*'nope'.* in .*t\.tex:3: .*check"):
        render_template(env, "t.tex", {"rows": [{"acc": 1}]}, tmp_path / "out.tex")
    with pytest.raises(TemplateError, match=r"undefined variable 'rows' in .*t\.tex:2"):
        render_template(env, "t.tex", {}, tmp_path / "out.tex")


def test_template_syntax_error_names_file_and_line(tmp_path):
    (tmp_path / "t.tex").write_text("ok\n\\VAR{ x | }\n")
    with pytest.raises(TemplateError, match=r"syntax error in .*t\.tex:2"):
        render_template(make_env([tmp_path]), "t.tex", {"x": 1}, tmp_path / "out.tex")


def test_unsafe_figure_path_is_refused_with_macro_and_caller_lines(tmp_path):
    (tmp_path / "t.tex").write_text(
        "\\BLOCK{ import 'common/macros.tex' as m }\n\\VAR{ m.figure('a b.pdf', 'c', 'fig:x') }\n"
    )
    with pytest.raises(TemplateError, match=r"macros\.tex:\d+ \(called from .*t\.tex:2\).*not a safe path"):
        render_template(make_env([tmp_path, TEMPLATES]), "t.tex", {}, tmp_path / "out.tex")


def test_first_latex_error_parses_file_line_and_classic_errors():
    log = (
        "(./doc.tex\nLaTeX Font Info: something on input line 3.\n"
        "./doc.tex:12: Undefined control sequence.\n"
        "l.12 Raw part: \\undefinedmacro\n"
        "                                end.\n"
        "./doc.tex:20: Emergency stop.\n"
    )
    assert first_latex_error(log) == ("./doc.tex", 12, "Undefined control sequence \\undefinedmacro")
    classic = "! Missing $ inserted.\n<inserted text> \n                $\nl.7 a^b\n"
    assert first_latex_error(classic) == (None, 7, "Missing $ inserted.")
    assert first_latex_error("no errors here\nOutput written on doc.pdf\n") is None


# ---------------------------------------------------------------- filters and source map


def test_number_filters_format_for_latex(tmp_path):
    (tmp_path / "t.tex").write_text(
        "\\VAR{ 0.8734 | pct }|\\VAR{ [0.87, 0.875, 0.88] | pm }|\\VAR{ (0.9, 0.01) | pm(2) }|"
        "\\VAR{ [0.5] | pm }|\\VAR{ 123456 | sig(3) }|\\VAR{ 0.012345 | sig(2) }|"
        "\\VAR{ 3.14159 | num }|\\VAR{ 1234567 | thousands }|\\VAR{ none | pct }|\\VAR{ escape('_') }"
    )
    out = render_template(make_env([tmp_path]), "t.tex", {"none": None}, tmp_path / "out.tex")
    assert out.read_text().split("|") == [
        r"87.3\,\%",
        r"87.5 $\pm$ 0.5",
        r"90.00 $\pm$ 1.00",
        "50.0",
        r"1.23\ensuremath{\times 10^{5}}",
        "0.012",
        "3.14",
        "1{,}234{,}567",
        "--",
        r"\_",
    ]


def test_srcmap_maps_generated_lines_to_template_lines(tmp_path):
    (tmp_path / "t.tex").write_text("\\section{Results}\n%% for x in xs\nValue \\VAR{ x } here\n%% endfor\n")
    out = render_template(make_env([tmp_path]), "t.tex", {"xs": ["a", "b_long_value"]}, tmp_path / "o.tex")
    template = _display(tmp_path / "t.tex")
    assert load_srcmap(out) == {1: (template, 1), 2: (template, 3), 3: (template, 3)}


# ---------------------------------------------------------------- tables


def test_mean_std_table_bolds_the_best_set_of_the_statistics_rule_and_marks_missing():
    cells = {
        ("CE", "0.2"): [0.80, 0.82],
        ("NCE+RCE", "0.2"): [0.90, 0.91, 0.92],
        ("CE", "0.4"): [0.70],
        ("NCE+RCE", "0.4"): None,
    }
    table = mean_std_table(["CE", "NCE+RCE"], ["0.2", "0.4", "0.8"], cells, row_header="Loss_name")
    assert r"\toprule" in table and r"\midrule" in table and r"\bottomrule" in table
    assert r"Loss\_name&0.2&0.4&0.8" in table
    # 0.2: NCE+RCE is shown better than CE (Welch interval excludes 0); 0.4: one value, no best
    assert r"CE&81.0 $\pm$ 1.4&70.0&--" in table
    assert r"NCE+RCE&\textbf{91.0 $\pm$ 1.0}&--&--" in table
    assert r"\resizebox" not in table
    # a column where no row is shown worse than the best (noisy seeds) has no bold at all
    tied = mean_std_table(["a", "b"], ["x"], {("a", "x"): [0.5, 0.9], ("b", "x"): [0.6, 0.7]})
    assert r"\textbf" not in tied


def test_mean_std_table_min_best_group_header_and_wide_resize():
    cols = [str(i) for i in range(9)]
    cells = {(row, col): [v, v + 0.001] for col in cols for row, v in (("a", 0.1), ("b", 0.2))}
    table = mean_std_table(["a", "b"], cols, cells, best="min", col_group_header="Noise_rate")
    assert r"a&\textbf{10.1 $\pm$ 0.1}" in table and "b&20.1 $\pm$ 0.1" in table
    assert r"\multicolumn{9}{c}{Noise\_rate}" in table and r"\cmidrule(lr){2-10}" in table
    assert table.startswith(r"\resizebox{\linewidth}{!}{")


def test_simple_table_escapes_cells():
    table = simple_table(["key", "value"], [["lr_max", "10%"], ["seed"]])
    assert r"lr\_max&10\%" in table and "seed&" in table


# ---------------------------------------------------------------- listings and figures


def test_code_listing_gives_source_and_first_line_number():
    listing = code_listing("saidl.report.latex.escape_tex", caption="Escaping")
    first_line = inspect.getsourcelines(latex_mod.escape_tex)[1]
    assert listing.startswith(f"\\begin{{lstlisting}}[language=Python, firstnumber={first_line}, ")
    assert f"caption={{Escaping (src/saidl/report/latex.py, line {first_line})}}" in listing
    assert "def escape_tex(value: Any) -> Tex:" in listing
    assert listing.rstrip().endswith(r"\end{lstlisting}")
    assert listing.isascii()


def test_code_listing_of_a_method_and_unknown_names():
    listing = code_listing("saidl.report.jinja._TexMacro._invoke")
    assert "\ndef _invoke(self, arguments" in listing
    with pytest.raises(TemplateError, match="not found"):
        code_listing("saidl.report.latex.no_such_function")


def test_save_figure_is_byte_reproducible(tmp_path):
    apply_style()
    paths = []
    for name in ("a.pdf", "b.pdf"):
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3], [3, 1, 2], **loss_style("NFL"), label="NFL")
        ax.legend()
        paths.append(save_figure(fig, tmp_path / name))
        plt.close(fig)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert loss_style("CE")["linestyle"] == "--" and loss_style("NCE")["linestyle"] == "-"
    assert loss_style("NCE+RCE")["linewidth"] > loss_style("NCE")["linewidth"]
