"""The one way a command-line entry point reports a user's error: one line, exit status 2."""

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
