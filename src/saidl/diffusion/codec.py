"""Latent codecs: images in [-1, 1] ↔ scaled latents that the DiT denoises.

- Full scale: the pretrained ``stabilityai/sd-vae-ft-ema`` through diffusers' ``AutoencoderKL``,
  latents = ``latent_dist.sample() × 0.18215`` (the DiT repo's scale), decode ``z / 0.18215``.
- Demo and smoke: :class:`SmallAutoencoder`, a deterministic convolutional autoencoder that the
  pipeline trains on the demo images (side / 4, ``latent_channels`` channels). Its latent scale is
  measured, as the SD VAE's was: 1 / std of the training latents, so the DiT sees unit-variance
  latents. 0.18215 belongs to the SD VAE and is never reused for it.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import torch
from torch import nn
from tqdm import tqdm


SD_VAE_SCALE = 0.18215


class SmallAutoencoder(nn.Module):
    """Image (C, H, W) in [-1, 1] → latent (latent_channels, H/4, W/4) → image. Plain strided
    convolutions and SiLU: small enough to train in under a minute on a CPU core."""

    factor = 4

    def __init__(self, image_channels: int = 1, latent_channels: int = 4, width: int = 32):
        super().__init__()
        self.image_channels, self.latent_channels = image_channels, latent_channels
        w = width
        self.encoder = nn.Sequential(nn.Conv2d(image_channels, w, 3, 1, 1), nn.SiLU(),
                                     nn.Conv2d(w, w, 4, 2, 1), nn.SiLU(),
                                     nn.Conv2d(w, 2 * w, 4, 2, 1), nn.SiLU(),
                                     nn.Conv2d(2 * w, latent_channels, 3, 1, 1))
        self.decoder = nn.Sequential(nn.Conv2d(latent_channels, 2 * w, 3, 1, 1), nn.SiLU(),
                                     nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.SiLU(),
                                     nn.ConvTranspose2d(w, w, 4, 2, 1), nn.SiLU(),
                                     nn.Conv2d(w, image_channels, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(1.0))

    def encode_raw(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder(z))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x) * self.scale

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode_raw(z / self.scale)


class SDVAECodec(nn.Module):
    """diffusers ``AutoencoderKL`` with the DiT repo's scale; ``vae`` may be given (tests)."""

    factor = 8

    def __init__(self, model_id: str = "stabilityai/sd-vae-ft-ema", vae=None, scale: float = SD_VAE_SCALE,
                 cache_dir=None):
        super().__init__()
        from saidl.common.encoders import hub_load_error
        from saidl.diffusion.embedders import hub_kwargs, with_fake_note

        if vae is None:
            from diffusers import AutoencoderKL

            from saidl.common.assets import require_hub_snapshot

            require_hub_snapshot(model_id, cache_dir)  # a cut or corrupt cached file: one line naming it
            try:
                vae = AutoencoderKL.from_pretrained(model_id, **hub_kwargs(cache_dir))
            except Exception as e:  # noqa: BLE001 - hub, network and cache failures look alike
                raise hub_load_error(model_id, e) from e
            self.description = with_fake_note(f"{model_id} (diffusers AutoencoderKL)", model_id, cache_dir)
        else:
            self.description = f"{type(vae).__name__} (in-memory)"
        self.vae = vae.eval().requires_grad_(False)
        self.latent_channels = vae.config.latent_channels
        self.image_channels = vae.config.in_channels
        self.register_buffer("scale", torch.tensor(float(scale)))

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(x).latent_dist.sample() * self.scale

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z / self.scale).sample.clamp(-1, 1)


def train_autoencoder(x: torch.Tensor, cfg: dict, device: torch.device, seed: int) -> tuple[SmallAutoencoder, dict]:
    """Train on images ``x`` (N, C, H, W) in [-1, 1] with L1 + MSE reconstruction loss and a
    cosine learning rate; then measure the latent scale. Returns the model and its history."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    ae = SmallAutoencoder(x.shape[1], cfg["latent_channels"], cfg["ae_width"]).to(device)
    opt = torch.optim.Adam(ae.parameters(), lr=cfg["ae_lr"])
    steps, bs = cfg["ae_steps"], cfg["ae_batch_size"]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    hist = {"step": [], "loss": []}
    t0, running = time.perf_counter(), 0.0
    for step in tqdm(range(steps), desc="autoencoder", file=sys.stderr, mininterval=2.0):
        idx = torch.randint(len(x), (bs,), generator=gen)
        xb = x[idx].to(device)
        rec = ae.decode_raw(ae.encode_raw(xb))
        loss = (rec - xb).abs().mean() + ((rec - xb) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += float(loss.detach())
        if (step + 1) % max(1, steps // 20) == 0 or step + 1 == steps:
            hist["step"].append(step + 1)
            hist["loss"].append(running / (step + 1 - (hist["step"][-2] if len(hist["step"]) > 1 else 0)))
            running = 0.0
    ae.eval()
    with torch.no_grad():
        z = torch.cat([ae.encode_raw(x[i:i + 256].to(device)) for i in range(0, min(len(x), 2048), 256)])
        ae.scale.fill_(1.0 / float(z.std()))
    return ae, {"history": hist, "latent_scale": float(ae.scale), "train_time_s": time.perf_counter() - t0}


@torch.no_grad()
def reconstruction_psnr(codec: nn.Module, x: torch.Tensor, batch: int = 256) -> float:
    """Mean PSNR (dB, images in [-1, 1]) of decode(encode(x))."""
    mse = []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        rec = codec.decode(codec.encode(xb.to(codec.scale.device))).cpu()
        mse.append(((rec - xb) ** 2).flatten(1).mean(1))
    m = torch.cat(mse).clamp_min(1e-12)
    return float(np.mean(10 * np.log10(4.0 / m.numpy())))
