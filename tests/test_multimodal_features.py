"""Multimodal literal features: simple parsers/features, pretrained encoders, embedding cache."""

from __future__ import annotations

import json
import logging
import math
import os

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import save_tiny_clip
from saidl.common.errors import ConfigError, DataError
from saidl.multimodal import encoders as E
from saidl.multimodal import features as F
from saidl.multimodal.cache import EmbeddingCache, content_digest

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _images(n: int, seed: int = 0, size=(40, 32)) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)) for _ in range(n)]


# --------------------------------------------------------------------------- simple features

def test_image_stats_shape_range_determinism():
    imgs = _images(3) + [Image.new("L", (20, 50), 128), Image.new("RGBA", (8, 8), (255, 0, 0, 10)),
                         _images(1, 1)[0].convert("P")]
    x = F.image_stats(imgs)
    assert x.shape == (6, F.IMAGE_STATS_DIM) == (6, 75) and x.dtype == np.float32
    assert np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
    np.testing.assert_array_equal(x, F.image_stats(iter(imgs)))
    assert not np.allclose(x[0], x[1])
    gray = x[3]
    np.testing.assert_allclose(gray[:3], 128 / 255, atol=1e-6)   # RGB mean
    np.testing.assert_allclose(gray[3:6], 0, atol=1e-6)          # RGB std
    assert F.image_stats([]).shape == (0, 75)


def test_bag_of_words_vocabulary():
    texts = ["De kerk en de toren", "de MOLEN en de wieken", "Een kerk, café en toren!", "de molen 1887 café",
             "de boerderij", ""]
    x, vocab = F.bag_of_words(texts)
    # "de" is in 4/6 documents (> max_df 0.5), hapaxes (boerderij, wieken, een) are below min_df 2,
    # digits are no tokens; order: document frequency, then alphabetical
    assert vocab == ["en", "café", "kerk", "molen", "toren"]
    assert x.shape == (6, 5) and x.dtype == np.float32 and set(np.unique(x)) <= {0.0, 1.0}
    np.testing.assert_array_equal(x[2], [1, 1, 1, 0, 1])
    np.testing.assert_array_equal(x[5], 0)
    _, top2 = F.bag_of_words(texts, max_vocab=2)
    assert top2 == vocab[:2]
    y, same = F.bag_of_words(["nieuwe KERK", "onbekend"], vocab=vocab)   # given vocab: unknown tokens ignored
    assert same == vocab
    np.testing.assert_array_equal(y, [[0, 0, 1, 0, 0], [0, 0, 0, 0, 0]])
    _, loose = F.bag_of_words(texts, min_df=1, max_df=1.0)
    assert loose[0] == "de" and "boerderij" in loose and "1887" not in loose
    assert F.tokenize("Kasteel-Landhuis: éénmalig x") == ["kasteel", "landhuis", "éénmalig"]


@pytest.mark.parametrize("text,expected", [
    ("POINT(5.1 52.0)", (5.1, 52.0)), ("POINT (5.1 52.0)", (5.1, 52.0)), ("point(5.1   52.0)", (5.1, 52.0)),
    ("  Point( 5.1 52.0 ) ", (5.1, 52.0)), ("POINT(-5e-1 +52)", (-0.5, 52.0)),
    ("<http://www.opengis.net/def/crs/OGC/1.3/CRS84> POINT(5.1 52.0)", (5.1, 52.0)),
    ("POINT Z (5.1 52.0 3.5)", (5.1, 52.0)), ("POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))", (1.0, 1.0)),
    ("MULTIPOINT((1 1), (3 5))", (2.0, 3.0)),
    ("", None), ("POINT()", None), ("POINT(5.1)", None), ("POINT(a b)", None), ("LINE(1 2)", None),
    ("POINT(1 2 3)", None), ("POINT EMPTY", None), ("5.1 52.0", None), ("POINT(nan 1)", None),
])
def test_parse_point(text, expected):
    got = F.parse_point(text)
    assert got == expected if expected is None else got == pytest.approx(expected)


