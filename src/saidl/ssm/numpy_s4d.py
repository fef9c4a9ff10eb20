"""An S4D sequence classifier in NumPy only: forward, hand-written backward, Adam, training loop.

This is the SSM bonus ("re-do the question using only numpy"). Nothing here imports torch; the
tests check the backward pass against PyTorch autograd and against finite differences.

Why S4D and not S4
------------------
S4D's kernel is a Vandermonde product, ``K[h, l] = 2 Re sum_n C'_n exp(dt A_n l)``, so every
derivative (w.r.t. ``log_dt``, ``A``, ``C``) is a closed-form sum over ``l`` of the same
Vandermonde matrix weighted by the upstream gradient. S4's DPLR kernel goes through Cauchy sums,
a rank-1 Woodbury inverse and the FFT nodes of a resolvent; its hand-written backward would need
derivatives through ``1 / (1 + r_QP)`` and the bilinear map of every node, for no gain here.

Model (shapes; B batch, L length, H = d_model, N2 = d_state // 2 modes, K classes)
------------------------------------------------------------------------------------
Activations are kept as (B, H, L) so that the FFT runs along the last, contiguous axis::

    u0            = x @ enc.W + enc.b                                 x (B, L, d_in) -> (B, H, L)
    per layer i (prefix ``layers.{i}.``):
      dt          = exp(log_dt)                                       (H,)
      A           = -exp(log_A_real) + i A_imag                       (H, N2)
      C'          = (C_re + i C_im) * (exp(dt A) - 1) / A             ZOH, B folded into C
      K[h, l]     = 2 Re sum_n C'[h, n] exp(dt A[h, n] l)             (H, L)
      y           = irfft(rfft(u, 2L) * rfft(K, 2L), 2L)[..., :L] + D u   causal, zero-padded
      g           = GELU_tanh(y)
      u          <- u + W^T g + b                                     pointwise linear, residual
    p             = mean_l u                                           (B, H)
    logits        = p @ dec.W + dec.b                                  (B, K)
    loss          = mean_b cross_entropy(logits, labels)

Simplifications against ``state-spaces/s4`` ``example.py`` (documented on purpose): no
LayerNorm (post-norm would add a long but routine backward), no dropout, a plain pointwise
Linear(H -> H) instead of Conv1d(H -> 2H) + GLU, and GELU in its tanh form because NumPy has no
``erf`` (the PyTorch reference in the tests uses ``F.gelu(approximate='tanh')``).

Gradients of the complex kernel use ordinary real calculus: every complex quantity is a
holomorphic function ``Z(w)`` of a complex variable ``w = a + i b``, and for a real loss that
only sees ``Re Z`` the chain rule gives ``d Re Z / d a = Re Z'(w)`` and ``d Re Z / d b = -Im Z'(w)``
(Cauchy-Riemann), so one complex "derivative sum" per variable yields both real gradients.

Public API: :func:`init_params`, :func:`forward`, :func:`backward`, :func:`predict_logits`,
:func:`evaluate`, :class:`Adam`, :func:`train`, :func:`fashion_mnist_sequences`.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import numpy as np

__all__ = [
    "SSM_PARAM_NAMES",
    "init_params",
    "ssm_kernel",
    "forward",
    "backward",
    "predict_logits",
    "evaluate",
    "Adam",
    "train",
    "fashion_mnist_sequences",
]

#: Parameter names (suffixes) that form the "SSM" optimiser group: lr 1e-3 and no weight decay,
#: as ``S4DKernel.register(..., lr)`` in state-spaces/s4 ``models/s4/s4d.py`` does.
SSM_PARAM_NAMES = ("log_dt", "log_A_real", "A_imag")

_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_K = 0.044715


def _complex_dtype(dtype) -> np.dtype:
    return np.result_type(np.dtype(dtype), np.complex64)


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------

def init_params(d_in: int, d_model: int, n_layers: int, d_state: int, n_classes: int, *,
                seed: int = 0, dtype=np.float64, dt_min: float = 1e-3,
                dt_max: float = 1e-1) -> dict[str, np.ndarray]:
    """S4D-Lin initialisation; returns a flat dict ``name -> float array`` of ``dtype``.

    ``d_state`` is the full state size N; the layer keeps ``N2 = d_state // 2`` conjugate-pair
    modes (as ``s4d.py``). ``log_A_real = log 0.5``, ``A_imag = pi n``, ``C`` complex normal
    (each part N(0, 1/2)), ``log_dt`` uniform in ``[log dt_min, log dt_max]``, ``D`` normal,
    linear layers uniform in ``+-1/sqrt(fan_in)`` (weights and biases, PyTorch's default).
    """
    if d_state < 2 or d_state % 2:
        raise ValueError(f"d_state must be even and >= 2, got {d_state}")
    rng = np.random.default_rng(seed)
    n2 = d_state // 2
    dtype = np.dtype(dtype)

    def linear(fan_in, fan_out):
        bound = 1.0 / math.sqrt(fan_in)
        return (rng.uniform(-bound, bound, (fan_in, fan_out)), rng.uniform(-bound, bound, fan_out))

    p: dict[str, np.ndarray] = {}
    p["enc.W"], p["enc.b"] = linear(d_in, d_model)
    for i in range(n_layers):
        pre = f"layers.{i}."
        p[pre + "log_dt"] = rng.uniform(math.log(dt_min), math.log(dt_max), d_model)
        p[pre + "log_A_real"] = np.full((d_model, n2), math.log(0.5))
        p[pre + "A_imag"] = np.tile(math.pi * np.arange(n2), (d_model, 1))
        p[pre + "C_re"] = rng.standard_normal((d_model, n2)) * math.sqrt(0.5)
        p[pre + "C_im"] = rng.standard_normal((d_model, n2)) * math.sqrt(0.5)
        p[pre + "D"] = rng.standard_normal(d_model)
        p[pre + "W"], p[pre + "b"] = linear(d_model, d_model)
    p["dec.W"], p["dec.b"] = linear(d_model, n_classes)
    return {k: np.ascontiguousarray(v, dtype=dtype) for k, v in p.items()}


def _n_layers(params: dict[str, np.ndarray]) -> int:
    n = 0
    while f"layers.{n}.log_dt" in params:
        n += 1
    return n


# ---------------------------------------------------------------------------------------------
# S4D kernel (ZOH) and its backward
# ---------------------------------------------------------------------------------------------

def ssm_kernel(log_dt, log_A_real, A_imag, C_re, C_im, L: int):
    """ZOH S4D convolution kernel ``K`` (H, L) and the intermediates its backward needs."""
    cdt = _complex_dtype(log_dt.dtype)
    dt = np.exp(log_dt)                                            # (H,)
    A = (-np.exp(log_A_real) + 1j * A_imag).astype(cdt)           # (H, N2)
    C = (C_re + 1j * C_im).astype(cdt)
    dtA = dt[:, None] * A
    E = np.exp(dtA)                                                # exp(dt A)
    F = (E - 1.0) / A                                              # ZOH factor
    Cp = C * F                                                     # C'
    ell = np.arange(L, dtype=log_dt.dtype)
    V = np.exp(dtA[:, :, None] * ell)                              # Vandermonde (H, N2, L)
    K = 2.0 * np.einsum("hn,hnl->hl", Cp, V).real
    cache = dict(dt=dt, A=A, C=C, E=E, F=F, Cp=Cp, V=V, ell=ell)
    return np.ascontiguousarray(K, dtype=log_dt.dtype), cache


def _ssm_kernel_backward(dK, log_A_real, kc) -> dict[str, np.ndarray]:
    """Gradients of ``sum(dK * K)`` w.r.t. log_dt, log_A_real, A_imag, C_re, C_im.

    With ``S_l = sum_n C'_n V_nl`` and ``K = 2 Re S``, define the weighted Vandermonde sums
    ``M0_n = sum_l 2 dK_l V_nl`` and ``M1_n = sum_l 2 dK_l l V_nl``. Then (holomorphic
    derivatives, see the module docstring for the Re/Im rule):

    * ``dS/dC``  -> ``G_C = F M0``                       grad C_re = Re G_C,  C_im = -Im G_C
    * ``dS/dA``  -> ``G_A = C F' M0 + C' dt M1`` with ``F' = (dt E - F) / A``;
      ``Re A = -exp(log_A_real)``: grad log_A_real = -exp(log_A_real) Re G_A, A_imag = -Im G_A
    * ``dS/d dt`` (dt real) -> ``sum_n C E M0 + C' A M1``; grad log_dt = dt Re(...).
    """
    dt, A, C, E, F, Cp, V, ell = (kc[k] for k in ("dt", "A", "C", "E", "F", "Cp", "V", "ell"))
    W0 = 2.0 * dK                                                  # (H, L) real
    M0 = np.einsum("hl,hnl->hn", W0, V)
    M1 = np.einsum("hl,hnl->hn", W0 * ell, V)
    G_C = F * M0
    dF = (dt[:, None] * E - F) / A
    G_A = C * dF * M0 + Cp * dt[:, None] * M1
    g_dt = (C * E * M0 + Cp * A * M1).real.sum(axis=1)
    rdt = dK.dtype
    return {
        "C_re": G_C.real.astype(rdt),
        "C_im": (-G_C.imag).astype(rdt),
        "log_A_real": (-np.exp(log_A_real) * G_A.real).astype(rdt),
        "A_imag": (-G_A.imag).astype(rdt),
        "log_dt": (dt * g_dt).astype(rdt),
    }


# ---------------------------------------------------------------------------------------------
# Forward / backward
# ---------------------------------------------------------------------------------------------

def _gelu(y):
    t = np.tanh(_GELU_C * (y + _GELU_K * (y * y * y)))  # not y ** 3: ~50x slower
    return 0.5 * y * (1.0 + t), t


def _gelu_grad(y, t):
    return 0.5 * (1.0 + t) + 0.5 * y * (1.0 - t * t) * _GELU_C * (1.0 + 3.0 * _GELU_K * y * y)


def _kernel_ffts(params, L: int) -> list[np.ndarray]:
    """Each layer's rfft(K, 2L), as :func:`_forward_features` computes it."""
    out = []
    for i in range(_n_layers(params)):
        pre = f"layers.{i}."
        K, _ = ssm_kernel(params[pre + "log_dt"], params[pre + "log_A_real"],
                          params[pre + "A_imag"], params[pre + "C_re"], params[pre + "C_im"], L)
        out.append(np.fft.rfft(K, n=2 * L, axis=-1))
    return out


def _forward_features(params, x, keep: bool, kernel_ffts: list[np.ndarray] | None = None):
    """Encoder and S4D blocks; returns the final activations (B, H, L) and the layer caches.
    ``kernel_ffts`` (from :func:`_kernel_ffts`, no backward then) saves recomputing the kernels
    when many batches go through the same parameters."""
    x = np.asarray(x, dtype=params["enc.W"].dtype)
    if x.ndim == 2:
        x = x[:, :, None]
    B, L, _ = x.shape
    n = 2 * L
    u = np.einsum("bli,ih->bhl", x, params["enc.W"], optimize=True) + params["enc.b"][:, None]
    u = np.ascontiguousarray(u)
    layers = []
    for i in range(_n_layers(params)):
        pre = f"layers.{i}."
        if kernel_ffts is None:
            K, kc = ssm_kernel(params[pre + "log_dt"], params[pre + "log_A_real"],
                               params[pre + "A_imag"], params[pre + "C_re"], params[pre + "C_im"], L)
            Uf = np.fft.rfft(u, n=n, axis=-1)
            Kf = np.fft.rfft(K, n=n, axis=-1)
        else:
            kc, Uf, Kf = None, np.fft.rfft(u, n=n, axis=-1), kernel_ffts[i]
        y = np.fft.irfft(Uf * Kf, n=n, axis=-1)[..., :L] + params[pre + "D"][:, None] * u
        g, t = _gelu(y)
        z = np.matmul(params[pre + "W"].T, g) + params[pre + "b"][:, None]
        if keep:
            layers.append(dict(u=u, Uf=Uf, Kf=Kf, kc=kc, y=y, t=t, g=g))
        u = u + z
    return u, layers, x


def predict_logits(params: dict[str, np.ndarray], x: np.ndarray,
                   batch_size: int = 256) -> np.ndarray:
    """Logits (N, K) for inputs (N, L, d_in) or (N, L), in chunks of ``batch_size``."""
    out = []
    kernel_ffts = _kernel_ffts(params, np.shape(x)[1]) if len(x) else None  # once, not per batch
    for s in range(0, len(x), batch_size):
        u, _, _ = _forward_features(params, x[s:s + batch_size], keep=False, kernel_ffts=kernel_ffts)
        out.append(u.mean(axis=-1) @ params["dec.W"] + params["dec.b"])
    return np.concatenate(out)


def _cross_entropy(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(y)), y].mean(), np.exp(logp)


