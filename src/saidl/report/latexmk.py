"""Compile a generated ``.tex`` with latexmk/pdflatex in a locked-down, reproducible way.

pdflatex runs without shell escape and with paranoid file access (``openin_any=p``,
``openout_any=p``): it can only read files by relative name or through ``TEXINPUTS``, and only
write inside the build folder. Failures become one :class:`LatexError` paragraph that names the
generated line, its text, and the template line it came from (via the ``.srcmap.json`` sidecar).

An interrupted build never poisons the next one: ``<build>/<stem>.saidl-build.json`` records
whether the last build of the folder finished. A build that did not (Ctrl-C, ``kill``, a crash,
a LaTeX error) leaves a partial PDF, a truncated log or aux, and a latexmk database that says
"gave an error"; the next build kills what is left of its latexmk and starts from an empty
folder. The PDF is moved into place (atomically) only after a build that succeeded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from saidl.common.errors import LatexError
from saidl.common.io import atomic_write_bytes
from saidl.report.jinja import describe_origin

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


class Terminated(SystemExit):
    """Raised in place of dying on SIGTERM/SIGHUP, so the latexmk process group is killed first."""


@contextlib.contextmanager
def _terminate_as_exception() -> Iterator[None]:
    """While active (main thread only), SIGTERM and SIGHUP raise :class:`Terminated`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: object) -> None:
        raise Terminated(128 + signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _kill_group(pgid: int) -> None:
    """SIGKILL process group ``pgid`` (latexmk and its pdflatex/bibtex); no error if it is gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _run(
    command: list[str], cwd: Path, env: dict[str, str], timeout: float,
    on_start: Callable[[int], None] | None = None,
) -> tuple[int | None, str]:
    """Run ``command``; returns (exit code or None on timeout, combined output).

    The command runs in its own process group (``on_start`` gets its id). On timeout, Ctrl-C,
    SIGTERM or SIGHUP the whole group (latexmk and its pdflatex) is killed, so no orphaned
    pdflatex keeps writing into the build folder.
    """
    with _terminate_as_exception():
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
            if on_start is not None:
                on_start(proc.pid)
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            output, _ = proc.communicate()
            return None, output.decode("utf-8", "replace")
        except BaseException:
            _kill_group(proc.pid)
            proc.wait()
            raise
    return proc.returncode, output.decode("utf-8", "replace")


def _state_path(build: Path, stem: str) -> Path:
    """The file that records whether the last build in ``build`` finished."""
    return build / f"{stem}.saidl-build.json"


def _read_state(path: Path) -> dict:
    """The recorded build state (``{}`` when missing or unreadable, e.g. cut by an interruption)."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def last_build_status(build: Path, stem: str) -> str | None:
    """How the last build of ``stem`` in ``build`` ended: "done", "failed", "running" (it was
    interrupted, or is running now), or None when there is no record (a build by an older version)."""
    status = _read_state(_state_path(build, stem)).get("status")
    return status if isinstance(status, str) else None


def _write_state(path: Path, **state: object) -> None:
    path.write_text(json.dumps(state) + "\n", encoding="utf-8")


def _is_latex_group(pgid: int) -> bool:
    """True if some live process of group ``pgid`` is latexmk, pdflatex or bibtex (ours, left behind)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and fields[2] == str(pgid) and re.search(r"latexmk|pdflatex|bibtex", cmdline):
            return True
    return False


def _prepare_build(build: Path, stem: str) -> None:
    """Make ``build`` ready for a new latexmk run.

    If the last build there did not finish, its latexmk (if still alive) is killed and the folder
    is emptied: its partial PDF, truncated log/aux and latexmk database would make latexmk stop
    with "Nothing to do ... gave an error". A finished build's files are kept (latexmk reruns
    only what changed).
    """
    state_path = _state_path(build, stem)
    state = _read_state(state_path)
    pgid = state.get("pgid")
    if isinstance(pgid, int) and pgid > 1 and _is_latex_group(pgid):
        _kill_group(pgid)
    if build.exists() and state.get("status") != "done":
        if state.get("status") == "running":
            print(f"note: the last LaTeX build in {build} was interrupted; building it afresh", file=sys.stderr)
        shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True, exist_ok=True)
    _write_state(state_path, status="running")


def compile_pdf(
    tex_path: Path, pdf_path: Path, texinputs: Sequence[Path] = (), timeout: float = 1200  # a hang guard only
) -> Path:
    """Compile ``tex_path`` into ``pdf_path`` (written atomically); raise :class:`LatexError` on failure.

    The build happens in ``<tex dir>/build-<stem>/``; ``texinputs`` are extra folders searched
    for ``\\input``/``\\usepackage``/graphics files (e.g. the folder holding ``saidl.sty``).
    A stale ``pdf_path`` is removed when compilation fails. A build folder left by a build that
    did not finish (interrupted, killed, failed) is emptied first (:func:`_prepare_build`).
    """
    tex_path, pdf_path = Path(tex_path).resolve(), Path(pdf_path)
    if shutil.which("latexmk") is None:
        raise LatexError(
            f"cannot compile {tex_path}: latexmk is not installed (or not on PATH); "
            f"install TeX Live with: sudo apt-get install {DEBIAN_PACKAGES}"
        )
    build = tex_path.parent / f"build-{tex_path.stem}"
    state = _state_path(build, tex_path.stem)
    _prepare_build(build, tex_path.stem)
    command = _latexmk_command(tex_path, build)
    env = _latex_env(texinputs, tex_path.parent)
    code, output = _run(command, tex_path.parent, env, timeout,
                        on_start=lambda pid: _write_state(state, status="running", pgid=pid))
    (build / f"{tex_path.stem}.latexmk.txt").write_text(output, encoding="utf-8")
    built_pdf = build / f"{tex_path.stem}.pdf"
    if code == 0 and built_pdf.exists():
        _write_state(state, status="done")
        return atomic_write_bytes(pdf_path, built_pdf.read_bytes())
    _write_state(state, status="failed")
    pdf_path.unlink(missing_ok=True)
    reason = f"timed out after {timeout:g} s" if code is None else f"latexmk exit code {code}"
    raise LatexError(_failure_message(tex_path, build, reason))


def _latexmk_summary(output: Path) -> str:
    """latexmk's "Collected error summary" (its lines joined by "; "), or "" if there is none."""
    if not output.is_file():
        return ""
    text = output.read_text(encoding="utf-8", errors="replace")
    _, found, rest = text.partition("Collected error summary (may duplicate other messages):")
    if not found:
        return ""
    lines = [line.strip() for line in rest.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("Refer to", "Latexmk:"))]
    return "; ".join(lines[:3])


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
        output = build / f"{tex_path.stem}.latexmk.txt"
        said = _latexmk_summary(output)
        return (f"LaTeX failed on {tex_path} ({reason}) and its log names no error"
                + (f"; latexmk says: {said}" if said else "")
                + f"; full log: {log_path}, latexmk output: {output}.")
    file, line, message = error
    source = tex_path if file is None else (tex_path.parent / file).resolve()
    runaway = _RUNAWAY.search(message)
    if runaway and source.is_file():
        command = runaway.group("cmd")
        opened = _unclosed_group(source.read_text(encoding="utf-8", errors="replace"), command, line)
        if opened is not None:
            line, after_command = opened
            brace = f"the {{ after {command}" if after_command else "a {"
            message = f"{message.rstrip('.').rstrip()}: {brace} on this line is never closed (add the missing }})"
    parts = [f"LaTeX failed on {source}:{line}: {message}"]
    text = _line_text(source, line)
    if text is not None:
        parts.append(f"the generated line reads: {text}")
    parts.append(describe_origin(source, line))
    parts.append(f"{reason}; full log: {log_path}")
    return "; ".join(parts) + "."


