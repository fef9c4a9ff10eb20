import math

import pytest
import torch
import torch.nn.functional as F

from saidl.coreml.losses import LOSS_NAMES, build_loss

K = 10


def logits_batch(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, K, generator=g, dtype=torch.float64) * 3, torch.randint(0, K, (n,), generator=g)


def per_sample(name, logits, y, **params):
    loss = build_loss(name, K, params)
    return torch.stack([loss(logits[i:i + 1], y[i:i + 1]) for i in range(len(y))])


def test_nce_lies_in_unit_interval_and_is_one_over_k_at_uniform_prediction():
    logits, y = logits_batch()
    v = per_sample("NCE", logits, y)
    assert ((v >= 0) & (v <= 1)).all()
    uniform = build_loss("NCE", K)(torch.zeros(4, K), torch.tensor([0, 1, 2, 3]))
    assert uniform.item() == pytest.approx(1 / K)


def test_nce_is_minus_log_py_over_sum_of_minus_log_pk():
    logits, y = logits_batch(8)
    logp = F.log_softmax(logits, 1)
    expected = (logp[torch.arange(8), y] / logp.sum(1)).mean()
    assert build_loss("NCE", K)(logits, y).item() == pytest.approx(expected.item())


def test_mae_is_the_reduced_one_minus_p_y():
    logits, y = logits_batch()
    p = F.softmax(logits, 1)[torch.arange(len(y)), y]
    assert build_loss("MAE", K)(logits, y).item() == pytest.approx((1 - p).mean().item())


def test_rce_is_minus_log_1e4_times_one_minus_p_y():
    logits, y = logits_batch()
    p = F.softmax(logits, 1)[torch.arange(len(y)), y]
    got = build_loss("RCE", K)(logits, y).item()
    assert got == pytest.approx((-math.log(1e-4) * (1 - p)).mean().item(), rel=1e-4)


def test_normalized_losses_sum_to_one_over_all_labels():
    logits, _ = logits_batch(5)
    for name in ("NCE", "NFL"):
        total = sum(per_sample(name, logits, torch.full((5,), k)) for k in range(K))
        assert torch.allclose(total, torch.ones(5, dtype=total.dtype))


def test_nfl_gradient_matches_the_official_code_weights_detached_normaliser_not():
    """Official NFL: ``normalizor = sum(-(1 - logpt.data.exp()) ** gamma * logpt)``: the focal
    weights are detached, the log-probabilities in the normaliser are not."""
    logits, y = logits_batch(4)
    a = logits.clone().requires_grad_(True)
    build_loss("NFL", K, {"gamma": 0.5})(a, y).backward()
    b = logits.clone().requires_grad_(True)
    logp = F.log_softmax(b, 1)
    w = (1 - logp.detach().exp()) ** 0.5
    fl_y = -(w * logp).gather(1, y[:, None]).squeeze(1)
    (fl_y / (-(w * logp)).sum(1)).mean().backward()
    assert torch.allclose(a.grad, b.grad)


@pytest.mark.parametrize("pair", ["NCE+RCE", "NCE+MAE", "NFL+RCE", "NFL+MAE", "SCE"])
def test_pairs_are_alpha_active_plus_beta_passive(pair):
    logits, y = logits_batch()
    first, second = {"SCE": ("CE", "RCE")}.get(pair, pair.split("+"))
    got = build_loss(pair, K, {"alpha": 0.3, "beta": 2.0})(logits, y)
    want = 0.3 * build_loss(first, K)(logits, y) + 2.0 * build_loss(second, K)(logits, y)
    assert got.item() == pytest.approx(want.item())


def test_focal_with_gamma_zero_is_cross_entropy():
    logits, y = logits_batch()
    assert build_loss("FL", K, {"gamma": 0.0})(logits, y).item() == pytest.approx(F.cross_entropy(logits, y).item())


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_every_loss_gives_a_finite_gradient_at_a_confident_wrong_prediction(name):
    logits = torch.tensor([[30.0] + [0.0] * (K - 1)], requires_grad=True)
    build_loss(name, K)(logits, torch.tensor([3])).backward()
    assert torch.isfinite(logits.grad).all()


def test_unknown_loss_name_lists_the_valid_ones():
    with pytest.raises(KeyError, match="NCE\\+RCE"):
        build_loss("XE", K)