def forward(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray):
    """Mean cross-entropy loss on (x, y) and the cache :func:`backward` needs.

    ``x`` is (B, L, d_in) (or (B, L) for one feature); ``y`` integer labels (B,).
    """
    y = np.asarray(y, dtype=np.int64)
    u, layers, x = _forward_features(params, x, keep=True)
    p = u.mean(axis=-1)                                             # (B, H)
    logits = p @ params["dec.W"] + params["dec.b"]
    loss, probs = _cross_entropy(logits, y)
    cache = dict(x=x, y=y, layers=layers, p=p, probs=probs, L=x.shape[1])
    return float(loss), cache


def backward(params: dict[str, np.ndarray], cache: dict[str, Any]) -> dict[str, np.ndarray]:
    """Hand-written gradients of the mean cross-entropy w.r.t. every entry of ``params``."""
    x, y, p, probs, L = cache["x"], cache["y"], cache["p"], cache["probs"], cache["L"]
    B = len(y)
    n = 2 * L
    grads: dict[str, np.ndarray] = {}

    dlogits = probs.copy()
    dlogits[np.arange(B), y] -= 1.0
    dlogits /= B
    grads["dec.W"] = p.T @ dlogits
    grads["dec.b"] = dlogits.sum(axis=0)
    dp = dlogits @ params["dec.W"].T                                 # (B, H)
    du = np.broadcast_to((dp / L)[:, :, None], (B, dp.shape[1], L)).copy()  # mean-pool

    for i in reversed(range(len(cache["layers"]))):
        pre = f"layers.{i}."
        lc = cache["layers"][i]
        dz = du                                                      # residual: u_next = u + z
        grads[pre + "W"] = np.einsum("bhl,bkl->hk", lc["g"], dz, optimize=True)
        grads[pre + "b"] = dz.sum(axis=(0, 2))
        dg = np.matmul(params[pre + "W"], dz)                         # (B, H, L)
        dy = dg * _gelu_grad(lc["y"], lc["t"])
        u = lc["u"]
        grads[pre + "D"] = (dy * u).sum(axis=(0, 2))
        # causal conv y_t = sum_s K_s u_{t-s}: both gradients are correlations, done by FFT
        dYf = np.fft.rfft(dy, n=n, axis=-1)
        du_conv = np.fft.irfft(np.conj(lc["Kf"]) * dYf, n=n, axis=-1)[..., :L]
        dK = np.fft.irfft((np.conj(lc["Uf"]) * dYf).sum(axis=0), n=n, axis=-1)[..., :L]
        kg = _ssm_kernel_backward(np.ascontiguousarray(dK), params[pre + "log_A_real"], lc["kc"])
        for k, v in kg.items():
            grads[pre + k] = v
        du = du + du_conv + params[pre + "D"][:, None] * dy

    grads["enc.W"] = np.einsum("bli,bhl->ih", x, du, optimize=True)
    grads["enc.b"] = du.sum(axis=(0, 2))
    return {k: np.ascontiguousarray(v, dtype=params[k].dtype) for k, v in grads.items()}


