"""Diffusion Transformer (DiT, Peebles & Xie 2023), written after facebookresearch/DiT ``models.py``.

Differences from the original, all optional: a pluggable attention backend per block (including
2-D sliding-window attention, :mod:`saidl.diffusion.attention`), two more conditioning methods
from the paper's section 3.2 (``in_context`` and ``cross_attn``), unconditional models
(``num_classes=0``), and a choice of how many channels classifier-free guidance acts on.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from saidl.common.errors import ConfigError
from saidl.diffusion.attention import Attention, CrossAttention, check_backend

CONDITIONINGS = ("adaln", "in_context", "cross_attn")


# ----------------------------------------------------------------------------- embeddings

def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding (N,) -> (N, dim) of integer or fractional timesteps, [cos | sin] as DiT."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1) if dim % 2 else emb


class TimestepEmbedder(nn.Module):
    """Scalar timesteps -> hidden vectors: sinusoidal features then a 2-layer SiLU MLP."""

    def __init__(self, hidden_size: int, frequency_embedding_size: int = 256):
        super().__init__()
        self.frequency_embedding_size = frequency_embedding_size
        self.mlp = nn.Sequential(nn.Linear(frequency_embedding_size, hidden_size), nn.SiLU(),
                                 nn.Linear(hidden_size, hidden_size))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(timestep_embedding(t, self.frequency_embedding_size))


class LabelEmbedder(nn.Module):
    """Class labels -> hidden vectors, with label dropout for classifier-free guidance.

    The table always has ``num_classes + 1`` rows; the last one is the null class (id
    ``num_classes``, not a hard-coded 1000), so guidance works even when ``dropout_prob == 0``.
    """

    def __init__(self, num_classes: int, hidden_size: int, dropout_prob: float):
        super().__init__()
        self.num_classes, self.dropout_prob = num_classes, dropout_prob
        self.embedding_table = nn.Embedding(num_classes + 1, hidden_size)

    def token_drop(self, labels: Tensor, force_drop_ids: Tensor | None = None) -> Tensor:
        """Replace dropped labels by the null id: at random with ``dropout_prob``, or where
        ``force_drop_ids == 1`` when given."""
        if force_drop_ids is None:
            drop = torch.rand(labels.shape[0], device=labels.device) < self.dropout_prob
        else:
            drop = force_drop_ids == 1
        return torch.where(drop, torch.full_like(labels, self.num_classes), labels)

    def forward(self, labels: Tensor, train: bool, force_drop_ids: Tensor | None = None) -> Tensor:
        if (train and self.dropout_prob > 0) or force_drop_ids is not None:
            labels = self.token_drop(labels, force_drop_ids)
        return self.embedding_table(labels)


def _sincos_1d(dim: int, pos: Tensor) -> Tensor:
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    out = pos.reshape(-1, 1).double() * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def get_2d_sincos_pos_embed(embed_dim: int, grid_size: int | tuple[int, int]) -> Tensor:
    """Fixed 2-D sin-cos position embedding (H*W, embed_dim), row-major tokens, as DiT/MAE.

    The first half of the channels encodes the column, the second half the row (the order that
    DiT's ``np.meshgrid(grid_w, grid_h)`` produces).
    """
    if embed_dim % 4:
        raise ConfigError(f"2-D sin-cos position embedding needs hidden_size % 4 == 0, got {embed_dim}")
    H, W = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    rows, cols = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    emb = torch.cat([_sincos_1d(embed_dim // 2, cols), _sincos_1d(embed_dim // 2, rows)], dim=1)
    return emb.float()


class PatchEmbed(nn.Module):
    """(N, C, H, W) -> (N, T, hidden) with a stride-p convolution (timm's PatchEmbed)."""

    def __init__(self, patch_size: int, in_channels: int, hidden_size: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, hidden_size, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


def patchify(x: Tensor, p: int) -> Tensor:
    """(N, C, H, W) -> (N, (H/p)(W/p), p*p*C), row-major patches, each flattened as (p, p, C)."""
    N, C, H, W = x.shape
    if H % p or W % p:
        raise ValueError(f"image {H}x{W} is not divisible by patch size {p}")
    x = x.reshape(N, C, H // p, p, W // p, p).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(N, (H // p) * (W // p), p * p * C)


def unpatchify(x: Tensor, p: int, channels: int, grid: tuple[int, int] | None = None) -> Tensor:
    """Inverse of :func:`patchify`: (N, h*w, p*p*C) -> (N, C, h*p, w*p); square grid by default."""
    N, T, _ = x.shape
    h, w = grid if grid is not None else (math.isqrt(T),) * 2
    if h * w != T:
        raise ValueError(f"{T} tokens do not form a {h}x{w} grid")
    x = x.reshape(N, h, w, p, p, channels).permute(0, 5, 1, 3, 2, 4)   # nhwpqc -> nchpwq
    return x.reshape(N, channels, h * p, w * p)


# ----------------------------------------------------------------------------- blocks

def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Mlp(nn.Sequential):
    """timm's Mlp as used by DiT: Linear, tanh-GELU, Linear."""

    def __init__(self, dim: int, mlp_ratio: float):
        hidden = int(dim * mlp_ratio)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))


class DiTBlock(nn.Module):
    """adaLN-Zero block: LayerNorms without affine whose shift/scale, and the residual gates,
    come from an MLP on the conditioning vector c. The modulation Linear is zero-initialised,
    so all gates are 0 and the block is exactly the identity at init."""

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0,
                 attention: str = "sdpa", window: int | None = None):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads, qkv_bias=True, backend=attention, window=window)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, mlp_ratio)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 6 * hidden_size))
        _zero(self.adaLN_modulation[-1])

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift_msa, scale_msa))
        return x + gate_mlp.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))


