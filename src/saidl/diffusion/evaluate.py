"""Evaluation jobs of the diffusion task, one subcommand each.

- ``reference``: embeddings of real reference images with every embedder of the scale.
- ``samples``: a trained DiT's samples, their FID and CMMD (each embedder) against the reference,
  and FID at the EMA snapshots taken during training (the FID-over-training curve).
- ``study``: item 1 on our class-conditional DiT: one class, classifier-free guidance scales and
  numbers of sampling steps, judged by a small Fashion-MNIST classifier trained here (accuracy
  on the requested class, confidence, diversity, Fréchet distance in its feature space).
- ``backends``: item 2(a): the time to sample the same images from the same weights and seed
  with each attention backend, and how far each backend's samples are from the matmul ones.

Usage: ``python -m saidl.diffusion.evaluate <what> --config-json '{...}' --out x.json [...]``
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from saidl.common.cli import exit_code
from saidl.common.errors import ConfigError, DataError
from saidl.common.io import read_json, write_json
from saidl.common.provenance import run_provenance
from saidl.common.runtime import choose_device, seed_everything, set_threads
from saidl.diffusion.data import image_grid, load_images, save_png
from saidl.diffusion.process import decode_to_uint8, sample_latents
from saidl.diffusion.train import load_codec, load_dit

log = logging.getLogger(__name__)


def to01(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) → float [0, 1]; grey images are tiled to RGB by the embedders."""
    x = torch.as_tensor(np.asarray(images))
    return x.float() / 255.0


def embed_all(images: np.ndarray, names: list[str], device, cache_dir=None) -> dict[str, np.ndarray]:
    """Every embedder's features of ``images``; hub models are read from ``cache_dir`` (the
    config's ``hub_cache``; None = the user's Hugging Face cache)."""
    from saidl.diffusion.embedders import make_embedder

    check_embedder_weights(names, cache_dir)
    return {name: make_embedder(name, device=str(device), cache_dir=cache_dir)(to01(images)) for name in names}


def check_embedder_weights(names: list[str], cache_dir=None) -> None:
    """Before any embedder loads: a truncated or corrupt weight file (pip-installed Inception and
    EfficientNet-Lite0, checked against pip's RECORD; a cached hub snapshot) is one DataError line
    naming the file. Missing weights are left to the embedders, which say how to get them."""
    import importlib.util

    from saidl.common.assets import HUB_EMBEDDERS, PIP_WEIGHTS, require_hub_snapshot, require_pip_file

    for name in names:
        if name in PIP_WEIGHTS and importlib.util.find_spec(PIP_WEIGHTS[name][0].replace("-", "_")) is not None:
            require_pip_file(name)
        elif name in HUB_EMBEDDERS:
            require_hub_snapshot(HUB_EMBEDDERS[name], cache_dir)


def load_run_file(load, path: Path, what: str):
    """``load(path)`` for a file an earlier job of this workflow wrote; an unreadable one (cut by an
    interrupted copy, a full disk) is a DataError saying how to rebuild it."""
    from saidl.common.errors import SaidlError

    try:
        return load(path)
    except SaidlError:
        raise
    except Exception as e:  # noqa: BLE001 - torch/numpy/zip raise many types for a cut file
        if not Path(path).is_file():
            raise DataError(f"{path}: {what} missing; rerun snakemake to rebuild it") from None
        raise DataError(f"{path}: {what} is unreadable ({type(e).__name__}: {str(e)[:200]}); delete it and rerun "
                        "snakemake to rebuild it") from None