# ---------------------------------------------------------------------------------------------
# Optimiser
# ---------------------------------------------------------------------------------------------

class Adam:
    """Adam with optional decoupled weight decay (AdamW) and per-name parameter groups.

    ``groups`` maps a parameter-name suffix (e.g. ``"log_dt"``) to overrides
    ``{"lr": ..., "weight_decay": ...}``; by default the SSM parameters
    (:data:`SSM_PARAM_NAMES`) get ``lr=ssm_lr`` and no weight decay, like the reference
    protocol. :meth:`step` updates ``params`` in place; ``lr_scale`` multiplies every group's lr
    (for a schedule).
    """

    def __init__(self, params: dict[str, np.ndarray], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, ssm_lr: float | None = 1e-3,
                 groups: dict[str, dict[str, float]] | None = None):
        if groups is None:
            groups = {} if ssm_lr is None else {
                s: {"lr": ssm_lr, "weight_decay": 0.0} for s in SSM_PARAM_NAMES}
        self.betas, self.eps, self.t = betas, eps, 0
        self.hyper: dict[str, dict[str, float]] = {}
        for name in params:
            h = {"lr": lr, "weight_decay": weight_decay}
            for suffix, over in groups.items():
                if name == suffix or name.endswith("." + suffix):
                    h.update(over)
            self.hyper[name] = h
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
             lr_scale: float = 1.0) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1.0 - b1 ** self.t, 1.0 - b2 ** self.t
        for k, w in params.items():
            g = grads[k]
            h = self.hyper[k]
            lr = h["lr"] * lr_scale
            m, v = self.m[k], self.v[k]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * g * g
            if h["weight_decay"]:
                w *= 1.0 - lr * h["weight_decay"]
            w -= (lr / c1) * m / (np.sqrt(v / c2) + self.eps)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------

