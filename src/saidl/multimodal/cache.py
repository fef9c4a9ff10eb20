"""Content-keyed embedding cache: ``<root>/<key>.pt`` (+ ``<key>.json`` with the key's fields).

The key is the sha256 of the canonical JSON of the caller's fields -- typically the encoder
``fingerprint`` (weights + preprocessing), a digest of the inputs and any other setting -- so
any change to them is a different entry and a recomputation.  Writes are atomic (temporary
file in the same folder, then a rename); an unreadable or foreign entry is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from saidl.common.checkpoint import save_checkpoint
from saidl.common.errors import ConfigError
from saidl.common.io import write_json

__all__ = ["EmbeddingCache", "content_digest"]

log = logging.getLogger(__name__)


def content_digest(items) -> str:
    """sha256 of a list of strings / bytes (length-prefixed, so no two lists collide by concatenation)."""
    h = hashlib.sha256()
    for it in items:
        b = it if isinstance(it, bytes) else str(it).encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


class EmbeddingCache:
    """Tensors computed once per distinct set of fields, kept under ``root``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def key(self, **fields) -> str:
        """sha256 of the canonical JSON (sorted keys, no spaces) of ``fields``."""
        try:
            text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"embedding cache fields must be JSON values (str, number, bool, None, list, dict); "
                              f"{e}") from None
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / f"{key}.pt"

    def _load(self, key: str) -> torch.Tensor | None:
        path = self.path(key)
        if not path.exists():
            return None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(obj, dict) or obj.get("key") != key or not torch.is_tensor(obj.get("value")):
                raise ValueError("not an entry written for this key")
        except Exception as e:  # noqa: BLE001 - a truncated/corrupt file raises many types
            log.warning("embedding cache entry %s is unreadable (%s: %s); recomputing", path, type(e).__name__, e)
            return None
        return obj["value"]

    def _store(self, key: str, fields: dict, value: torch.Tensor) -> None:
        path = self.path(key)
        save_checkpoint(path, {"key": key, "value": value})  # atomic: temporary file, then rename
        write_json(path.with_suffix(".json"), fields)

    def get_or_compute(self, fields: dict, compute: Callable[[], np.ndarray | torch.Tensor]
                       ) -> tuple[torch.Tensor, bool]:
        """(the tensor stored for ``fields``, True) or, on a miss, ``compute()`` stored and
        returned as a CPU tensor with False."""
        key = self.key(**fields)
        value = self._load(key)
        if value is not None:
            return value, True
        value = compute()
        value = torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
        if not torch.is_tensor(value):
            raise TypeError(f"compute() must return a numpy array or a torch tensor, got {type(value).__name__}")
        value = value.detach().cpu().contiguous()
        if value.untyped_storage().nbytes() != value.numel() * value.element_size():
            value = value.clone()  # a view: torch.save would write the whole underlying storage
        self._store(key, fields, value)
        return value, False