class ViTBlock(nn.Module):
    """Plain pre-norm transformer block (affine LayerNorms), for in-context conditioning, where
    the conditioning lives in extra tokens. With ``cross_attn=True`` a cross-attention sub-layer
    to the conditioning context sits between self-attention and MLP; its output projection is
    zero-initialised so that the sub-layer starts as the identity."""

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0,
                 attention: str = "sdpa", window: int | None = None, cross_attn: bool = False):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads, qkv_bias=True, backend=attention, window=window)
        self.norm_cross = nn.LayerNorm(hidden_size, eps=1e-6) if cross_attn else None
        self.cross = CrossAttention(hidden_size, num_heads) if cross_attn else None
        if self.cross is not None:
            _zero(self.cross.proj)
        self.norm2 = nn.LayerNorm(hidden_size, eps=1e-6)
        self.mlp = Mlp(hidden_size, mlp_ratio)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        x = x + self.attn(self.norm1(x))
        if self.cross is not None:
            x = x + self.cross(self.norm_cross(x), context)
        return x + self.mlp(self.norm2(x))


class FinalLayer(nn.Module):
    """LayerNorm then Linear to p*p*out_channels per token; zero-initialised Linear.

    ``adaptive=True`` (adaLN): no-affine LayerNorm modulated by shift/scale from c, as DiT.
    ``adaptive=False`` (in_context / cross_attn): a plain affine LayerNorm, c unused.
    """

    def __init__(self, hidden_size: int, patch_size: int, out_channels: int, adaptive: bool = True):
        super().__init__()
        self.adaptive = adaptive
        self.norm_final = nn.LayerNorm(hidden_size, elementwise_affine=not adaptive, eps=1e-6)
        self.linear = nn.Linear(hidden_size, patch_size * patch_size * out_channels)
        self.adaLN_modulation = (nn.Sequential(nn.SiLU(), nn.Linear(hidden_size, 2 * hidden_size))
                                 if adaptive else None)
        _zero(self.linear)
        if adaptive:
            _zero(self.adaLN_modulation[-1])

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        x = self.norm_final(x)
        if self.adaptive:
            shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
            x = modulate(x, shift, scale)
        return self.linear(x)


def _zero(layer: nn.Linear) -> None:
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)


# ----------------------------------------------------------------------------- model

