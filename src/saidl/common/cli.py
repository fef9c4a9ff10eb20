"""Shared command-line plumbing: user errors as one line and exit status 2, and the arguments
of the training and collect steps every task has."""

from __future__ import annotations

import sys
from typing import Callable

from .errors import SaidlError


def exit_code(action: Callable[[], object]) -> int:
    """Run ``action``; a :class:`SaidlError` becomes ``error: <message>`` on stderr and status 2."""
    try:
        action()
    except SaidlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def train_args(description: str, argv: list[str] | None = None, ckpt: bool = False,
               paths: tuple[str, ...] = ()):
    """The command line shared by every training job: ``--config-json`` (JSON text or a .json
    path), ``--out``, ``--threads``, with ``ckpt`` also ``--ckpt`` and ``--ckpt-interval``, and
    one optional ``--<name>`` path per entry of ``paths``.
    Sets logging and PyTorch's thread count; returns (run config, parsed arguments)."""
    import argparse
    import json
    import logging
    from pathlib import Path

    from .io import read_json
    from .runtime import set_threads

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--config-json", required=True, help="the run's config as JSON text or a .json path")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--threads", type=int, default=None)
    if ckpt:
        ap.add_argument("--ckpt", type=Path, default=None)
        ap.add_argument("--ckpt-interval", type=float, default=120.0, help="seconds between checkpoints")
    for name in paths:
        ap.add_argument(f"--{name}", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    text = args.config_json
    cfg = read_json(text) if text.endswith(".json") else json.loads(text)
    set_threads(args.threads)
    return cfg, args


def collect_main(collect: Callable[..., dict], description: str, argv: list[str] | None = None,
                 extra_json: tuple[str, ...] = ()) -> int:
    """The command line shared by every task's collect step: ``--grid-json``, ``--runs-dir``,
    one ``--<name>`` JSON file per entry of ``extra_json`` (passed on to ``collect`` in that
    order) and ``--out``; writes ``collect(grid, runs_dir, *extras)`` as the summary."""
    import argparse
    from pathlib import Path

    from .io import read_json, write_json

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--grid-json", required=True, type=Path, help="run configs keyed by run id")
    ap.add_argument("--runs-dir", required=True, type=Path)
    for name in extra_json:
        ap.add_argument(f"--{name}", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    extras = [read_json(getattr(args, name)) for name in extra_json]
    return exit_code(lambda: write_json(args.out, collect(read_json(args.grid_json), args.runs_dir, *extras)))
