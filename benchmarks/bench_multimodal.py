"""Multimodal task: the kgbench loader's throughput and the R-GCN epoch with precomputed against
on-the-fly embeddings, on the CPU, in one run.

* Loader: a generated graph of dmg777k's size (``bench_graph``: ~148k entities, ~195k literals,
  ~777k triples, ~46k inline PNG images) is loaded by our streaming ``kgbench.load`` and by a
  plain baseline that reads every row of ``nodes.int.csv`` with ``csv.reader`` into a list
  (image strings included, as a naive loader or ``pandas.read_csv`` does) and the triples with
  ``np.loadtxt``. Reported: nodes per second of each, the ratio, and the peak memory of each
  (tracemalloc, in a second pass).
* Convolution: the same R-GCN epoch with PyG's ``RGCNConv.forward`` against our pair-grouped
  forward (``GroupedRGCNConv``, same parameters and output).
* Epoch: the demo's synthetic graph generator at ``--monuments`` monuments; the same R-GCN
  ("all pretrained": EfficientNet-Lite0 images, MiniLM texts) trains ``--epochs`` epochs on
  features read from memory, then with every image decoded and every image and text encoded
  again per epoch. Reported: seconds per epoch of each and the ratio.

Usage: ``python benchmarks/bench_multimodal.py [--scale 1.0] [--monuments 300] [--epochs 2] [--threads T]``
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch


def traced_peak(fn) -> float:
    """Peak Python + NumPy allocations (MiB) while ``fn`` runs (a separate, slower pass)."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def plain_load(root: Path) -> int:
    """The baseline loader: every nodes.int.csv row into memory, triples with np.loadtxt."""
    csv.field_size_limit(sys.maxsize)
    with open(root / "nodes.int.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    with gzip.open(root / "triples.int.csv.gz", "rt") as f:
        triples = np.loadtxt(f, delimiter=",", dtype=np.int64)
    assert triples.shape[1] == 3
    return len(rows)


def loader(scale: float) -> None:
    from _graphs import bench_graph  # benchmarks/_graphs.py

    from saidl.multimodal import kgbench as kb

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "graph"
        t0 = time.perf_counter()
        meta = bench_graph(root, scale=scale)
        print(f"generated a dmg777k-sized graph (scale {scale:g}) in {time.perf_counter() - t0:.1f} s: "
              f"{meta.get('counts', meta)}")
        size = (root / "nodes.int.csv").stat().st_size / 2**20
        t0 = time.perf_counter()
        kg = kb.load(root, progress=False)
        ours = time.perf_counter() - t0
        n = kg.num_entities
        del kg
        t0 = time.perf_counter()
        rows = plain_load(root)
        plain = time.perf_counter() - t0
        assert rows == n, (rows, n)
        ours_mem, plain_mem = (traced_peak(lambda: kb.load(root, progress=False)), traced_peak(lambda: plain_load(root)))
        print(f"\nloader ({n:,} nodes, nodes.int.csv {size:.0f} MiB)   seconds   nodes/s   peak memory (tracemalloc)")
        print(f"  plain csv + np.loadtxt   {plain:7.2f}   {n / plain:9,.0f}   {plain_mem:6.0f} MiB")
        print(f"  saidl kgbench.load       {ours:7.2f}   {n / ours:9,.0f}   {ours_mem:6.0f} MiB")
        print(f"  ratio (ours / plain, nodes/s): {plain / ours:.2f}x")


def epoch(monuments: int, epochs: int) -> None:
    from saidl.multimodal.embedtime import run as embed_run
    from saidl.multimodal.featurize import compute, literal_nodes
    from saidl.multimodal.data import prepare as prepare_data
    from saidl.multimodal import kgbench as kb
    from saidl.common.io import write_json

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        meta = prepare_data({"source": "synthetic", "n_monuments": monuments, "seed": 0}, tmp / "graph")
        write_json(tmp / "dataset.json", meta)
        kg = kb.load(tmp / "graph", progress=False)
        enc = {"image_size": 96, "batch_size": 64}
        names = {"image": "effnet-lite0", "text": "minilm", "numeric": "numeric", "temporal": "temporal",
                 "spatial": "spatial"}
        for m, name in names.items():
            blob = compute(name, kg, literal_nodes(kg, 2, m), enc, "cpu", meta["checksum"], tmp / "cache")
            torch.save(blob, tmp / f"{name}.pt")
        cfg = {"epochs": epochs, "features": names, "seed": 0, "device": "cpu", "encoders": enc,
               "model": {"dim": 32, "hidden": 32, "num_bases": 16, "num_blocks": 4, "dropout": 0.3,
                         "decomposition": "bases"},
               "train": {"epochs": 60, "lr": 0.01, "weight_decay": 5e-4, "hops": 2}}
        conv(cfg, tmp)
        r = embed_run(cfg, tmp / "dataset.json", tmp)
        n = r["encoded_nodes"]
        print(f"\nR-GCN epoch ({monuments} monuments; {n.get('image', 0)} images, {n.get('text', 0)} texts "
              f"encoded per on-the-fly epoch; median of {epochs})   s/epoch")
        print(f"  precomputed embeddings      {r['epoch_s']['precomputed']:8.3f}")
        print(f"  on-the-fly encoding         {r['epoch_s']['on_the_fly']:8.3f}")
        print(f"  ratio (on the fly / precomputed): {r['ratio']:.1f}x; identical test predictions: "
              f"{r['same_predictions']}")


def conv(cfg: dict, tmp: Path, epochs: int = 5) -> None:
    """The R-GCN epoch with PyG's RGCNConv forward against our pair-grouped forward (same output)."""
    from saidl.common.runtime import seed_everything
    from saidl.multimodal.train import build_model, fit, load_features, prepare

    problem = prepare(tmp / "graph", cfg["train"]["hops"])
    idx, feats = load_features(problem, tmp, cfg["features"])
    dims = {m: f.shape[1] for m, f in feats.items()}
    out = {}
    for impl in ("pyg", "grouped", "pyg", "grouped"):  # alternate; the best of two counts
        seed_everything(0)
        model = build_model({**cfg, "model": {**cfg["model"], "conv": impl}}, problem, idx, dims)
        r = fit(model, problem, feats, cfg["train"], epochs=epochs, desc=impl)
        out[impl] = min(out.get(impl, float("inf")), r["epoch_seconds"])
        acc = r["final"]["validation"]["acc"]
    print(f"\nR-GCN epoch, PyG RGCNConv forward vs pair-grouped ({problem.sub.num_nodes:,} nodes, "
          f"{problem.sub.edge_index.shape[1]:,} edges, {problem.sub.num_relations} edge types)   s/epoch")
    print(f"  torch_geometric RGCNConv    {out['pyg']:8.3f}")
    print(f"  GroupedRGCNConv             {out['grouped']:8.3f}   (val acc after {epochs} epochs {acc:.3f})")
    print(f"  ratio (PyG / grouped): {out['pyg'] / out['grouped']:.1f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="generated graph size, 1.0 = dmg777k's")
    ap.add_argument("--monuments", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, CPU, {args.threads} threads")
    loader(args.scale)
    epoch(args.monuments, args.epochs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