def scores(feats: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> dict[str, dict]:
    """For every embedder: Fréchet distance (FID for Inception) and CMMD, both estimators."""
    from saidl.diffusion.metrics import cmmd, fid_from_features

    out = {}
    for name, f in feats.items():
        out[name] = {"fd": fid_from_features(f, ref[name]),
                     "cmmd": cmmd(f, ref[name], estimator="biased"),
                     "cmmd_unbiased": cmmd(f, ref[name], estimator="unbiased")}
    return out


# ------------------------------------------------------------------------------------------
# reference


def reference(cfg: dict, out: Path, features: Path) -> dict:
    """Embed the group's held-out real images. The record states the set as realised: ``n`` (what
    was embedded, which can be fewer than the ``n_requested`` of the config), its ``source`` and
    ``split`` (which part of the source, disjoint from the training images)."""
    t0 = time.perf_counter()
    device = choose_device(cfg.get("device", "auto"))
    imgs = load_images(cfg, "test", cfg["n_reference"], cfg["data_seed"])
    feats = embed_all(imgs.x, cfg["embedders"], device, cfg.get("hub_cache"))
    features.parent.mkdir(parents=True, exist_ok=True)
    tmp = features.with_name(features.name + ".tmp.npz")
    np.savez(tmp, images=imgs.x[:64], labels=imgs.y, **{f"feat_{k}": v for k, v in feats.items()})
    tmp.replace(features)
    from saidl.diffusion.embedders import make_embedder

    res = {"id": f"reference-{cfg['dataset']}", "task": "diffusion", "kind": "reference", "config": cfg,
           "metrics": {"n": len(imgs), "n_requested": cfg["n_reference"], "source": imgs.source, "split": imgs.split,
                       "dims": {k: int(v.shape[1]) for k, v in feats.items()},
                       "embedders": {k: make_embedder(k, device=str(device), cache_dir=cfg.get("hub_cache")).description
                                      for k in feats}},
           "timing": {"wall_time_s": time.perf_counter() - t0},
           "provenance": run_provenance(cfg, str(device), imgs.info)}
    write_json(out, res)
    return res


def run_codec(run_cfg: dict, ae: Path | None, device):
    """The run's codec; a cut autoencoder file is a DataError saying how to rebuild it."""
    if ae is None or run_cfg["codec"] != "autoencoder":
        return load_codec(run_cfg, ae, device)
    return load_run_file(lambda p: load_codec(run_cfg, p, device), ae, "the autoencoder weights")


def load_reference(path: Path) -> dict[str, np.ndarray]:
    def read(p):
        with np.load(p) as z:
            return {k[5:]: z[k] for k in z.files if k.startswith("feat_")}

    return load_run_file(read, path, "the reference features")


# ------------------------------------------------------------------------------------------
# samples + FID/CMMD


def balanced_labels(n: int, k: int) -> torch.Tensor:
    return torch.arange(n) % k


def generate(model, state: dict, codec, n: int, cfg: dict, device, seed: int) -> np.ndarray:
    """``n`` uint8 images from ``model`` with the scale's evaluation sampler (classes balanced,
    guidance ``eval_cfg_scale``, for class-conditional models)."""
    k = state["config"]["num_classes"]
    labels = balanced_labels(n, k) if k else None
    z = sample_latents(model, n, tuple(state["latent_shape"]), cfg["eval_steps"], cfg["eval_sampler"],
                       labels=labels, cfg_scale=cfg["eval_cfg_scale"] if k else None, seed=seed, device=device,
                       batch_size=cfg["sample_batch_size"])
    return decode_to_uint8(codec, z).numpy()


def samples(cfg: dict, out: Path, weights: Path, ae: Path | None, ref_path: Path, grid_png: Path) -> dict:
    t0 = time.perf_counter()
    device = choose_device(cfg.get("device", "auto"))
    seed_everything(cfg["seed"])
    model, state = load_run_file(lambda p: load_dit(p, device), weights, "the DiT weights")
    run_cfg = state["config"]
    codec = run_codec(run_cfg, ae, device)
    ref = load_reference(ref_path)
    t = time.perf_counter()
    imgs = generate(model, state, codec, cfg["n_eval"], cfg, device, cfg["seed"])
    sample_s = time.perf_counter() - t
    feats = embed_all(imgs, cfg["embedders"], device, cfg.get("hub_cache"))
    final = scores(feats, ref)
    # FID along training: EMA snapshots, n_curve samples each (the last point reuses the final ones).
    n_curve = min(cfg["n_curve"], cfg["n_eval"])
    curve = {"step": [], "fid": [], "n": n_curve}
    for step in sorted(state["snapshots"]):
        snap, _ = load_dit(weights, device, which=str(step), state=state)
        f = embed_all(generate(snap, state, codec, n_curve, cfg, device, cfg["seed"]), ["inception"], device)
        curve["step"].append(int(step))
        curve["fid"].append(scores(f, {"inception": ref["inception"]})["inception"]["fd"])
    from saidl.diffusion.metrics import fid_from_features

    curve["step"].append(int(run_cfg["steps"]))
    curve["fid"].append(fid_from_features(feats["inception"][:n_curve], ref["inception"]))
    k = run_cfg["num_classes"]
    show, nrow = imgs, cfg["grid_columns"]
    if k:  # one row per class, ``nrow`` samples each
        per = [imgs[np.arange(len(imgs)) % k == c][:nrow] for c in range(k)]
        show = np.concatenate(per)
    save_png(grid_png, image_grid(show[:nrow * max(1, min(len(show) // nrow, cfg["grid_rows"]))], nrow))
    res = {"id": run_cfg["run_id"], "task": "diffusion", "kind": "samples", "config": cfg, "run_config": run_cfg,
           "metrics": {"n": len(imgs), "scores": final, "fid": final["inception"]["fd"], "curve": curve,
                       "pixel_mean": float(imgs.mean()), "pixel_std": float(imgs.std())},
           "timing": {"wall_time_s": time.perf_counter() - t0, "sample_time_s": sample_s},
           "provenance": run_provenance(cfg, str(device), {"weights": str(weights)})}
    write_json(out, res)
    return res


# ------------------------------------------------------------------------------------------
# item 1: guidance and sampling steps


class Probe(nn.Module):
    """A small CNN classifier of the (padded) 32×32 Fashion-MNIST images; its penultimate
    features give a Fréchet distance that sees clothing, not ImageNet."""

    def __init__(self, k: int = 10, c: int = 1):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(c, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(64, 64, 3, 1, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                      nn.Flatten(), nn.Linear(256, 128), nn.ReLU())
        self.head = nn.Linear(128, k)

    def forward(self, x):
        return self.head(self.features(x))


def train_probe(cfg: dict, device) -> tuple[Probe, dict]:
    tr = load_images(cfg, "train", cfg["probe_n_train"], cfg["data_seed"] + 1)
    te = load_images(cfg, "test", cfg["probe_n_test"], cfg["data_seed"] + 1)
    x, y = torch.from_numpy(tr.x).float() / 127.5 - 1, torch.from_numpy(tr.y)
    probe = Probe(len(tr.classes), tr.x.shape[1]).to(device)
    opt = torch.optim.Adam(probe.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(cfg["seed"])
    for _ in tqdm(range(cfg["probe_steps"]), desc="probe", file=sys.stderr, mininterval=2.0):
        idx = torch.randint(len(y), (128,), generator=gen)
        loss = nn.functional.cross_entropy(probe(x[idx].to(device)), y[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    probe.eval()
    with torch.no_grad():
        xt = torch.from_numpy(te.x).float() / 127.5 - 1
        acc = float((probe(xt.to(device)).argmax(1).cpu() == torch.from_numpy(te.y)).float().mean())
    return probe, {"test_acc": acc, "n_train": len(tr), "n_test": len(te), "classes": list(tr.classes),
                   "test_x": te.x, "test_y": te.y}


@torch.no_grad()
def judge(probe: nn.Module, imgs: np.ndarray, cls: int, real_feats: np.ndarray, device) -> dict:
    """How a probe sees samples meant to be of class ``cls``."""
    from saidl.diffusion.metrics import fid_from_features

    x = torch.from_numpy(imgs).float().to(device) / 127.5 - 1
    f = probe.features(x)
    p = probe.head(f).softmax(1).cpu()
    f = f.cpu().double().numpy()
    d = np.sqrt(((f[:, None] - f[None]) ** 2).sum(-1))
    return {"class_acc": float((p.argmax(1) == cls).float().mean()), "confidence": float(p[:, cls].mean()),
            "diversity": float(d[np.triu_indices(len(f), 1)].mean()),
            "pixel_std_across_samples": float(imgs.astype(np.float64).std(0).mean()),
            "fd_probe": None if real_feats is None else fid_from_features(f, real_feats)}


def study(cfg: dict, out: Path, weights: Path | None, ae: Path | None, grids_dir: Path) -> dict:
    t0 = time.perf_counter()
    device = choose_device(cfg.get("device", "auto"))
    seed_everything(cfg["seed"])
    cls, n = cfg["study_class"], cfg["n_study"]
    if cfg["study_run"] == "pretrained":  # full scale: DiT-XL/2 judged by an ImageNet classifier
        from saidl.diffusion.pretrained import ImageNetProbe, load_pretrained

        model, codec, shape, desc = load_pretrained(cfg["pretrained_id"], device, cache_dir=cfg.get("hub_cache"))
        run_cfg = {"run_id": cfg["pretrained_id"], "num_classes": model.num_classes, "description": desc}
        probe, real_feats, real = ImageNetProbe(device), None, None
        pinfo = {"test_acc": None, "classes": None}
        class_name = f"ImageNet class {cls}"
    else:
        model, state = load_run_file(lambda p: load_dit(p, device), weights, "the DiT weights")
        run_cfg, shape = state["config"], tuple(state["latent_shape"])
        if not run_cfg["num_classes"]:
            raise ConfigError("the guidance study needs a class-conditional DiT (study_run in tasks/diffusion/config.yaml)")
        codec = run_codec(run_cfg, ae, device)
        probe, pinfo = train_probe({**run_cfg, **cfg}, device)
        class_name = pinfo["classes"][cls]
        with torch.no_grad():
            real = pinfo["test_x"][pinfo["test_y"] == cls]
            real_feats = probe.features(torch.from_numpy(real).float().to(device) / 127.5 - 1).cpu().double().numpy()
    labels = torch.full((n,), cls, dtype=torch.long)
    rows: list[dict] = []
    grids: dict[str, np.ndarray] = {"guidance": [], "steps": []}
    cache: dict[tuple, np.ndarray] = {}
    # DDPM's reverse variance: the model's own (learned_range for DiT-XL/2, fixed_small for ours);
    # ``steps_variances`` adds others to the steps part, to measure what the variance changes.
    native = getattr(model, "schedule_kwargs", {}).get("variance_type", "fixed_small")
    variances = list(dict.fromkeys([native, *(cfg.get("steps_variances") or [])]))

    def draw(scale: float, steps: int, sampler: str, variance: str | None) -> tuple[np.ndarray, float]:
        key = (float(scale), int(steps), sampler, variance)
        if key not in cache:
            t = time.perf_counter()
            z = sample_latents(model, n, shape, steps, sampler, labels=labels, cfg_scale=scale,
                               guided_channels=cfg.get("guided_channels"), seed=cfg["seed"], device=device,
                               batch_size=cfg["sample_batch_size"], progress=True, variance_type=variance)
            cache[key] = (decode_to_uint8(codec, z).numpy(), time.perf_counter() - t)
        return cache[key]

    def var(sampler: str, v: str) -> str | None:
        return v if sampler == "ddpm" else None  # DDIM (eta 0) adds no noise

    for part, settings in (("guidance", [(s, cfg["guidance_steps"], cfg["guidance_sampler"],
                                          var(cfg["guidance_sampler"], native)) for s in cfg["guidance_scales"]]),
                           ("steps", [(cfg["steps_cfg_scale"], st, smp, v) for smp in cfg["steps_samplers"]
                                      for v in dict.fromkeys(var(smp, x) for x in variances)
                                      for st in cfg["sampling_steps"]])):
        for scale, steps, sampler, variance in settings:
            imgs, secs = draw(scale, steps, sampler, variance)
            rows.append({"part": part, "cfg_scale": float(scale), "steps": int(steps), "sampler": sampler,
                         "variance": variance, "time_s": secs, **judge(probe, imgs, cls, real_feats, device)})
            grids[part].append(imgs[:cfg["grid_columns"]])
    cols = min(cfg["grid_columns"], n)  # one row per setting (n_study samples, at most grid_columns)
    for part, g in grids.items():
        save_png(grids_dir / f"study_{part}.png", image_grid(np.concatenate(g), cols))
    real_row = None if real is None else judge(probe, real[:n], cls, real_feats, device)
    res = {"id": "study", "task": "diffusion", "kind": "study", "config": cfg, "run_config": run_cfg,
           "metrics": {"rows": rows, "real": real_row, "class": cls, "class_name": class_name,
                       "variance_type": native, "model": run_cfg.get("description", run_cfg["run_id"]),
                       "probe": {k: v for k, v in pinfo.items() if k not in ("test_x", "test_y")}},
           "timing": {"wall_time_s": time.perf_counter() - t0},
           "provenance": run_provenance(cfg, str(device), {"weights": str(weights)})}
    write_json(out, res)
    return res


# ------------------------------------------------------------------------------------------
# item 2(a): attention backends


def backends(cfg: dict, out: Path, weights: Path) -> dict:
    from saidl.diffusion.attention import BACKENDS, available_backends

    t0 = time.perf_counter()
    device = choose_device(cfg.get("device", "auto"))
    model, state = load_run_file(lambda p: load_dit(p, device), weights, "the DiT weights")
    run_cfg = state["config"]
    shape, n = tuple(state["latent_shape"]), cfg["n_backend_images"]
    k = run_cfg["num_classes"]
    labels = balanced_labels(n, k) if k else None
    avail = available_backends(device)
    rows, ref = [], None
    for backend in BACKENDS:
        if avail.get(backend):
            rows.append({"backend": backend, "ran": False, "reason": avail[backend]})
            continue
        model.set_attention(backend, cfg["window"] if backend == "sliding" else None)
        times = []
        for rep in range(cfg["backend_repeats"] + 1):  # the first, 2-step pass warms up
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t = time.perf_counter()
            z = sample_latents(model, n, shape, cfg["backend_steps"] if rep else 2, cfg["backend_sampler"],
                               labels=labels, seed=cfg["seed"], device=device, batch_size=n)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if rep:
                times.append(time.perf_counter() - t)
        if backend == "matmul":
            ref = z
        rows.append({"backend": backend, "ran": True, "times_s": times, "time_s": float(np.median(times)),
                     "max_abs_diff_vs_matmul": None if ref is None else float((z - ref).abs().max())})
    base = next((r["time_s"] for r in rows if r["backend"] == "matmul" and r["ran"]), None)
    for r in rows:
        if r["ran"] and base:
            r["speedup_vs_matmul"] = base / r["time_s"]
    res = {"id": "backends", "task": "diffusion", "kind": "backends", "config": cfg, "run_config": run_cfg,
           "metrics": {"rows": rows, "n_images": n, "steps": cfg["backend_steps"], "sampler": cfg["backend_sampler"],
                       "tokens": (shape[-1] // run_cfg["patch_size"]) ** 2, "window": cfg["window"],
                       "threads": torch.get_num_threads()},
           "timing": {"wall_time_s": time.perf_counter() - t0},
           "provenance": run_provenance(cfg, str(device), {"weights": str(weights)})}
    write_json(out, res)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("reference", "samples", "study", "backends"))
    ap.add_argument("--config-json", required=True, help="the job's config as JSON text or a .json path")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--threads", type=int, default=None)
    for name in ("weights", "ae", "reference", "features", "grid", "grids-dir"):
        ap.add_argument(f"--{name}", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = read_json(args.config_json) if args.config_json.endswith(".json") else json.loads(args.config_json)
    set_threads(args.threads)
    jobs = {"reference": lambda: reference(cfg, args.out, args.features),
            "samples": lambda: samples(cfg, args.out, args.weights, args.ae, args.reference, args.grid),
            "study": lambda: study(cfg, args.out, args.weights, args.ae, args.grids_dir),
            "backends": lambda: backends(cfg, args.out, args.weights)}
    return exit_code(jobs[args.what])


if __name__ == "__main__":
    sys.exit(main())
