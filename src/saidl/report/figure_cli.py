"""The command line shared by every figure module: read the summary, plot, save one PDF.

A figure module defines ``plot(summary) -> Figure`` and ends with ``run(plot)``; Snakemake
calls it as ``python -m <module> --summary summary.json --out <name>.pdf``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from saidl.common.io import read_json
from saidl.report.figstyle import apply_style, save_figure


def main(plot: Callable[[dict], object], argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--summary", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    apply_style()
    save_figure(plot(read_json(args.summary)), args.out)
    return 0


def run(plot: Callable[[dict], object]) -> None:
    sys.exit(main(plot))
