"""Zero-mean, unit-variance noise laws for Noisy Nets: only the *shape* of the law differs.

Every law below is centred to mean 0 and scaled to variance 1, so a NoisyLinear layer with
sigma = 0.017 injects the same noise *power* whichever law is chosen:

| dist       | construction from uniforms U ~ U[0, 1)                     | skew  | excess kurtosis |
|------------|------------------------------------------------------------|-------|-----------------|
| gaussian   | torch.randn                                                | 0     | 0               |
| uniform    | sqrt(3) * (2U - 1), i.e. uniform on [-sqrt3, +sqrt3]       | 0     | -6/5            |
| laplace    | b * (E1 - E2), E = -log(1 - U) ~ Exp(1), scale b = 1/sqrt2  | 0     | 3               |
| beta       | Beta(2, 2) = median of 3 uniforms; (X - 1/2) / sqrt(1/20)  | 0     | -6/7            |
| gamma      | Gamma(k=2, theta=1) = E1 + E2; (X - k theta)/(sqrt(k) theta)| sqrt2 | 3               |

Variance of Beta(a, b) is ab / ((a + b)^2 (a + b + 1)) = 4 / (16 * 5) = 1/20 for a = b = 2.
Gamma(2, 1) has mean 2 and variance 2, so it is the only skewed law (long right tail).

All draws go through the given ``torch.Generator`` (``None``: torch's global generator), so the
same generator seed gives the same noise.
"""

from __future__ import annotations

import math

import torch

DISTRIBUTIONS = ("gaussian", "uniform", "laplace", "beta", "gamma")

# (skewness, excess kurtosis) of each standardised law, for the report's tables.
SHAPE = {"gaussian": (0.0, 0.0), "uniform": (0.0, -1.2), "laplace": (0.0, 3.0),
         "beta": (0.0, -6.0 / 7.0), "gamma": (math.sqrt(2.0), 3.0)}


def moments(dist: str) -> tuple[float, float]:
    """(mean, variance) of ``sample_noise(dist, ...)``: (0, 1) for every law, by construction."""
    _check(dist)
    return 0.0, 1.0


def _check(dist: str) -> None:
    if dist not in DISTRIBUTIONS:
        raise ValueError(f"unknown noise distribution {dist!r}; choose one of {DISTRIBUTIONS}")


def _exp1_pair(shape, generator, device, dtype) -> torch.Tensor:
    """Two independent Exp(1) tensors of ``shape``, stacked (2, *shape), by inverse CDF:
    -log(1 - U) with U in [0, 1), hence always finite. One uniform draw of (2, *shape) is the
    same stream as two draws of ``shape``; ``1 - U`` is exact for torch's uniforms (multiples of
    2^-24 in float32), and ``log`` is much faster than ``log1p`` on CPU (same value up to the last
    bit)."""
    u = torch.rand((2, *shape), generator=generator, device=device, dtype=dtype)
    return u.neg_().add_(1.0).log_().neg_()


def sample_noise(dist: str, shape, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Draw a tensor of ``shape`` from the standardised law ``dist`` (mean 0, variance 1)."""
    _check(dist)
    if device is None:
        device = generator.device if generator is not None else "cpu"
    shape = tuple(shape) if not isinstance(shape, int) else (shape,)
    kw = dict(generator=generator, device=device, dtype=dtype)
    if dist == "gaussian":
        return torch.randn(shape, **kw)
    if dist == "uniform":  # U[-sqrt3, sqrt3]: variance (2 sqrt3)^2 / 12 = 1
        return math.sqrt(3.0) * (2.0 * torch.rand(shape, **kw) - 1.0)
    if dist == "laplace":  # Laplace(0, b) = b (E1 - E2); variance 2 b^2 = 1 for b = 1/sqrt2
        e = _exp1_pair(shape, **kw)
        return (e[0] - e[1]) / math.sqrt(2.0)
    if dist == "beta":  # Beta(2, 2) = 2nd order statistic of 3 uniforms; mean 1/2, variance 1/20
        u = torch.rand((3, *shape), **kw)
        # the median of three by min/max: the same element as .median(dim=0), 50x faster on CPU
        x = torch.maximum(torch.minimum(u[0], u[1]), torch.minimum(torch.maximum(u[0], u[1]), u[2]))
        return (x - 0.5) * math.sqrt(20.0)
    # gamma: Gamma(k=2, theta=1) = E1 + E2; mean k theta = 2, std sqrt(k) theta = sqrt2
    k, theta = 2.0, 1.0
    e = _exp1_pair(shape, **kw)
    x = theta * (e[0] + e[1])
    return (x - k * theta) / (math.sqrt(k) * theta)
