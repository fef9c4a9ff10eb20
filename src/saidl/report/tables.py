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


def _best_rows(values: Mapping[Hashable, Sequence[float]], best: str, paired: bool = False) -> set[Hashable]:
    """Rows set in bold: the best set of :func:`saidl.common.stats.best` (the best mean and every
    row not shown worse than it). Nothing is bold with too few seeds, or when no row is shown
    worse than the best (a column of ties has no best)."""
    from saidl.common.stats import TOO_FEW, best as best_set

    if len(values) < 2:
        return set()
    result = best_set(values, higher_is_better=best == "max", paired=paired)
    if result["verdict"] == TOO_FEW or len(result["set"]) == len(values):
        return set()
    return set(result["set"])


def _column_cells(
    row_labels: Sequence[Hashable],
    col: Hashable,
    cells: Mapping[tuple[Hashable, Hashable], Sequence[float] | None],
    best: str,
    digits: int,
    scale: float,
    paired: bool = False,
) -> dict[Hashable, str]:
    """The formatted cells of one column, its best set in bold (``_best_rows``), missing ones as ``--``."""
    stats, values = {}, {}
    for row in row_labels:
        result = mean_std(cells.get((row, col)) or [])
        if result is not None:
            stats[row] = result
            values[row] = list(cells[(row, col)])
    winners = _best_rows(values, best, paired)
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
    paired: bool = False,
) -> str:
    r"""A booktabs tabular of ``mean $\pm$ std`` per (row, column), the best set per column in bold.

    Bold follows :func:`saidl.common.stats.best` (``paired=True`` when every cell lists one value
    per seed in the same seed order): the best mean and every cell not shown worse than it,
    nothing with fewer than two seeds or when no cell of the column is shown worse.

    ``cells[(row, col)]`` holds the per-seed values (sample std, ddof=1, from two values on; one
    value shows only its mean); a missing, None, empty or all-NaN cell shows ``--``. Values and
    std are multiplied by ``scale`` (100 turns accuracies into percentages). Labels are escaped.
    With more than eight data columns the tabular is scaled to ``\linewidth``.
    """
    if best not in ("max", "min"):
        raise ValueError(f"best must be 'max' or 'min', not {best!r}")
    columns = {col: _column_cells(row_labels, col, cells, best, digits, scale, paired) for col in col_labels}
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


def hparam_rows(config: Mapping[str, Any], labels: Mapping[str, str | tuple[str, str]],
                skip: Sequence[str] = ()) -> list[dict]:
    """Rows ``{name, value, note}`` of a hyperparameter table, read from a run config.

    ``labels`` maps a dotted key of ``config`` to its display name, or to ``(name, note)``;
    keys are listed in the order of ``labels``, and a key missing from the config is an error
    (so a renamed setting cannot silently vanish from the report). Lists print comma-separated,
    dicts as ``k=v`` pairs, floats with up to 4 significant digits. Every config key that is not
    labelled (and not in ``skip``) is appended under its own dotted name, so the table shows the
    whole configuration.
    """
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            flat[prefix] = value

    for k, v in config.items():
        walk(str(k), v)

    def show(v: Any) -> str:
        if isinstance(v, bool) or v is None:
            return str(v).lower() if v is not None else "none"
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, Mapping):
            return ", ".join(f"{k}={show(x)}" for k, x in v.items())
        if isinstance(v, (list, tuple)):
            return ", ".join(show(x) for x in v)
        return str(v)

    def lookup(key: str) -> Any:
        if key in flat:
            return flat[key]
        node: Any = config
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise KeyError(f"hyperparameter {key!r} is not in the run config (keys: {', '.join(sorted(flat))})")
            node = node[part]
        return node

    rows = []
    used = set()
    for key, label in labels.items():
        name, note = (label, "") if isinstance(label, str) else label
        rows.append({"name": name, "value": show(lookup(key)), "note": note})
        used.add(key)
    for key, value in flat.items():
        if key in used or any(key == s or key.startswith(s + ".") for s in (*skip, *used)):
            continue
        rows.append({"name": key, "value": show(value), "note": ""})
    return rows


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
