"""Training checkpoints: written atomically, resumed only by the run config that wrote them."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` to a temporary file, then rename: a crash never leaves half a checkpoint, and a
    failed save leaves no temporary file."""
    import torch

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path | None, config: dict, map_location=None) -> dict | None:
    """The state saved at ``path`` if it exists and was written for ``config`` (else None)."""
    import torch

    if path is None or not Path(path).exists():
        return None
    state = torch.load(path, map_location=map_location, weights_only=False)
    if state.get("config") != config:
        log.warning("checkpoint %s is from another config; starting afresh", path)
        return None
    log.info("resuming from %s at epoch %d", path, state.get("epoch", 0))
    return state


def finish_run(out: Path, result: dict, ckpt: Path | None) -> dict:
    """Write a finished run's JSON atomically, then delete its checkpoint."""
    from .io import write_json

    write_json(out, result)
    if ckpt is not None and Path(ckpt).exists():
        Path(ckpt).unlink()
    return result
