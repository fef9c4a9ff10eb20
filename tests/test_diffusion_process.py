"""The diffusion process (schedule, ε target, DDPM/DDIM sampling with guidance), the latent
codecs, the image sets, the job grid and resuming a DiT run, against closed forms."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO
from saidl.common.checkpoint import save_checkpoint
from saidl.common.errors import ConfigError, DataError
from saidl.diffusion.process import diffusion_loss, make_scheduler, sample_latents

pytestmark = pytest.mark.usefixtures("one_torch_thread")

T, B0, B1 = 1000, 1e-4, 0.02


@pytest.fixture(scope="module")
def task_cfg() -> dict:
    return yaml.safe_load((REPO / "tasks/diffusion/config.yaml").read_text())["diffusion"]


def closed_form_alpha_bar() -> torch.Tensor:
    """ᾱ_t = prod_{s <= t} (1 - β_s), β linear from 1e-4 to 0.02 over 1000 steps, in float64."""
    return torch.cumprod(1 - torch.linspace(B0, B1, T, dtype=torch.float64), 0)


# ----------------------------------------------------------------------------- schedule and loss

def test_schedule_matches_closed_form():
    for kind in ("ddpm", "ddim"):
        s = make_scheduler(kind)
        assert s.config.num_train_timesteps == T and s.config.prediction_type == "epsilon"
        torch.testing.assert_close(s.betas.double(), torch.linspace(B0, B1, T, dtype=torch.float64),
                                   atol=1e-9, rtol=1e-6)
        torch.testing.assert_close(s.alphas_cumprod.double(), closed_form_alpha_bar(), atol=1e-6, rtol=1e-5)
    assert make_scheduler("ddpm").config.variance_type == "fixed_small"
    with pytest.raises(ConfigError, match="ddpm, ddim"):
        make_scheduler("euler")


def test_add_noise_is_the_forward_process():
    s = make_scheduler("ddpm")
    g = torch.Generator().manual_seed(0)
    z0, eps = torch.randn(4, 4, 8, 8, generator=g), torch.randn(4, 4, 8, 8, generator=g)
    t = torch.tensor([0, 1, 500, 999])
    ab = closed_form_alpha_bar()[t].float().view(-1, 1, 1, 1)
    torch.testing.assert_close(s.add_noise(z0, eps, t), ab.sqrt() * z0 + (1 - ab).sqrt() * eps,
                               atol=1e-5, rtol=1e-5)
    # t = 999 is almost pure noise, t = 0 almost clean
    assert float(ab[-1]) < 1e-4 and float(ab[0]) > 0.9998


class Recorder(torch.nn.Module):
    """A stand-in ε model: records its inputs and returns ``fn(z_t, t)``."""

    def __init__(self, fn):
        super().__init__()
        self.fn, self.calls = fn, []

    def forward(self, zt, t, y=None, force_drop_ids=None):
        self.calls.append((zt.clone(), t.clone(), y))
        self.dropped = force_drop_ids
        return self.fn(zt, t)


def test_diffusion_loss_target_is_eps_at_the_drawn_t():
    s = make_scheduler("ddpm")
    z0 = torch.randn(64, 4, 4, 4, generator=torch.Generator().manual_seed(1)) * 2 + 0.5
    y = torch.arange(64) % 3
    # the same draws as diffusion_loss makes: t first, then ε, from the one generator
    g = torch.Generator().manual_seed(7)
    t = torch.randint(0, T, (64,), generator=g)
    eps = torch.randn(z0.shape, generator=g)
    ab = closed_form_alpha_bar()[t].float().view(-1, 1, 1, 1)
    zt = ab.sqrt() * z0 + (1 - ab).sqrt() * eps

    zero = Recorder(lambda zt, t: torch.zeros_like(zt))
    loss = diffusion_loss(zero, z0, y, s, torch.Generator().manual_seed(7))
    (seen_zt, seen_t, seen_y), = zero.calls
    assert torch.equal(seen_t, t) and seen_y is y
    torch.testing.assert_close(seen_zt, zt, atol=1e-5, rtol=1e-5)
    assert float(loss) == pytest.approx(float(eps.square().mean()), rel=1e-6)
    assert zero.dropped is not None and not zero.dropped.any()          # label_dropout 0: keep every label
    diffusion_loss(zero, z0, y, s, torch.Generator().manual_seed(7), label_dropout=1.0)
    assert bool(zero.dropped.all())                                     # 1: the null class everywhere
    diffusion_loss(zero, z0, y, s, torch.Generator().manual_seed(7), label_dropout=0.5)
    assert 0 < int(zero.dropped.sum()) < 64                              # drawn from the training generator

    # an oracle that inverts the forward process at the *given* t has zero loss: the target is ε
    def oracle_fn(zt, t):
        a = closed_form_alpha_bar()[t].float().view(-1, 1, 1, 1)
        return (zt - a.sqrt() * z0) / (1 - a).sqrt()

    assert float(diffusion_loss(Recorder(oracle_fn), z0, y, s, torch.Generator().manual_seed(7))) < 1e-6
    # ... and one that predicts the clean latent (an x0 target) does not
    assert float(diffusion_loss(Recorder(lambda zt, t: z0), z0, y, s, torch.Generator().manual_seed(7))) > 0.5
    # an oracle off by one timestep is measurably wrong (the t passed to the model is the t used)
    off = Recorder(lambda zt, t: oracle_fn(zt, (t + 1).clamp(max=T - 1)))
    assert float(diffusion_loss(off, z0, y, s, torch.Generator().manual_seed(7))) > 1e-6


# ----------------------------------------------------------------------------- sampling

class PointMass(torch.nn.Module):
    """The exact ε predictor when the data distribution is a point mass: ε = (z_t − √ᾱ_t z*) / √(1 − ᾱ_t).

    Class-conditional when ``targets`` has one row per class plus a last row for the null class
    (what an unconditional model would learn); ``forward_with_cfg`` mixes the two predictions as
    classifier-free guidance does.
    """

    def __init__(self, targets: torch.Tensor, conditional: bool):
        super().__init__()
        self.targets, self.conditional = targets, conditional
        self.ab = closed_form_alpha_bar().float()
        self.ts, self.cfg_calls = [], []

    def _eps(self, z, t, target):
        a = self.ab[t].view(-1, 1, 1, 1)
        return (z - a.sqrt() * target) / (1 - a).sqrt()

    def forward(self, z, t, y=None):
        self.ts.append(int(t[0]))
        target = self.targets[y] if self.conditional else self.targets[0].expand_as(z)
        return self._eps(z, t, target)

    def forward_with_cfg(self, z, t, y, cfg_scale, guided_channels=None):
        self.cfg_calls.append((cfg_scale, guided_channels))
        cond = self._eps(z, t, self.targets[y])
        uncond = self._eps(z, t, self.targets[-1].expand_as(z))
        return uncond + cfg_scale * (cond - uncond)


def test_samplers_recover_a_point_mass():
    z_star = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(3)) * 1.5
    for sampler, tol in (("ddpm", 1e-3), ("ddim", 0.06)):
        model = PointMass(z_star, conditional=False)
        z = sample_latents(model, 6, (4, 4, 4), 20, sampler, seed=0, batch_size=4)
        assert z.shape == (6, 4, 4, 4)
        # DDPM's last step (t = 0 -> "-1", ᾱ = 1) returns the predicted x0 exactly; DDIM with
        # set_alpha_to_one=False stops at ᾱ_0 = 1 - 1e-4: √ᾱ_0 z* + 0.01 ε
        assert float((z - z_star).abs().max()) < tol, sampler
        # timesteps 950, 900, ..., 0: the model sees the scheduler's t, not the loop index
        assert model.ts[:20] == list(range(950, -1, -50))


def test_sample_latents_guidance_path_and_label_batches():
    g = torch.Generator().manual_seed(4)
    targets = torch.randn(4, 4, 4, 4, generator=g)        # classes 0..2, null class 3
    labels = torch.tensor([2, 0, 1, 1, 0])
    model = PointMass(targets, conditional=True)
    # no guidance: the plain conditional model, labels sliced per batch of 2
    z = sample_latents(model, 5, (4, 4, 4), 20, "ddpm", labels=labels, seed=1, batch_size=2)
    torch.testing.assert_close(z, targets[labels], atol=1e-3, rtol=0)
    assert model.cfg_calls == []
    # guidance: x0 = z_null + s (z_y − z_null), so s = 0 gives the null target, s = 3 extrapolates
    for scale in (0.0, 1.0, 3.0):
        model = PointMass(targets, conditional=True)
        z = sample_latents(model, 5, (4, 4, 4), 20, "ddpm", labels=labels, cfg_scale=scale, guided_channels=3,
                           seed=1, batch_size=3)
        want = targets[3] + scale * (targets[labels] - targets[3])
        torch.testing.assert_close(z, want, atol=2e-3 * max(1.0, scale), rtol=0)
        assert model.cfg_calls and set(model.cfg_calls) == {(scale, 3)}


def test_sampling_is_deterministic_per_seed():
    from saidl.diffusion.dit import DiT

    torch.manual_seed(0)
    model = DiT(input_size=4, patch_size=2, in_channels=4, hidden_size=32, depth=1, num_heads=2, num_classes=3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape) * 0.1)     # leave the zero init, so the output depends on y
    labels = torch.tensor([0, 1, 2])
    kw = dict(n=3, shape=(4, 4, 4), steps=5, labels=labels)
    a = sample_latents(model, sampler="ddim", seed=0, eta=0.0, **kw)
    assert torch.equal(a, sample_latents(model, sampler="ddim", seed=0, eta=0.0, **kw))
    p = sample_latents(model, sampler="ddpm", seed=5, **kw)
    assert torch.equal(p, sample_latents(model, sampler="ddpm", seed=5, **kw))
    assert not torch.allclose(p, sample_latents(model, sampler="ddpm", seed=6, **kw))
    # classifier-free guidance: scale 1 is the conditional model, scale 0 the unconditional one
    s0 = sample_latents(model, sampler="ddim", seed=0, cfg_scale=0.0, **kw)
    s1 = sample_latents(model, sampler="ddim", seed=0, cfg_scale=1.0, **kw)
    torch.testing.assert_close(s1, a, atol=1e-4, rtol=1e-4)
    assert float((s0 - s1).abs().max()) > 1e-3


# ----------------------------------------------------------------------------- codecs

def _smooth_images(n: int, c: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    """Low-frequency random images in [-1, 1] (easy for a small autoencoder)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, c, 4, 4, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)


