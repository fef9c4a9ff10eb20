"""Train one multimodal R-GCN run: full-batch on the k-hop subgraph of the labelled nodes, Adam,
model selection on the validation split, the test split evaluated at the selected epoch only.

    python -m saidl.multimodal.train --config-json RUN.json --dataset DATASET.json \
        --features-dir FEATURES/ --out RUN_RESULT.json
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from saidl.common.checkpoint import load_torch_file
from saidl.common.errors import DataError
from saidl.common.io import read_json, write_json
from saidl.common.provenance import run_provenance
from saidl.common.runtime import choose_device, seed_everything

from . import kgbench as kb
from .graph import Subgraph, khop_subgraph, node_modalities
from .model import RGCN

log = logging.getLogger(__name__)
SPLITS = ("training", "validation", "testing")


@dataclass
class Problem:
    """The dataset, the subgraph the R-GCN runs on and the labelled nodes in local indices."""
    kg: "kb.KG"
    sub: Subgraph
    nodes: dict[str, torch.Tensor]    # split -> local node indices
    labels: dict[str, torch.Tensor]   # split -> class indices
    hops: int | None

    @property
    def num_classes(self) -> int:
        return self.kg.num_classes

    def to(self, device) -> "Problem":
        self.sub.edge_index, self.sub.edge_type = self.sub.edge_index.to(device), self.sub.edge_type.to(device)
        self.nodes = {k: v.to(device) for k, v in self.nodes.items()}
        self.labels = {k: v.to(device) for k, v in self.labels.items()}
        return self


def dataset_root(dataset_json: Path) -> Path:
    """The dataset folder named by the data step's ``dataset.json``."""
    meta = read_json(dataset_json)
    return Path(meta["root"])


def prepare(root: Path, hops: int | None, seeds: dict[str, np.ndarray] | None = None) -> Problem:
    """Load the dataset and cut the ``hops``-hop subgraph around the labelled nodes (or around
    ``seeds``: split -> (n, 2) rows of node and class, for a subset)."""
    kg = kb.load(root)
    rows = seeds or {"training": kg.training, "validation": kg.validation, "testing": kg.testing}
    every = np.concatenate([r[:, 0] for r in rows.values()])
    sub = khop_subgraph(kg.triples, kg.num_relations, kg.num_entities, every, hops)
    nodes = {k: sub.local(r[:, 0]) for k, r in rows.items()}
    labels = {k: torch.as_tensor(r[:, 1], dtype=torch.long) for k, r in rows.items()}
    return Problem(kg, sub, nodes, labels, hops)


def load_features(problem: Problem, features_dir: Path, names: dict[str, str]) -> tuple[dict, dict]:
    """(local node indices per modality, feature matrix per modality) for the subgraph, read from
    ``<features_dir>/<name>.pt`` (made by ``saidl.multimodal.featurize``)."""
    wanted = node_modalities(problem.kg, problem.sub.nodes)
    idx, feats = {}, {}
    for m, name in names.items():
        path = Path(features_dir) / f"{name}.pt"
        if not path.exists():
            raise DataError(f"features file {path} is missing; make it with "
                            f"`snakemake {path}` (rule multimodal_features)")
        blob = load_torch_file(path, "delete it and rerun snakemake, which recomputes it (saidl.multimodal.featurize)",
                               map_location="cpu", weights_only=True)
        g2row = {int(g): i for i, g in enumerate(blob["nodes"].tolist())}
        local = wanted[m]
        glob = problem.sub.nodes[local].tolist()
        missing = [g for g in glob if g not in g2row]
        if missing:
            raise DataError(f"{path} has no features for {len(missing)} {m} nodes of the subgraph (e.g. node "
                            f"{missing[0]}); it was made for another dataset or subgraph: delete it and rerun")
        idx[m] = local
        feats[m] = blob["x"][torch.tensor([g2row[g] for g in glob], dtype=torch.long)].float()
    return idx, feats


def literal_types(problem: Problem) -> torch.Tensor:
    """Per subgraph node: its node-type id when it is a literal, else -1."""
    types = torch.as_tensor(np.asarray(problem.kg.node_type))[problem.sub.nodes.cpu()]
    entity = torch.tensor([a in kb.ENTITY_ANNOTATIONS for a in problem.kg.nodetypes])
    return torch.where(entity[types], torch.full_like(types, -1), types)


def build_model(cfg: dict, problem: Problem, feature_nodes: dict, feature_dims: dict) -> RGCN:
    m = cfg["model"]
    typed = m.get("literal_embedding", "type") == "type"
    return RGCN(problem.sub.num_nodes, problem.sub.num_relations, problem.num_classes, feature_nodes,
                feature_dims, dim=m["dim"], hidden=m["hidden"], decomposition=m["decomposition"],
                num_bases=m["num_bases"], num_blocks=m["num_blocks"], dropout=m["dropout"],
                input_dropout=m.get("input_dropout", 0.0),
                conv=m.get("conv", "grouped"), literal_types=literal_types(problem) if typed else None)


