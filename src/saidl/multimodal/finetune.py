"""Bonus: fine-tune the pretrained image and text encoders jointly with the R-GCN, end to end,
for a few epochs on a subset, against the same R-GCN on the frozen (precomputed) embeddings.

Both arms start from the same R-GCN, first trained ``warmup_epochs`` epochs on the frozen
embeddings of the subset (fine-tuning a pretrained encoder under a randomly initialised head
would mostly push noise into it); then the frozen arm trains ``epochs`` more epochs as it was,
and the joint arm trains the same epochs with the encoders' top layers unfrozen.

Subset: ``train_nodes`` training nodes and ``eval_nodes`` validation and test nodes each, drawn
stratified by class with the job's seed, and their k-hop neighbourhood; the image and text
literals in it are encoded with gradients in every epoch (texts batched by token count, which
only spares padding). Only the last ``image_blocks``
EfficientNet blocks (+ head) and the last ``text_layers`` MiniLM layers are unfrozen, with their
own learning rate ``encoder_lr``; the encoders stay in eval mode (no dropout, frozen batch-norm
statistics), so the frozen arm sees exactly the fine-tuned arm's starting features. The frozen
lower layers of both encoders run once (their activations are cached per batch); only the
unfrozen top runs, forward and backward, in every epoch.

    python -m saidl.multimodal.finetune --config-json JOB.json --dataset DATASET.json \
        --features-dir FEATURES/ --out finetune.json
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path

import numpy as np
import torch

from saidl.common.io import write_json
from saidl.common.runtime import choose_device, seed_everything

from . import kgbench as kb
from .embedtime import encoders_for
from .train import build_model, dataset_root, fit, load_features, prepare

log = logging.getLogger(__name__)


def stratified(rows: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows drawn without replacement, each class in proportion (at least one per class)."""
    if n >= len(rows):
        return rows
    classes, counts = np.unique(rows[:, 1], return_counts=True)
    take = np.maximum(1, np.round(counts / counts.sum() * n)).astype(int)
    picked = [rng.choice(np.flatnonzero(rows[:, 1] == c), size=min(k, cnt), replace=False)
              for c, k, cnt in zip(classes, take, counts)]
    return rows[np.sort(np.concatenate(picked))]


def subset(kg: "kb.KG", cfg: dict) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(cfg["seed"])
    return {"training": stratified(kg.training, cfg["train_nodes"], rng),
            "validation": stratified(kg.validation, cfg["eval_nodes"], rng),
            "testing": stratified(kg.testing, cfg["eval_nodes"], rng)}


def run(cfg: dict, dataset_json: Path, features_dir: Path) -> dict:
    device = choose_device(cfg["device"])
    root = dataset_root(dataset_json)
    problem = prepare(root, cfg["train"]["hops"], seeds=subset(kb.load(root), cfg))
    idx, feats = load_features(problem, features_dir, cfg["features"])
    encoders = encoders_for(cfg["features"], cfg["encoders"], device, cfg.get("hub_cache"))
    kg, dims = problem.kg, {m: f.shape[1] for m, f in feats.items()}
    problem.to(device)
    feats = {m: f.to(device) for m, f in feats.items()}
    results = {}
    bs = cfg["encoders"]["batch_size"]
    unfreeze = {"image": cfg["image_blocks"], "text": cfg["text_layers"]}
    modules, inputs, counts, unsort = {}, {}, {}, {}
    t0 = time.perf_counter()
    for m, enc in encoders.items():  # before seeding: loading the weights draws from the RNG
        modules[m] = enc.trainable(unfreeze[m]).to(device).eval()
        g = problem.sub.nodes[idx[m]].numpy()
        raw = list(kg.iter_images(g)) if m == "image" else [kg.i2e[int(i)][0] for i in g]
        if hasattr(modules[m], "lengths"):
            # texts in batches of similar token counts (as SentenceTransformer.encode does): a batch
            # pads to its longest text, so mixed lengths cost several times more for the same
            # features; ``unsort`` puts the features back in the nodes' order
            order = np.argsort(modules[m].lengths(raw), kind="stable")
            raw = [raw[i] for i in order]
            unsort[m] = torch.as_tensor(np.argsort(order), device=device)
        # the frozen lower layers give the same activations in every epoch: run them once per batch
        cached = hasattr(modules[m], "frozen_features")
        inputs[m] = [modules[m].frozen_features(raw[i:i + bs]) if cached else raw[i:i + bs]
                     for i in range(0, len(raw), bs)]
        counts[m] = len(raw)
    prepare_s = time.perf_counter() - t0

    def features() -> dict:
        out = dict(feats)
        for m, mod in modules.items():
            run = mod.tail if hasattr(mod, "frozen_features") else mod
            x = torch.cat([run(state) for state in inputs[m]]).float()
            out[m] = x[unsort[m]] if m in unsort else x
        return out

    # warm start: the R-GCN first learns on the frozen embeddings, then both arms continue from it
    seed_everything(cfg["seed"])
    model = build_model(cfg, problem, idx, dims).to(device)
    warm = fit(model, problem, feats, cfg["train"], epochs=cfg["warmup_epochs"], desc="warm-up")
    start = copy.deepcopy(model.state_dict())

    seed_everything(cfg["seed"] + 1)
    t0 = time.perf_counter()
    results["frozen"] = fit(model, problem, feats, cfg["train"], epochs=cfg["epochs"], desc="frozen")
    results["frozen"]["seconds"] = time.perf_counter() - t0

    trainable = [p for mod in modules.values() for p in mod.parameters() if p.requires_grad]
    model.load_state_dict(start)
    seed_everything(cfg["seed"] + 1)
    t0 = time.perf_counter()
    results["joint"] = fit(model, problem, features, cfg["train"], epochs=cfg["epochs"], desc="joint",
                           extra_params=[{"params": trainable, "lr": cfg["encoder_lr"], "weight_decay": 0.0}])
    results["joint"]["seconds"] = time.perf_counter() - t0
    return {
        "config": cfg, "device": str(device), "arms": results, "prepare_s": prepare_s,
        "warmup": {"epochs": cfg["warmup_epochs"], "final": warm["final"], "best": warm["best"], "curves": warm["curves"]},
        "subset": {"training": len(problem.nodes["training"]), "validation": len(problem.nodes["validation"]),
                   "testing": len(problem.nodes["testing"]), "nodes": problem.sub.num_nodes,
                   "edges": int(problem.sub.edge_index.shape[1]),
                   "encoded": counts},
        "trainable_encoder_params": int(sum(p.numel() for p in trainable)),
        "encoder_params": int(sum(p.numel() for mod in modules.values() for p in mod.parameters())),
    }


def main(argv: list[str] | None = None) -> int:
    from saidl.common.cli import exit_code, train_args

    cfg, args = train_args(__doc__.splitlines()[0], argv, paths=("dataset", "features-dir"))
    return exit_code(lambda: write_json(args.out, run(cfg, args.dataset, args.features_dir)))


if __name__ == "__main__":
    raise SystemExit(main())