def test_small_autoencoder_shapes_and_training():
    from saidl.diffusion.codec import SmallAutoencoder, train_autoencoder

    ae = SmallAutoencoder(image_channels=3, latent_channels=4, width=8)
    x = _smooth_images(64)
    z = ae.encode(x[:2])
    assert z.shape == (2, 4, 4, 4)
    with torch.no_grad():
        assert ae.decode(z).shape == (2, 3, 16, 16) and float(ae.decode(z).abs().max()) <= 1.0
    cfg = {"latent_channels": 4, "ae_width": 8, "ae_lr": 1e-2, "ae_steps": 80, "ae_batch_size": 16}
    ae, info = train_autoencoder(x, cfg, torch.device("cpu"), seed=0)
    hist = info["history"]
    assert hist["step"][-1] == 80 and len(hist["loss"]) == 20
    assert np.mean(hist["loss"][-3:]) < 0.8 * np.mean(hist["loss"][:3])
    with torch.no_grad():
        raw = ae.encode_raw(x)
        assert float(ae.scale) == pytest.approx(1.0 / float(raw.std()), rel=1e-5)
        assert info["latent_scale"] == pytest.approx(float(ae.scale))
        assert float(ae.encode(x).std()) == pytest.approx(1.0, rel=1e-4)        # unit-variance latents
        torch.testing.assert_close(ae.decode(ae.encode(x)), ae.decode_raw(raw), atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def tiny_vae():
    pytest.importorskip("diffusers")
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                         up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 16), layers_per_block=1,
                         latent_channels=4, norm_num_groups=8, sample_size=32)