def scores(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict:
    """Accuracy, macro-F1 and the confusion matrix (rows: true class)."""
    pred = logits.argmax(1).cpu()
    y = labels.cpu()
    conf = torch.zeros(num_classes, num_classes, dtype=torch.long)
    conf.index_put_((y, pred), torch.ones_like(y), accumulate=True)
    tp = conf.diag().double()
    prec = tp / conf.sum(0).clamp(min=1)
    rec = tp / conf.sum(1).clamp(min=1)
    f1 = torch.where(prec + rec > 0, 2 * prec * rec / (prec + rec), torch.zeros_like(tp))
    present = conf.sum(1) > 0
    return {"acc": float((pred == y).double().mean()) if len(y) else float("nan"),
            "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
            "confusion": conf.tolist()}


def fit(model: RGCN, problem: Problem, features, train_cfg: dict, epochs: int | None = None,
        extra_params: list | None = None, desc: str = "train", refresh_final: bool = True) -> dict:
    """Full-batch training; ``features`` is a dict of tensors or a callable returning one (on-the-fly
    encoding, evaluated once per epoch). Returns curves, the selected epoch and its scores, and
    ``final``: every split's scores after the last step, with features from the final encoders
    (``refresh_final``: calls ``features`` once more; else reuses the last epoch's)."""
    epochs = epochs or train_cfg["epochs"]
    groups = [{"params": list(model.parameters()), "lr": train_cfg["lr"], "weight_decay": train_cfg["weight_decay"]}]
    groups += extra_params or []
    opt = torch.optim.Adam(groups)
    loss_fn = nn.CrossEntropyLoss()
    sub, nodes, labels = problem.sub, problem.nodes, problem.labels
    curves = {k: [] for k in ("epoch", "loss", "train_acc", "val_acc", "val_f1", "seconds", "feature_seconds")}
    best = {"val_acc": -1.0}
    for epoch in tqdm(range(1, epochs + 1), desc=desc, disable=None):
        t0 = time.perf_counter()
        model.train()
        feats = features() if callable(features) else features
        t_feat = time.perf_counter() - t0
        opt.zero_grad(set_to_none=True)
        logits = model(feats, sub.edge_index, sub.edge_type, nodes["training"])
        loss = loss_fn(logits, labels["training"])
        loss.backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            feats_eval = feats if not callable(features) else {k: v.detach() for k, v in feats.items()}
            out = model(feats_eval, sub.edge_index, sub.edge_type, torch.cat([nodes[s] for s in SPLITS]))
        seconds = time.perf_counter() - t0
        sizes = [len(nodes[s]) for s in SPLITS]
        tr, va, te = torch.split(out, sizes)
        s_tr = scores(tr, labels["training"], problem.num_classes)
        s_va = scores(va, labels["validation"], problem.num_classes)
        for k, v in zip(curves, (epoch, loss.item(), s_tr["acc"], s_va["acc"], s_va["macro_f1"], seconds, t_feat)):
            curves[k].append(v)
        if s_va["acc"] > best["val_acc"]:
            best = {"epoch": epoch, "val_acc": s_va["acc"], "val_f1": s_va["macro_f1"], "train_acc": s_tr["acc"],
                    "test": scores(te, labels["testing"], problem.num_classes)}
    model.eval()
    with torch.no_grad():  # the end state exactly: on-the-fly features from the final encoders
        if callable(features) and refresh_final:
            feats = features()
        feats = {k: v.detach() for k, v in feats.items()}
        out = model(feats, sub.edge_index, sub.edge_type, torch.cat([nodes[s] for s in SPLITS]))
    final = {s: scores(part, labels[s], problem.num_classes)
             for s, part in zip(SPLITS, torch.split(out, [len(nodes[s]) for s in SPLITS]))}
    return {"curves": curves, "best": best, "final": final, "epoch_seconds": float(np.median(curves["seconds"]))}


def run(cfg: dict, dataset_json: Path, features_dir: Path) -> dict:
    seed_everything(cfg["seed"])
    device = choose_device(cfg["device"])
    t0 = time.perf_counter()
    problem = prepare(dataset_root(dataset_json), cfg["train"]["hops"])
    idx, feats = load_features(problem, features_dir, cfg["features"])
    model = build_model(cfg, problem, idx, {m: f.shape[1] for m, f in feats.items()}).to(device)
    problem.to(device)
    feats = {m: f.to(device) for m, f in feats.items()}
    log.info("subgraph: %d nodes, %d edges, %d edge types; %d parameters", problem.sub.num_nodes,
             problem.sub.edge_index.shape[1], problem.sub.num_relations, sum(p.numel() for p in model.parameters()))
    result = fit(model, problem, feats, cfg["train"], desc=cfg["run_id"])
    meta = read_json(dataset_json)
    result.update({
        "config": cfg,
        "subgraph": {"nodes": problem.sub.num_nodes, "edges": int(problem.sub.edge_index.shape[1]),
                     "edge_types": problem.sub.num_relations, "graph_nodes": problem.kg.num_entities,
                     "feature_nodes": {m: int(len(i)) for m, i in idx.items()}},
        "parameters": sum(p.numel() for p in model.parameters()),
        "timing": {"wall_time_s": time.perf_counter() - t0},
        "provenance": run_provenance(cfg, str(device), {"name": meta["name"], "checksum": meta["checksum"]}),
    })
    return result


def main(argv: list[str] | None = None) -> int:
    from saidl.common.cli import exit_code, train_args

    cfg, args = train_args(__doc__.splitlines()[0], argv, paths=("dataset", "features-dir"))

    def go():
        if args.dataset is None or args.features_dir is None:
            raise DataError("--dataset and --features-dir are required")
        write_json(args.out, run(cfg, args.dataset, args.features_dir))

    return exit_code(go)


if __name__ == "__main__":
    raise SystemExit(main())

