r"""Jinja2 for LaTeX: ``\BLOCK{...}``/``\VAR{...}`` delimiters, escaping by default, source maps.

Every ``\VAR{ value }`` is escaped with :func:`~saidl.report.latex.escape_tex` unless the value
is :class:`~saidl.report.latex.Tex` (the ``tex`` filter, the number filters, macro output).
Macros return :class:`Tex` (a custom code generator makes them :class:`_TexMacro`), so
``\VAR{ m.figure(...) }`` inserts the macro's LaTeX; text captured with ``\BLOCK{ set x }``
is a plain string and needs ``\VAR{ x | tex }``. Lines starting with ``%%`` are Jinja2
statements and ``%#`` starts a Jinja2 comment, so LaTeX comments in templates use a single ``%``.

:func:`render_template` also writes ``<out>.srcmap.json``, which maps each generated line back
to the template line it most likely came from, so LaTeX errors can name the template line.
"""

from __future__ import annotations

import difflib
import json
import re
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.runtime
from jinja2.compiler import CodeGenerator

from saidl.common.errors import TemplateError
from saidl.common.io import dump_json, write_if_changed
from saidl.report.latex import (
    MISSING,
    Tex,
    escape_tex,
    format_num,
    format_pct,
    format_plural,
    format_pm,
    format_short,
    format_sig,
    format_signed,
    format_thousands,
    math_minus,
    mean_std,
)

MIN_RATIO = 0.6
_TAG = re.compile(r"\\(?:VAR|BLOCK|#)\{.*?\}")
_NAME = re.compile(r"[A-Za-z0-9_./:+-]+")


class _TexMacro(jinja2.runtime.Macro):
    """A template macro: its output is LaTeX written by a template, so it is not escaped again."""

    def _invoke(self, arguments: list[Any], autoescape: bool) -> str:
        return Tex(super()._invoke(arguments, autoescape))


class _TexCodeGenerator(CodeGenerator):
    """Compiles every macro definition into a :class:`_TexMacro`."""

    def macro_def(self, macro_ref: Any, frame: Any) -> None:
        self.write("environment.as_tex_macro(")
        super().macro_def(macro_ref, frame)
        self.write(")")


class TexEnvironment(jinja2.Environment):
    """A Jinja2 environment whose macros return :class:`Tex`."""

    code_generator_class = _TexCodeGenerator

    @staticmethod
    def as_tex_macro(macro: jinja2.runtime.Macro) -> jinja2.runtime.Macro:
        """Turn a freshly defined macro into a :class:`_TexMacro`."""
        macro.__class__ = _TexMacro
        return macro


def tex_filter(value: Any) -> Tex:
    """Mark a value as raw LaTeX."""
    return Tex(str(value))


def texname_filter(value: Any) -> Tex:
    r"""Pass a file path or label verbatim (for ``\includegraphics``, ``\input``, ``\label``).

    Only ``A-Z a-z 0-9 _ . / : + -`` are allowed, so a name can never carry LaTeX code.
    """
    text = str(value)
    if not _NAME.fullmatch(text):
        raise ValueError(f"{text!r} is not a safe path or label (allowed: letters, digits, _ . / : + -)")
    return Tex(text)


def pm_filter(values: Any, digits: int = 1, scale: float = 100.0) -> Tex:
    """``mean $\\pm$ std`` of a list of values, of an ``interval``/``stats`` dict, or of a
    ``(mean, std)`` tuple; a number gives its value. Fewer than two values print the mean alone."""
    if isinstance(values, Mapping) and "values" in values:
        values = values["values"]
    if isinstance(values, tuple) and len(values) == 2:
        stats = (values[0], values[1])
    elif isinstance(values, Iterable) and not isinstance(values, str):
        stats = mean_std(values)
    else:
        stats = mean_std([values])
    return MISSING if stats is None else format_pm(stats[0], stats[1], digits, scale)


