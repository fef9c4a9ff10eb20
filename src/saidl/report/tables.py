r"""Booktabs tables (PyLaTeX) written to files that report templates ``\input``."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal

from pylatex import MultiColumn, NoEscape, Tabular

from saidl.report.latex import MISSING, escape_tex, format_pm, mean_std

RESIZE_ABOVE_COLUMNS = 8


def _esc(value: Any) -> NoEscape:
    """A cell escaped for LaTeX (a :class:`Tex` passes unchanged)."""
    return NoEscape(escape_tex(value))


def _best_rows(
    stats: Mapping[Hashable, tuple[float, float | None]], best: str, digits: int, scale: float
) -> set[Hashable]:
    """Rows whose mean, rounded as displayed, is the best of the column (ties all win)."""
    shown = {row: round(mean * scale, digits) for row, (mean, _) in stats.items()}
    if not shown:
        return set()
    target = max(shown.values()) if best == "max" else min(shown.values())
    return {row for row, value in shown.items() if value == target}


def _column_cells(
    row_labels: Sequence[Hashable],
    col: Hashable,
    cells: Mapping[tuple[Hashable, Hashable], Sequence[float] | None],
    best: str,
    digits: int,
    scale: float,
) -> dict[Hashable, str]:
    """The formatted cells of one column, its best mean(s) in bold, missing ones as ``--``."""
    stats = {}
    for row in row_labels:
        result = mean_std(cells.get((row, col)) or [])
        if result is not None:
            stats[row] = result
    winners = _best_rows(stats, best, digits, scale)
    column = {}
    for row in row_labels:
        if row not in stats:
            column[row] = MISSING
            continue
        text = format_pm(*stats[row], digits=digits, scale=scale)
        column[row] = rf"\textbf{{{text}}}" if row in winners else text
    return column


def mean_std_table(
    row_labels: Sequence[Hashable],
    col_labels: Sequence[Hashable],
    cells: Mapping[tuple[Hashable, Hashable], Sequence[float] | None],
    *,
    best: Literal["max", "min"] = "max",
    digits: int = 1,
    scale: float = 100.0,
    row_header: str = "",
    col_group_header: str | None = None,
) -> str:
    r"""A booktabs tabular of ``mean $\pm$ std`` per (row, column), the best mean per column in bold.

    ``cells[(row, col)]`` holds the per-seed values (sample std, ddof=1, from two values on; one
    value shows only its mean); a missing, None, empty or all-NaN cell shows ``--``. Values and
    std are multiplied by ``scale`` (100 turns accuracies into percentages). Labels are escaped.
    With more than eight data columns the tabular is scaled to ``\linewidth``.
    """
    if best not in ("max", "min"):
        raise ValueError(f"best must be 'max' or 'min', not {best!r}")
    columns = {col: _column_cells(row_labels, col, cells, best, digits, scale) for col in col_labels}
    table = Tabular("l" + "c" * len(col_labels), booktabs=True)
    if col_group_header is not None:
        table.add_row("", MultiColumn(len(col_labels), align="c", data=_esc(col_group_header)))
        table.append(NoEscape(rf"\cmidrule(lr){{2-{len(col_labels) + 1}}}"))
    table.add_row([_esc(row_header), *(_esc(col) for col in col_labels)])
    table.add_hline()
    for row in row_labels:
        table.add_row([_esc(row), *(NoEscape(columns[col][row]) for col in col_labels)])
    return _wrap(table.dumps(), len(col_labels))


def simple_table(header: Sequence[Any], rows: Sequence[Sequence[Any]]) -> str:
    """A booktabs tabular of left-aligned, escaped cells (e.g. key/value tables)."""
    width = max([len(header), *(len(row) for row in rows)])
    table = Tabular("l" * width, booktabs=True)
    table.add_row([_esc(cell) for cell in header] + [""] * (width - len(header)))
    table.add_hline()
    for row in rows:
        table.add_row([_esc(cell) for cell in row] + [""] * (width - len(row)))
    return _wrap(table.dumps(), width)


def _wrap(tabular: str, data_columns: int) -> str:
    """Scale a wide tabular to the line width; end the file with a newline."""
    if data_columns > RESIZE_ABOVE_COLUMNS:
        tabular = "\\resizebox{\\linewidth}{!}{%\n" + tabular + "%\n}"
    return tabular + "\n"


def tables_main(tables: dict, description: str, argv: list[str] | None = None) -> int:
    """The command line of a task's table module: ``<name> --summary S --out T`` writes table
    ``name`` of the summary, only if its content changed (so the PDF is not rebuilt for nothing)."""
    import argparse
    from pathlib import Path

    from saidl.common.io import read_json, write_if_changed

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("name", choices=sorted(tables))
    ap.add_argument("--summary", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    write_if_changed(args.out, tables[args.name](read_json(args.summary)))
    return 0