@pytest.mark.parametrize("text,expected", [
    ("1887", 1887), (" 1887 ", 1887), ("-0044", -44), ("0800", 800), ("887", 887), ("12345", 12345),
    ("1887Z", 1887), ("1887+01:00", 1887), ("1887-05-01", 1887), ("1887-05", 1887), ("-0044-03-15", -44),
    ("1887-05-01T12:30:00", 1887), ("1887-05-01Z", 1887),
    ("", None), ("abc", None), ("18th century", None), ("1887-13-01", None), ("1887-05-32", None),
    ("1887.5", None), ("c. 1887", None), ("1887-1900", None),
])
def test_parse_year(text, expected):
    assert F.parse_year(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("12", 12.0), (" +3 ", 3.0), ("-7", -7.0), ("4.5", 4.5), ("1e3", 1000.0), ("007", 7.0),
    ("", None), ("abc", None), ("nan", None), ("inf", None), ("1_000", None), ("12 m", None),
])
def test_parse_number(text, expected):
    assert F.parse_number(text) == expected


@pytest.mark.parametrize("text,expected", [("true", True), ("TRUE", True), (" 1", True), ("false", False),
                                           ("0", False), ("yes", None), ("", None)])
def test_parse_boolean(text, expected):
    assert F.parse_boolean(text) is expected


def test_number_features(caplog):
    vals = ["9", "99", "999", "9999", "oops", "??"]
    with caplog.at_level(logging.WARNING, logger="saidl.multimodal.features"):
        x = F.number_features(vals)
    assert x.shape == (6, 2) and x.dtype == np.float32 and np.isfinite(x).all()
    np.testing.assert_array_equal(x[4:], 0)
    np.testing.assert_allclose(x[:4].mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(x[:4].std(0), 1, atol=1e-5)
    assert np.all(np.diff(x[:4, 0]) > 0) and np.all(np.diff(x[:4, 1]) > 0)
    np.testing.assert_allclose(np.diff(x[:4, 0]), np.diff(x[:4, 0])[0], rtol=0.05)   # log scale: even steps
    assert len(caplog.records) == 1 and "2 of 6 number values" in caplog.records[0].getMessage()
    np.testing.assert_array_equal(F.number_features(["5", "5"]), 0)                     # constant: no NaN
    assert F.number_features([]).shape == (0, 2)
    assert np.abs(F.number_features(["1"] * 99 + ["1e12"])).max() <= F.Z_CLIP


def test_year_features():
    vals = ["1887", "1900-01-01", "-0044", "1650", "bad"]
    x = F.year_features(vals)
    assert x.shape == (5, 1 + 2 * len(F.YEAR_PERIODS)) == (5, 7) and np.isfinite(x).all()
    np.testing.assert_array_equal(x[4], 0)
    assert x[2, 0] < x[3, 0] < x[0, 0] < x[1, 0]
    np.testing.assert_allclose(x[1, 1:4], np.sin(2 * np.pi * 1900 / np.array(F.YEAR_PERIODS)), atol=1e-6)
    np.testing.assert_allclose(x[:4, 1:4] ** 2 + x[:4, 4:] ** 2, 1, atol=1e-6)
    np.testing.assert_array_equal(x, F.year_features(vals))
    assert F.year_features(["1887"], periods=(100.0,)).shape == (1, 3)


def test_point_features():
    rng = np.random.default_rng(0)
    vals = [f"POINT({lon:.4f} {lat:.4f})" for lon, lat in zip(rng.uniform(3.3, 7.2, 20), rng.uniform(50.7, 53.5, 20))]
    vals.append("not a point")
    x = F.point_features(vals)
    assert x.shape == (21, 18) and x.dtype == np.float32 and np.isfinite(x).all()
    np.testing.assert_array_equal(x[-1], 0)
    np.testing.assert_allclose(x[:-1, :2].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(x[:-1, 2:10] ** 2 + x[:-1, 10:] ** 2, 1, atol=1e-5)
    np.testing.assert_array_equal(x, F.point_features(vals))                 # fixed Fourier basis
    assert not np.allclose(x[:, 2:], F.point_features(vals, seed=1)[:, 2:])
    assert F.point_features(vals, n_freq=3).shape == (21, 8)


def test_boolean_features(caplog):
    with caplog.at_level(logging.WARNING, logger="saidl.multimodal.features"):
        x = F.boolean_features(["true", "false", "1", "maybe"])
    np.testing.assert_array_equal(x, [[1], [-1], [1], [0]])
    assert x.dtype == np.float32 and len(caplog.records) == 1


# --------------------------------------------------------------------------- cache

def test_content_digest():
    assert content_digest(["ab", "c"]) != content_digest(["a", "bc"])
    assert content_digest(["a", "b"]) != content_digest(["b", "a"])
    assert content_digest(["a", b"b"]) == content_digest(["a", "b"])


def test_cache_hit_miss_and_fingerprint(tmp_path):
    cache = EmbeddingCache(tmp_path / "emb")
    calls = []

    def compute(value=1.0):
        def f():
            calls.append(value)
            return np.full((3, 4), value, dtype=np.float32)
        return f

    texts = ["a", "b", "c"]
    enc64, enc96 = E.EffNetLite0Encoder(size=64), E.EffNetLite0Encoder(size=96)
    assert enc64.fingerprint == E.EffNetLite0Encoder(size=64).fingerprint != enc96.fingerprint
    fields = {"encoder": enc64.fingerprint, "inputs": content_digest(texts), "split": "all"}
    v, hit = cache.get_or_compute(fields, compute(1.0))
    assert not hit and calls == [1.0] and torch.is_tensor(v) and v.shape == (3, 4)
    assert json.loads(cache.path(cache.key(**fields)).with_suffix(".json").read_text()) == fields

    def never():
        raise AssertionError("compute called on a cache hit")

    v2, hit = cache.get_or_compute(dict(reversed(fields.items())), never)      # field order is irrelevant
    assert hit and torch.equal(v, v2)
    v3, hit = cache.get_or_compute({**fields, "encoder": enc96.fingerprint}, compute(2.0))
    assert not hit and calls == [1.0, 2.0] and float(v3[0, 0]) == 2.0
    _, hit = cache.get_or_compute({**fields, "inputs": content_digest(texts[::-1])}, compute(3.0))
    assert not hit and calls[-1] == 3.0
    assert not list((tmp_path / "emb").glob("*.tmp"))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "foreign", "empty"])
