"""Robustness of the PDF build (issue 14): interrupted builds, LaTeX error locations, commands
that paste back exactly from a PDF, and the permissions of written results."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import HANG_TIMEOUT
from saidl.common.errors import LatexError
from saidl.common.io import atomic_write_bytes, atomic_write_text, write_json
from saidl.report.latexmk import _latex_env, _latexmk_command, compile_pdf

REPO = Path(__file__).resolve().parents[1]
STY_DIR = REPO / "tex"
TEMPLATES = REPO / "templates"

needs_latex = pytest.mark.skipif(
    any(subprocess.run(["which", tool], capture_output=True).returncode for tool in ("latexmk", "pdftotext")),
    reason="latexmk/pdftotext missing: run `make env` (as root) first",
)

# Two passes (a forward \ref) of enough pages that pdflatex runs for a while and can be interrupted.
SLOW_DOC = r"""\documentclass{article}
\usepackage{lipsum,pgffor}
\begin{document}
\section{A}\label{a} See Section~\ref{b}.
\foreach\i in {1,...,30}{\lipsum[1-50]}
\section{B}\label{b} The end.
\end{document}
"""


# ---------------------------------------------------------------- item 1: interrupted builds


def _latex_processes(cwd: Path) -> list[tuple[int, int, str]]:
    """(pid, process group, command name) of every latexmk/pdflatex running in folder ``cwd``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) != cwd.resolve():
                continue
            raw = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2:].split()
        if fields[0] != "Z" and ("latexmk" in cmdline or "pdflatex" in cmdline):
            found.append((int(entry.name), int(fields[2]), raw[raw.index("(") + 1: raw.rfind(")")]))
    return found


def _wait_for_pdflatex(folder: Path, log: Path, timeout: float = HANG_TIMEOUT) -> int:
    """The pid of the pdflatex running in ``folder`` once it has written part of ``log``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [pid for pid, _, name in _latex_processes(folder) if name == "pdflatex"]
        if running and log.exists() and log.stat().st_size > 2000:
            return running[0]
        time.sleep(0.02)
    raise AssertionError(f"no pdflatex started in {folder} within {timeout} s")


def _wait_gone(folder: Path, timeout: float = HANG_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while _latex_processes(folder) and time.monotonic() < deadline:
        time.sleep(0.05)


def _signals_as_in_a_terminal() -> None:
    """In the child: SIGINT and SIGTERM delivered and handled by default, as for a command typed in
    a terminal. A child inherits an ignored or blocked signal from the test process (a run started
    in the background, or something earlier in the same pytest process), and the full suite has
    shown the step ignoring SIGINT that way while the test alone passed."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT, signal.SIGTERM])


def _slow_doc(tmp_path: Path) -> Path:
    tex = tmp_path / "doc.tex"
    tex.write_text(SLOW_DOC, encoding="utf-8")
    return tex


def _assert_builds(tex: Path) -> None:
    pdf = compile_pdf(tex, tex.with_name("out.pdf"))
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "See Section 2" in text  # the second pass ran: the reference is resolved


