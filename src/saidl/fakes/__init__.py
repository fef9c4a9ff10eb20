"""Format-exact local fakes of the full scale's datasets and hub snapshots, for the rehearsal.

The rehearsal runs the full configuration (readers, model classes, samplers, metrics, templates)
with only budgets shrunk, on a CPU and without network. Its data and weights are these fakes:
files in exactly the layout the real readers read (CIFAR-10's python batches, SUN397 in the hub's
format, a landscapes folder, dmg777k in kgbench's layout, Hugging Face cache snapshots with random
weights), filled with random or synthetic content. A fake never stands in at ``full``: the full
configuration points at the real locations, and the rehearsal's config (``<task>.rehearsal``)
points at ``fakes_dir`` and prints every such change on its report's first page.

``python -m saidl.fakes <asset> --root data/rehearsal --stamp <json>`` makes one asset; the stamp,
written last and atomically, lists what was made (the workflow's ``fake_asset`` rule).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

# Every fake folder or snapshot holds this file (no real dataset or model has it): what it is.
FAKE_FILE = "saidl_fake.json"

# asset name -> "module:function"; the function takes the fakes root (a Path) and returns a small
# JSON-able dict describing what it wrote (paths relative to the root, counts, sizes).
ASSETS: dict[str, str] = {
    "hub-clip-b32": "saidl.fakes.hub_models:make_clip_b32",
    "hub-clip-l14-336": "saidl.fakes.hub_models:make_clip_l14_336",
    "hub-siglip": "saidl.fakes.hub_models:make_siglip",
    "hub-align": "saidl.fakes.hub_models:make_align",
    "hub-sd-vae": "saidl.fakes.hub_models:make_sd_vae",
    "hub-dit-xl-2": "saidl.fakes.hub_models:make_dit_xl_2",
    "sun397": "saidl.fakes.sun397:make",
    "landscapes": "saidl.fakes.landscapes:make",
    "cifar10": "saidl.fakes.cifar10:make",
    "dmg777k": "saidl.fakes.dmg777k:make",
}


def make(asset: str, root) -> dict:
    from saidl.common.errors import ConfigError

    if asset not in ASSETS:
        raise ConfigError(f"unknown fake asset '{asset}'; known: {', '.join(sorted(ASSETS)) or 'none'} "
                          "(saidl.fakes.ASSETS)")
    module, func = ASSETS[asset].split(":")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return getattr(importlib.import_module(module), func)(root)


def write_marker(folder, info: dict) -> dict:
    """Mark ``folder`` as a fake: ``saidl_fake.json`` with ``fake: true`` and ``info`` (a ``description``)."""
    info = {"fake": True, **info}
    (Path(folder) / FAKE_FILE).write_text(json.dumps(info, indent=1) + "\n")
    return info


def fake_note(folder) -> str | None:
    """The description in a folder's ``saidl_fake.json``; None for real data or weights."""
    p = Path(folder) / FAKE_FILE
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text()).get("description")
    except (OSError, ValueError):
        return None


def with_fake_note(text: str, folder) -> str:
    """``text`` plus `` [<description>]`` when ``folder`` is a fake."""
    note = None if folder is None else fake_note(folder)
    return text if note is None else f"{text} [{note}]"
