"""The features step: one features file per feature name, for the literal nodes of its modality
in the k-hop subgraph of the labelled nodes. Pretrained encoders run once here ("precomputed,
frozen") and their output goes through the content-keyed embedding cache, so a rerun with the
same encoder and data reads it back; the simple encodings are cheap and always recomputed.

    python -m saidl.multimodal.featurize --config-json JOB.json --dataset DATASET.json --out NAME.pt

Next to NAME.pt it writes NAME.json: what was computed, how long it took, whether the cache had it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import numpy as np
import torch

from saidl.common.checkpoint import save_checkpoint
from saidl.common.errors import ConfigError
from saidl.common.io import read_json, write_json

from . import features as simple
from . import kgbench as kb
from .graph import MODALITIES, khop_subgraph, node_modalities
from .grid import IMAGE_FEATURES, TEXT_FEATURES

log = logging.getLogger(__name__)
CACHE_DIR = Path("data/cache/multimodal")


def modality(name: str) -> str:
    if name in IMAGE_FEATURES:
        return "image"
    if name in TEXT_FEATURES:
        return "text"
    if name in MODALITIES:
        return name
    raise ConfigError(f"unknown feature name {name!r}; known: {', '.join([*IMAGE_FEATURES, *TEXT_FEATURES, *MODALITIES])}")


def literal_nodes(kg: "kb.KG", hops: int | None, mod: str) -> np.ndarray:
    """Global indices of the ``mod`` literal nodes within ``hops`` of the labelled nodes."""
    labelled = np.concatenate([kg.training[:, 0], kg.validation[:, 0], kg.testing[:, 0]])
    sub = khop_subgraph(kg.triples, kg.num_relations, kg.num_entities, labelled, hops)
    return np.sort(sub.nodes[node_modalities(kg, sub.nodes)[mod]].numpy())


def _blocks(kg: "kb.KG", nodes: np.ndarray, encoders: dict) -> np.ndarray:
    """Numbers, dates or coordinates: one block of columns per datatype (zeros in the rows of other
    datatypes) plus a one-hot of the datatype."""
    types = np.asarray(kg.node_type)[nodes]
    dts = sorted({kg.nodetypes[t] for t in types})
    parts = []
    for dt in dts:
        rows = np.flatnonzero(types == kg.nodetypes.index(dt))
        values = [kg.i2e[int(nodes[r])][0] for r in rows]
        block = encoders[dt](values)
        full = np.zeros((len(nodes), block.shape[1] + 1), dtype=np.float32)
        full[rows, :-1] = block
        full[rows, -1] = 1.0
        parts.append(full)
    return np.concatenate(parts, axis=1) if parts else np.zeros((0, 1), np.float32)


SIMPLE_BLOCKS = {
    "numeric": {kb.NNINT_DT: simple.number_features, kb.PINT_DT: simple.number_features,
                kb.BOOLEAN_DT: simple.boolean_features},
    "temporal": {kb.GYEAR_DT: simple.year_features, kb.DATE_DT: simple.year_features},
    "spatial": {kb.WKT_DT: simple.point_features},
}


def nodes_digest(nodes: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(nodes, dtype=np.int64).tobytes()).hexdigest()[:16]


def compute(name: str, kg: "kb.KG", nodes: np.ndarray, enc_cfg: dict, device: str, checksum: str,
            cache_dir: Path = CACHE_DIR, hub_cache: str | None = None) -> dict:
    """The features of ``nodes`` (global indices, one modality) under feature name ``name``;
    ``hub_cache``: the Hugging Face cache of the hub encoders (None: the user's default)."""
    from .cache import EmbeddingCache
    from .encoders import make_image_encoder, make_text_encoder

    t0 = time.perf_counter()
    info = {"name": name, "modality": modality(name), "encoder": name, "cache_hit": False, "fingerprint": None}
    size = enc_cfg["image_size"]
    if name == "stats":
        x = simple.image_stats(kg.iter_images(nodes))
    elif name == "bow":
        x, vocab = simple.bag_of_words([kg.i2e[int(g)][0] for g in nodes])
        info["vocabulary"] = len(vocab)
    elif name in SIMPLE_BLOCKS:
        x = _blocks(kg, nodes, SIMPLE_BLOCKS[name])
    else:
        if name in IMAGE_FEATURES:
            enc = make_image_encoder(name, device, size, cache_dir=hub_cache)

            def run():
                return enc.encode(kg.iter_images(nodes), batch_size=enc_cfg["batch_size"])
        else:
            enc = make_text_encoder(name, device, cache_dir=hub_cache)

            def run():
                return enc.encode([kg.i2e[int(g)][0] for g in nodes], batch_size=enc_cfg["batch_size"])
        fields = {"feature": name, "fingerprint": enc.fingerprint, "dataset": checksum, "nodes": nodes_digest(nodes)}
        x, hit = EmbeddingCache(cache_dir).get_or_compute(fields, run)
        info.update(cache_hit=bool(hit), fingerprint=enc.fingerprint, encoder=enc.name,
                    fake_weights=getattr(enc, "fake_note", None))
    x = torch.as_tensor(np.asarray(x.detach().cpu() if torch.is_tensor(x) else x, dtype=np.float32))
    info.update(nodes=torch.as_tensor(nodes, dtype=torch.long), x=x, dim=int(x.shape[1]), count=int(len(nodes)),
                seconds=time.perf_counter() - t0)
    log.info("%s: %d %s nodes -> %d dims in %.1f s%s", name, len(nodes), info["modality"], x.shape[1],
             info["seconds"], " (cache hit)" if info["cache_hit"] else "")
    return info


def main(argv: list[str] | None = None) -> int:
    from saidl.common.cli import exit_code, train_args
    from saidl.common.runtime import choose_device

    cfg, args = train_args(__doc__.splitlines()[0], argv, paths=("dataset",))

    def go():
        meta = read_json(args.dataset)
        kg = kb.load(Path(meta["root"]))
        name = cfg["name"]
        nodes = literal_nodes(kg, cfg["hops"], modality(name))
        blob = compute(name, kg, nodes, cfg["encoders"], str(choose_device(cfg["device"])), meta["checksum"],
                       Path(cfg.get("cache_dir", CACHE_DIR)), cfg.get("hub_cache"))
        save_checkpoint(args.out, blob)  # atomic: temporary file, then rename
        write_json(args.out.with_suffix(".json"), {k: v for k, v in blob.items() if k not in ("nodes", "x")})

    return exit_code(go)


if __name__ == "__main__":
    raise SystemExit(main())