def test_cache_recomputes_corrupt_entry(tmp_path, damage, caplog):
    cache = EmbeddingCache(tmp_path)
    fields = {"encoder": "x-1", "inputs": "d"}
    cache.get_or_compute(fields, lambda: torch.arange(1000.0))
    path = cache.path(cache.key(**fields))
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a torch file" * 10)
    elif damage == "foreign":   # a complete file, but written for another key (e.g. copied by hand)
        torch.save({"key": "other", "value": torch.zeros(3)}, path)
    else:
        path.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="saidl.multimodal.cache"):
        v, hit = cache.get_or_compute(fields, lambda: torch.arange(1000.0))
    assert not hit and torch.equal(v, torch.arange(1000.0)) and "recomputing" in caplog.text
    assert cache.get_or_compute(fields, lambda: None)[1]


def test_cache_atomic_write_and_errors(tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path)

    def broken_save(obj, fh):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        cache.get_or_compute({"k": 1}, lambda: torch.ones(2))
    assert list(tmp_path.iterdir()) == []            # neither a partial entry nor a temporary file
    monkeypatch.undo()
    big = torch.arange(1000.0).reshape(100, 10)
    v, _ = cache.get_or_compute({"k": 2}, lambda: big[:2])   # a view: only its own rows are stored
    cache.get_or_compute({"k": 3}, lambda: big)
    assert torch.equal(v, big[:2])
    assert cache.path(cache.key(k=2)).stat().st_size + 3000 < cache.path(cache.key(k=3)).stat().st_size
    with pytest.raises(ConfigError, match="JSON"):
        cache.key(bad=object())
    with pytest.raises(ConfigError):
        cache.key(bad=math.nan)
    with pytest.raises(TypeError, match="numpy array or a torch tensor"):
        cache.get_or_compute({"k": 4}, lambda: [1, 2])


# --------------------------------------------------------------------------- MiniLM

@pytest.fixture(scope="module")
def minilm():
    enc = E.make_text_encoder("minilm")
    enc.model  # load once per module
    return enc


