"""Item 1 at the full scale: the pretrained DiT-XL/2 (256 px) through diffusers, behind the same
interface as our DiT, and an ImageNet classifier (EfficientNet-Lite0) that judges its samples.

``DiTPipeline.from_pretrained("facebook/DiT-XL-2-256")`` holds a ``DiTTransformer2DModel`` (1000
ImageNet classes; the null class for guidance is id 1000), the ``sd-vae-ft-ema`` VAE and a
scheduler. We keep the transformer and the VAE and sample with our loop, **as the DiT repository
samples** (``sample.py``: ``learn_sigma=True``, ``create_diffusion(str(steps))``): the model's 8
output channels are ε and the variance interpolation v, and each DDPM step draws from a Gaussian
whose log-variance is ``(v+1)/2 · log β_t + (1-v)/2 · log β̃_t`` of the respaced chain -- diffusers'
``DDPMScheduler(variance_type="learned_range")`` computes exactly that. (diffusers' own
``DiTPipeline`` drops v and runs DDIM.) DDIM (η = 0) adds no noise and uses ε only. Guidance mixes
the ε channels and keeps the conditional v, as DiT's ``forward_with_cfg``.
"""

from __future__ import annotations

import torch
from torch import nn

LEARNED_VARIANCE = "learned_range"


class PretrainedDiT(nn.Module):
    """A diffusers ``DiTTransformer2DModel`` seen as ``forward(x, t, y)`` / ``forward_with_cfg``.

    With a learned variance (``out_channels == 2 * in_channels``) the output keeps all channels
    (ε, then v) and ``schedule_kwargs`` asks the DDPM sampler for ``learned_range``.
    """

    def __init__(self, transformer, num_classes: int = 1000):
        super().__init__()
        self.transformer = transformer.eval().requires_grad_(False)
        self.num_classes = num_classes
        self.in_channels = transformer.config.in_channels
        out = transformer.config.out_channels or self.in_channels
        self.learned_variance = out == 2 * self.in_channels
        self.variance_type = LEARNED_VARIANCE if self.learned_variance else "fixed_small"
        self.schedule_kwargs = {"num_train_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02,
                                "variance_type": self.variance_type}

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            y = torch.full((x.shape[0],), self.num_classes, dtype=torch.long, device=x.device)
        out = self.transformer(x, timestep=t, class_labels=y).sample
        return out if self.learned_variance else out[:, :self.in_channels]  # ε (+ v)

    def forward_with_cfg(self, x, t, y, cfg_scale: float, guided_channels: int | None = None):
        null = torch.full_like(y, self.num_classes)
        out = self(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
        cond, uncond = out.chunk(2)
        k = self.in_channels if guided_channels is None else guided_channels
        guided = uncond[:, :k] + cfg_scale * (cond[:, :k] - uncond[:, :k])
        return torch.cat([guided, cond[:, k:]], dim=1)  # the other ε channels and v: conditional


def load_pretrained(model_id: str, device, pipeline=None, cache_dir=None):
    """(model, codec, latent shape, description) of a diffusers DiT pipeline; ``pipeline``
    replaces the download; ``cache_dir`` is the config's ``hub_cache``."""
    from saidl.diffusion.codec import SDVAECodec
    from saidl.common.encoders import hub_load_error
    from saidl.diffusion.embedders import hub_kwargs, with_fake_note

    if pipeline is None:
        from diffusers import DiTPipeline

        from saidl.common.assets import require_hub_snapshot

        require_hub_snapshot(model_id, cache_dir)  # a cut or corrupt cached file: one line naming it
        try:
            pipeline = DiTPipeline.from_pretrained(model_id, **hub_kwargs(cache_dir))
        except Exception as e:  # noqa: BLE001 - hub, network and cache failures look alike
            raise hub_load_error(model_id, e) from e
        description = with_fake_note(f"{model_id} (diffusers DiTPipeline: transformer and VAE)", model_id, cache_dir)
    else:
        description = f"{type(pipeline).__name__} (in-memory)"
    tr = pipeline.transformer
    model = PretrainedDiT(tr).to(device)
    codec = SDVAECodec(vae=pipeline.vae).to(device)
    size = tr.config.sample_size
    return model, codec, (tr.config.in_channels, size, size), description


class ImageNetProbe(nn.Module):
    """EfficientNet-Lite0 as the study's judge at the full scale: ``features`` (1280-d pooled) and
    ``head`` (1000 ImageNet logits), on images in [-1, 1] like the Fashion-MNIST probe."""

    def __init__(self, device):
        super().__init__()
        from saidl.diffusion.embedders import make_embedder

        self.embedder = make_embedder("efficientnet-lite0", device=str(device))
        self.net = self.embedder.model

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x01 = ((x + 1) / 2).clamp(0, 1)
        if x01.shape[1] == 1:
            x01 = x01.repeat(1, 3, 1, 1)
        return self.embedder.forward(self.embedder.preprocess(x01))

    def head(self, f: torch.Tensor) -> torch.Tensor:
        return self.net._fc(f)
