"""Training of the diffusion task: the demo autoencoder, and one DiT (latent DDPM, ε-prediction).

``kind: autoencoder`` trains :class:`~saidl.diffusion.codec.SmallAutoencoder` on the run's images
and measures its latent scale. ``kind: dit`` encodes the training images once with the run's codec
(the demo autoencoder, or sd-vae-ft-ema at the full scale), then trains a DiT with AdamW at a
constant learning rate after a short warm-up, keeping an EMA of the weights as the DiT repo does;
EMA snapshots taken along the way let the evaluation show FID falling during training.

Usage: ``python -m saidl.diffusion.train --config-json '{...}' --out run.json --weights w.pt
[--ae ae.pt] [--grid recon.png] [--ckpt c.pt] [--threads N]``
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from saidl.common.checkpoint import finish_run, load_checkpoint, load_torch_file, save_checkpoint
from saidl.common.cli import exit_code, train_args
from saidl.common.errors import ConfigError, DataError
from saidl.common.provenance import run_provenance
from saidl.common.runtime import choose_device, seed_everything
from saidl.diffusion.codec import SDVAECodec, SmallAutoencoder, reconstruction_psnr, train_autoencoder
from saidl.diffusion.data import image_grid, load_images, save_png, to_float
from saidl.diffusion.process import decode_to_uint8, diffusion_loss, make_scheduler


def load_codec(cfg: dict, ae_path: Path | None, device: torch.device):
    """The run's latent codec: the demo autoencoder saved at ``ae_path`` or the SD VAE."""
    if cfg["codec"] == "sd-vae":
        return SDVAECodec(cfg.get("vae_id", "stabilityai/sd-vae-ft-ema"), cache_dir=cfg.get("hub_cache")).to(device)
    if ae_path is None or not Path(ae_path).is_file():
        raise DataError(f"autoencoder weights {ae_path} not found: run the diffusion_autoencoder rule first "
                        "(snakemake builds it as a dependency)")
    state = load_torch_file(ae_path, "delete it and rerun snakemake, which retrains it (rule diffusion_autoencoder)",
                            map_location="cpu", weights_only=False)
    ae = SmallAutoencoder(state["image_channels"], state["latent_channels"], state["width"])
    ae.load_state_dict(state["state_dict"])
    return ae.eval().requires_grad_(False).to(device)


def build_dit(cfg: dict, latent_shape: tuple[int, int, int]):
    from saidl.diffusion.dit import DiT

    c, h, w = latent_shape
    if h != w or h % cfg["patch_size"]:
        raise ConfigError(f"latent grid {h}x{w} is not square or not divisible by patch_size {cfg['patch_size']}")
    model = DiT(input_size=h, patch_size=cfg["patch_size"], in_channels=c, hidden_size=cfg["hidden_size"],
                depth=cfg["depth"], num_heads=cfg["num_heads"], mlp_ratio=cfg.get("mlp_ratio", 4.0),
                num_classes=cfg["num_classes"], class_dropout_prob=cfg["class_dropout"],
                conditioning=cfg["conditioning"], attention=cfg["attention"], window=cfg.get("window"))
    model.schedule_kwargs = schedule_kwargs(cfg)
    return model


def schedule_kwargs(cfg: dict) -> dict:
    return {"num_train_timesteps": cfg["num_train_timesteps"], "beta_start": cfg["beta_start"],
            "beta_end": cfg["beta_end"]}


def load_dit(weights: Path, device: torch.device, which: str = "ema", state: dict | None = None):
    """A trained DiT from its weights file: ``which`` is 'ema' or a snapshot step (every sample is
    drawn from EMA weights, as in DiT; the raw weights stay in the resume checkpoint only).
    The file is memory-mapped (only the tensors used are read: a DiT-B file holds the EMA and
    every snapshot); ``state`` reuses a file already loaded."""
    if state is None:
        state = load_torch_file(weights, "delete it and rerun snakemake, which retrains that run",
                                map_location="cpu", weights_only=False, mmap=True)
    model = build_dit(state["config"], tuple(state["latent_shape"]))
    sd = state["ema"] if which == "ema" else state["snapshots"][int(which)]
    model.load_state_dict(sd)
    return model.eval().requires_grad_(False).to(device), state


@torch.no_grad()
def encode_all(codec, x: np.ndarray, device: torch.device, batch: int = 256) -> torch.Tensor:
    return torch.cat([codec.encode(torch.from_numpy(to_float(x[i:i + batch])).to(device)).cpu()
                      for i in range(0, len(x), batch)])