def _fmt(x: float, digits: int, scale: float, sign: bool = False) -> str:
    """One number times ``scale`` with ``digits`` decimals; a minus sign is set in maths."""
    return math_minus(f"{x * scale:{'+' if sign else ''}.{digits}f}")


def ci_filter(stat: Any, digits: int = 1, scale: float = 100.0, n: bool = True, bounds: Any = "auto") -> Tex:
    """``mean [lo, hi], n=k`` of an interval (``saidl.common.stats.interval``) or a value list; the
    mean alone (with n=1) when there are fewer than two values, ``--`` when there are none.

    ``bounds`` clips the interval to the quantity's range: ``(0, 1)`` for fractions, ``None`` for
    none; ``"auto"`` clips to [0, 1] when printing percentages (``scale=100``) of values that all
    lie in [0, 1] (an accuracy interval never reads "[93.2, 101.5]")."""
    from saidl.common.stats import interval

    if stat is None:
        return MISSING
    st = stat if isinstance(stat, Mapping) and "lo" in stat else interval(stat)
    if st.get("mean") is None:
        return MISSING
    if bounds == "auto":
        values = st.get("values") or []
        bounds = (0.0, 1.0) if scale == 100.0 and values and all(0.0 <= v <= 1.0 for v in values) else None
    text = _fmt(st["mean"], digits, scale)
    if st.get("lo") is not None:
        lo, hi = st["lo"], st["hi"]
        if bounds is not None:
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
        text += f" [{_fmt(lo, digits, scale)}, {_fmt(hi, digits, scale)}]"
    if n:
        text += f", $n={st['n']}$"
    return Tex(text)


def diff_filter(cmp: Mapping, digits: int = 1, scale: float = 100.0) -> Tex:
    """A ``saidl.common.stats.compare`` result as ``+1.5 [-0.3, 3.3]`` (A minus B, its interval and
    n); only the difference when there are too few seeds for an interval."""
    if cmp.get("diff") is None:
        return MISSING
    text = _fmt(cmp["diff"], digits, scale, sign=True)
    if cmp.get("lo") is not None:
        text += f" [{_fmt(cmp['lo'], digits, scale)}, {_fmt(cmp['hi'], digits, scale)}]"
    n = cmp["n_pairs"] if cmp.get("n_pairs") is not None else f"{cmp['n_a']}/{cmp['n_b']}"
    return Tex(text + f", $n={n}$")


def breakable_filter(value: Any) -> Tex:
    """Escaped text that may break after ``/ _ - . :`` (paths, dataset ids, run ids), so a long
    name wraps in a narrow column instead of running out of it."""
    text = str(escape_tex(value))
    for sep in ("/", r"\_", "-", ".", ":"):
        text = text.replace(sep, sep + r"\allowbreak{}")
    return Tex(text)


def cmd_filter(value: Any) -> Tex:
    r"""A command, option or path as ``\saidlcmd{...}`` (tex/saidl.sty): escaped, in typewriter,
    on one line, so that ``--config scale=full`` pastes back from the PDF exactly as written."""
    return Tex(rf"\saidlcmd{{{escape_tex(value)}}}")


FILTERS = {
    "breakable": breakable_filter,
    "cmd": cmd_filter,
    "ci": ci_filter,
    "diff": diff_filter,
    "tex": tex_filter,
    "texname": texname_filter,
    "pct": format_pct,
    "plural": format_plural,
    "pm": pm_filter,
    "short": format_short,
    "sig": format_sig,
    "signed": format_signed,
    "num": format_num,
    "thousands": format_thousands,
}


