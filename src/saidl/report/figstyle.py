"""One matplotlib look for every report figure, and byte-reproducible PDF output."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

from saidl.common.io import atomic_write_bytes

SINGLE_COLUMN_IN = 3.4
DOUBLE_COLUMN_IN = 7.0

# Okabe & Ito colour-blind-safe palette.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")

_STYLE: dict[str, Any] = {
    "figure.figsize": (SINGLE_COLUMN_IN, 2.4),
    "figure.dpi": 150,
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.grid": True,
    "grid.color": "#cccccc",
    "grid.linewidth": 0.5,
    "grid.alpha": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "lines.markersize": 3.5,
    "legend.frameon": False,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "savefig.dpi": 300,
}

def apply_style() -> None:
    """Use the Agg backend and the report's paper-sized, colour-blind-safe style."""
    matplotlib.use("Agg")
    matplotlib.rcParams.update(_STYLE)
    matplotlib.rcParams["axes.prop_cycle"] = matplotlib.cycler(color=PALETTE)


def literal(value: Any) -> str:
    """``value`` (a name from a config, a summary or a dataset) as text that matplotlib draws
    exactly as written.

    Matplotlib reads the text between two ``$`` as mathematics (``$x^2$`` becomes x squared,
    ``$a_b$`` an a with a subscript b); an escaped dollar, ``\\$``, is drawn as a plain ``$``, both
    in plain text and in the non-math part of a label that also holds our own mathtext such as
    ``r"$\\eta$"``. Every other character is drawn as is outside ``$...$``. Use it wherever a
    string that is not our own code becomes a label, a tick label, a title or an annotation.

    A leading underscore would hide a legend entry (matplotlib skips labels that start with
    ``_``); such a name gets a zero-width space in front, which draws nothing.
    """
    text = str(value).replace("$", "\\$")
    return "\u200b" + text if text.startswith("_") else text


def literals(values: Any) -> list[str]:
    """:func:`literal` of each value, for tick labels and legend entries."""
    return [literal(v) for v in values]


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save ``fig`` as a PDF atomically; identical figures give identical bytes."""
    path = Path(path)
    if path.suffix.lower() != ".pdf":
        raise ValueError(f"save_figure writes PDF files; {path} does not end in .pdf")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="pdf", metadata={"CreationDate": None})
    return atomic_write_bytes(path, buffer.getvalue())
