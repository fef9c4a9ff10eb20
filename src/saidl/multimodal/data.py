"""The dataset step: generate the synthetic graph (smoke, demo) or fetch dmg777k (full), then
describe it in ``dataset.json`` (name, folder, checksum of the kgbench files, and whether they were
checked against dmg777k's published checksums: ``data.verify_checksums``, true at full; only the
rehearsal, whose dmg777k is a local fake, turns it off).

    python -m saidl.multimodal.data --config-json DATA.json --out DATASET.json --graph-dir DIR
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from saidl.common.errors import ConfigError
from saidl.common.io import read_json, write_json
from saidl.common.provenance import file_sha256

log = logging.getLogger(__name__)
LAYOUT = ("triples.int.csv.gz", "nodes.int.csv", "relations.int.csv", "nodetypes.int.csv",
          "training.int.csv", "validation.int.csv", "testing.int.csv")
DMG777K_CACHE = Path("data/kgbench")


def layout_checksum(root: Path) -> str:
    """SHA-256 over the SHA-256 of each kgbench file, in a fixed order."""
    h = hashlib.sha256()
    for name in LAYOUT:
        h.update(f"{name}:{file_sha256(Path(root) / name)}\n".encode())
    return h.hexdigest()


def matches_published(root: Path) -> bool:
    """Whether the sha256 that fetch_dmg777k recorded for each file equals dmg777k's published one."""
    from .download import DMG777K_SHA256, MARKER

    files = read_json(Path(root) / MARKER)["files"]
    return all(files[n]["sha256"] == sha for n, sha in DMG777K_SHA256.items())


def prepare(cfg: dict, graph_dir: Path) -> dict:
    verify = published = False
    if cfg["source"] == "synthetic":
        from .synth import generate

        params = {k: v for k, v in cfg.items() if k != "source"}
        meta = generate(graph_dir, **params)
        root, name = Path(graph_dir), "synthetic dmg777k-style graph"
    elif cfg["source"] == "dmg777k":
        from .download import fetch_dmg777k

        verify = cfg.get("verify_checksums", True)
        if not isinstance(verify, bool):
            raise ConfigError(f"multimodal data.verify_checksums must be true or false, got {verify!r} "
                              "(tasks/multimodal/config.yaml)")
        root, name, meta = fetch_dmg777k(Path(cfg.get("cache_dir", DMG777K_CACHE)), verify=verify), "dmg777k", {}
        published = matches_published(root)
    else:
        raise ConfigError(f"multimodal data.source must be 'synthetic' or 'dmg777k', got {cfg['source']!r} "
                          "(tasks/multimodal/config.yaml)")
    return {"name": name, "source": cfg["source"], "root": str(root), "checksum": layout_checksum(root),
            "synthetic": cfg["source"] == "synthetic", "generator": meta,
            # dmg777k only: were the files checked against the published checksums (data.verify_checksums),
            # and do they match them (False for the rehearsal's fake)?
            "checksums_verified": verify, "matches_published": published}


def main(argv: list[str] | None = None) -> int:
    from saidl.common.cli import exit_code, train_args

    cfg, args = train_args(__doc__.splitlines()[0], argv, paths=("graph-dir",))
    return exit_code(lambda: write_json(args.out, prepare(cfg, args.graph_dir)))


if __name__ == "__main__":
    raise SystemExit(main())
