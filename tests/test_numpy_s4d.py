"""The NumPy S4D (SSM bonus): hand-written backward vs PyTorch autograd and finite differences."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from saidl.ssm import numpy_s4d as ns

B, L, D_IN, H, D_STATE, N_LAYERS, N_CLASSES = 3, 16, 1, 4, 6, 2, 5   # N2 = 3 modes


def _tiny(dtype=np.float64, seed=0):
    params = ns.init_params(D_IN, H, N_LAYERS, D_STATE, N_CLASSES, seed=seed, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    # move every parameter off its structured init so no gradient term vanishes by symmetry
    for k in params:
        params[k] = (params[k] + 0.1 * rng.standard_normal(params[k].shape)).astype(dtype)
    x = rng.standard_normal((B, L, D_IN)).astype(dtype)
    y = rng.integers(0, N_CLASSES, B)
    return params, x, y


def _torch_loss(tp, x, y, L):
    """Functional PyTorch re-implementation of exactly the NumPy forward (float64)."""
    import torch
    import torch.nn.functional as F

    u = torch.einsum("bli,ih->bhl", x, tp["enc.W"]) + tp["enc.b"][:, None]
    n = 2 * L
    i = 0
    while f"layers.{i}.log_dt" in tp:
        pre = f"layers.{i}."
        dt = torch.exp(tp[pre + "log_dt"])
        A = -torch.exp(tp[pre + "log_A_real"]) + 1j * tp[pre + "A_imag"]
        C = tp[pre + "C_re"] + 1j * tp[pre + "C_im"]
        dtA = A * dt[:, None]
        Cp = C * (torch.exp(dtA) - 1.0) / A
        V = torch.exp(dtA[:, :, None] * torch.arange(L, dtype=torch.float64))
        K = 2 * torch.einsum("hn,hnl->hl", Cp, V).real
        yk = torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(K, n=n), n=n)[..., :L]
        yk = yk + tp[pre + "D"][:, None] * u
        g = F.gelu(yk, approximate="tanh")
        z = torch.einsum("bhl,hk->bkl", g, tp[pre + "W"]) + tp[pre + "b"][:, None]
        u = u + z
        i += 1
    logits = u.mean(-1) @ tp["dec.W"] + tp["dec.b"]
    return F.cross_entropy(logits, y)


def test_numpy_gradients_match_pytorch_autograd():
    torch = pytest.importorskip("torch")
    params, x, y = _tiny()
    loss, cache = ns.forward(params, x, y)
    grads = ns.backward(params, cache)
    assert set(grads) == set(params)

    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    t_loss = _torch_loss(tp, torch.tensor(x), torch.tensor(y), L)
    t_loss.backward()
    assert abs(loss - t_loss.item()) < 1e-12 * max(1.0, abs(loss))
    for k, v in params.items():
        g_t = tp[k].grad.numpy()
        assert g_t.shape == grads[k].shape == v.shape, k
        rel = np.linalg.norm(grads[k] - g_t) / max(np.linalg.norm(g_t), 1e-300)
        assert np.linalg.norm(g_t) > 0, k
        assert rel < 1e-6, f"{k}: relative error {rel:.2e}"


def test_numpy_gradients_match_finite_differences():
    params, x, y = _tiny(seed=1)
    _, cache = ns.forward(params, x, y)
    grads = ns.backward(params, cache)
    rng = np.random.default_rng(7)
    h = 1e-6
    for k, v in params.items():
        flat = v.reshape(-1)
        for j in rng.choice(flat.size, size=min(3, flat.size), replace=False):
            old = flat[j]
            flat[j] = old + h
            lp, _ = ns.forward(params, x, y)
            flat[j] = old - h
            lm, _ = ns.forward(params, x, y)
            flat[j] = old
            fd = (lp - lm) / (2 * h)
            an = grads[k].reshape(-1)[j]
            err = abs(fd - an) / max(abs(fd), abs(an), 1e-4)
            assert err < 1e-5, f"{k}[{j}]: analytic {an:.6e}, finite difference {fd:.6e}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_training_reduces_loss(dtype):
    # class c: a sinusoid of frequency (c + 1) plus noise; 3 classes
    rng = np.random.default_rng(0)
    n, length = 48, 32
    y = rng.integers(0, 3, n)
    t = np.arange(length)
    x = np.sin(2 * math.pi * (y[:, None] + 1) * t / length) + 0.3 * rng.standard_normal((n, length))
    x = x[:, :, None].astype(dtype)
    params = ns.init_params(1, 8, 1, 8, 3, seed=0, dtype=dtype)
    opt = ns.Adam(params, lr=1e-2, ssm_lr=1e-3)
    first, _ = ns.forward(params, x, y)
    for _ in range(40):
        loss, cache = ns.forward(params, x, y)
        grads = ns.backward(params, cache)
        assert all(g.dtype == np.dtype(dtype) for g in grads.values())
        opt.step(params, grads)
    last, _ = ns.forward(params, x, y)
    assert all(p.dtype == np.dtype(dtype) for p in params.values())
    assert last < 0.7 * first, (first, last)

    hist = ns.train(x[:32], y[:32], x[32:], y[32:], d_model=8, n_layers=1, d_state=8, epochs=3,
                    batch_size=8, lr=1e-2, ssm_lr=1e-3, seed=0, dtype=dtype, progress=False)
    assert len(hist["train_loss"]) == len(hist["test_acc"]) == len(hist["epoch_time_s"]) == 3
    assert hist["train_loss"][-1] < hist["train_loss"][0]


def test_adam_param_groups():
    params = ns.init_params(1, 4, 1, 4, 2, dtype=np.float64)
    opt = ns.Adam(params, lr=1e-2, weight_decay=0.1, ssm_lr=1e-3)
    for name in ("layers.0.log_dt", "layers.0.log_A_real", "layers.0.A_imag"):
        assert opt.hyper[name] == {"lr": 1e-3, "weight_decay": 0.0}
    for name in ("layers.0.C_re", "layers.0.D", "layers.0.W", "enc.W", "dec.b"):
        assert opt.hyper[name] == {"lr": 1e-2, "weight_decay": 0.1}


def test_module_uses_numpy_only():
    src = Path(ns.__file__).read_text()
    assert not re.search(r"^\s*(import\s+torch|from\s+torch\b)", src, re.MULTILINE)
    assert "import torch" not in src


def test_float32_gradients_close_to_float64():
    params, x, y = _tiny(seed=2)
    loss64, c64 = ns.forward(params, x, y)
    g64 = ns.backward(params, c64)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    loss32, c32 = ns.forward(p32, x.astype(np.float32), y)
    g32 = ns.backward(p32, c32)
    assert abs(loss32 - loss64) < 1e-5
    for k in params:
        assert g32[k].dtype == np.float32
        assert np.linalg.norm(g32[k] - g64[k]) <= 1e-3 * np.linalg.norm(g64[k]) + 1e-7, k
