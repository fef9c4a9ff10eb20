"""Compile a generated ``.tex`` with latexmk/pdflatex in a locked-down, reproducible way.

pdflatex runs without shell escape and with paranoid file access (``openin_any=p``,
``openout_any=p``): it can only read files by relative name or through ``TEXINPUTS``, and only
write inside the build folder. Failures become one :class:`LatexError` paragraph that names the
generated line, its text, and the template line it came from (via the ``.srcmap.json`` sidecar).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from saidl.common.errors import LatexError
from saidl.common.io import atomic_write_bytes
from saidl.report.jinja import load_srcmap

DEBIAN_PACKAGES = (
    "texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended "
    "texlive-pictures texlive-science lmodern latexmk"
)
_FILE_LINE_ERROR = re.compile(r"^(?P<file>[^\s()][^\n:]*):(?P<line>\d+): (?P<msg>.*)$", re.MULTILINE)
_BANG_ERROR = re.compile(r"^! (?P<msg>.*)$", re.MULTILINE)
_CONTEXT_LINE = re.compile(r"^l\.(?P<line>\d+) ", re.MULTILINE)
_CONTROL_SEQUENCE = re.compile(r"\\(?:[A-Za-z@]+|.)")


def first_latex_error(log_text: str) -> tuple[str | None, int | None, str] | None:
    """The first error of a pdflatex log as ``(file, line, message)``, or None if there is none.

    Understands ``file:line: message`` (``-file-line-error``) and classic ``! message`` errors
    (whose file is None and whose line comes from the following ``l.<n>`` context line). For an
    undefined control sequence the message names the command, taken from the error context.
    """
    found = [m for m in (_FILE_LINE_ERROR.search(log_text), _BANG_ERROR.search(log_text)) if m]
    if not found:
        return None
    match = min(found, key=lambda m: m.start())
    message = _with_command(match.group("msg").strip(), log_text[match.end() :])
    if match.re is _FILE_LINE_ERROR:
        return match.group("file"), int(match.group("line")), message
    context = _CONTEXT_LINE.search(log_text, match.end())
    return None, int(context.group("line")) if context else None, message


def _with_command(message: str, rest: str) -> str:
    """Add the offending command to "Undefined control sequence." from the first context line."""
    if not message.startswith("Undefined control sequence"):
        return message
    context = rest.lstrip("\n").split("\n", 1)[0]
    commands = _CONTROL_SEQUENCE.findall(context)
    return f"Undefined control sequence {commands[-1]}" if commands else message


def _texinputs(folders: Sequence[Path], tex_dir: Path) -> str:
    """TEXINPUTS: the given folders, the tex folder, then the default path (trailing separator)."""
    paths = [str(Path(p).resolve()) for p in folders] + [str(tex_dir.resolve())]
    return os.pathsep.join(paths) + os.pathsep


def _latex_env(folders: Sequence[Path], tex_dir: Path) -> dict[str, str]:
    """The process environment for a paranoid, unwrapped-log pdflatex run."""
    env = dict(os.environ)
    env.update(
        openout_any="p",
        openin_any="p",
        TEXINPUTS=_texinputs(folders, tex_dir),
        BIBINPUTS=_texinputs(folders, tex_dir),
        max_print_line="1000",
    )
    return env


def _latexmk_command(tex_path: Path, build: Path) -> list[str]:
    """latexmk without rc files (reproducible), shell escape, or interaction."""
    return [
        "latexmk",
        "-norc",
        "-pdf",
        "-interaction=nonstopmode",
        "-halt-on-error",
        "-file-line-error",
        "-no-shell-escape",
        f"-outdir={build.name}",
        tex_path.name,
    ]


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """Run ``command``; returns (exit code or None on timeout, combined output).

    On timeout the whole process group (latexmk and its pdflatex) is killed.
    """
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        return None, output.decode("utf-8", "replace")
    return proc.returncode, output.decode("utf-8", "replace")


def compile_pdf(
    tex_path: Path, pdf_path: Path, texinputs: Sequence[Path] = (), timeout: float = 300
) -> Path:
    """Compile ``tex_path`` into ``pdf_path`` (written atomically); raise :class:`LatexError` on failure.

    The build happens in ``<tex dir>/build-<stem>/``; ``texinputs`` are extra folders searched
    for ``\\input``/``\\usepackage``/graphics files (e.g. the folder holding ``saidl.sty``).
    A stale ``pdf_path`` is removed when compilation fails.
    """
    tex_path, pdf_path = Path(tex_path).resolve(), Path(pdf_path)
    if shutil.which("latexmk") is None:
        raise LatexError(
            f"cannot compile {tex_path}: latexmk is not installed (or not on PATH); "
            f"install TeX Live with: sudo apt-get install {DEBIAN_PACKAGES}"
        )
    build = tex_path.parent / f"build-{tex_path.stem}"
    build.mkdir(parents=True, exist_ok=True)
    command = _latexmk_command(tex_path, build)
    code, output = _run(command, tex_path.parent, _latex_env(texinputs, tex_path.parent), timeout)
    (build / f"{tex_path.stem}.latexmk.txt").write_text(output, encoding="utf-8")
    built_pdf = build / f"{tex_path.stem}.pdf"
    if code == 0 and built_pdf.exists():
        return atomic_write_bytes(pdf_path, built_pdf.read_bytes())
    pdf_path.unlink(missing_ok=True)
    reason = f"timed out after {timeout:g} s" if code is None else f"latexmk exit code {code}"
    raise LatexError(_failure_message(tex_path, build, reason))


def _line_text(path: Path, line: int | None) -> str | None:
    """Line ``line`` (1-based) of ``path``, stripped, or None if unavailable."""
    if line is None or not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else None


def _failure_message(tex_path: Path, build: Path, reason: str) -> str:
    """One paragraph: where LaTeX failed, the generated line, its template origin, the log."""
    log_path = build / f"{tex_path.stem}.log"
    if not log_path.exists():
        output = build / f"{tex_path.stem}.latexmk.txt"
        return f"LaTeX failed on {tex_path} ({reason}) before writing a log; see {output}."
    error = first_latex_error(log_path.read_text(encoding="utf-8", errors="replace"))
    if error is None:
        return f"LaTeX failed on {tex_path} ({reason}) and its log names no error; full log: {log_path}."
    file, line, message = error
    source = tex_path if file is None else (tex_path.parent / file).resolve()
    parts = [f"LaTeX failed on {source}:{line}: {message}"]
    text = _line_text(source, line)
    if text is not None:
        parts.append(f"the generated line reads: {text}")
    origin = load_srcmap(source).get(line) if line is not None else None
    if origin is not None:
        parts.append(f"this line comes from {origin[0]}:{origin[1]}")
    else:
        parts.append("no template line is known for it (no close match in the .srcmap.json)")
    parts.append(f"{reason}; full log: {log_path}")
    return "; ".join(parts) + "."
