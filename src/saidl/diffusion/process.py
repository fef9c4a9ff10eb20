"""The diffusion process: DDPM's 1000-step linear schedule, the ε training target, and DDPM /
DDIM sampling with classifier-free guidance, all through diffusers' schedulers.

Our DiTs predict ε only (``learn_sigma=False``) and sample with the fixed posterior variance
(``fixed_small``); the DiT repo learns the variance with a hybrid loss. A model that also outputs
the variance interpolation v (the pretrained DiT-XL/2 at the full scale, 2C output channels) sets
``schedule_kwargs["variance_type"] = "learned_range"``, and DDPM then samples with the learned
variance as the DiT repository does; DDIM (η = 0) uses ε only.
"""

from __future__ import annotations

import sys

import torch
from tqdm import tqdm

from saidl.common.errors import ConfigError

SAMPLERS = ("ddpm", "ddim")


VARIANCE_TYPES = ("fixed_small", "learned_range")


def make_scheduler(kind: str = "ddpm", num_train_timesteps: int = 1000, beta_start: float = 1e-4,
                   beta_end: float = 0.02, variance_type: str = "fixed_small"):
    """DiT's schedule: ``num_train_timesteps`` steps, β linear from ``beta_start`` to ``beta_end``.
    ``variance_type`` (DDPM only): ``fixed_small`` = the posterior variance β̃_t, ``learned_range``
    = the model's interpolation between log β̃_t and log β_t (its second C output channels)."""
    from diffusers import DDIMScheduler, DDPMScheduler

    if variance_type not in VARIANCE_TYPES:
        raise ConfigError(f"variance_type '{variance_type}' unknown; use one of {', '.join(VARIANCE_TYPES)}")
    common = dict(num_train_timesteps=num_train_timesteps, beta_start=beta_start, beta_end=beta_end,
                  beta_schedule="linear", clip_sample=False, prediction_type="epsilon")
    if kind == "ddpm":
        return DDPMScheduler(variance_type=variance_type, **common)
    if kind == "ddim":
        return DDIMScheduler(set_alpha_to_one=False, **common)
    raise ConfigError(f"sampler '{kind}' unknown; use one of {', '.join(SAMPLERS)}")


def diffusion_loss(model, z0: torch.Tensor, y: torch.Tensor | None, scheduler, gen: torch.Generator,
                   label_dropout: float = 0.0) -> torch.Tensor:
    """MSE between the true noise ε and the model's prediction at a uniform random timestep:
    z_t = sqrt(ᾱ_t) z0 + sqrt(1 - ᾱ_t) ε (``scheduler.add_noise``). With labels, each is replaced
    by the null class with probability ``label_dropout`` (classifier-free guidance training),
    drawn from ``gen`` so that a resumed run drops the same labels."""
    n = z0.shape[0]
    t = torch.randint(0, scheduler.config.num_train_timesteps, (n,), generator=gen).to(z0.device)
    eps = torch.randn(z0.shape, generator=gen).to(z0.device)
    zt = scheduler.add_noise(z0, eps, t)
    if y is None:
        return torch.nn.functional.mse_loss(model(zt, t, None), eps)
    drop = (torch.rand(n, generator=gen) < label_dropout).long().to(z0.device)
    return torch.nn.functional.mse_loss(model(zt, t, y, force_drop_ids=drop), eps)


@torch.no_grad()
def sample_latents(model, n: int, shape: tuple[int, int, int], steps: int, sampler: str = "ddpm",
                   labels: torch.Tensor | None = None, cfg_scale: float | None = None,
                   guided_channels: int | None = None, seed: int = 0, device="cpu", batch_size: int = 256,
                   eta: float = 0.0, progress: bool = False, variance_type: str | None = None) -> torch.Tensor:
    """``n`` latents by ``steps`` reverse steps of ``sampler``. With ``labels`` and a
    ``cfg_scale`` the model runs with classifier-free guidance (scale 0 = unconditional,
    1 = conditional); ``cfg_scale=None`` runs the plain (conditional or unconditional) model.

    DDPM's variance is ``variance_type``, by default the model's own
    (``model.schedule_kwargs["variance_type"]``, else ``fixed_small``). Output channels beyond the
    latent's (a learned variance) are used by ``learned_range`` and dropped otherwise."""
    model.eval()
    out = []
    gen = torch.Generator().manual_seed(seed)
    kwargs = dict(getattr(model, "schedule_kwargs", {}))
    if variance_type is not None:
        kwargs["variance_type"] = variance_type
    learned = sampler == "ddpm" and kwargs.get("variance_type", "fixed_small") == "learned_range"
    c = shape[0]
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        sched = make_scheduler(sampler, **kwargs)
        sched.set_timesteps(steps)
        z = torch.randn((m, *shape), generator=gen).to(device)
        y = None if labels is None else labels[start:start + m].to(device)
        ts = sched.timesteps
        for t in tqdm(ts, desc=f"{sampler} {steps}", file=sys.stderr, mininterval=2.0, disable=not progress):
            tt = torch.full((m,), int(t), device=device, dtype=torch.long)
            if cfg_scale is not None and y is not None:
                eps = model.forward_with_cfg(z, tt, y, cfg_scale, guided_channels)
            else:
                eps = model(z, tt, y)
            if learned and eps.shape[1] != 2 * c:
                raise ConfigError(f"variance_type learned_range needs a model with {2 * c} output channels "
                                  f"(ε and v), got {eps.shape[1]}")
            if not learned:
                eps = eps[:, :c]
            kw = {"eta": eta} if sampler == "ddim" else {}
            z = sched.step(eps, t, z, generator=gen if sampler == "ddpm" else None, **kw).prev_sample
        out.append(z.cpu())
    return torch.cat(out)


@torch.no_grad()
def decode_to_uint8(codec, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Latents → uint8 images (N, C, H, W)."""
    dev = codec.scale.device
    out = []
    for i in range(0, len(z), batch_size):
        x = codec.decode(z[i:i + batch_size].to(dev)).cpu()
        out.append(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8))
    return torch.cat(out)