def evaluate(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray,
             batch_size: int = 256) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on (x, y)."""
    logits = predict_logits(params, x, batch_size)
    loss, _ = _cross_entropy(logits.astype(np.float64), np.asarray(y, np.int64))
    return float(loss), float((logits.argmax(axis=1) == y).mean())


def train(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, *,
          d_model: int = 32, n_layers: int = 2, d_state: int = 16, epochs: int = 5,
          batch_size: int = 32, lr: float = 3e-2, ssm_lr: float = 1e-3, seed: int = 0,
          weight_decay: float = 0.01, schedule: str = "cosine", dtype=np.float32,
          n_classes: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Train the NumPy S4D classifier with Adam(W) and report per-epoch metrics.

    ``x_*`` are (N, L, d_in) or (N, L) float arrays, ``y_*`` integer labels. ``schedule`` is
    ``"cosine"`` (per-step cosine decay to 0, like CosineAnnealingLR) or ``"constant"``.
    Returns a dict with lists ``train_loss`` (mean over the epoch's steps), ``test_loss``,
    ``test_acc``, ``epoch_time_s`` (training steps only) and ``eval_time_s``, plus ``params``
    (the final parameters), ``n_params`` and ``config``.
    """
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule must be 'cosine' or 'constant', got {schedule!r}")
    x_train = np.asarray(x_train, dtype=dtype)
    x_test = np.asarray(x_test, dtype=dtype)
    if x_train.ndim == 2:
        x_train, x_test = x_train[:, :, None], x_test[:, :, None]
    y_train = np.asarray(y_train, np.int64)
    y_test = np.asarray(y_test, np.int64)
    if n_classes is None:
        n_classes = int(max(y_train.max(), y_test.max())) + 1
    params = init_params(x_train.shape[2], d_model, n_layers, d_state, n_classes, seed=seed,
                         dtype=dtype)
    opt = Adam(params, lr=lr, weight_decay=weight_decay, ssm_lr=ssm_lr)
    rng = np.random.default_rng(seed + 1)
    n = len(x_train)
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    hist: dict[str, Any] = {"train_loss": [], "test_loss": [], "test_acc": [],
                            "epoch_time_s": [], "eval_time_s": []}
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, desc="numpy-s4d", file=sys.stderr, dynamic_ncols=True)
    step = 0
    for epoch in range(epochs):
        t0 = time.perf_counter()
        perm = rng.permutation(n)
        losses = []
        for s in range(0, n, batch_size):
            idx = perm[s:s + batch_size]
            loss, cache = forward(params, x_train[idx], y_train[idx])
            if not np.isfinite(loss):
                raise FloatingPointError(f"loss became {loss} at epoch {epoch}, step {step}")
            grads = backward(params, cache)
            scale = 0.5 * (1.0 + math.cos(math.pi * step / total)) if schedule == "cosine" else 1.0
            opt.step(params, grads, lr_scale=scale)
            losses.append(loss)
            step += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.3f}")
        hist["epoch_time_s"].append(time.perf_counter() - t0)
        hist["train_loss"].append(float(np.mean(losses)))
        t1 = time.perf_counter()
        te_loss, te_acc = evaluate(params, x_test, y_test)
        hist["eval_time_s"].append(time.perf_counter() - t1)
        hist["test_loss"].append(te_loss)
        hist["test_acc"].append(te_acc)
        if bar is not None:
            bar.write(f"epoch {epoch + 1}/{epochs}: train loss {hist['train_loss'][-1]:.4f}, "
                      f"test acc {te_acc:.4f}, {hist['epoch_time_s'][-1]:.1f} s/epoch",
                      file=sys.stderr)
    if bar is not None:
        bar.close()
    hist["params"] = params
    hist["n_params"] = int(sum(v.size for v in params.values()))
    hist["config"] = dict(d_model=d_model, n_layers=n_layers, d_state=d_state, epochs=epochs,
                          batch_size=batch_size, lr=lr, ssm_lr=ssm_lr, seed=seed,
                          weight_decay=weight_decay, schedule=schedule,
                          dtype=np.dtype(dtype).name, n_train=n, n_test=len(x_test))
    return hist