class DiT(nn.Module):
    """Diffusion Transformer on a (in_channels, input_size, input_size) latent.

    ``conditioning``:

    * ``adaln`` -- adaLN-Zero, exactly as DiT: c = t_emb (+ y_emb) modulates every block.
    * ``in_context`` -- t_emb (and y_emb) are prepended as extra tokens to a plain ViT and
      dropped before the (unconditioned) final layer (DiT paper section 3.2).
    * ``cross_attn`` -- the same embeddings form a short context sequence that every block
      cross-attends to after self-attention.

    ``num_classes=0`` gives an unconditional model (timestep only; ``y`` is ignored).
    ``attention``/``window`` choose the self-attention backend for every block; ``sliding``
    (2-D window on the patch grid) is allowed only with ``adaln``, since the other two methods
    add non-grid tokens or are meant to be compared with normal attention.
    """

    def __init__(self, input_size: int = 8, patch_size: int = 1, in_channels: int = 4,
                 hidden_size: int = 128, depth: int = 4, num_heads: int = 4, mlp_ratio: float = 4.0,
                 num_classes: int = 10, class_dropout_prob: float = 0.1, conditioning: str = "adaln",
                 attention: str = "sdpa", window: int | None = None, learn_sigma: bool = False):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ConfigError(f"unknown conditioning {conditioning!r}; valid: {', '.join(CONDITIONINGS)}")
        if input_size % patch_size:
            raise ConfigError(f"input_size {input_size} is not divisible by patch_size {patch_size}")
        if num_classes < 0:
            raise ConfigError(f"num_classes must be >= 0 (0 = unconditional), got {num_classes}")
        self.conditioning = conditioning
        self._check_attention(attention, window)
        self.input_size, self.patch_size, self.in_channels = input_size, patch_size, in_channels
        self.out_channels = in_channels * 2 if learn_sigma else in_channels
        self.learn_sigma, self.num_classes, self.num_heads = learn_sigma, num_classes, num_heads
        self.grid = (input_size // patch_size,) * 2

        self.x_embedder = PatchEmbed(patch_size, in_channels, hidden_size)
        self.t_embedder = TimestepEmbedder(hidden_size)
        self.y_embedder = LabelEmbedder(num_classes, hidden_size, class_dropout_prob) if num_classes else None
        self.register_buffer("pos_embed", get_2d_sincos_pos_embed(hidden_size, self.grid)[None],
                             persistent=False)
        self.n_cond_tokens = 1 + (num_classes > 0)
        if conditioning == "adaln":
            blocks = [DiTBlock(hidden_size, num_heads, mlp_ratio, attention, window) for _ in range(depth)]
        else:
            blocks = [ViTBlock(hidden_size, num_heads, mlp_ratio, attention, window,
                               cross_attn=conditioning == "cross_attn") for _ in range(depth)]
        self.blocks = nn.ModuleList(blocks)
        for block in self.blocks:
            block.attn.grid = self.grid
            block.attn.n_prefix = self.n_cond_tokens if conditioning == "in_context" else 0
        self.final_layer = FinalLayer(hidden_size, patch_size, self.out_channels,
                                      adaptive=conditioning == "adaln")
        self.initialize_weights()

    def _check_attention(self, backend: str, window: int | None) -> None:
        check_backend(backend, window)
        if backend == "sliding" and self.conditioning != "adaln":
            raise ConfigError(f"sliding-window attention is only supported with adaLN conditioning; "
                              f"use normal attention (sdpa/matmul) for conditioning={self.conditioning!r}")

    def initialize_weights(self) -> None:
        """DiT's init: Xavier-uniform Linears (zero bias), patch conv as a Linear, N(0, 0.02)
        label table and timestep MLP, zero adaLN modulation, final Linear and cross-attn proj."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        w = self.x_embedder.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        if self.y_embedder is not None:
            nn.init.normal_(self.y_embedder.embedding_table.weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        for block in self.blocks:
            if isinstance(block, DiTBlock):
                _zero(block.adaLN_modulation[-1])
            elif block.cross is not None:
                _zero(block.cross.proj)
        if self.final_layer.adaptive:
            _zero(self.final_layer.adaLN_modulation[-1])
        _zero(self.final_layer.linear)

    def set_attention(self, backend: str, window: int | None = None) -> None:
        """Switch every block's self-attention backend (same weights), e.g. to time backends."""
        self._check_attention(backend, window)
        for block in self.blocks:
            block.attn.backend, block.attn.window = backend, window

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None,
                force_drop_ids: Tensor | None = None) -> Tensor:
        """x (N, C, H, W), t (N,) timesteps, y (N,) long labels -> (N, out_channels, H, W).

        Labels are dropped to the null class at random in training mode only; ``force_drop_ids``
        (N,) with 1 = drop overrides that (used by :meth:`forward_with_cfg`).
        """
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"DiT was built for {self.input_size}x{self.input_size} inputs, got {tuple(x.shape)}")
        h = self.x_embedder(x) + self.pos_embed                            # (N, T, D)
        cond = [self.t_embedder(t.expand(x.shape[0]) if t.dim() == 0 else t)]
        if self.y_embedder is not None:
            if y is None:
                raise ValueError("this DiT is class-conditional: pass labels y (N,), "
                                 f"using {self.num_classes} for the null class")
            cond.append(self.y_embedder(y, self.training, force_drop_ids))
        if self.conditioning == "adaln":
            c = sum(cond[1:], cond[0])
            for block in self.blocks:
                h = block(h, c)
            h = self.final_layer(h, c)
        elif self.conditioning == "in_context":
            h = torch.cat([torch.stack(cond, dim=1), h], dim=1)
            for block in self.blocks:
                h = block(h)
            h = self.final_layer(h[:, len(cond):])
        else:
            context = torch.stack(cond, dim=1)                             # (N, 1 or 2, D)
            for block in self.blocks:
                h = block(h, context)
            h = self.final_layer(h)
        return unpatchify(h, self.patch_size, self.out_channels, self.grid)

    def forward_with_cfg(self, x: Tensor, t: Tensor, y: Tensor, cfg_scale: float,
                         guided_channels: int | None = None) -> Tensor:
        """Classifier-free guidance: eps = eps_u + s (eps_c - eps_u), one pass on [x, x].

        The batch runs once with labels [y, null]. ``guided_channels=None`` guides all latent
        channels (diffusers' DiTPipeline); an int k guides only the first k channels, the rest
        take the conditional prediction -- the original DiT repo uses k = 3 of 4 (a kept bug,
        DiT issue #41: cfg 1.5 on 3 channels ~ cfg 1.375 on all 4). With ``learn_sigma`` the
        variance channels pass through from the conditional half. s = 0 gives the unconditional,
        s = 1 the conditional prediction. Returns (N, out_channels, H, W).
        """
        if self.y_embedder is None:
            raise ConfigError("classifier-free guidance needs a class-conditional DiT (num_classes > 0)")
        k = self.in_channels if guided_channels is None else guided_channels
        if not 0 < k <= self.in_channels:
            raise ConfigError(f"guided_channels must be in 1..{self.in_channels}, got {guided_channels}")
        n = x.shape[0]
        t = t.expand(n) if t.dim() == 0 else t
        drop = torch.cat([torch.zeros(n, dtype=torch.long, device=x.device),
                          torch.ones(n, dtype=torch.long, device=x.device)])
        out = self.forward(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, y]), force_drop_ids=drop)
        cond, uncond = out[:n], out[n:]
        guided = cond.clone()
        guided[:, :k] = uncond[:, :k] + cfg_scale * (cond[:, :k] - uncond[:, :k])
        return guided


# ----------------------------------------------------------------------------- configs

_SIZES = {"S": dict(depth=12, hidden_size=384, num_heads=6), "B": dict(depth=12, hidden_size=768, num_heads=12),
          "L": dict(depth=24, hidden_size=1024, num_heads=16), "XL": dict(depth=28, hidden_size=1152, num_heads=16)}
DIT_CONFIGS = {f"DiT-{s}/{p}": dict(size, patch_size=p) for s, size in _SIZES.items() for p in (2, 4, 8)}


def dit_from_config(name: str | None = None, **overrides) -> DiT:
    """A DiT from a named config of the paper (``"DiT-B/4"``, ...) with keyword overrides, or
    from the constructor defaults when ``name`` is None."""
    if name is not None and name not in DIT_CONFIGS:
        raise ConfigError(f"unknown DiT config {name!r}; valid: {', '.join(DIT_CONFIGS)}")
    return DiT(**{**(DIT_CONFIGS[name] if name else {}), **overrides})


def n_params(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters; the fixed position embedding is a buffer, not counted."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