def test_sd_vae_codec_scales_by_0_18215(tiny_vae):
    from saidl.diffusion.codec import SD_VAE_SCALE, SDVAECodec

    assert SD_VAE_SCALE == 0.18215
    codec = SDVAECodec(vae=tiny_vae)
    assert codec.latent_channels == 4 and codec.image_channels == 3
    assert not any(p.requires_grad for p in codec.parameters())
    x = _smooth_images(2, size=32)
    torch.manual_seed(11)
    z = codec.encode(x)
    with torch.no_grad():
        torch.manual_seed(11)   # latent_dist.sample() draws from the global generator
        raw = tiny_vae.encode(x).latent_dist.sample()
        assert z.shape == (2, 4, 16, 16)
        torch.testing.assert_close(z, raw * 0.18215)
        # decode divides by the scale before the VAE's decoder (and clamps to [-1, 1])
        want = tiny_vae.decode(z / 0.18215).sample.clamp(-1, 1)
        torch.testing.assert_close(codec.decode(z), want)
        assert not torch.allclose(codec.decode(z), tiny_vae.decode(z).sample.clamp(-1, 1))


def test_sd_vae_codec_offline_is_data_error(monkeypatch):
    pytest.importorskip("diffusers")
    import huggingface_hub.constants

    from saidl.diffusion.codec import SDVAECodec

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import time
    with pytest.raises(DataError, match=r"does/not-exist could not be loaded.*hf download does/not-exist"):
        SDVAECodec(model_id="does/not-exist")