@needs_latex
def test_rerun_after_pdflatex_was_killed_mid_build_succeeds(tmp_path):
    """The issue's state: pdflatex killed mid-build leaves a partial PDF, a truncated log and a
    latexmk database that records the error; latexmk then said "Nothing to do ... gave an error"
    (exit 12) on every rerun."""
    tex = _slow_doc(tmp_path)
    build = tmp_path / "build-doc"
    build.mkdir()
    latexmk = subprocess.Popen(_latexmk_command(tex, build), cwd=tmp_path, env=_latex_env([], tmp_path),
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    os.kill(_wait_for_pdflatex(tmp_path, build / "doc.log"), signal.SIGTERM)
    assert latexmk.wait(timeout=HANG_TIMEOUT) != 0
    assert (build / "doc.fdb_latexmk").exists()  # the poisoned state: latexmk recorded the error
    _assert_builds(tex)


@needs_latex
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_rerun_after_interrupted_pdf_step_succeeds(tmp_path, sig):
    """Ctrl-C (SIGINT), SIGTERM (what Snakemake sends its jobs) or kill -9 of the pdf step mid-build."""
    tex = _slow_doc(tmp_path)
    tex.with_name("out.pdf").write_bytes(b"%PDF stale")
    step = subprocess.Popen(
        [sys.executable, "-m", "saidl.report.build", "pdf", "--tex", str(tex), "--pdf", str(tmp_path / "out.pdf")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=_signals_as_in_a_terminal)
    _wait_for_pdflatex(tmp_path, tmp_path / "build-doc" / "doc.log")
    step.send_signal(sig)
    output, _ = step.communicate(timeout=HANG_TIMEOUT)
    assert step.returncode != 0
    if sig != signal.SIGKILL:
        _wait_gone(tmp_path)
        assert not _latex_processes(tmp_path), "the interrupted step left latexmk/pdflatex running"
        assert "Traceback" not in output, output
        assert "interrupted" in output, output
    # kill -9 leaves latexmk running on its own; the rerun stops it before it starts afresh
    _assert_builds(tex)


@needs_latex
def test_rerun_after_truncated_aux_and_log_succeeds(tmp_path):
    """A build cut while pdflatex wrote the .aux (an aux ending mid-line would stop every later
    pdflatex run with "File ended while scanning use of \\@newl@bel")."""
    tex = _slow_doc(tmp_path)
    _assert_builds(tex)
    build = tmp_path / "build-doc"
    tex.write_text(SLOW_DOC.replace("The end.", "The end, changed."), encoding="utf-8")
    (build / "doc.aux").write_text("\\relax\n\\newlabel{a}{{1}{1", encoding="utf-8")
    log = build / "doc.log"
    log.write_bytes(log.read_bytes()[:3000])
    (build / "doc.pdf").write_bytes((build / "doc.pdf").read_bytes()[:5000])
    (build / "doc.saidl-build.json").write_text('{"status": "running"}')
    _assert_builds(tex)


@needs_latex
def test_failed_latex_run_does_not_poison_the_next(tmp_path):
    """After a LaTeX error the fixed document builds (latexmk's error record is not replayed)."""
    tex = tmp_path / "doc.tex"
    tex.write_text("\\documentclass{article}\\begin{document}\\input{part}\\end{document}\n")
    (tmp_path / "part.tex").write_text("\\undefinedmacro\n")
    with pytest.raises(LatexError, match=r"Undefined control sequence"):
        compile_pdf(tex, tmp_path / "out.pdf")
    (tmp_path / "part.tex").write_text("Fixed.\n")
    assert compile_pdf(tex, tmp_path / "out.pdf").exists()


# ---------------------------------------------------------------- item 13: file permissions


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_writes_get_the_mode_of_a_normally_created_file(tmp_path, umask_022):
    written = [atomic_write_bytes(tmp_path / "a.bin", b"x"), atomic_write_text(tmp_path / "b.txt", "x"),
               write_json(tmp_path / "c.json", {"a": 1})]
    with open(tmp_path / "plain.txt", "w") as fh:
        fh.write("x")
    assert [oct(_mode(p)) for p in written] == [oct(_mode(tmp_path / "plain.txt"))] * 3 == ["0o644"] * 3
    os.umask(0o077)
    assert _mode(atomic_write_bytes(tmp_path / "a.bin", b"y")) == 0o600  # the umask is followed, not fixed


def test_saved_figure_gets_the_mode_of_a_normally_created_file(tmp_path, umask_022):
    import matplotlib.pyplot as plt

    from saidl.report.figstyle import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    save_figure(fig, tmp_path / "f.pdf")
    plt.close(fig)
    assert _mode(tmp_path / "f.pdf") == 0o644


@needs_latex
def test_compiled_pdf_gets_the_mode_of_a_normally_created_file(tmp_path, umask_022):
    tex = tmp_path / "doc.tex"
    tex.write_text("\\documentclass{article}\\begin{document}Hi.\\end{document}\n")
    assert _mode(compile_pdf(tex, tmp_path / "out" / "doc.pdf")) == 0o644


def test_combined_pdf_refuses_the_aux_of_an_unfinished_task_build(tmp_path):
    """combine reads each task's answer-sheet pages from its .aux; a cut one is not trusted."""
    from saidl.report.build import answer_pages

    build = tmp_path / "tex" / "build-report"
    build.mkdir(parents=True)
    (build / "report.aux").write_text("\\newlabel{answers-end}{{}{CM-")
    (build / "report.saidl-build.json").write_text('{"status": "running", "pgid": 1}')
    with pytest.raises(LatexError, match=r"did not finish .*--forcerun <task>_pdf"):
        answer_pages(build / "report.aux", "CM-")
    (build / "report.aux").write_text("\\newlabel{answers-end}{{}{CM-3}{}{}{}}")
    (build / "report.saidl-build.json").write_text('{"status": "done"}')
    assert answer_pages(build / "report.aux", "CM-") == "1-3"


# ---------------------------------------------------------------- item 7: unclosed braces


def _render_and_compile(tmp_path: Path, templates: dict[str, str], context: dict) -> str:
    """Render ``doc.tex`` (from ``templates``) and compile it; the LaTeX error message."""
    from saidl.report.jinja import make_env, render_template

    tpl = tmp_path / "tpl"
    tpl.mkdir()
    for name, text in templates.items():
        (tpl / name).write_text(text, encoding="utf-8")
    out = render_template(make_env([tpl, TEMPLATES]), "doc.tex", context, tmp_path / "out" / "doc.tex")
    with pytest.raises(LatexError) as info:
        compile_pdf(out, tmp_path / "out" / "doc.pdf", texinputs=[STY_DIR])
    return str(info.value)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


@needs_latex
def test_unclosed_brace_in_a_template_names_the_line_that_opens_it(tmp_path):
    doc = ("\\documentclass{article}\n\\begin{document}\nFirst paragraph.\n\n"
           "Some \\textbf{abc and more text.\n\nLast paragraph \\VAR{ x }.\n\\end{document}\n")
    message = _render_and_compile(tmp_path, {"doc.tex": doc}, {"x": 1})
    assert ":None" not in message
    assert f"{tmp_path / 'out' / 'doc.tex'}:5: File ended while scanning use of \\textbf: the {{ after " \
           "\\textbf on this line is never closed (add the missing })" in message
    assert "the generated line reads: Some \\textbf{abc and more text." in message
    assert f"this line comes from {_shown(tmp_path / 'tpl' / 'doc.tex')}:5;" in message


@needs_latex
def test_unclosed_brace_in_a_macro_names_the_macro_line_and_its_caller(tmp_path):
    """A macro whose body opens a group it never closes, called twice: the error names the macro's
    line and the first call (TeX reads everything after it as \\fbox's argument)."""
    macros = ("%# my macros\n\\BLOCK{ macro boxed(x) }\n\\fbox{\\textbf{\\VAR{ x }}\n\\BLOCK{ endmacro }\n")
    doc = ("\\documentclass{article}\n\\BLOCK{ import 'mine.tex' as b }\n\\begin{document}\nIntro.\n"
           "\\VAR{ b.boxed('one') }\n\nMiddle.\n\\VAR{ b.boxed('two') }\n\n\\end{document}\n")
    message = _render_and_compile(tmp_path, {"doc.tex": doc, "mine.tex": macros}, {})
    assert "File ended while scanning use of \\fbox: the { after \\fbox on this line is never closed" in message
    assert "the generated line reads: \\fbox{\\textbf{one}" in message
    assert (f"this line comes from {_shown(tmp_path / 'tpl' / 'mine.tex')}:3 "
            f"(in macro boxed, called from {_shown(tmp_path / 'tpl' / 'doc.tex')}:5)") in message


@needs_latex
def test_unclosed_brace_in_a_macro_argument_names_the_calling_line(tmp_path):
    """The open brace comes with a value (raw LaTeX evidence of m.claim in templates/common/macros.tex)."""
    from saidl.report.latex import Tex

    doc = ("\\documentclass{article}\n\\usepackage{saidl}\n\\BLOCK{ import 'common/macros.tex' as m }\n"
           "\\begin{document}\nFirst paragraph.\n\n\\VAR{ m.claim('A title', 'supported', ev) }\n\n"
           "Last paragraph.\n\\end{document}\n")
    message = _render_and_compile(tmp_path, {"doc.tex": doc}, {"ev": Tex("\\textbf{evidence")})
    assert "File ended while scanning use of \\textbf: the { after \\textbf on this line is never closed" in message
    assert "the generated line reads: \\textbf{evidence;" in message
    assert "comes from templates/common/macros.tex:" in message
    assert f"(in macro claim, called from {_shown(tmp_path / 'tpl' / 'doc.tex')}:7)" in message


@needs_latex
def test_paragraph_ended_inside_an_argument_names_the_line_that_opens_it(tmp_path):
    doc = ("\\documentclass{article}\n\\begin{document}\n\\section{One}\n"
           "Text \\label{sec:one and more\n\nNext paragraph.\n\\end{document}\n")
    message = _render_and_compile(tmp_path, {"doc.tex": doc}, {})
    assert (f"{tmp_path / 'out' / 'doc.tex'}:4: Paragraph ended before \\label was complete: the {{ after "
            "\\label on this line is never closed (add the missing })") in message
    assert f"this line comes from {_shown(tmp_path / 'tpl' / 'doc.tex')}:4;" in message


# ---------------------------------------------------------------- item 12: commands paste back


COMMANDS = [
    "snakemake --cores 2 --config scale=full",
    "snakemake --forcerun coreml_pdf --rerun-incomplete",
    "python -m saidl.fakes --out data/fakes",
    "ls ~/data/cifar-10_batches-py/*.gz",
    "echo 'single' \"double\" `tick` <in >out 2>&1 | tee a---b.log",
    "a--b ---c ,,d << e >> !`f ?`g",
]

CMD_DOC = r"""\documentclass{article}
\usepackage{saidl}
\BLOCK{ import 'common/macros.tex' as m }
\begin{document}
\VAR{ m.scale_note('rehearsal', changes) }
Literal: \texttt{--config scale=full}; as a command: \saidlcmd{--config scale=full}.
%% for c in commands
Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt
ut labore et dolore magna aliqua: [\VAR{ c | cmd }] and also (\texttt{\VAR{ c }}) end.

%% endfor
\end{document}
"""


@needs_latex
def test_commands_printed_in_a_pdf_paste_back_exactly(tmp_path):
    """Through the real build path (templates/common/macros.tex, tex/saidl.sty, compile_pdf),
    pdftotext gives back every command exactly: no en dash for --, no curly quotes or guillemets,
    and a command set with the ``cmd`` filter is never broken across lines."""
    from saidl.report.jinja import make_env, render_template

    (tmp_path / "doc.tex").write_text(CMD_DOC, encoding="utf-8")
    changes = [{"key": "train.epochs", "full": 120, "value": 2}]
    tex = render_template(make_env([tmp_path, TEMPLATES]), "doc.tex", {"commands": COMMANDS, "changes": changes},
                          tmp_path / "out" / "doc.tex")
    pdf = compile_pdf(tex, tmp_path / "out" / "doc.pdf", texinputs=[STY_DIR])
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Literal: --config scale=full; as a command: --config scale=full." in text
    assert "python -m saidl.fakes" in text and "build --config scale=full for that" in text
    assert "tasks/<task>/config.yaml" in text
    flat = " ".join(text.split())
    for command in COMMANDS:
        assert flat.count(command) == 2, (command, text)  # both exact (\texttt{} may wrap at a space)
        assert any(command in line for line in text.splitlines()), (command, text)  # cmd: on one line
    assert not {"\u2013", "\u2014", "\u00ab", "\u00bb", "\u201e"} & set(text)  # no dash, guillemet or low quote
