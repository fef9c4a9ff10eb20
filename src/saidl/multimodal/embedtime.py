"""Item 2(d), when to embed: the same R-GCN trained with the frozen pretrained embeddings
precomputed once (read from the features files) and with every image decoded and every text and
image encoded again in each epoch ("on the fly"), in one process, same seed.

The arms are trained to a model that predicts more than the majority class, so that comparing
them says something: the learning rate is chosen from ``lr_grid`` on the validation split
(highest validation accuracy after ``epochs`` epochs, then validation macro-F1, then the first
of the grid), with the precomputed features only (the test split is never read for the choice).
The two arms are then compared by their logits on every labelled node (largest absolute
difference), not only by their predicted classes.

    python -m saidl.multimodal.embedtime --config-json JOB.json --dataset DATASET.json \
        --features-dir FEATURES/ --out embed_timing.json
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from saidl.common.errors import DataError
from saidl.common.io import write_json
from saidl.common.runtime import choose_device, seed_everything

from .grid import PRETRAINED
from .train import SPLITS, build_model, dataset_root, fit, load_features, prepare

log = logging.getLogger(__name__)


def encoders_for(names: dict[str, str], enc_cfg: dict, device, hub_cache: str | None = None) -> dict:
    """modality -> frozen pretrained encoder, for the modalities whose feature is pretrained
    (hub models read from the Hugging Face cache ``hub_cache``, None: the user's default)."""
    from .encoders import make_image_encoder, make_text_encoder

    out = {}
    for m, name in names.items():
        if name in PRETRAINED:
            out[m] = (make_image_encoder(name, device, enc_cfg["image_size"], cache_dir=hub_cache) if m == "image"
                      else make_text_encoder(name, device, cache_dir=hub_cache))
    return out


def logits_of(model, problem, feats: dict) -> torch.Tensor:
    """The model's logits (eval mode) on every labelled node, splits in ``SPLITS`` order."""
    model.eval()
    with torch.no_grad():
        return model({k: v.detach() for k, v in feats.items()}, problem.sub.edge_index, problem.sub.edge_type,
                     torch.cat([problem.nodes[s] for s in SPLITS])).cpu()


def choose_lr(cfg: dict, problem, idx: dict, feats: dict, dims: dict) -> tuple[float, dict]:
    """(the learning rate, per-rate validation scores): each rate of ``cfg["lr_grid"]`` trains the
    model ``cfg["epochs"]`` epochs on the precomputed features from the job's seed; the rate
    with the highest final validation accuracy, then macro-F1, wins (the first on a tie)."""
    grid = cfg.get("lr_grid") or [cfg["train"]["lr"]]
    search = {}
    for lr in grid:
        seed_everything(cfg["seed"])
        model = build_model(cfg, problem, idx, dims).to(feats[next(iter(feats))].device)
        r = fit(model, problem, feats, {**cfg["train"], "lr": lr}, epochs=cfg["epochs"], desc=f"lr {lr:g}")
        v = r["final"]["validation"]
        search[f"{lr:g}"] = {"lr": float(lr), "val_acc": v["acc"], "val_f1": v["macro_f1"],
                             "val_pred_classes": int(sum(1 for c in np.sum(v["confusion"], axis=0) if c))}
    best = max(search.values(), key=lambda s: (s["val_acc"], s["val_f1"]))  # max keeps the first on a tie
    return best["lr"], search


def run(cfg: dict, dataset_json: Path, features_dir: Path) -> dict:
    t_start = time.perf_counter()
    device = choose_device(cfg["device"])
    problem = prepare(dataset_root(dataset_json), cfg["train"]["hops"])
    idx, feats = load_features(problem, features_dir, cfg["features"])
    encoders = encoders_for(cfg["features"], cfg["encoders"], device, cfg.get("hub_cache"))
    if not encoders:
        raise DataError("embed_timing.feature_set uses no pretrained encoder: nothing to encode on the fly")
    kg, bs = problem.kg, cfg["encoders"]["batch_size"]
    glob = {m: problem.sub.nodes[idx[m]].numpy() for m in encoders}
    feats = {m: f.to(device) for m, f in feats.items()}

    def on_the_fly() -> dict:
        out = dict(feats)
        for m, enc in encoders.items():
            src = kg.iter_images(glob[m]) if m == "image" else [kg.i2e[int(g)][0] for g in glob[m]]
            out[m] = torch.as_tensor(enc.encode(src, batch_size=bs)).float().to(device)
        return out

    problem.to(device)
    dims = {m: f.shape[1] for m, f in feats.items()}
    for m, enc in encoders.items():  # load the weights now: a lazy load would draw from the seeded RNG
        enc.encode(kg.iter_images(glob[m][:1]) if m == "image" else ["warm-up"])

    t0 = time.perf_counter()
    lr, search = choose_lr(cfg, problem, idx, feats, dims)
    select_s = time.perf_counter() - t0
    train_cfg = {**cfg["train"], "lr": lr}

    seen: dict[str, dict] = {}

    def recorded() -> dict:
        out = on_the_fly()
        seen.setdefault("first", out)
        seen["last"] = out
        return out

    arms, logits = {}, {}
    for arm, source in (("precomputed", feats), ("on_the_fly", recorded)):
        seed_everything(cfg["seed"])
        model = build_model(cfg, problem, idx, dims).to(device)
        # frozen encoders: the last epoch's features are the final ones, no extra encoding pass
        arms[arm] = fit(model, problem, source, train_cfg, epochs=cfg["epochs"], desc=arm, refresh_final=False)
        logits[arm] = logits_of(model, problem, feats if arm == "precomputed" else seen["last"])
    diff = {m: float((seen["first"][m] - feats[m]).abs().max()) for m in encoders}
    sizes = [len(problem.nodes[s]) for s in SPLITS]
    gap = (logits["precomputed"] - logits["on_the_fly"]).abs()
    pred = {a: lg.argmax(1) for a, lg in logits.items()}
    test = slice(sizes[0] + sizes[1], None)
    encode_once = float(arms["on_the_fly"]["curves"]["feature_seconds"][0])
    pre = float(np.median(arms["precomputed"]["curves"]["seconds"]))
    otf = float(np.median(arms["on_the_fly"]["curves"]["seconds"]))
    full_epochs = cfg["train"]["epochs"]
    test_classes = {a: np.bincount(p[test].numpy(), minlength=problem.num_classes).tolist() for a, p in pred.items()}
    return {
        "config": cfg, "device": str(device), "epochs": cfg["epochs"], "arms": arms,
        "lr": lr, "lr_search": search, "select_s": select_s,
        "encoders": {m: e.name for m, e in encoders.items()},
        "encoded_nodes": {m: int(len(g)) for m, g in glob.items()},
        "encode_once_s": encode_once, "epoch_s": {"precomputed": pre, "on_the_fly": otf}, "ratio": otf / pre,
        "feature_max_abs_diff": diff,
        # the trained arms compared by their logits on every labelled node (and on the test nodes)
        "logits": {"max_abs_diff": float(gap.max()), "test_max_abs_diff": float(gap[test].max()),
                   "max_abs": float(logits["precomputed"].abs().max()), "nodes": int(gap.shape[0]),
                   "test_nodes": sizes[2]},
        "test_pred_classes": test_classes,
        "test_agreement": float((pred["precomputed"][test] == pred["on_the_fly"][test]).double().mean()),
        "full_run_s": {"epochs": full_epochs, "precomputed": encode_once + full_epochs * pre,
                       "on_the_fly": full_epochs * otf},
        "wall_s": time.perf_counter() - t_start,
    }


def main(argv: list[str] | None = None) -> int:
    from saidl.common.cli import exit_code, train_args

    cfg, args = train_args(__doc__.splitlines()[0], argv, paths=("dataset", "features-dir"))
    return exit_code(lambda: write_json(args.out, run(cfg, args.dataset, args.features_dir)))


if __name__ == "__main__":
    raise SystemExit(main())
