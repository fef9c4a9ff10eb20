r"""Python source of a named object as an ``lstlisting`` block, with its file and line numbers."""

from __future__ import annotations

import ast
import importlib.util
import textwrap
import unicodedata
from pathlib import Path

from saidl.common.errors import TemplateError
from saidl.report.latex import Tex, escape_tex

_SRC_ROOT = Path(__file__).resolve().parents[2]
_ASCII_FOR = {
    "\u2212": "-",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u2260": "!=",
    "\u2261": "==",
    "\u2208": " in ",
    "\u221a": "sqrt",
    "\u221e": "inf",
    "\u00b7": "*",
    "\u22c5": "*",
    "\u2026": "...",
    "\u2211": "sum",
    "\u220f": "prod",
    "\u2202": "d",
    "\u2207": "grad",
    "\u2016": "||",
    "\u27e8": "<",
    "\u27e9": ">",
    "\u2299": "(.)",
    "\u2297": "(x)",
    "\u2200": "for all",
    "\u21d2": "=>",
    "\u2194": "<->",
    "\u2032": "'",
    "\u2192": "->",
    "\u2190": "<-",
    "\u2248": "~=",
    "\u00b1": "+/-",
    "\u00b5": "u",
    "\u00d7": "x",
    "\u2013": "-",
    "\u2014": "--",
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2026": "...",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u2260": "!=",
    "\u00b0": "deg",
    "\u00a7": "Sec.",
}


def _locate(qualname: str) -> tuple[Path, int, list[str]]:
    """File, first line and source lines of ``qualname``, found by parsing, not importing.

    The longest module prefix is located with ``importlib.util.find_spec``; the rest is walked
    through the module's classes and functions, so a listing never imports heavy dependencies.
    """
    parts = qualname.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            spec = importlib.util.find_spec(".".join(parts[:split]))
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        path = Path(spec.origin)
        text = path.read_text(encoding="utf-8")
        node: ast.AST = ast.parse(text)
        for name in parts[split:]:
            found = [n for n in getattr(node, "body", [])
                     if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name]
            if not found:
                raise TemplateError(f"code_listing: {qualname!r} not found ({name!r} is not defined in "
                                    f"{_display_file(str(path))}); check the name")
            node = found[-1]
        if node is None or not hasattr(node, "end_lineno"):
            break
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        lines = text.splitlines(keepends=True)[first - 1: node.end_lineno]
        return path, first, lines
    raise TemplateError(f"code_listing: no Python source for {qualname!r}; check the name")


def _to_ascii(char: str) -> str:
    """An ASCII stand-in for a non-ASCII character (so pdflatex's listings never fails)."""
    if char.isascii():
        return char
    if char in _ASCII_FOR:
        return _ASCII_FOR[char]
    stripped = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    if stripped:
        return stripped
    name = unicodedata.name(char, "")
    if name.startswith("GREEK SMALL LETTER "):
        return name.removeprefix("GREEK SMALL LETTER ").lower()
    if name.startswith("GREEK CAPITAL LETTER "):
        return name.removeprefix("GREEK CAPITAL LETTER ").title()
    return f"<U+{ord(char):04X}>"


def _display_file(path: str) -> str:
    """The source file relative to the repository (``src/saidl/...``) when it lives there."""
    resolved = Path(path).resolve()
    if resolved.is_relative_to(_SRC_ROOT):
        return str(Path("src") / resolved.relative_to(_SRC_ROOT))
    return str(resolved)


def code_listing(qualname: str, *, caption: str | None = None) -> Tex:
    r"""An ``lstlisting`` of the source of ``qualname`` (a class, function or method).

    The listing numbers lines as in the file, and its caption names the object, its file
    (relative to the repository) and first line. Non-ASCII characters are transliterated.
    Raises :class:`TemplateError` if the object has no source or its source contains
    ``\end{lstlisting}``.
    """
    path, first_line, lines = _locate(qualname)
    file = _display_file(str(path))
    source = textwrap.dedent("".join(lines))
    if r"\end{lstlisting}" in source:
        raise TemplateError(
            rf"code_listing: the source of {qualname!r} contains \end{{lstlisting}}, "
            "which would end the listing early; show it another way"
        )
    source = "".join(_to_ascii(char) for char in source).rstrip("\n") + "\n"
    title = escape_tex(f"{caption or qualname} ({file}, line {first_line})")
    return Tex(
        f"\\begin{{lstlisting}}[language=Python, firstnumber={first_line}, caption={{{title}}}]\n"
        f"{source}\\end{{lstlisting}}\n"
    )
