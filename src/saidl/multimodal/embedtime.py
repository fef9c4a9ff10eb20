"""Item 2(d), when to embed: the same R-GCN trained for a few epochs with the frozen pretrained
embeddings precomputed once (read from the features files) and with every image decoded and
every text and image encoded again in each epoch ("on the fly"), in one process, same seed.

    python -m saidl.multimodal.embedtime --config-json JOB.json --dataset DATASET.json \
        --features-dir FEATURES/ --out embed_timing.json
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from saidl.common.errors import DataError
from saidl.common.io import write_json
from saidl.common.runtime import choose_device, seed_everything

from .grid import PRETRAINED
from .train import build_model, dataset_root, fit, load_features, prepare

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


def run(cfg: dict, dataset_json: Path, features_dir: Path) -> dict:
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
    first: dict[str, torch.Tensor] = {}
    for m, enc in encoders.items():  # load the weights now: a lazy load would draw from the seeded RNG
        enc.encode(kg.iter_images(glob[m][:1]) if m == "image" else ["warm-up"])

    def recorded() -> dict:
        out = on_the_fly()
        first.update({m: out[m] for m in encoders if m not in first})
        return out

    arms = {}
    for arm, source in (("precomputed", feats), ("on_the_fly", recorded)):
        seed_everything(cfg["seed"])
        model = build_model(cfg, problem, idx, dims).to(device)
        # frozen encoders: the last epoch's features are the final ones, no extra encoding pass
        arms[arm] = fit(model, problem, source, cfg["train"], epochs=cfg["epochs"], desc=arm, refresh_final=False)
    diff = {m: float((first[m] - feats[m]).abs().max()) for m in encoders}
    encode_once = float(arms["on_the_fly"]["curves"]["feature_seconds"][0])
    pre = float(np.median(arms["precomputed"]["curves"]["seconds"]))
    otf = float(np.median(arms["on_the_fly"]["curves"]["seconds"]))
    full_epochs = cfg["train"]["epochs"]
    return {
        "config": cfg, "device": str(device), "epochs": cfg["epochs"], "arms": arms,
        "encoders": {m: e.name for m, e in encoders.items()},
        "encoded_nodes": {m: int(len(g)) for m, g in glob.items()},
        "encode_once_s": encode_once, "epoch_s": {"precomputed": pre, "on_the_fly": otf}, "ratio": otf / pre,
        "feature_max_abs_diff": diff,
        "full_run_s": {"epochs": full_epochs, "precomputed": encode_once + full_epochs * pre,
                       "on_the_fly": full_epochs * otf},
        "same_predictions": arms["precomputed"]["final"]["testing"]["confusion"]
        == arms["on_the_fly"]["final"]["testing"]["confusion"],
    }


def main(argv: list[str] | None = None) -> int:
    from saidl.common.cli import exit_code, train_args

    cfg, args = train_args(__doc__.splitlines()[0], argv, paths=("dataset", "features-dir"))
    return exit_code(lambda: write_json(args.out, run(cfg, args.dataset, args.features_dir)))


if __name__ == "__main__":
    raise SystemExit(main())
