"""Hugging Face cache snapshots for the rehearsal's fakes.

``snapshot_dir(root, repo_id)`` returns ``<root>/hub/models--org--name/snapshots/<commit>/`` and
writes ``refs/main``, which is the layout ``huggingface_hub`` reads offline: every
``from_pretrained(repo_id, cache_dir=<root>/hub)`` and ``snapshot_download(repo_id,
cache_dir=<root>/hub, local_files_only=True)`` resolves a fake written there, exactly as it
resolves a real download in the user's cache. The full scale's configs leave ``hub_cache`` null
(the user's own cache); only the rehearsal's point at ``<fakes_dir>/hub``.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from saidl.common.io import atomic_write_text

HUB = "hub"


def hub_cache(root: Path) -> Path:
    return Path(root) / HUB


def snapshot_dir(root: Path, repo_id: str, repo_type: str = "model") -> Path:
    """A fresh (emptied) snapshot folder for ``repo_id`` under ``<root>/hub``, with ``refs/main``
    naming a fake commit derived from the repo id (so the path is stable across remakes)."""
    kind = {"model": "models", "dataset": "datasets", "space": "spaces"}[repo_type]
    repo = hub_cache(root) / f"{kind}--{repo_id.replace('/', '--')}"
    commit = hashlib.sha1(f"saidl-fake:{repo_type}:{repo_id}".encode()).hexdigest()
    snap = repo / "snapshots" / commit
    if snap.exists():
        shutil.rmtree(snap)
    snap.mkdir(parents=True)
    atomic_write_text(repo / "refs" / "main", commit)
    return snap


def describe(root: Path, snap: Path) -> dict:
    """What a maker returns: the snapshot's path below the root, its files and total bytes."""
    files = sorted(p for p in snap.rglob("*") if p.is_file())
    return {"path": snap.relative_to(root).as_posix(), "files": [p.relative_to(snap).as_posix() for p in files],
            "bytes": sum(p.stat().st_size for p in files)}