# ----------------------------------------------------------------------------- image sets

def test_wallpaper_crops():
    from saidl.diffusion.data import MATE_NATURE_DIR, wallpaper_crops

    if not (MATE_NATURE_DIR / "Dune.jpg").is_file():
        pytest.skip("mate-backgrounds missing: apt-get install mate-backgrounds")
    kw = dict(image_size=16, short_side=(32, 64))
    a = wallpaper_crops(6, 0, **kw)
    assert a.x.shape == (6, 3, 16, 16) and a.x.dtype == np.uint8 and len(a) == 6
    assert np.array_equal(a.y, np.full(6, -1)) and a.classes == ()
    assert a.x.std() > 5  # real photo content, not a constant
    b = wallpaper_crops(6, 0, **kw)
    assert np.array_equal(a.x, b.x) and a.checksum == b.checksum
    c = wallpaper_crops(6, 1, **kw)
    assert not np.array_equal(a.x, c.x)
    assert a.checksum == c.checksum  # the checksum identifies the photos, not the crops


def test_wallpaper_crops_missing_files(tmp_path):
    from saidl.diffusion.data import load_images, wallpaper_crops

    with pytest.raises(DataError, match="apt-get install mate-backgrounds"):
        wallpaper_crops(2, 0, 16, root=tmp_path)
    with pytest.raises(DataError, match="Nope.jpg"):
        load_images({"dataset": "wallpaper-crops", "image_size": 16, "landscape_dir": tmp_path,
                     "landscape_files": ["Nope.jpg"]}, "train", 2, 0)


