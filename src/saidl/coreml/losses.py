"""Loss functions for learning with noisy labels (Ma et al., ICML 2020, "APL", and its
successor Ye et al., NeurIPS 2023, "Active Negative Loss", ANL).

Each loss maps (logits (N, K), labels (N,)) to a batch-mean scalar. Conventions follow the
official code (HanxunH/Active-Passive-Losses, ``loss.py``):

* MAE is the *reduced* MAE ``1 - p_y`` (half the textbook ``sum_k |p_k - onehot_k|``).
* RCE clamps the one-hot target at 1e-4, so ``RCE = -log(1e-4) * sum_{k != y} p_k``.
* NFL detaches its focal weights (1 - p_k)^gamma, in the numerator and in the normaliser, but
  the normaliser keeps its gradient through log p_k: ``normalizor = sum(-(1 - logpt.data.exp())
  ** gamma * logpt)`` in the official code (the same in ANL's copy).

The ANL losses follow Virusdoll/Active-Negative-Loss, ``loss.py``: NNCE and NNFL clamp the
probabilities at 1e-7 and use the constant A = -log(1e-7); ANL adds an L1 penalty over *all*
model parameters (it replaces weight decay), so its ``forward`` takes the model as well.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from saidl.coreml.names import ANL, ANL_MIN_PROB, EPS, LOSS_NAMES, PAIRS, RCE_LOG_ZERO


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
    """NFL = FL(y) / sum_k FL(k), FL(k) = -(1 - p_k)^gamma log p_k with every focal weight
    detached; the normaliser is differentiated through log p_k, as in the official code."""

    def __init__(self, num_classes: int, gamma: float = 0.5, scale: float = 1.0):
        super().__init__()
        self.gamma, self.scale = gamma, scale

    def forward(self, logits, y):
        logp = F.log_softmax(logits, dim=1)
        normaliser = (-((1 - logp.detach().exp()) ** self.gamma) * logp).sum(dim=1)
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


class NormalizedNegativeCrossEntropy(nn.Module):
    """NNCE = 1 - q_y / sum_k q_k with q_k = A + log p_k, p clamped to [1e-7, max_prob] and
    A = -log(1e-7), so q_k = A - CE_k >= 0 (ANL's ``NormalizedNegativeCrossEntropy``).

    In [0, 1]: 0 at a one-hot correct prediction (q_y = A, every other q_k = 0) and 1 when
    p_y <= 1e-7 (q_y = 0). ``max_prob`` is 1 in ANL-CE and 1 - 1e-7 in ANL-CE-ER, as coded.
    """

    def __init__(self, num_classes: int, min_prob: float = ANL_MIN_PROB, max_prob: float = 1.0,
                 scale: float = 1.0):
        super().__init__()
        self.min_prob, self.max_prob, self.scale = min_prob, max_prob, scale

    def forward(self, logits, y):
        p = F.softmax(logits, dim=1).clamp(min=self.min_prob, max=self.max_prob)
        # A in the logits' dtype, so that q_k is exactly 0 for a clamped p_k (official: a tensor)
        big_a = -torch.log(torch.tensor(self.min_prob, dtype=p.dtype, device=p.device))
        q = big_a + p.log()
        nnce = 1.0 - q.gather(1, y[:, None]).squeeze(1) / q.sum(dim=1)
        return self.scale * nnce.mean()


class NormalizedNegativeFocalLoss(nn.Module):
    """NNFL = 1 - (A - FL_y) / sum_k (A - FL_k) with FL_k = -(1 - p_k)^gamma log p_k, log p
    clamped at log(1e-7) and A = -(1 - 1e-7)^gamma log(1e-7), the largest FL_k
    (ANL's ``NormalizedNegativeFocalLoss``). The focal weights are detached; the normaliser
    keeps its gradient through log p, as coded.
    """

    def __init__(self, num_classes: int, gamma: float = 0.5, min_prob: float = ANL_MIN_PROB,
                 scale: float = 1.0):
        super().__init__()
        self.num_classes, self.gamma, self.min_prob, self.scale = num_classes, gamma, min_prob, scale

    def forward(self, logits, y):
        log_min = torch.log(torch.tensor(self.min_prob, dtype=logits.dtype, device=logits.device))
        big_a = -((1 - self.min_prob) ** self.gamma) * log_min
        logp = F.log_softmax(logits, dim=1).clamp(min=log_min)
        fl = -((1 - logp.detach().exp()) ** self.gamma) * logp
        fl_y = fl.gather(1, y[:, None]).squeeze(1)
        nnfl = 1.0 - (big_a - fl_y) / (self.num_classes * big_a - fl.sum(dim=1))
        return self.scale * nnfl.mean()


def l1_penalty(model: nn.Module) -> torch.Tensor:
    """||theta||_1: the sum of |parameter| over *all* parameters of the model (biases and
    normalisation layers included), ANL's ``sum(p.abs().sum() for p in model.parameters())``."""
    return sum(p.abs().sum() for p in model.parameters())


def batch_entropy_regulariser(logits, min_prob: float = ANL_MIN_PROB):
    """log K - H(mean prediction of the batch) >= 0 (ANL-CE-ER's ``entropy_reg``): small when
    the batch's predictions spread over all classes, large when they pile on a few."""
    prob = F.softmax(logits, dim=1).clamp(min=min_prob, max=1 - min_prob)
    prob_class = (prob.sum(dim=0) / prob.sum()).clamp(min=min_prob, max=1 - min_prob)
    return math.log(logits.shape[1]) + (prob_class * prob_class.log()).sum()


class ActiveNegativeLoss(Combined):
    """ANL = alpha * active + beta * negative + delta * ||theta||_1 (+ lamb * entropy
    regulariser in ANL-CE-ER). With any passive loss in place of the negative one it is an APL
    pair with ANL's penalty (the ablations). ``forward`` needs the model when delta != 0."""

    def __init__(self, first: nn.Module, second: nn.Module, alpha: float, beta: float,
                 delta: float = 0.0, lamb: float = 0.0, min_prob: float = ANL_MIN_PROB):
        super().__init__(first, second, alpha, beta)
        self.delta, self.lamb, self.min_prob = delta, lamb, min_prob

    @property
    def needs_model(self) -> bool:
        return self.delta != 0

    def forward(self, logits, y, model: nn.Module | None = None):
        loss = super().forward(logits, y)
        if self.delta:
            if model is None:
                raise ValueError("this loss has an L1 penalty (delta != 0): call it as loss(logits, y, model)")
            loss = loss + self.delta * l1_penalty(model)
        if self.lamb:
            loss = loss + self.lamb * batch_entropy_regulariser(logits, self.min_prob)
        return loss


SINGLE = {
    "CE": CrossEntropy, "FL": FocalLoss, "MAE": MeanAbsoluteError, "RCE": ReverseCrossEntropy,
    "GCE": GeneralizedCrossEntropy, "NCE": NormalizedCrossEntropy, "NFL": NormalizedFocalLoss,
    "NNCE": NormalizedNegativeCrossEntropy, "NNFL": NormalizedNegativeFocalLoss,
}
GAMMA_LOSSES = ("FL", "NFL", "NNFL")
PENALTIES = ("delta", "lamb")  # ANL's L1 weight and ANL-CE-ER's entropy weight


def build_loss(name: str, num_classes: int, params: dict | None = None) -> nn.Module:
    """A loss by name. ``params``: ``scale`` (single losses), ``alpha``/``beta`` (pairs and ANL),
    ``gamma`` (focal family), ``q`` (GCE), ``min_prob`` (NNCE/NNFL), ``delta`` (L1 penalty) and
    ``lamb`` (entropy regulariser, ANL-CE-ER; default 2 as in the official config). A pair given
    ``delta`` or ``lamb`` becomes an :class:`ActiveNegativeLoss` with that passive loss."""
    params = dict(params or {})
    alpha, beta = params.get("alpha", 1.0), params.get("beta", 1.0)
    if name in ANL:
        a, b = ANL[name]
        min_prob = params.get("min_prob", ANL_MIN_PROB)
        negative = {"min_prob": min_prob}
        if b == "NNFL":
            negative["gamma"] = params.get("gamma", 0.5)
        if name == "ANL-CE-ER":
            negative["max_prob"] = 1 - min_prob
        active = build_loss(a, num_classes, {k: v for k, v in params.items() if k == "gamma"})
        return ActiveNegativeLoss(active, SINGLE[b](num_classes, **negative), alpha, beta,
                                  params.get("delta", 0.0),
                                  params.get("lamb", 2.0) if name == "ANL-CE-ER" else 0.0, min_prob)
    if name in PAIRS:
        a, b = PAIRS[name]
        first = build_loss(a, num_classes, {k: v for k, v in params.items() if k in ("gamma",)})
        second = build_loss(b, num_classes)
        if any(params.get(k) for k in PENALTIES):
            return ActiveNegativeLoss(first, second, alpha, beta, params.get("delta", 0.0),
                                      params.get("lamb", 0.0))
        return Combined(first, second, alpha, beta)
    if name not in SINGLE:
        raise KeyError(f"unknown loss '{name}'; choose one of {', '.join(LOSS_NAMES)}")
    kwargs = {"scale": params.get("scale", 1.0)}
    if name in GAMMA_LOSSES:
        kwargs["gamma"] = params.get("gamma", 0.5)
    if name in ("NNCE", "NNFL"):
        kwargs["min_prob"] = params.get("min_prob", ANL_MIN_PROB)
    if name == "GCE":
        kwargs["q"] = params.get("q", 0.7)
    return SINGLE[name](num_classes, **kwargs)

