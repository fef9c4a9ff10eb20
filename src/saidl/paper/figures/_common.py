"""Shared pieces of the paper-task figures: a style per variant and the settings of a group."""

from __future__ import annotations

from typing import Any

from saidl.coreml.styles import loss_style
from saidl.report.figstyle import PALETTE

# One colour per variant across every figure (Okabe & Ito); ANL dash-dotted, ablations dotted.
_STYLES: dict[str, dict[str, Any]] = {
    "CE": {"color": "#444444", "marker": "o", "linestyle": "--", "linewidth": 1.0},
    "NCE+RCE": {"color": PALETTE[3], "marker": "o", "linestyle": "-", "linewidth": 2.0},
    "NCE+MAE": {"color": PALETTE[2], "marker": "o", "linestyle": "-", "linewidth": 2.0},
    "ANL-CE": {"color": PALETTE[0], "marker": "X", "linestyle": "-.", "linewidth": 1.8},
    "ANL-FL": {"color": PALETTE[5], "marker": "X", "linestyle": "-.", "linewidth": 1.6},
    "ANL-CE-ER": {"color": PALETTE[4], "marker": "X", "linestyle": "-.", "linewidth": 1.6},
    "NCE+MAE (ANL setting)": {"color": "#7fcfb6", "marker": "^", "linestyle": ":", "linewidth": 1.8},
    "ANL-CE, weight decay": {"color": PALETTE[1], "marker": "P", "linestyle": ":", "linewidth": 1.4},
    "ANL-CE, no penalty": {"color": "#a0a0a0", "marker": "v", "linestyle": ":", "linewidth": 1.4},
    # single losses of the gradient figure
    "MAE": {"color": PALETTE[2], "marker": None, "linestyle": "--", "linewidth": 1.2},
    "NCE": {"color": PALETTE[0], "marker": None, "linestyle": "-", "linewidth": 1.2},
    "NNCE": {"color": PALETTE[3], "marker": None, "linestyle": "-", "linewidth": 2.0},
}


def variant_style(name: str) -> dict[str, Any]:
    """Plot keywords of a variant: the loss styles of the report, ablations dotted."""
    return dict(_STYLES[name]) if name in _STYLES else loss_style(name)


def setting_label(noise: str, eta: str | float) -> str:
    return f"{'sym.' if noise == 'sym' else 'asym.'} $\\eta$={float(eta):g}"


def group_settings(summary: dict, group: str) -> list[tuple[str, str]]:
    """(noise, eta key) of a group's cells, symmetric first, eta ascending."""
    cells = summary["cells"].get(group, {})
    return [(n, e) for n in ("sym", "asym") for e in sorted(cells.get(n, {}), key=float)]


def variants_in(summary: dict, group: str) -> list[str]:
    """The group's variants in the order of the config."""
    seen = {v for n, e in group_settings(summary, group) for v in summary["cells"][group][n][e]}
    return [v for v in summary["variant_order"] if v in seen]
