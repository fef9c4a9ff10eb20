"""Escaping of arbitrary values for LaTeX text mode (pdflatex, T1 + utf8 + lmodern + textcomp).

Every value that reaches a report goes through :func:`escape_tex` unless it is a :class:`Tex`,
so a value such as ``\\input{/etc/passwd}`` or ``café → 87 %`` is printed literally and can
never run LaTeX code or stop pdflatex on an unknown character.
"""

from __future__ import annotations

import math
import numbers
import re
import statistics
import unicodedata
from collections.abc import Iterable
from typing import Any


class Tex(str):
    """A string of raw LaTeX that must be inserted as is, never escaped."""


_ASCII: dict[str, str] = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "%": r"\%",
    "&": r"\&",
    "_": r"\_",
    "#": r"\#",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    '"': r"\textquotedbl{}",
    "`": r"\textasciigrave{}",
    "'": r"\textquotesingle{}",
    "\r": "",
}

_GREEK_LOWER = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi o pi rho "
    "varsigma sigma tau upsilon phi chi psi omega"
).split()
_GREEK_UPPER = (
    "A B Gamma Delta E Z H Theta I K Lambda M N Xi O Pi P - Sigma T Upsilon Phi X Psi Omega"
).split()


def _math(command: str) -> str:
    """Wrap a math-mode command so it works in text mode."""
    return rf"\ensuremath{{{command}}}"


def _greek_table() -> dict[str, str]:
    """Map Greek letters to math symbols (Latin look-alikes become plain letters)."""
    table: dict[str, str] = {}
    for offset, name in enumerate(_GREEK_LOWER):
        table[chr(0x03B1 + offset)] = name if name == "o" else _math("\\" + name)
    for offset, name in enumerate(_GREEK_UPPER):
        if name != "-":
            table[chr(0x0391 + offset)] = _math("\\" + name) if len(name) > 1 else name
    return table


_SYMBOLS: dict[str, str] = {
    "\u00b5": r"\textmu{}",
    "\u00b1": r"\textpm{}",
    "\u00d7": r"\texttimes{}",
    "\u00f7": r"\textdiv{}",
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": r"\textendash{}",
    "\u2013": r"\textendash{}",
    "\u2014": r"\textemdash{}",
    "\u2015": r"\textemdash{}",
    "\u2018": r"\textquoteleft{}",
    "\u2019": r"\textquoteright{}",
    "\u201a": r"\quotesinglbase{}",
    "\u201c": r"\textquotedblleft{}",
    "\u201d": r"\textquotedblright{}",
    "\u201e": r"\quotedblbase{}",
    "\u2020": r"\textdagger{}",
    "\u2021": r"\textdaggerdbl{}",
    "\u2022": r"\textbullet{}",
    "\u2026": r"\textellipsis{}",
    "\u2030": r"\textperthousand{}",
    "\u2032": _math("'"),
    "\u2039": r"\guilsinglleft{}",
    "\u203a": r"\guilsinglright{}",
    "\u2009": r"\,",
    "\u200b": "{}",
    "\u20ac": r"\texteuro{}",
    "\u2122": r"\texttrademark{}",
    "\u2190": r"\textleftarrow{}",
    "\u2191": r"\textuparrow{}",
    "\u2192": r"\textrightarrow{}",
    "\u2193": r"\textdownarrow{}",
    "\u2194": _math(r"\leftrightarrow"),
    "\u21d0": _math(r"\Leftarrow"),
    "\u21d2": _math(r"\Rightarrow"),
    "\u21d4": _math(r"\Leftrightarrow"),
    "\u2200": _math(r"\forall"),
    "\u2202": _math(r"\partial"),
    "\u2203": _math(r"\exists"),
    "\u2205": _math(r"\emptyset"),
    "\u2207": _math(r"\nabla"),
    "\u2208": _math(r"\in"),
    "\u2209": _math(r"\notin"),
    "\u2211": _math(r"\sum"),
    "\u220f": _math(r"\prod"),
    "\u2212": _math("-"),
    "\u2218": _math(r"\circ"),
    "\u221a": _math(r"\surd"),
    "\u221d": _math(r"\propto"),
    "\u221e": _math(r"\infty"),
    "\u2227": _math(r"\wedge"),
    "\u2228": _math(r"\vee"),
    "\u2229": _math(r"\cap"),
    "\u222a": _math(r"\cup"),
    "\u222b": _math(r"\int"),
    "\u223c": _math(r"\sim"),
    "\u2248": _math(r"\approx"),
    "\u2260": _math(r"\neq"),
    "\u2261": _math(r"\equiv"),
    "\u2264": _math(r"\leq"),
    "\u2265": _math(r"\geq"),
    "\u226a": _math(r"\ll"),
    "\u226b": _math(r"\gg"),
    "\u2282": _math(r"\subset"),
    "\u2286": _math(r"\subseteq"),
    "\u22c5": _math(r"\cdot"),
}

_TABLE: dict[str, str] = {**_ASCII, **_greek_table(), **_SYMBOLS}

