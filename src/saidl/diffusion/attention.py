"""Multi-head attention with interchangeable backends, including 2-D sliding-window attention.

Every backend takes q, k, v in PyTorch's (B, heads, N, D) layout and returns the same layout, so
a model can switch backend on the same weights (``DiT.set_attention``) and time them.

* ``matmul``   -- softmax(q k^T / sqrt(D)) v written out; the reference the others are tested against.
* ``sdpa``     -- ``torch.nn.functional.scaled_dot_product_attention`` (fused kernels where available).
* ``xformers`` -- ``xformers.ops.memory_efficient_attention``; CUDA only, optional dependency.
* ``sliding``  -- 2-D neighbourhood attention on the token grid: a dense mask in SDPA for small
  grids (:func:`masked_sliding_attention`), the O(N w^2) gather form beyond (:func:`sliding_attention`).
"""

from __future__ import annotations

import functools
import importlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saidl.common.errors import ConfigError

BACKENDS = ("matmul", "sdpa", "xformers", "sliding")
_XFORMERS_FIX = ("install an xformers wheel built for this torch version "
                 "(`pip install xformers` matching torch {torch}) and run on a CUDA device, "
                 "or choose another backend")


class BackendUnavailable(RuntimeError):
    """The requested attention backend cannot run here (missing package or wrong device)."""


