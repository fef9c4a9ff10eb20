"""The command line shared by every figure module: read the summary, plot, save one PDF.

A figure module defines ``plot(summary) -> Figure`` and ends with ``run(plot)``; Snakemake
calls it as ``python -m <module> --summary summary.json --out <name>.pdf``.

Names from configs and summaries go through :func:`saidl.report.figstyle.literal`, so that
they are drawn as written. A character that the figure's font lacks would be drawn as an empty
box with only a warning in the log; here it stops the figure with one line naming the label,
the character and the figure.
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
import warnings
from pathlib import Path
from typing import Callable

from saidl.common.cli import exit_code
from saidl.common.errors import ConfigError
from saidl.common.io import read_json
from saidl.report.figstyle import apply_style, save_figure

# matplotlib's warning for a character missing from every font of the text (matplotlib >= 3.6)
_MISSING_GLYPH = re.compile(r"Glyph (\d+) \((.*)\) missing from font\(s\) (.+?)\.?$", re.S)


def _labels_with(char: str) -> list[str]:
    """The texts of every open figure that contain ``char``, in drawing order, no repeats."""
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    found: dict[str, None] = {}
    for num in plt.get_fignums():
        for t in plt.figure(num).findobj(Text):
            if char in t.get_text():
                found[t.get_text().replace("\\$", "$").lstrip("\u200b")] = None
    return list(found)


def missing_glyph_error(message: str, out: Path) -> ConfigError | None:
    """The one-line error for matplotlib's missing-glyph warning ``message``, or None if it is
    another warning."""
    m = _MISSING_GLYPH.match(message)
    if m is None:
        return None
    char = chr(int(m.group(1)))
    name = unicodedata.name(char, f"U+{ord(char):04X}")
    labels = _labels_with(char)
    where = f"the label {labels[0]!r}" if labels else "a label"
    return ConfigError(
        f"figure {out}: {where} has the character {char!r} (U+{ord(char):04X} {name}), which the "
        f"figure font ({m.group(3)}) cannot draw; rename that entry in the config (or the data it "
        f"comes from) without it, or add a font that has it to the font.family list of _STYLE in "
        f"src/saidl/report/figstyle.py")


def render(plot: Callable[[dict], object], summary: dict, out: Path) -> Path:
    """Plot ``summary`` and save the PDF ``out``; a missing glyph raises ConfigError (no file)."""
    import matplotlib.pyplot as plt

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=r"Glyph \d+ .*missing from font", category=UserWarning)
        try:
            return save_figure(plot(summary), out)
        except UserWarning as exc:
            error = missing_glyph_error(str(exc), out)
            if error is None:
                raise
            raise error from None
        finally:
            plt.close("all")


def main(plot: Callable[[dict], object], argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--summary", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    apply_style()
    return exit_code(lambda: render(plot, read_json(args.summary), args.out))


def run(plot: Callable[[dict], object]) -> None:
    sys.exit(main(plot))