def make_env(search_paths: Sequence[Path]) -> jinja2.Environment:
    """Create the LaTeX Jinja2 environment that loads templates from ``search_paths``."""
    env = TexEnvironment(
        loader=jinja2.FileSystemLoader([str(p) for p in search_paths]),
        block_start_string=r"\BLOCK{",
        block_end_string="}",
        variable_start_string=r"\VAR{",
        variable_end_string="}",
        comment_start_string=r"\#{",
        comment_end_string="}",
        line_statement_prefix="%%",
        line_comment_prefix="%#",
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        finalize=escape_tex,
    )
    env.filters.update(FILTERS)
    env.globals["escape"] = escape_tex
    from saidl.common.stats import RULE

    env.globals["stats_rule"] = Tex(RULE)  # templates/common/macros.tex: statistics_rule()
    return env


def render_template(
    env: jinja2.Environment, name: str, context: Mapping[str, Any], out_path: Path
) -> Path:
    """Render template ``name`` with ``context`` to ``out_path`` and write its ``.srcmap.json``.

    The sidecar records the template and its search path; the line map itself is only built
    when it is needed (a LaTeX error), which keeps a render fast. Files are only rewritten when
    their content changes. Any rendering error is raised as a
    :class:`TemplateError` naming the template file and line.
    """
    out_path = Path(out_path)
    try:
        text = env.get_template(name).render(context)
    except (jinja2.TemplateError, TypeError, ValueError) as exc:
        raise TemplateError(_describe_error(env, name, exc)) from exc
    write_if_changed(out_path, text)
    search = [str(Path(p).resolve()) for p in getattr(env.loader, "searchpath", [])]
    write_if_changed(srcmap_path(out_path), dump_json({"template": name, "search_paths": search}))
    return out_path


def srcmap_path(out_path: Path) -> Path:
    """The source-map sidecar of a generated file."""
    return Path(f"{out_path}.srcmap.json")