def check_backend(backend: str, window: int | None = None) -> None:
    """Raise ConfigError for an unknown backend or a sliding backend without a valid window."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown attention backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    if backend == "sliding" and (window is None or int(window) != window or window < 0):
        raise ConfigError(f"attention backend 'sliding' needs an integer window >= 0, got {window!r}")


def _xformers_reason(device: torch.device | str) -> str | None:
    """None if xformers can run on ``device``, else why not and how to fix it."""
    fix = _XFORMERS_FIX.format(torch=torch.__version__)
    try:
        importlib.import_module("xformers.ops")
    except Exception as exc:  # ImportError, or a wheel built against another torch
        return f"xformers is not installed or failed to import ({exc.__class__.__name__}: {exc}); {fix}"
    if torch.device(device).type != "cuda":
        return f"xformers memory_efficient_attention is CUDA only (tensors are on {device}); {fix}"
    return _xformers_probe(str(device), fix)


@functools.lru_cache(maxsize=8)
def _xformers_probe(device: str, fix: str) -> str | None:
    """Run one tiny float32 call: a wheel built for another torch imports but has no operator."""
    import xformers.ops as xops

    q = torch.zeros(1, 8, 1, 8, device=device)
    try:
        xops.memory_efficient_attention(q, q, q)
    except (NotImplementedError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0]
        return f"xformers {getattr(importlib.import_module('xformers'), '__version__', '?')} has no usable " \
               f"CUDA operator here ({exc.__class__.__name__}: {first}); {fix}"
    return None


def available_backends(device: torch.device | str) -> dict[str, str | None]:
    """Map each backend to None if it can run on ``device``, else to the reason it cannot."""
    return {b: (_xformers_reason(device) if b == "xformers" else None) for b in BACKENDS}


def sliding_window_mask(H: int, W: int, window: int, device=None) -> Tensor:
    """Dense (H*W, H*W) bool mask, True where query (r, c) may attend to key (r', c').

    Allowed iff |r - r'| <= window and |c - c'| <= window (a square Chebyshev window), tokens in
    row-major order. At the borders the window is truncated, not shifted. O(N^2) memory: this is
    the dense reference for tests and the mask of :func:`masked_sliding_attention`;
    :func:`sliding_attention` never builds it.
    """
    rows = torch.arange(H, device=device).repeat_interleave(W)
    cols = torch.arange(W, device=device).repeat(H)
    return (((rows[:, None] - rows[None, :]).abs() <= window)
            & ((cols[:, None] - cols[None, :]).abs() <= window))


def _window_validity(H: int, W: int, wr: int, wc: int, device=None) -> Tensor:
    """(N, K) bool: whether neighbour slot (a, b) of each query lies on the grid (not padding)."""
    rows = torch.arange(H, device=device)[:, None] + torch.arange(-wr, wr + 1, device=device)
    cols = torch.arange(W, device=device)[:, None] + torch.arange(-wc, wc + 1, device=device)
    rv, cv = (rows >= 0) & (rows < H), (cols >= 0) & (cols < W)         # (H, kh), (W, kw)
    return (rv[:, None, :, None] & cv[None, :, None, :]).reshape(H * W, -1)


def sliding_attention(q: Tensor, k: Tensor, v: Tensor, grid: tuple[int, int], window: int) -> Tensor:
    """2-D sliding-window (neighbourhood) attention over a row-major (H, W) token grid.

    Query (r, c) attends to the keys with |dr| <= window and |dc| <= window. **Border choice:**
    the window is *truncated* at the image border (corner tokens see fewer keys), unlike NATTEN,
    which shifts the window to keep its size; the query itself is always inside its window, so no
    row is empty. A window >= max(H, W) - 1 gives full attention (the window is clipped per axis
    to H - 1 / W - 1, which drops only padding).

    Implementation: k and v are zero-padded by the window on the grid; for each of the
    K = (2w+1)^2 offsets the shifted key grid is a *view* of the padded tensor, so the logits are
    K elementwise dot products and the output K weighted sums. Padded slots get logit -inf before
    the softmax. Time O(N K D), extra memory O(N K) (no N x N matrix, and no K-fold copy of k/v as
    an ``unfold`` would make; that variant was 2-5x slower on CPU).
    """
    H, W = grid
    B, h, N, D = q.shape
    if N != H * W:
        raise ConfigError(f"sliding attention: sequence length {N} != grid {H}x{W}")
    wr, wc = min(window, H - 1), min(window, W - 1)
    kp, vp = (F.pad(t.reshape(B, h, H, W, D), (0, 0, wc, wc, wr, wr)) for t in (k, v))
    qg = q.reshape(B, h, H, W, D) * D ** -0.5
    offsets = [(a, b) for a in range(2 * wr + 1) for b in range(2 * wc + 1)]
    logits = torch.stack([(qg * kp[:, :, a:a + H, b:b + W]).sum(-1) for a, b in offsets], dim=-1)
    logits = logits.reshape(B, h, N, -1).masked_fill(~_window_validity(H, W, wr, wc, q.device), float("-inf"))
    weights = logits.softmax(dim=-1).reshape(B, h, H, W, -1)
    out = sum(weights[..., i, None] * vp[:, :, a:a + H, b:b + W] for i, (a, b) in enumerate(offsets))
    return out.reshape(B, h, N, D)


def attention(q: Tensor, k: Tensor, v: Tensor, backend: str, grid: tuple[int, int] | None = None,
              window: int | None = None, n_prefix: int = 0) -> Tensor:
    """Scaled dot-product attention, (B, heads, N, D) -> (B, heads, N, D), with ``backend``.

    ``grid`` and ``window`` are used only by ``sliding``. ``n_prefix`` counts tokens at the start of
    the sequence that are not on the grid (e.g. in-context conditioning tokens); the dense backends
    ignore it and ``sliding`` rejects it, since such tokens have no place in a 2-D window.
    """
    check_backend(backend, window)
    if backend == "matmul":
        logits = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
        return logits.softmax(dim=-1) @ v
    if backend == "sdpa":
        return F.scaled_dot_product_attention(q, k, v)
    if backend == "xformers":
        reason = _xformers_reason(q.device)  # a cached probe after the first call
        if reason is not None:
            raise BackendUnavailable(reason)
        import xformers.ops as xops

        out = xops.memory_efficient_attention(*(t.transpose(1, 2) for t in (q, k, v)))  # (B, N, h, D)
        return out.transpose(1, 2)
    if n_prefix:
        raise ConfigError("sliding attention does not support non-grid prefix tokens "
                          f"(n_prefix={n_prefix}); use a dense backend for in-context conditioning")
    if grid is None:
        raise ConfigError("sliding attention needs the token grid (H, W); set Attention.grid")
    if sliding_path(*grid) == DENSE_PATH:
        return masked_sliding_attention(q, k, v, grid, window)
    return sliding_attention(q, k, v, grid, window)


# Up to this many tokens the window is applied as a dense boolean mask inside PyTorch's fused SDPA:
# (2w+1)^2 small passes cost more than one N x N product there (2x slower training at 8x8 tokens on
# a CPU). Beyond it the O(N w^2) neighbourhood form wins. Both compute the same attention (a test).
DENSE_MASK_MAX_TOKENS = 256
DENSE_PATH, GATHER_PATH = "dense mask", "gather"


def sliding_path(H: int, W: int) -> str:
    """Which implementation the ``sliding`` backend runs on an H x W grid: ``"dense mask"``
    (:func:`masked_sliding_attention`, an N x N boolean mask in SDPA) up to
    ``DENSE_MASK_MAX_TOKENS`` tokens, ``"gather"`` (:func:`sliding_attention`, O(N w^2)) beyond."""
    return DENSE_PATH if H * W <= DENSE_MASK_MAX_TOKENS else GATHER_PATH


def window_reach(side: int, window: int, depth: int) -> dict:
    """What a window of ``window`` on a ``side`` x ``side`` token grid means for a ``depth``-layer
    model: keys per query in one layer (an interior token; border tokens see fewer), and the
    layers after which a token can have received information from every other token (the
    receptive field grows by ``window`` rows and columns per layer, and the farthest token is
    ``side - 1`` away), and the code path that computes it."""
    if side < 1 or window < 0 or depth < 1:
        raise ConfigError(f"window_reach: need side >= 1, window >= 0, depth >= 1 (got {side}, {window}, {depth})")
    per_layer = min(2 * window + 1, side) ** 2
    to_cover = 0 if side == 1 else (None if window == 0 else -(-(side - 1) // window))
    return {"side": side, "tokens": side * side, "window": window, "depth": depth,
            "keys_per_layer": per_layer, "fraction_per_layer": per_layer / (side * side),
            "layers_to_cover": to_cover, "covers_grid": to_cover is not None and to_cover <= depth,
            "local_layers": depth if to_cover is None else min(depth, to_cover),
            "path": sliding_path(side, side), "dense_mask_max_tokens": DENSE_MASK_MAX_TOKENS}


@functools.lru_cache(maxsize=32)
def _cached_mask(H: int, W: int, window: int, device: str) -> Tensor:
    return sliding_window_mask(H, W, window, device=device)


def masked_sliding_attention(q: Tensor, k: Tensor, v: Tensor, grid: tuple[int, int], window: int) -> Tensor:
    """The sliding window as a dense mask (True = attend) in ``scaled_dot_product_attention``."""
    H, W = grid
    if q.shape[-2] != H * W:
        raise ConfigError(f"sliding attention: sequence length {q.shape[-2]} != grid {H}x{W}")
    return F.scaled_dot_product_attention(q, k, v, attn_mask=_cached_mask(H, W, int(window), str(q.device)))


class Attention(nn.Module):
    """Multi-head self-attention as timm's ``Attention`` (fused qkv Linear, output proj).

    ``backend``, ``window`` and ``grid`` are plain attributes so that a model can switch them
    (the DiT sets ``grid`` to its token grid and ``n_prefix`` to its extra tokens).
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, backend: str = "sdpa",
                 window: int | None = None):
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"attention dim {dim} is not divisible by num_heads {num_heads}")
        check_backend(backend, window)
        self.num_heads, self.backend, self.window = num_heads, backend, window
        self.grid: tuple[int, int] | None = None
        self.n_prefix = 0
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        out = attention(q, k, v, self.backend, self.grid, self.window, self.n_prefix)
        return self.proj(out.transpose(1, 2).reshape(B, N, C))


class CrossAttention(nn.Module):
    """Multi-head cross-attention: queries from x (B, N, C), keys/values from context (B, M, C).

    Dense only (``sdpa`` or ``matmul``): the context has no grid, and it is tiny here (M = 2).
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, backend: str = "sdpa"):
        super().__init__()
        if backend not in ("sdpa", "matmul"):
            raise ConfigError(f"cross-attention backend must be 'sdpa' or 'matmul', got {backend!r}")
        if dim % num_heads:
            raise ConfigError(f"attention dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads, self.backend = num_heads, backend
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        B, N, C = x.shape
        M, h = context.shape[1], self.num_heads
        q = self.q(x).view(B, N, h, C // h).transpose(1, 2)
        k, v = self.kv(context).view(B, M, 2, h, C // h).permute(2, 0, 3, 1, 4)
        out = attention(q, k, v, self.backend)
        return self.proj(out.transpose(1, 2).reshape(B, N, C))


__all__ = ["BACKENDS", "BackendUnavailable", "Attention", "CrossAttention", "attention",
           "available_backends", "check_backend", "masked_sliding_attention", "sliding_attention",
           "sliding_window_mask", "sliding_path", "window_reach"]