# Letters of Latin Extended-A that T1 (and hence inputenc) does not provide.
_T1_GAPS = frozenset("\u0126\u0127\u0138\u013f\u0140\u0149\u0166\u0167\u017f")


def _known_to_inputenc(char: str) -> bool:
    """True for non-ASCII characters that utf8 inputenc with T1 + TS1 typesets by itself."""
    code = ord(char)
    return 0x00A0 <= code <= 0x017F and char not in _T1_GAPS


def _escape_char(char: str) -> str:
    """Escape one character so that pdflatex prints it literally."""
    if char in _TABLE:
        return _TABLE[char]
    if (char.isascii() and char.isprintable()) or char in "\n\t" or _known_to_inputenc(char):
        return char
    return rf"\texttt{{U+{ord(char):04X}}}"


def escape_tex(value: Any) -> Tex:
    """Return ``value`` as LaTeX text that renders literally; a :class:`Tex` passes unchanged.

    Numbers and other objects are formatted with ``str()`` first. Ligatures that would change
    the text (``--``, ``---``) are broken, and characters unknown to pdflatex become
    ``\\texttt{U+XXXX}`` instead of an error.
    """
    if isinstance(value, Tex):
        return value
    text = unicodedata.normalize("NFC", str(value))
    out = "".join(_escape_char(char) for char in text)
    return Tex(re.sub(r"-(?=-)", "-{}", out))


MISSING = Tex("--")


def _is_number(value: Any) -> bool:
    """True for a finite real number (not None, NaN or infinity)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def mean_std(values: Iterable[float]) -> tuple[float, float | None] | None:
    """Mean and sample standard deviation (ddof=1) of the finite values; std is None for one value.

    Returns None when no finite value is left.
    """
    finite = [float(v) for v in values if _is_number(v)]
    if not finite:
        return None
    if len(finite) == 1:
        return finite[0], None
    return statistics.fmean(finite), statistics.stdev(finite)


def math_minus(text: str) -> str:
    """A formatted number whose leading minus sign is set in maths (``$-$0.3``), as LaTeX's
    text hyphen is too short for a minus."""
    return "$-$" + text[1:] if text.startswith("-") else text


def format_pm(mean: float, std: float | None, digits: int = 1, scale: float = 100.0) -> Tex:
    """Format ``mean ± std`` (both multiplied by ``scale``) as ``87.3 $\\pm$ 0.4``."""
    text = f"{mean * scale:.{digits}f}"
    if std is not None:
        text += rf" $\pm$ {std * scale:.{digits}f}"
    return Tex(text)


def format_pct(value: Any, digits: int = 1, unit: bool = True) -> Tex:
    """Format a fraction as a percentage: 0.8734 becomes ``87.3\\,\\%`` (``87.3`` with
    ``unit=False``, for a column or a range whose unit is printed once)."""
    if not _is_number(value):
        return MISSING
    return Tex(rf"{value * 100:.{digits}f}\,\%" if unit else f"{value * 100:.{digits}f}")


def format_num(value: Any, digits: int = 2) -> Tex:
    """Format a number with a fixed number of decimals."""
    if not _is_number(value):
        return MISSING
    return Tex(f"{value:.{digits}f}")


def format_sig(value: Any, n: int = 3) -> Tex:
    """Format a number with ``n`` significant digits; large or tiny ones as ``1.23\\times 10^{5}``."""
    if not _is_number(value):
        return MISSING
    text = f"{value:#.{n}g}"
    mantissa, _, exponent = text.partition("e")
    mantissa = mantissa.rstrip(".")
    if not exponent:
        return Tex(mantissa)
    return Tex(rf"{mantissa}\ensuremath{{\times 10^{{{int(exponent)}}}}}")


def format_thousands(value: Any) -> Tex:
    """Format a number rounded to an integer with thin-spaced thousands: ``12{,}345``."""
    if not _is_number(value):
        return MISSING
    return Tex(f"{round(float(value)):,}".replace(",", "{,}"))


def format_short(value: Any, digits: int = 6) -> Tex:
    """A setting (noise rate, guidance scale, step size) as short as Python's ``g`` format
    writes it: 0.8, 1.5, 10, 1e-05; ``digits`` significant digits at most."""
    if not _is_number(value):
        return MISSING
    return Tex(f"{value:.{digits}g}")


def format_signed(value: Any, digits: int = 1) -> Tex:
    """A difference of single numbers (no interval) with its sign: ``+1.5``, ``$-$0.3``."""
    if not _is_number(value):
        return MISSING
    return Tex(math_minus(f"{value:+.{digits}f}"))


NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def format_plural(count: Any, word: str, words: bool = False) -> Tex:
    """A count and its noun: ``3 seeds``, ``1 epoch``; with ``words=True`` small counts are
    spelled out (``one seed``, ``three seeds``)."""
    number = NUMBER_WORDS.get(count, str(count)) if words else str(count)
    return escape_tex(f"{number} {word}{'' if count == 1 else 's'}")

