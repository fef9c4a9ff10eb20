"""Where the project's hand-written folders are: the one place that knows the layout."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[3]


def project_root() -> Path:
    """The workflow's folder: $SAIDL_ROOT, else the working directory when it holds the
    Snakefile (Snakemake runs jobs there), else the checkout this package was installed from."""
    env = os.environ.get("SAIDL_ROOT")
    if env:
        return Path(env).resolve()
    cwd = Path.cwd()
    if (cwd / "Snakefile").is_file() and (cwd / "templates").is_dir():
        return cwd.resolve()
    return PACKAGE_ROOT


def templates_dir() -> Path:
    return project_root() / "templates"


def tex_dir() -> Path:
    return project_root() / "tex"