def test_minilm_encode(minilm):
    texts = ["A church with a tall stone tower.", "The old church has a high tower and bells.",
             "Stock markets fell sharply on Monday.", ""]
    x = minilm.encode(texts)
    assert x.shape == (4, 384) == (4, minilm.dim) and x.dtype == torch.float32 and x.device.type == "cpu"
    assert not x.requires_grad and not torch.is_inference(x)
    torch.testing.assert_close(x.norm(dim=1), torch.ones(4))
    sim = x @ x.T
    assert sim[0, 1] > sim[0, 2] + 0.3 and sim[0, 1] > sim[1, 2] + 0.3
    torch.testing.assert_close(minilm.encode(texts[::-1], batch_size=2), x.flip(0), atol=1e-5, rtol=0)
    assert minilm.encode([]).shape == (0, 384)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    with pytest.raises(TypeError):
        minilm.encode(["ok", None])


def test_minilm_fingerprint(minilm):
    assert minilm.fingerprint.startswith("minilm-")
    assert minilm.fingerprint == E.MiniLMEncoder().fingerprint
    assert E.MiniLMEncoder(max_seq_length=128).fingerprint != minilm.fingerprint   # no model load needed
    with pytest.raises(ConfigError):
        E.MiniLMEncoder(max_seq_length=1000)


def test_minilm_trainable(minilm):
    texts = ["  A windmill with four sails  ", "kasteel " * 400, "Een kerk", "x"]   # padding, truncation
    ref = minilm.encode(texts)
    mod = minilm.trainable(1)
    assert not mod.training
    torch.testing.assert_close(mod(texts), ref, atol=1e-5, rtol=0)
    trainable = {n for n, p in mod.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("bert.encoder.layer.5.") for n in trainable)
    mod.train()
    assert not mod.bert.embeddings.training and not mod.bert.encoder.layer[4].training
    assert mod.bert.encoder.layer[5].training
    out = mod(texts)
    assert out.shape == (4, 384) and out.requires_grad
    (out[:, 0].sum() + out.pow(3).sum()).backward()
    assert {n for n, p in mod.named_parameters() if p.grad is not None} == trainable
    with torch.no_grad():   # a step on the copy leaves the frozen encoder untouched
        for p in mod.parameters():
            if p.grad is not None:
                p -= 0.1 * p.grad
    torch.testing.assert_close(minilm.encode(texts), ref)
    assert {n for n, p in minilm.trainable(2).named_parameters() if p.requires_grad} > trainable
    # the frozen lower layers once, the trainable top in every epoch: the same output and gradients
    mod = minilm.trainable(2).eval()
    state = mod.frozen_features(texts)
    assert not state[0].requires_grad
    tail = mod.tail(state)
    torch.testing.assert_close(tail, mod(texts), atol=1e-5, rtol=0)
    tail.sum().backward()
    assert {n for n, p in mod.named_parameters() if p.grad is not None} == {
        n for n, p in mod.named_parameters() if p.requires_grad}
    with pytest.raises(ConfigError):
        minilm.trainable(7)


# --------------------------------------------------------------------------- EfficientNet-Lite0

@pytest.fixture(scope="module")
def effnet():
    enc = E.make_image_encoder("effnet-lite0", size=64)
    enc.model
    return enc


def test_effnet_encode(effnet):
    imgs = _images(5) + [Image.new("L", (50, 30), 90), Image.new("RGBA", (64, 64), (200, 10, 10, 255))]
    x = effnet.encode(imgs)
    assert x.shape == (7, 1280) == (7, effnet.dim) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert not torch.is_inference(x) and not x.requires_grad
    torch.testing.assert_close(effnet.encode(iter(imgs), batch_size=3), x, atol=1e-5, rtol=1e-4)
    same_size = np.stack([np.asarray(im) for im in imgs[:5]]).transpose(0, 3, 1, 2)    # uint8 array input
    torch.testing.assert_close(effnet.encode(same_size), x[:5], atol=1e-5, rtol=1e-4)
    assert effnet.encode([]).shape == (0, 1280)
    assert effnet.preprocess(imgs[:2]).shape == (2, 3, 64, 64)


def test_effnet_fingerprint_and_size(effnet):
    fps = {E.EffNetLite0Encoder(size=s).fingerprint for s in (64, 96, 224)}
    assert len(fps) == 3 and effnet.fingerprint in fps
    assert E.make_image_encoder("effnet-lite0").fingerprint == E.EffNetLite0Encoder(size=224).fingerprint
    with pytest.raises(ConfigError, match="multiple of 32"):
        E.EffNetLite0Encoder(size=50)


