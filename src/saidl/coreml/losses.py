"""Loss functions for learning with noisy labels (Ma et al., ICML 2020, "APL").

Each loss maps (logits (N, K), labels (N,)) to a batch-mean scalar. Conventions follow the
official code (HanxunH/Active-Passive-Losses, ``loss.py``):

* MAE is the *reduced* MAE ``1 - p_y`` (half the textbook ``sum_k |p_k - onehot_k|``).
* RCE clamps the one-hot target at 1e-4, so ``RCE = -log(1e-4) * sum_{k != y} p_k``.
* NFL detaches its normaliser and its focal weight: the gradient is the focal gradient over
  a constant.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from saidl.coreml.names import EPS, LOSS_NAMES, PAIRS, RCE_LOG_ZERO


class CrossEntropy(nn.Module):
    """CE = -log p_y."""

    def __init__(self, num_classes: int, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, logits, y):
        return self.scale * F.cross_entropy(logits, y)


class FocalLoss(nn.Module):
    """FL = -(1 - p_y)^gamma log p_y, the weight computed without gradient."""

    def __init__(self, num_classes: int, gamma: float = 0.5, scale: float = 1.0):
        super().__init__()
        self.gamma, self.scale = gamma, scale

    def forward(self, logits, y):
        logpt = F.log_softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
        weight = (1 - logpt.detach().exp()) ** self.gamma
        return self.scale * (-weight * logpt).mean()


class MeanAbsoluteError(nn.Module):
    """Reduced MAE = 1 - p_y (official convention; the textbook MAE is twice this)."""

    def __init__(self, num_classes: int, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, logits, y):
        p_y = F.softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
        return self.scale * (1.0 - p_y).mean()


class ReverseCrossEntropy(nn.Module):
    """RCE = -sum_k p_k log q_k with q = onehot clamped at 1e-4 and p clamped at 1e-7."""

    def __init__(self, num_classes: int, scale: float = 1.0):
        super().__init__()
        self.num_classes, self.scale = num_classes, scale

    def forward(self, logits, y):
        p = F.softmax(logits, dim=1).clamp(min=EPS, max=1.0)
        q = F.one_hot(y, self.num_classes).float().clamp(min=RCE_LOG_ZERO, max=1.0)
        return self.scale * (-(p * q.log()).sum(dim=1)).mean()


class GeneralizedCrossEntropy(nn.Module):
    """GCE = (1 - p_y^q) / q (Zhang & Sabuncu 2018), q = 0.7."""

    def __init__(self, num_classes: int, q: float = 0.7, scale: float = 1.0):
        super().__init__()
        self.q, self.scale = q, scale

    def forward(self, logits, y):
        p_y = F.softmax(logits, dim=1).clamp(min=EPS, max=1.0).gather(1, y[:, None]).squeeze(1)
        return self.scale * ((1.0 - p_y ** self.q) / self.q).mean()


class NormalizedCrossEntropy(nn.Module):
    """NCE = (-log p_y) / sum_k (-log p_k), per sample, in [0, 1]; gradient through both."""

    def __init__(self, num_classes: int, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, logits, y):
        logp = F.log_softmax(logits, dim=1)
        nce = logp.gather(1, y[:, None]).squeeze(1) / logp.sum(dim=1)
        return self.scale * nce.mean()


class NormalizedFocalLoss(nn.Module):
    """NFL = FL(y) / sum_k FL(k), with the normaliser and the focal weight detached."""

    def __init__(self, num_classes: int, gamma: float = 0.5, scale: float = 1.0):
        super().__init__()
        self.gamma, self.scale = gamma, scale

    def forward(self, logits, y):
        logp = F.log_softmax(logits, dim=1)
        normaliser = (-((1 - logp.exp()) ** self.gamma) * logp).sum(dim=1).detach()
        logpt = logp.gather(1, y[:, None]).squeeze(1)
        fl = -((1 - logpt.detach().exp()) ** self.gamma) * logpt
        return self.scale * (fl / normaliser).mean()


class Combined(nn.Module):
    """alpha * first + beta * second: SCE (CE + RCE) and the APL pairs (active + passive)."""

    def __init__(self, first: nn.Module, second: nn.Module, alpha: float, beta: float):
        super().__init__()
        self.first, self.second, self.alpha, self.beta = first, second, alpha, beta

    def forward(self, logits, y):
        return self.alpha * self.first(logits, y) + self.beta * self.second(logits, y)


SINGLE = {
    "CE": CrossEntropy, "FL": FocalLoss, "MAE": MeanAbsoluteError, "RCE": ReverseCrossEntropy,
    "GCE": GeneralizedCrossEntropy, "NCE": NormalizedCrossEntropy, "NFL": NormalizedFocalLoss,
}
GAMMA_LOSSES = ("FL", "NFL")


def build_loss(name: str, num_classes: int, params: dict | None = None) -> nn.Module:
    """A loss by name. ``params``: ``scale`` (single losses), ``alpha``/``beta`` (pairs),
    ``gamma`` (focal family), ``q`` (GCE)."""
    params = dict(params or {})
    if name in PAIRS:
        a, b = PAIRS[name]
        return Combined(build_loss(a, num_classes, {k: v for k, v in params.items() if k in ("gamma",)}),
                        build_loss(b, num_classes), params.get("alpha", 1.0), params.get("beta", 1.0))
    if name not in SINGLE:
        raise KeyError(f"unknown loss '{name}'; choose one of {', '.join(LOSS_NAMES)}")
    kwargs = {"scale": params.get("scale", 1.0)}
    if name in GAMMA_LOSSES:
        kwargs["gamma"] = params.get("gamma", 0.5)
    if name == "GCE":
        kwargs["q"] = params.get("q", 0.7)
    return SINGLE[name](num_classes, **kwargs)

