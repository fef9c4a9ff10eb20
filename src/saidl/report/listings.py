r"""Python source of a named object as an ``lstlisting`` block, with its file and line numbers."""

from __future__ import annotations

import importlib
import inspect
import textwrap
import unicodedata
from pathlib import Path
from typing import Any

from saidl.common.errors import TemplateError
from saidl.report.latex import Tex, escape_tex

_SRC_ROOT = Path(__file__).resolve().parents[2]
_ASCII_FOR = {
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
}


def _resolve(qualname: str) -> Any:
    """Import the longest module prefix of ``qualname`` and walk the rest as attributes.

    A module that exists but fails to import (e.g. a missing dependency) raises its own error.
    """
    parts = qualname.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:split])
        try:
            obj = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        try:
            for attr in parts[split:]:
                obj = getattr(obj, attr)
        except AttributeError as exc:
            raise TemplateError(f"code_listing: {qualname!r} not found ({exc}); check the name") from exc
        return obj
    raise TemplateError(f"code_listing: no module of {qualname!r} can be imported; check the name")


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
    obj = inspect.unwrap(_resolve(qualname))
    try:
        lines, first_line = inspect.getsourcelines(obj)
        file = _display_file(inspect.getsourcefile(obj) or inspect.getfile(obj))
    except (OSError, TypeError) as exc:
        raise TemplateError(f"code_listing: no Python source for {qualname!r} ({exc})") from exc
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