def fashion_mnist_sequences(n_train: int = 1000, n_test: int = 500, seed: int = 0,
                            dtype=np.float32):
    """Fashion-MNIST as (N, 784, 1) pixel sequences, /255 then normalised (mean 0.2860, std
    0.3530); a seeded random subset of ``n_train`` training and ``n_test`` test images."""
    from saidl.common.datasets import NORMALISE, load_fashion_mnist  # NumPy only, imported lazily

    arrays = load_fashion_mnist()
    (mean,), (std,) = NORMALISE["fashion_mnist"]
    rng = np.random.default_rng(seed)

    def prep(x, y, k):
        idx = np.sort(rng.permutation(len(x))[:k])
        seq = (x[idx].reshape(len(idx), -1, 1).astype(np.float64) / 255.0 - mean) / std
        return seq.astype(dtype), y[idx].astype(np.int64)

    x_tr, y_tr = prep(arrays.x_train, arrays.y_train, n_train)
    x_te, y_te = prep(arrays.x_test, arrays.y_test, n_test)
    return x_tr, y_tr, x_te, y_te


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """``python -m saidl.ssm.numpy_s4d``: train on a Fashion-MNIST subset and print a summary."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument("--d-model", type=int, default=32)
    ap.add_argument("--n-layers", type=int, default=2)
    ap.add_argument("--d-state", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-2)
    ap.add_argument("--ssm-lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--schedule", choices=("cosine", "constant"), default="cosine")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    data = fashion_mnist_sequences(a.n_train, a.n_test, a.seed, dtype=a.dtype)
    hist = train(*data, d_model=a.d_model, n_layers=a.n_layers, d_state=a.d_state,
                 epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, ssm_lr=a.ssm_lr,
                 seed=a.seed, weight_decay=a.weight_decay, schedule=a.schedule, dtype=a.dtype,
                 n_classes=10)
    summary = {k: v for k, v in hist.items() if k != "params"}
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
