"""Core ML's loss styles: one colour and one marker per loss, the line style telling its family.

The paper task, which extends Core ML, draws its losses with the same styles.
"""

from __future__ import annotations

import zlib
from typing import Any

from saidl.report.figstyle import PALETTE

_VANILLA = {"linestyle": "--", "linewidth": 1.0}
_NORMALIZED = {"linestyle": "-", "linewidth": 1.2}
_APL = {"linestyle": "-", "linewidth": 2.2}
_ANL = {"linestyle": "-.", "linewidth": 1.6}

# Core ML losses: every loss has its own colour and its own marker (no two share either), and
# the line style tells the family: vanilla dashed, normalized thin solid, APL thick solid, ANL
# dash-dotted. The demo's eight losses use the eight most distinct colours.
_LOSS_STYLES: dict[str, dict[str, Any]] = {
    "CE": {"color": "#0072B2", "marker": "o", **_VANILLA},
    "FL": {"color": "#D55E00", "marker": "s", **_VANILLA},
    "NCE": {"color": "#56B4E9", "marker": "^", **_NORMALIZED},
    "NFL": {"color": "#E69F00", "marker": "v", **_NORMALIZED},
    "NCE+RCE": {"color": "#009E73", "marker": "D", **_APL},
    "NCE+MAE": {"color": "#000000", "marker": "P", **_APL},
    "NFL+RCE": {"color": "#CC79A7", "marker": "X", **_APL},
    "NFL+MAE": {"color": "#882255", "marker": "*", **_APL},
    "MAE": {"color": "#44AA99", "marker": "<", **_VANILLA},
    "RCE": {"color": "#999933", "marker": ">", **_VANILLA},
    "GCE": {"color": "#332288", "marker": "h", **_VANILLA},
    "SCE": {"color": "#AA4499", "marker": "p", **_VANILLA},
    "ANL-CE": {"color": "#661100", "marker": "d", **_ANL},
    "ANL-FL": {"color": "#6699CC", "marker": "H", **_ANL},
}


def loss_style(name: str) -> dict[str, Any]:
    """Plot keyword arguments (color, marker, linestyle, linewidth) for a loss name.

    Vanilla losses are dashed, normalized ones solid, APL combinations thick and solid, ANL
    dash-dotted; no two known losses share a colour or a marker. Unknown names get a stable
    colour derived from the name.
    """
    key = name.strip().upper()
    if key in _LOSS_STYLES:
        return dict(_LOSS_STYLES[key])
    colour = PALETTE[zlib.crc32(key.encode()) % len(PALETTE)]
    return {"color": colour, "marker": ".", "linestyle": ":", "linewidth": 1.0}