def test_effnet_trainable(effnet):
    imgs = _images(6, seed=3)
    ref = effnet.encode(imgs)
    mod = effnet.trainable(2)
    torch.testing.assert_close(mod(imgs), ref, atol=1e-5, rtol=1e-4)
    h = mod.frozen_features(imgs)
    assert h.shape == (6, 192, 2, 2) and not h.requires_grad
    torch.testing.assert_close(mod.tail(h), ref, atol=1e-5, rtol=1e-4)
    trainable = {n for n, p in mod.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("net._blocks.14.", "net._blocks.15.", "net._conv_head.", "net._bn1."))
                             for n in trainable)
    assert any(n.startswith("net._blocks.14.") for n in trainable) and "net._conv_head.weight" in trainable
    stats = mod.net._bn1.running_mean.clone()
    mod.train()
    assert not mod.net._blocks[13].training and mod.net._blocks[14].training
    assert not mod.net._bn1.training                     # BatchNorm keeps ImageNet statistics by default
    out = mod(imgs)
    out.square().mean().backward()
    assert {n for n, p in mod.named_parameters() if p.grad is not None} == trainable
    assert torch.equal(mod.net._bn1.running_mean, stats)
    torch.testing.assert_close(effnet.encode(imgs), ref)    # the shared encoder weights are untouched
    assert mod.net._bn1.weight.requires_grad
    head_only = {n for n, p in effnet.trainable(0).named_parameters() if p.requires_grad}
    assert head_only and all(n.startswith(("net._conv_head.", "net._bn1.")) for n in head_only)
    bn = effnet.trainable(1, train_bn=True).train()
    assert bn.net._bn1.training and not bn.net._blocks[14]._bn0.training
    with pytest.raises(ConfigError):
        effnet.trainable(17)


# --------------------------------------------------------------------------- CLIP and factories

def test_clip_missing_weights_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"openai/clip-vit-base-patch32.*hf download"):
        E.make_text_encoder("clip-text", cache_dir=tmp_path)
    with pytest.raises(DataError, match=r"openai/clip-vit-base-patch32"):
        E.make_image_encoder("clip-image", cache_dir=tmp_path)
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(DataError, match="not-a-model"):
        E.make_image_encoder("clip-image", model=empty)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A randomly initialised two-layer CLIP with a byte-level tokenizer, saved like a real one."""
    return save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


def test_clip_paths_on_a_tiny_model(tiny_clip):
    te = E.make_text_encoder("clip-text", model=tiny_clip)
    texts = ["a church", "a mill with sails", ""]
    x = te.encode(texts, batch_size=2)
    assert x.shape == (3, 16) == (3, te.dim) and not torch.is_inference(x)
    torch.testing.assert_close(x.norm(dim=1), torch.ones(3))
    mod = te.trainable(1)
    torch.testing.assert_close(mod(texts), x, atol=1e-5, rtol=1e-4)
    mod.train()
    mod(texts).sum().backward()
    grads = {n for n, p in mod.named_parameters() if p.grad is not None}
    assert grads == {n for n, p in mod.named_parameters() if p.requires_grad}
    assert all(n.startswith(("tower.encoder.layers.1.", "tower.final_layer_norm.", "proj.")) for n in grads)
    assert te.fingerprint != E.make_text_encoder("clip-text", model=tiny_clip, max_seq_length=16).fingerprint

    ie = E.make_image_encoder("clip-image", model=tiny_clip)
    imgs = _images(3)
    y = ie.encode(imgs)
    assert ie.size == 32 and y.shape == (3, 16)
    torch.testing.assert_close(ie.trainable(1)(imgs), y, atol=1e-5, rtol=1e-4)
    big = E.make_image_encoder("clip-image", model=tiny_clip, size=64)    # interpolated position embeddings
    assert big.encode(imgs).shape == (3, 16) and big.fingerprint != ie.fingerprint
    with pytest.raises(ConfigError, match="patch size"):
        E.make_image_encoder("clip-image", model=tiny_clip, size=36)


def test_unknown_encoder_names():
    with pytest.raises(ConfigError, match="minilm"):
        E.make_text_encoder("bert")
    with pytest.raises(ConfigError, match="effnet-lite0"):
        E.make_image_encoder("resnet")