# Errors of an argument that never ends: TeX names the command whose argument ran away.
_RUNAWAY = re.compile(
    r"(?:File ended while scanning use of|Paragraph ended before|"
    r"Forbidden control sequence found while scanning use of)\s+(?P<cmd>\\[A-Za-z@]+|\\.)"
)
_VERBATIM = re.compile(r"\\begin\{(?P<env>lstlisting|verbatim\*?|Verbatim)\}.*?\\end\{(?P=env)\}", re.DOTALL)


def _unclosed_group(text: str, command: str, upto_line: int | None) -> tuple[int, bool] | None:
    """The line of the ``{`` that opened the argument TeX was still scanning at line ``upto_line``
    (at the end of the file when None): the outermost brace still open there right after
    ``command`` (TeX scans that argument and everything after it), else the innermost open brace. Returns (its line, whether it follows ``command``), or None if every brace
    is closed. Escaped braces, comments and verbatim/listing blocks are skipped."""
    text = _VERBATIM.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    limit = len(text)
    if upto_line is not None:
        starts = [0] + [m.end() for m in re.finditer("\n", text)]
        limit = starts[upto_line] if 0 < upto_line < len(starts) else len(text)
    stack: list[int] = []
    i = 0
    while i < limit:
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "%":
            end = text.find("\n", i)
            i = limit if end < 0 else end
            continue
        if char == "{":
            stack.append(i)
        elif char == "}" and stack:
            stack.pop()
        i += 1
    if not stack:
        return None
    after = re.compile(re.escape(command) + r"\s*(?:\[[^\]]*\]\s*)?\{$")
    chosen = next((pos for pos in stack if after.search(text[max(0, pos - 200): pos + 1])), None)
    return text.count("\n", 0, stack[-1] if chosen is None else chosen) + 1, chosen is not None
