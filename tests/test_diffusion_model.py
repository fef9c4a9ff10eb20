"""DiT model and attention backends: exact properties (adaLN-Zero, patchify, masks), backend
agreement, classifier-free guidance, config errors and a tiny training run."""

from __future__ import annotations

import pytest
import torch

from saidl.common.errors import ConfigError
from saidl.diffusion.attention import (BACKENDS, DENSE_MASK_MAX_TOKENS, Attention, BackendUnavailable,
                                       attention, available_backends, masked_sliding_attention,
                                       sliding_attention, sliding_window_mask)
from saidl.diffusion.dit import DIT_CONFIGS, DiT, dit_from_config, patchify, unpatchify

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(input_size=8, patch_size=2, in_channels=4, hidden_size=32, depth=2, num_heads=4, num_classes=5)


def _qkv(B=2, h=3, N=20, D=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, h, N, D, generator=g) for _ in range(3)]


def _randomise(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every parameter random values (so the zero-initialised parts stop hiding bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


# ----------------------------------------------------------------------------- patchify

@pytest.mark.parametrize("p,C,H,W", [(1, 4, 8, 8), (2, 4, 8, 8), (4, 3, 8, 12), (2, 8, 6, 4)])
def test_patchify_unpatchify_round_trip(p, C, H, W):
    x = torch.randn(2, C, H, W)
    tokens = patchify(x, p)
    assert tokens.shape == (2, (H // p) * (W // p), p * p * C)
    assert torch.equal(unpatchify(tokens, p, C, (H // p, W // p)), x)
    # token t holds exactly the pixels of patch (t // w, t % w)
    w = W // p
    t = tokens.shape[1] - 1
    r, c = divmod(t, w)
    patch = x[0, :, r * p:(r + 1) * p, c * p:(c + 1) * p]              # (C, p, p)
    assert torch.equal(tokens[0, t], patch.permute(1, 2, 0).reshape(-1))


def test_patch_embed_tokens_match_patchify_order():
    """The conv patch embedding and unpatchify agree on the row-major token order."""
    model = DiT(**TINY)
    x = torch.randn(1, 4, 8, 8)
    conv_tokens = model.x_embedder(x)
    w = model.x_embedder.proj.weight                                     # (D, C, p, p)
    lin = patchify(x, 2) @ w.permute(0, 2, 3, 1).reshape(w.shape[0], -1).T + model.x_embedder.proj.bias
    torch.testing.assert_close(conv_tokens, lin, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------- adaLN-Zero

def test_adaln_zero_output_is_zero_and_blocks_are_identity_at_init():
    model = DiT(**TINY, learn_sigma=True)
    x, t, y = torch.randn(3, 4, 8, 8), torch.tensor([0, 500, 999]), torch.tensor([0, 4, 5])
    out = model(x, t, y)
    assert out.shape == (3, 8, 8, 8)
    assert torch.count_nonzero(out) == 0
    h = torch.randn(3, 16, 32)
    for block in model.blocks:
        c = torch.randn(3, 32)
        assert torch.equal(block(h, c), h)
    # ... and a block stops being the identity once its modulation is non-zero
    torch.nn.init.normal_(model.blocks[0].adaLN_modulation[-1].weight)
    assert not torch.allclose(model.blocks[0](h, torch.randn(3, 32)), h)


def test_named_configs():
    assert DIT_CONFIGS["DiT-XL/2"] == dict(depth=28, hidden_size=1152, num_heads=16, patch_size=2)
    assert DIT_CONFIGS["DiT-S/4"] == dict(depth=12, hidden_size=384, num_heads=6, patch_size=4)
    m = dit_from_config("DiT-S/8", depth=1, input_size=16, num_classes=3)
    assert (m.patch_size, len(m.blocks), m.grid) == (8, 1, (2, 2))
    with pytest.raises(ConfigError, match="DiT-B/2"):
        dit_from_config("DiT-Q/2")


# ----------------------------------------------------------------------------- attention backends

def test_matmul_and_sdpa_agree():
    q, k, v = _qkv()
    torch.testing.assert_close(attention(q, k, v, "matmul"), attention(q, k, v, "sdpa"), atol=1e-5, rtol=1e-5)


def test_module_backends_agree_on_same_weights():
    attn = Attention(32, 4, backend="matmul")
    attn.grid = (4, 5)
    x = torch.randn(2, 20, 32)
    ref = attn(x)
    for backend, window in [("sdpa", None), ("sliding", 4)]:
        attn.backend, attn.window = backend, window
        torch.testing.assert_close(attn(x), ref, atol=1e-5, rtol=1e-5)


def test_xformers_reported_unavailable_on_cpu():
    reasons = available_backends(torch.device("cpu"))
    assert set(reasons) == set(BACKENDS)
    assert reasons["matmul"] is None and reasons["sdpa"] is None and reasons["sliding"] is None
    assert "xformers" in reasons["xformers"] and ("CUDA" in reasons["xformers"] or "install" in reasons["xformers"])
    q, k, v = _qkv()
    with pytest.raises(BackendUnavailable, match="xformers"):
        attention(q, k, v, "xformers")


def test_xformers_matches_sdpa_on_cuda():
    pytest.importorskip("xformers.ops", reason="xformers not installed")
    if not torch.cuda.is_available():
        pytest.skip("xformers memory_efficient_attention needs a CUDA device")
    q, k, v = (t.cuda() for t in _qkv(N=64, D=16))
    torch.testing.assert_close(attention(q, k, v, "xformers"), attention(q, k, v, "sdpa"), atol=2e-3, rtol=2e-3)


def test_unknown_backend_is_a_config_error():
    q, k, v = _qkv()
    with pytest.raises(ConfigError, match="matmul.*sdpa.*xformers.*sliding"):
        attention(q, k, v, "flash")
    with pytest.raises(ConfigError):
        DiT(**TINY, attention="flash")
    with pytest.raises(ConfigError, match="window"):
        DiT(**TINY, attention="sliding")                                 # no window


# ----------------------------------------------------------------------------- sliding window

@pytest.mark.parametrize("H,W,window", [(5, 4, 1), (5, 4, 2), (3, 6, 0), (4, 4, 5)])
def test_sliding_window_mask_matches_double_loop(H, W, window):
    mask = sliding_window_mask(H, W, window)
    assert mask.shape == (H * W, H * W) and mask.dtype == torch.bool
    for i in range(H * W):
        for j in range(H * W):
            (ri, ci), (rj, cj) = divmod(i, W), divmod(j, W)
            assert mask[i, j].item() == (abs(ri - rj) <= window and abs(ci - cj) <= window), (i, j)
    assert mask.diagonal().all()                                         # every row keeps itself
    if window == 1 and (H, W) == (5, 4):
        counts = mask.sum(1).view(H, W)
        assert counts[0, 0] == 4 and counts[0, 1] == 6 and counts[2, 1] == 9   # corner, border, inside


@pytest.mark.parametrize("impl", [sliding_attention, masked_sliding_attention])
@pytest.mark.parametrize("H,W,window", [(5, 4, 1), (5, 4, 2), (3, 7, 0), (6, 6, 2)])
def test_sliding_attention_equals_dense_masked_attention(H, W, window, impl):
    q, k, v = _qkv(N=H * W, seed=H + window)
    logits = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    logits = logits.masked_fill(~sliding_window_mask(H, W, window), float("-inf"))
    ref = logits.softmax(-1) @ v
    out = impl(q, k, v, (H, W), window)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(out).all()
    # sdpa with the same boolean mask agrees too (the mask convention is True = attend)
    sdpa = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=sliding_window_mask(H, W, window))
    torch.testing.assert_close(out, sdpa, atol=1e-5, rtol=1e-5)


def test_sliding_attention_gradients_match_dense_masked_attention():
    H, W, window = 5, 4, 1
    q, k, v = (t.requires_grad_() for t in _qkv(N=H * W, seed=3))
    g = torch.randn(2, 3, H * W, 8)
    (sliding_attention(q, k, v, (H, W), window) * g).sum().backward()
    sliding_grads = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    mask = sliding_window_mask(H, W, window)
    (torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask) * g).sum().backward()
    for a, b in zip(sliding_grads, (q.grad, k.grad, v.grad)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("window", [4, 10])
def test_sliding_window_covering_grid_is_full_attention(window):
    q, k, v = _qkv(N=20)
    out = attention(q, k, v, "sliding", grid=(5, 4), window=window)
    torch.testing.assert_close(out, attention(q, k, v, "matmul"), atol=1e-5, rtol=1e-5)
    # one less than covering is not full attention
    assert not torch.allclose(attention(q, k, v, "sliding", grid=(5, 4), window=3), out, atol=1e-4)


def test_sliding_backend_uses_the_gather_form_on_large_grids(monkeypatch):
    """Above DENSE_MASK_MAX_TOKENS the backend never builds the N x N mask."""
    import saidl.diffusion.attention as A

    H = W = int(DENSE_MASK_MAX_TOKENS ** 0.5) + 1
    q, k, v = _qkv(B=1, h=1, N=H * W, D=4)
    monkeypatch.setattr(A, "masked_sliding_attention", lambda *a: pytest.fail("dense mask on a large grid"))
    torch.testing.assert_close(attention(q, k, v, "sliding", grid=(H, W), window=1),
                               sliding_attention(q, k, v, (H, W), 1))


def test_sliding_window_zero_attends_only_to_itself():
    q, k, v = _qkv(N=12)
    torch.testing.assert_close(attention(q, k, v, "sliding", grid=(3, 4), window=0), v)


def test_sliding_errors():
    q, k, v = _qkv(N=20)
    with pytest.raises(ConfigError, match="grid"):
        attention(q, k, v, "sliding", window=1)
    with pytest.raises(ConfigError, match="prefix"):
        attention(q, k, v, "sliding", grid=(5, 4), window=1, n_prefix=2)
    with pytest.raises(ConfigError):
        attention(q, k, v, "sliding", grid=(4, 4), window=1)             # 20 tokens, 16 grid cells


# ----------------------------------------------------------------------------- DiT forward / conditioning

@pytest.mark.parametrize("conditioning", ["adaln", "in_context", "cross_attn"])
@pytest.mark.parametrize("num_classes", [0, 5])
def test_forward_shapes_and_backward(conditioning, num_classes):
    model = DiT(**{**TINY, "num_classes": num_classes}, conditioning=conditioning)
    _randomise(model)
    x, t = torch.randn(3, 4, 8, 8), torch.rand(3) * 999
    y = torch.tensor([0, 2, 4]) if num_classes else None
    out = model(x, t, y)
    assert out.shape == x.shape and torch.isfinite(out).all()
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    if num_classes:                                                      # the labels matter
        model.eval()
        assert not torch.allclose(model(x, t, y), model(x, t, torch.tensor([1, 3, 0])))


@pytest.mark.parametrize("conditioning", ["adaln", "in_context", "cross_attn"])
def test_zero_output_at_init_for_every_conditioning(conditioning):
    model = DiT(**TINY, conditioning=conditioning)
    assert torch.count_nonzero(model(torch.randn(2, 4, 8, 8), torch.tensor([3, 7]), torch.tensor([1, 2]))) == 0


@pytest.mark.parametrize("conditioning", ["in_context", "cross_attn"])
def test_conditioning_tokens_are_not_in_the_output(conditioning):
    """With no blocks nothing mixes tokens: the output must be per-patch and ignore t and y, which
    fails if the in-context tokens are dropped from the wrong end."""
    model = DiT(**{**TINY, "depth": 0}, conditioning=conditioning).eval()
    _randomise(model)
    x, t, y = torch.randn(1, 4, 8, 8), torch.tensor([3]), torch.tensor([1])
    out = model(x, t, y)
    torch.testing.assert_close(model(x, torch.tensor([800]), torch.tensor([4])), out)
    x2 = x.clone()
    x2[..., :2, :2] += 1.0                                               # change patch 0 only
    changed = (model(x2, t, y) - out).abs().amax(dim=(0, 1)) > 0
    assert changed[:2, :2].all() and changed.sum() == 4


def test_learn_sigma_doubles_channels_and_sliding_model_runs():
    model = DiT(**TINY, learn_sigma=True, attention="sliding", window=1).eval()  # no random label dropout
    _randomise(model)
    x, t, y = torch.randn(2, 4, 8, 8), torch.tensor([1, 2]), torch.tensor([0, 1])
    out = model(x, t, y)
    assert out.shape == (2, 8, 8, 8)
    model.set_attention("sdpa")
    assert not torch.allclose(model(x, t, y), out, atol=1e-4)             # window 1 on a 4x4 grid is local
    model.set_attention("sliding", window=3)
    full = model(x, t, y)
    model.set_attention("matmul")
    torch.testing.assert_close(model(x, t, y), full, atol=1e-4, rtol=1e-4)


def test_sliding_only_with_adaln():
    for conditioning in ("in_context", "cross_attn"):
        with pytest.raises(ConfigError, match="normal attention"):
            DiT(**TINY, conditioning=conditioning, attention="sliding", window=1)
        model = DiT(**TINY, conditioning=conditioning)
        with pytest.raises(ConfigError):
            model.set_attention("sliding", window=1)


def test_label_dropout_uses_null_class_only_in_training():
    model = DiT(**{**TINY, "class_dropout_prob": 1.0})
    _randomise(model)
    x, t, y = torch.randn(2, 4, 8, 8), torch.tensor([5, 6]), torch.tensor([1, 3])
    null = torch.full_like(y, 5)
    model.train()
    train_out = model(x, t, y)
    model.eval()
    torch.testing.assert_close(train_out, model(x, t, null))
    assert not torch.allclose(model(x, t, y), train_out)


@pytest.mark.parametrize("conditioning", ["adaln", "cross_attn"])
@pytest.mark.parametrize("learn_sigma", [False, True])
def test_classifier_free_guidance(conditioning, learn_sigma):
    model = DiT(**TINY, conditioning=conditioning, learn_sigma=learn_sigma).eval()
    _randomise(model)
    x, t, y = torch.randn(3, 4, 8, 8), torch.tensor([10, 500, 900]), torch.tensor([0, 2, 4])
    with torch.no_grad():
        cond, uncond = model(x, t, y), model(x, t, torch.full_like(y, 5))
        tol = dict(atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(model.forward_with_cfg(x, t, y, 1.0), cond, **tol)
        s0 = model.forward_with_cfg(x, t, y, 0.0)
        torch.testing.assert_close(s0[:, :4], uncond[:, :4], **tol)
        torch.testing.assert_close(s0[:, 4:], cond[:, 4:], **tol)         # variance: conditional half
        s4 = model.forward_with_cfg(x, t, y, 4.0)
        torch.testing.assert_close(s4[:, :4], uncond[:, :4] + 4 * (cond[:, :4] - uncond[:, :4]), atol=1e-4, rtol=1e-4)
        k3 = model.forward_with_cfg(x, t, y, 4.0, guided_channels=3)
        assert k3.shape == cond.shape
        torch.testing.assert_close(k3[:, :3], s4[:, :3], **tol)
        torch.testing.assert_close(k3[:, 3:], cond[:, 3:], **tol)
        assert not torch.allclose(k3[:, 3], s4[:, 3])
    with pytest.raises(ConfigError):
        model.forward_with_cfg(x, t, y, 1.0, guided_channels=5)


def test_cfg_needs_conditional_model():
    model = DiT(**{**TINY, "num_classes": 0})
    with pytest.raises(ConfigError, match="class-conditional"):
        model.forward_with_cfg(torch.randn(1, 4, 8, 8), torch.tensor([1]), torch.tensor([0]), 2.0)


# ----------------------------------------------------------------------------- training

def test_tiny_dit_trains():
    torch.manual_seed(0)
    model = DiT(**TINY, class_dropout_prob=0.0)
    x0, y = torch.randn(16, 4, 8, 8), torch.randint(0, 5, (16,))
    t = torch.randint(0, 1000, (16,))
    target = torch.randn(16, 4, 8, 8)
    xt = 0.7 * x0 + 0.7 * target                                         # fixed noisy batch, predict the noise
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = (model(xt, t, y) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(target.square().mean().item(), rel=1e-6)   # zero output at init
    assert losses[-1] < 0.5 * losses[0]