def run_autoencoder(cfg: dict, out: Path, weights: Path, grid: Path | None = None) -> dict:
    t0 = time.perf_counter()
    device = choose_device(cfg.get("device", "auto"))
    seed_everything(cfg["seed"])
    data = load_images(cfg, "train", cfg["n_train"], cfg["data_seed"])
    test = load_images(cfg, "test", cfg["n_psnr"], cfg["data_seed"])
    ae, info = train_autoencoder(torch.from_numpy(to_float(data.x)), cfg, device, cfg["seed"])
    x_test = torch.from_numpy(to_float(test.x))
    psnr = reconstruction_psnr(ae, x_test)
    show = x_test[:16]
    recon = decode_to_uint8(ae, ae.encode(show.to(device)))
    pair = np.concatenate([test.x[:16], recon.numpy()])
    save_checkpoint(weights, {"state_dict": ae.state_dict(), "image_channels": ae.image_channels,
                           "latent_channels": ae.latent_channels, "width": cfg["ae_width"], "config": cfg,
                           })
    if grid is not None:  # originals above, reconstructions below
        save_png(grid, image_grid(pair, 16))
    result = {"id": cfg["run_id"], "task": "diffusion", "kind": "autoencoder", "config": cfg,
              "metrics": {"history": info["history"], "latent_scale": info["latent_scale"], "psnr_db": psnr,
                          "n_params": sum(p.numel() for p in ae.parameters()),
                          "latent_shape": [ae.latent_channels, data.x.shape[2] // 4, data.x.shape[3] // 4]},
              "timing": {"wall_time_s": time.perf_counter() - t0, "train_time_s": info["train_time_s"]},
              "provenance": run_provenance(cfg, str(device), data.info)}
    return finish_run(out, result, None)


def run_dit(cfg: dict, out: Path, weights: Path, ae_path: Path | None, ckpt: Path | None,
            ckpt_interval: float = 120.0) -> dict:
    t_start = time.perf_counter()
    device = choose_device(cfg.get("device", "auto"))
    seed_everything(cfg["seed"])
    data = load_images(cfg, "train", cfg["n_train"], cfg["data_seed"])
    codec = load_codec(cfg, ae_path, device)
    t0 = time.perf_counter()
    z = encode_all(codec, data.x, device)
    encode_s = time.perf_counter() - t0
    y = torch.from_numpy(data.y) if cfg["num_classes"] else None
    if y is not None and (int(y.min()) < 0 or int(y.max()) >= cfg["num_classes"]):
        raise ConfigError(f"run {cfg['run_id']} is class-conditional with {cfg['num_classes']} classes but its "
                          f"dataset '{cfg['dataset']}' has labels {int(y.min())}..{int(y.max())}")
    model = build_dit(cfg, tuple(z.shape[1:])).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.0)
    steps, bs, warm = cfg["steps"], cfg["batch_size"], cfg.get("warmup_steps", 0)
    sched_lr = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, warm)))
    scheduler = make_scheduler("ddpm", **schedule_kwargs(cfg))
    gen = torch.Generator().manual_seed(cfg["seed"])
    snap_at = sorted({max(1, round(f * steps)) for f in cfg["snapshot_fractions"]} - {steps})
    hist, snapshots, start = {"step": [], "loss": []}, {}, 0
    state = load_checkpoint(ckpt, cfg, map_location=device)
    if state is not None:
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        sched_lr.load_state_dict(state["sched"])
        gen.set_state(state["gen"].cpu())
        hist, snapshots, start = state["history"], state["snapshots"], state["step"]
    log_every = max(1, steps // 50)
    running, last_ckpt, t_train = 0.0, time.perf_counter(), time.perf_counter()
    model.train()
    for step in tqdm(range(start, steps), desc=cfg["run_id"], initial=start, total=steps, file=sys.stderr,
                     mininterval=2.0):
        idx = torch.randint(len(z), (bs,), generator=gen)
        loss = diffusion_loss(model, z[idx].to(device), None if y is None else y[idx].to(device), scheduler, gen,
                              cfg["class_dropout"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched_lr.step()
        decay = min(cfg["ema_decay"], (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - decay)
        running += float(loss.detach())
        if (step + 1) % log_every == 0:
            hist["step"].append(step + 1)
            hist["loss"].append(running / log_every)
            running = 0.0
        if step + 1 in snap_at:
            snapshots[step + 1] = {k: v.detach().cpu().clone() for k, v in ema.state_dict().items()}
        if ckpt is not None and time.perf_counter() - last_ckpt > ckpt_interval:
            save_checkpoint(ckpt, {"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                                   "sched": sched_lr.state_dict(), "gen": gen.get_state(), "history": hist,
                                   "snapshots": snapshots, "step": step + 1, "config": cfg})
            last_ckpt = time.perf_counter()
    train_s = time.perf_counter() - t_train
    save_checkpoint(weights, {"ema": ema.state_dict(), "snapshots": snapshots, "config": cfg,
                              "latent_shape": list(z.shape[1:]), "classes": list(data.classes)})
    n_params = sum(p.numel() for p in model.parameters())
    tokens = (z.shape[-1] // cfg["patch_size"]) ** 2
    result = {"id": cfg["run_id"], "task": "diffusion", "kind": "dit", "config": cfg,
              "metrics": {"history": hist, "final_loss": float(np.mean(hist["loss"][-5:])), "n_params": int(n_params),
                          "tokens": int(tokens), "latent_shape": list(z.shape[1:]),
                          "snapshot_steps": sorted(snapshots) + [steps],
                          "codec": getattr(codec, "description", f"own autoencoder ({type(codec).__name__})")},
              "timing": {"wall_time_s": time.perf_counter() - t_start, "train_time_s": train_s,
                         "encode_time_s": encode_s, "steps_per_s": (steps - start) / max(train_s, 1e-9)},
              "provenance": run_provenance(cfg, str(device), data.info)}
    return finish_run(out, result, ckpt)


def run(cfg: dict, args) -> dict:
    if args.weights is None:
        raise ConfigError("--weights is required: where the trained weights are written")
    if cfg["kind"] == "autoencoder":
        return run_autoencoder(cfg, args.out, args.weights, args.grid)
    if cfg["kind"] == "dit":
        return run_dit(cfg, args.out, args.weights, args.ae, args.ckpt, args.ckpt_interval)
    raise ConfigError(f"diffusion run kind '{cfg['kind']}' unknown; use autoencoder or dit")


def main(argv: list[str] | None = None) -> int:
    cfg, args = train_args(__doc__.splitlines()[0], argv, ckpt=True, paths=("weights", "ae", "grid"))
    return exit_code(lambda: run(cfg, args))


if __name__ == "__main__":
    sys.exit(main())