def _load_record(out_path: Path) -> tuple[jinja2.Environment, str] | None:
    """The environment and template name recorded in the sidecar of ``out_path`` (None if missing)."""
    path = srcmap_path(out_path)
    if not path.exists() or not Path(out_path).exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return make_env([Path(p) for p in record["search_paths"]]), record["template"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_srcmap(out_path: Path) -> dict[int, tuple[str, int]]:
    """Read the source map of ``out_path``: generated line -> (template file, template line)."""
    record = _load_record(out_path)
    if record is None:
        return {}
    env, name = record
    lines = build_srcmap(env, name, Path(out_path).read_text(encoding="utf-8"))["lines"]
    return {int(k): (v[0], int(v[1])) for k, v in lines.items()}


_MACRO_START = re.compile(r"^\s*(?:\\BLOCK\{-?|%%)\s*macro\s+(?P<name>\w+)\s*\(")
_MACRO_END = re.compile(r"^\s*(?:\\BLOCK\{-?|%%)\s*endmacro\b")


def _macro_at(source: str, line: int) -> str | None:
    """The name of the macro whose body holds template line ``line`` (None outside macros)."""
    current = None
    for number, raw in enumerate(source.splitlines(), start=1):
        start = _MACRO_START.match(raw)
        if start:
            current = start.group("name")
        if number == line:
            return current
        if _MACRO_END.match(raw):
            current = None
    return None


def _call_lines(files: list[tuple[str, str]], macro: str) -> list[tuple[str, int]]:
    """Every template line that calls ``macro`` (``m.macro(...)``, ``call m.macro(...)``)."""
    call = re.compile(rf"(?<![\w])(?:\w+\.)?{re.escape(macro)}\s*\(")
    found = []
    for file, source in files:
        for number, raw in enumerate(source.splitlines(), start=1):
            if _MACRO_START.match(raw) or raw.lstrip().startswith("%#"):
                continue
            tags = raw[min((i for i in (raw.find("\\VAR{"), raw.find("\\BLOCK{")) if i >= 0), default=len(raw)):]
            statement = raw.lstrip()[2:] if raw.lstrip().startswith("%%") else ""
            if call.search(tags) or call.search(statement):
                found.append((file, number))
    return found


def _caller(files: list[tuple[str, str]], lines: Mapping[int, tuple[str, int]], out_line: int,
            macro: str) -> tuple[str, int] | None:
    """The template line that called ``macro`` to produce generated line ``out_line``.

    A single call site is the caller; among several, the first one at or after the last
    template line (of the same file) that produced a generated line before ``out_line``."""
    calls = _call_lines(files, macro)
    if len(calls) <= 1:
        return calls[0] if calls else None
    for number in range(out_line - 1, 0, -1):
        before = lines.get(number)
        if before is None:
            continue
        after = [c for c in calls if c[0] == before[0] and c[1] >= before[1]]
        if after:
            return after[0]
    return None


def describe_origin(out_path: Path, line: int | None) -> str:
    """Where generated line ``line`` of ``out_path`` comes from, for an error message:
    "this line comes from t.tex:12", with "(in macro figure, called from report.tex:40)" when
    the line is written by a macro; the nearest mapped line before it when it has none itself
    (a line written only by a ``\\VAR{...}``)."""
    record = _load_record(out_path)
    if record is None or line is None:
        return "no template line is known for it (no .srcmap.json next to the generated file)"
    env, name = record
    files = _template_files(env, name)
    lines = {int(k): (v[0], int(v[1]))
             for k, v in build_srcmap(env, name, Path(out_path).read_text(encoding="utf-8"))["lines"].items()}
    origin = lines.get(line)
    if origin is not None:
        text = f"this line comes from {origin[0]}:{origin[1]}"
    else:
        nearest = next((n for n in range(line - 1, max(line - 40, 0), -1) if n in lines), None)
        if nearest is None:
            return "no template line is known for it (no close match in the .srcmap.json)"
        origin = lines[nearest]
        text = (f"no template line matches it; the nearest line before it (generated line {nearest}) "
                f"comes from {origin[0]}:{origin[1]}")
    sources = dict(files)
    chain, out_line = [], line
    while len(chain) < 4:
        macro = _macro_at(sources.get(origin[0], ""), origin[1])
        if macro is None:
            break
        caller = _caller(files, lines, out_line, macro)
        chain.append(f"in macro {macro}, called from {caller[0]}:{caller[1]}" if caller else f"in macro {macro}")
        if caller is None or caller == origin:
            break
        origin = caller
    return text + "".join(f" ({part})" for part in chain)


# ---------------------------------------------------------------- source map


@dataclass(frozen=True)
class _TemplateLine:
    """One template line with its static text and a pattern that matches its possible outputs."""

    file: str
    line: int
    static: str
    pattern: re.Pattern[str]


def _display_path(filename: str | None) -> str:
    """A file name relative to the working directory when inside it."""
    if not filename:
        return "<unknown template>"
    path = Path(filename).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _template_files(env: jinja2.Environment, name: str) -> list[tuple[str, str]]:
    """(display path, source) of ``name`` and every template it includes, imports or extends."""
    seen: dict[str, tuple[str, str]] = {}
    todo = [name]
    while todo:
        current = todo.pop(0)
        if current in seen:
            continue
        source, filename, _ = env.loader.get_source(env, current)
        seen[current] = (_display_path(filename), source)
        refs = jinja2.meta.find_referenced_templates(env.parse(source))
        todo.extend(ref for ref in refs if ref is not None)
    return list(seen.values())


def _template_lines(files: list[tuple[str, str]]) -> list[_TemplateLine]:
    """The template lines that produce output text of their own."""
    result = []
    for file, source in files:
        for number, raw in enumerate(source.splitlines(), start=1):
            if raw.lstrip().startswith(("%%", "%#")):
                continue
            parts = [part.strip() for part in _TAG.split(raw)]
            static = " ".join(part for part in parts if part)
            if not static:
                continue
            pattern = re.compile(r"\s*" + ".*?".join(re.escape(p) for p in parts) + r"\s*")
            result.append(_TemplateLine(file, number, static, pattern))
    return result


def _score(out_line: str, candidate: _TemplateLine) -> float:
    """1.0 if the template line can produce ``out_line``, else the difflib similarity."""
    if candidate.pattern.fullmatch(out_line):
        return 1.0
    matcher = difflib.SequenceMatcher(None, out_line.strip(), candidate.static, autojunk=False)
    if matcher.real_quick_ratio() < MIN_RATIO or matcher.quick_ratio() < MIN_RATIO:
        return 0.0
    return matcher.ratio()


def _best_match(
    out_line: str, candidates: list[_TemplateLine], previous: _TemplateLine | None
) -> _TemplateLine | None:
    """The best-matching template line.

    Ties go to more static text, then to the nearest line at or after ``previous`` (loops repeat it).
    """

    def key(c: _TemplateLine) -> tuple[float, int, int]:
        follows = previous is not None and c.file == previous.file and c.line >= previous.line
        distance = c.line - previous.line if follows else 10**9
        return (_score(out_line, c), len(c.static), -distance)

    best = max(candidates, key=key, default=None)
    if best is None or _score(out_line, best) < MIN_RATIO:
        return None
    return best


def build_srcmap(env: jinja2.Environment, name: str, text: str) -> dict[str, Any]:
    """Map each non-blank generated line to its most similar template line (ratio >= 0.6)."""
    candidates = _template_lines(_template_files(env, name))
    lines: dict[str, list[Any]] = {}
    previous = None
    for number, out_line in enumerate(text.splitlines(), start=1):
        if not out_line.strip():
            continue
        match = _best_match(out_line, candidates, previous)
        if match is not None:
            lines[str(number)] = [match.file, match.line]
            previous = match
    return {"template": name, "lines": lines}


# ---------------------------------------------------------------- error messages


def _error_location(env: jinja2.Environment, name: str, exc: BaseException) -> str:
    """``file:line`` of the innermost template frame of ``exc``, with the template lines calling it."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{_display_path(exc.filename)}:{exc.lineno}"
    roots = [Path(p).resolve() for p in getattr(env.loader, "searchpath", [])]
    places: list[str] = []
    for frame in traceback.extract_tb(exc.__traceback__):
        if any(Path(frame.filename).resolve().is_relative_to(root) for root in roots):
            place = f"{_display_path(frame.filename)}:{frame.lineno}"
            if place not in places:
                places.append(place)
    if not places:
        return name
    callers = "".join(f" (called from {place})" for place in reversed(places[:-1]))
    return places[-1] + callers


def _describe_undefined(message: str) -> str:
    """Turn Jinja2's undefined message into "undefined variable 'x'" or "undefined attribute 'x'"."""
    attribute = re.search(r"has no attribute '([^']*)'", message)
    if attribute:
        return f"undefined key or attribute {attribute.group(1)!r} ({message})"
    variable = re.match(r"'([^']*)' is undefined", message)
    return f"undefined variable {variable.group(1)!r}" if variable else f"undefined value ({message})"


def _describe_error(env: jinja2.Environment, name: str, exc: BaseException) -> str:
    """One message saying what went wrong in which template line and how to fix it."""
    where = _error_location(env, name, exc)
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return (
            f"template syntax error in {where}: {exc.message}; fix the Jinja2 syntax on that line "
            r"(delimiters: \BLOCK{...}, \VAR{...}, \#{...}; a line starting with %% is a statement)"
        )
    if isinstance(exc, jinja2.UndefinedError):
        return (
            f"{_describe_undefined(exc.message or '')} in {where}: the report context has no such "
            "key; check its spelling in the template or the step that writes the summary"
        )
    if isinstance(exc, jinja2.TemplateNotFound):
        paths = ", ".join(getattr(env.loader, "searchpath", []))
        return (
            f"template {exc.name!r} not found (needed by {where}); searched: {paths}; "
            "check the template name or the template search paths"
        )
    return f"cannot render {where}: {type(exc).__name__}: {exc}; check the value used on that line"
