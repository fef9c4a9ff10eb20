"""TD3's networks: a deterministic actor (optionally with Noisy Nets layers) and twin critics.

Shapes: obs (B, obs_dim), act (B, act_dim) -> actor (B, act_dim) in [-max_action, max_action];
critic (B,) per Q head.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from saidl.rl.noise import sample_noise


class NoisyLinear(nn.Module):
    """Independent Noisy Nets layer (Fortunato et al., ICLR 2018, §3.2).

        y = (mu_w + sigma_w * eps_w) x + mu_b + sigma_b * eps_b

    with p = fan-in, mu ~ U[-sqrt(3/p), +sqrt(3/p)] and sigma = sigma0 = 0.017 for every weight
    and bias (both learnable); eps has one draw per weight and bias (p*q + q) from the
    standardised law ``dist`` (see ``saidl.rl.noise``). eps lives in buffers and changes only
    on ``resample``. In train mode the layer is noisy; in eval mode it uses the mean weights mu.
    """

    def __init__(self, in_features: int, out_features: int, dist: str = "gaussian",
                 sigma0: float = 0.017):
        super().__init__()
        self.in_features, self.out_features, self.dist = in_features, out_features, dist
        bound = math.sqrt(3.0 / in_features)
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.bias_mu = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        self.weight_sigma = nn.Parameter(torch.full((out_features, in_features), sigma0))
        self.bias_sigma = nn.Parameter(torch.full((out_features,), sigma0))
        self.register_buffer("weight_eps", torch.zeros(out_features, in_features))
        self.register_buffer("bias_eps", torch.zeros(out_features))
        self.resample()  # global RNG, like the mu initialisation

    @torch.no_grad()
    def resample(self, generator: torch.Generator | None = None) -> None:
        """Draw fresh eps_w, eps_b (``generator`` must live on this layer's device)."""
        dev = self.weight_eps.device
        self.weight_eps.copy_(sample_noise(self.dist, self.weight_eps.shape, generator, device=dev))
        self.bias_eps.copy_(sample_noise(self.dist, self.bias_eps.shape, generator, device=dev))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:  # evaluation: mean weights, no noise
            return F.linear(x, self.weight_mu, self.bias_mu)
        return F.linear(x, self.weight_mu + self.weight_sigma * self.weight_eps,
                        self.bias_mu + self.bias_sigma * self.bias_eps)

    @torch.no_grad()
    def sigma_mean(self) -> float:
        """Mean |sigma| over all weights and biases (the sign of sigma is irrelevant: eps is
        symmetric for every law but gamma, and learning may flip it)."""
        n = self.weight_sigma.numel() + self.bias_sigma.numel()
        return float((self.weight_sigma.abs().sum() + self.bias_sigma.abs().sum()) / n)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, dist={self.dist}"


class Actor(nn.Module):
    """pi(s) = max_action * tanh(MLP(s)), MLP 256-256 ReLU. ``noisy``: a noise law name, to make
    every linear layer a NoisyLinear (exploration by parameter noise instead of action noise)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256, noisy: str | None = None,
                 max_action: float = 1.0, sigma0: float = 0.017):
        super().__init__()
        self.noisy, self.max_action = noisy, max_action

        def linear(i: int, o: int) -> nn.Module:
            return NoisyLinear(i, o, noisy, sigma0) if noisy else nn.Linear(i, o)

        self.net = nn.Sequential(linear(obs_dim, hidden), nn.ReLU(), linear(hidden, hidden),
                                 nn.ReLU(), linear(hidden, act_dim))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.max_action * torch.tanh(self.net(obs))

    def noisy_layers(self) -> list[NoisyLinear]:
        return [m for m in self.net if isinstance(m, NoisyLinear)]

    def resample_noise(self, generator: torch.Generator | None = None) -> None:
        for layer in self.noisy_layers():
            layer.resample(generator)

    @torch.no_grad()
    def noisy_sigma(self) -> float | None:
        """Mean |sigma| over every noisy weight and bias of the actor (None if not noisy)."""
        layers = self.noisy_layers()
        if not layers:
            return None
        total = sum(float(l.weight_sigma.abs().sum() + l.bias_sigma.abs().sum()) for l in layers)
        return total / sum(l.weight_sigma.numel() + l.bias_sigma.numel() for l in layers)


def _q_net(in_dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Linear(hidden, 1))


class Critic(nn.Module):
    """Twin critics (clipped double Q): Q_1, Q_2 on concat[s, a], each 256-256 ReLU -> 1."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int = 256):
        super().__init__()
        self.q1_net = _q_net(obs_dim + act_dim, hidden)
        self.q2_net = _q_net(obs_dim + act_dim, hidden)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sa = torch.cat([obs, act], dim=-1)  # (B, obs_dim + act_dim)
        return self.q1_net(sa).squeeze(-1), self.q2_net(sa).squeeze(-1)  # (B,), (B,)

    def q1(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.q1_net(torch.cat([obs, act], dim=-1)).squeeze(-1)