def test_fashion_mnist_is_padded_to_32():
    from saidl.common.datasets import FASHION_MNIST_DIR
    from saidl.diffusion.data import fashion_mnist

    if not (FASHION_MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST missing: apt-get install dataset-fashion-mnist")
    imgs = fashion_mnist("test", 20, 0, image_size=32)
    assert imgs.x.shape == (20, 1, 32, 32) and imgs.x.dtype == np.uint8 and len(imgs.classes) == 10
    assert imgs.x[:, :, :2].max() == 0 and imgs.x[:, :, -2:].max() == 0          # 2-pixel zero border
    assert imgs.x[:, :, :, :2].max() == 0 and imgs.x[:, :, :, -2:].max() == 0
    assert imgs.x[:, :, 2:30, 2:30].max() > 0
    assert sorted(set(imgs.y.tolist())) == list(range(10))                       # class-balanced
    with pytest.raises(ConfigError):
        fashion_mnist("test", 2, 0, image_size=31)


def test_image_grid_layout():
    from saidl.diffusion.data import image_grid

    imgs = np.stack([np.full((1, 2, 2), v, np.uint8) for v in (10, 20, 30)])
    g = image_grid(imgs, nrow=2, pad=1)
    W = 255
    want = np.array([[W, W, W, W, W, W, W],
                     [W, 10, 10, W, 20, 20, W],
                     [W, 10, 10, W, 20, 20, W],
                     [W, W, W, W, W, W, W],
                     [W, 30, 30, W, W, W, W],
                     [W, 30, 30, W, W, W, W],
                     [W, W, W, W, W, W, W]], np.uint8)[..., None]
    assert g.dtype == np.uint8 and np.array_equal(g, want)
    rgb = np.arange(2 * 3 * 2 * 3, dtype=np.uint8).reshape(2, 3, 2, 3)
    g = image_grid(rgb, nrow=2, pad=0)
    assert g.shape == (2, 6, 3) and np.array_equal(g[:, 3:], rgb[1].transpose(1, 2, 0))


def test_load_images_unknown_dataset():
    from saidl.diffusion.data import load_images

    with pytest.raises(ConfigError, match="unknown"):
        load_images({"dataset": "imagenet", "image_size": 32}, "train", 4, 0)


# SUN397 and the landscapes folder: tests/test_diffusion_data.py (on the rehearsal's format-exact fakes).


# ----------------------------------------------------------------------------- job grid

def test_run_configs_at_every_scale(task_cfg):
    from saidl.diffusion.grid import autoencoder_configs, eval_config, reference_configs, run_configs

    for scale in ("smoke", "demo", "full"):
        sc = task_cfg["scales"][scale]
        runs = run_configs(task_cfg, scale)
        assert list(runs) == sc["runs"]
        for name, cfg in runs.items():
            spec, group = task_cfg["runs"][name], sc["groups"][task_cfg["runs"][name]["group"]]
            assert cfg["run_id"] == name and cfg["kind"] == "dit" and cfg["scale"] == scale
            assert cfg["conditioning"] == spec["conditioning"] and cfg["attention"] == spec["attention"]
            assert cfg["window"] == (sc["window"] if spec["attention"] == "sliding" else None)
            assert cfg["num_classes"] == group["num_classes"] and cfg["dataset"] == group["dataset"]
            for key in sc["dit"]:  # the group's keys override the scale's dit block
                assert cfg[key] == group.get(key, sc["dit"][key]), (scale, name, key)
            assert cfg["num_train_timesteps"] == 1000 and cfg["codec"] == sc["codec"]
        assert eval_config(task_cfg, scale, "backends")["window"] == sc["window"]
        assert eval_config(task_cfg, scale, "study")["study_run"] == sc["study"]["study_run"]
        assert set(reference_configs(task_cfg, scale)) == {"ref-conditional", "ref-unconditional"}
        aes = autoencoder_configs(task_cfg, scale)
        if sc["codec"] == "sd-vae":
            assert aes == {}
        else:
            assert set(aes) == {"ae-conditional", "ae-unconditional"}
            assert all(c["kind"] == "autoencoder" and c["run_id"] == k for k, c in aes.items())
    full = run_configs(task_cfg, "full")
    assert full["land-full"]["codec"] == "sd-vae" and full["land-full"]["vae_id"] == "stabilityai/sd-vae-ft-ema"
    assert (full["cond-adaln"]["hidden_size"], full["cond-adaln"]["depth"], full["cond-adaln"]["patch_size"]) \
        == (768, 12, 4)  # DiT-B/4
    demo = run_configs(task_cfg, "demo")
    assert demo["land-full"]["hidden_size"] == task_cfg["scales"]["demo"]["groups"]["unconditional"]["hidden_size"]
    with pytest.raises(ConfigError, match="unknown diffusion evaluation"):
        eval_config(task_cfg, "demo", "nope")
    with pytest.raises(ConfigError, match="defined"):
        run_configs(task_cfg, "huge")


def test_run_config_errors(task_cfg):
    from saidl.diffusion.grid import autoencoder_configs, run_configs

    bad = copy.deepcopy(task_cfg)
    bad["runs"]["land-in_context"] = {"group": "unconditional", "conditioning": "in_context", "attention": "sdpa"}
    bad["scales"]["smoke"]["runs"].append("land-in_context")
    with pytest.raises(ConfigError, match="land-in_context.*class-conditional"):
        run_configs(bad, "smoke")
    bad = copy.deepcopy(task_cfg)
    bad["scales"]["smoke"]["runs"].append("missing-run")
    with pytest.raises(ConfigError, match="missing-run"):
        run_configs(bad, "smoke")
    bad = copy.deepcopy(task_cfg)
    bad["scales"]["smoke"]["autoencoder"] = None
    with pytest.raises(ConfigError, match="autoencoder block"):
        autoencoder_configs(bad, "smoke")


# ----------------------------------------------------------------------------- resuming a DiT run

def _tiny_run(task_cfg, run: str, tmp_path: Path, **over):
    from saidl.diffusion.codec import SmallAutoencoder
    from saidl.diffusion.grid import run_configs

    cfg = {**run_configs(task_cfg, "smoke")[run], "steps": 6, "n_train": 32, "batch_size": 8, "device": "cpu",
           **over}
    channels = 1 if cfg["dataset"] == "fashion-mnist" else 3
    torch.manual_seed(0)
    ae = SmallAutoencoder(channels, 4, 8)
    save_checkpoint(tmp_path / "ae.pt", {"state_dict": ae.state_dict(), "image_channels": channels,
                                         "latent_channels": 4, "width": 8})
    return cfg


class Interrupted(Exception):
    pass


def _interrupted_then_resumed(cfg, tmp_path, monkeypatch):
    from saidl.diffusion import train

    ae = tmp_path / "ae.pt"
    full = train.run_dit(cfg, tmp_path / "a.json", tmp_path / "a.pt", ae, tmp_path / "a.ckpt", ckpt_interval=0)
    real_save, real_load, resumed_at = train.save_checkpoint, train.load_checkpoint, []

    def save_then_die(path, state):
        real_save(path, state)
        if state["step"] == 3:
            raise Interrupted

    def load(*a, **k):
        state = real_load(*a, **k)
        resumed_at.append(None if state is None else state["step"])
        return state

    ckpt = tmp_path / "b.ckpt"
    monkeypatch.setattr(train, "save_checkpoint", save_then_die)
    monkeypatch.setattr(train, "load_checkpoint", load)
    with pytest.raises(Interrupted):
        train.run_dit(cfg, tmp_path / "b.json", tmp_path / "b.pt", ae, ckpt, ckpt_interval=0)
    assert ckpt.is_file() and not (tmp_path / "b.json").exists()
    monkeypatch.setattr(train, "save_checkpoint", real_save)
    resumed = train.run_dit(cfg, tmp_path / "b.json", tmp_path / "b.pt", ae, ckpt, ckpt_interval=0)
    assert resumed_at == [None, 3] and not ckpt.exists()  # finish_run removes the checkpoint
    return full, resumed, torch.load(tmp_path / "a.pt", weights_only=False), torch.load(tmp_path / "b.pt",
                                                                                        weights_only=False)


def test_run_dit_resumes_exactly(task_cfg, tmp_path, monkeypatch):
    from saidl.diffusion.data import MATE_NATURE_DIR

    if not (MATE_NATURE_DIR / "Dune.jpg").is_file():
        pytest.skip("mate-backgrounds missing: apt-get install mate-backgrounds")
    cfg = _tiny_run(task_cfg, "land-full", tmp_path)
    full, resumed, wa, wb = _interrupted_then_resumed(cfg, tmp_path, monkeypatch)
    assert full["metrics"]["history"]["step"] == [1, 2, 3, 4, 5, 6]
    assert resumed["metrics"]["history"] == full["metrics"]["history"]
    assert resumed["metrics"]["final_loss"] == full["metrics"]["final_loss"]
    assert all(math.isfinite(v) for v in full["metrics"]["history"]["loss"])
    assert list(wa["snapshots"]) == list(wb["snapshots"]) == [3]
    # the EMA (what every sample is drawn from) and the snapshot follow every step of the raw weights
    for name, value in wa["ema"].items():
        assert torch.equal(value, wb["ema"][name]), name
    for name, value in wa["snapshots"][3].items():
        assert torch.equal(value, wb["snapshots"][3][name]), name


def test_run_dit_resumes_exactly_with_label_dropout(task_cfg, tmp_path, monkeypatch):
    from saidl.common.datasets import FASHION_MNIST_DIR

    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST missing: apt-get install dataset-fashion-mnist")
    cfg = _tiny_run(task_cfg, "cond-adaln", tmp_path, class_dropout=0.5)
    full, resumed, wa, wb = _interrupted_then_resumed(cfg, tmp_path, monkeypatch)
    assert resumed["metrics"]["history"] == full["metrics"]["history"]
    for name, value in wa["ema"].items():
        assert torch.equal(value, wb["ema"][name]), name
