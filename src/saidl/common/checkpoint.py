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


def load_torch_file(path: Path, fix: str, **kwargs):
    """``torch.load(path, **kwargs)``; a cut or corrupt file is one DataError naming it and ``fix``
    (how to get a good copy), never a pickle or zip traceback."""
    import pickle
    import zipfile

    import torch

    from .errors import DataError

    try:
        return torch.load(path, **kwargs)
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, pickle.UnpicklingError,
            zipfile.BadZipFile) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        why = (str(exc).strip().splitlines() or [""])[0][:200]
        raise DataError(f"{path}: truncated or corrupt ({type(exc).__name__}: {why}); {fix}") from None


def load_checkpoint(path: Path | None, config: dict, map_location=None) -> dict | None:
    """The state saved at ``path`` if it exists and was written for ``config`` (else None). A cut
    or corrupt checkpoint (a full disk, a copy interrupted) is set aside, logged, and the run
    starts afresh: the run is deterministic, so only time is lost."""
    from .errors import DataError

    if path is None or not Path(path).exists():
        return None
    try:
        state = load_torch_file(path, "", map_location=map_location, weights_only=False)
    except DataError as exc:
        bad = Path(path).with_name(Path(path).name + ".corrupt")
        Path(path).replace(bad)
        log.warning("%s; moved it to %s and starting afresh", str(exc).rstrip("; "), bad)
        return None
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
