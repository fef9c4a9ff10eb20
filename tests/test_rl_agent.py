"""TD3 agent: standardised noise laws, Noisy Nets layer, Polyak targets, delayed actor, TD target."""

import math

import numpy as np
import pytest
import torch

from saidl.rl.networks import Actor, Critic, NoisyLinear
from saidl.rl.noise import DISTRIBUTIONS, SHAPE, moments, sample_noise
from saidl.rl.td3 import TD3, TD3Config, polyak_update

OBS, ACT = 11, 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _batch(n=256, seed=0, obs=OBS, act=ACT):
    g = torch.Generator().manual_seed(seed)
    return {"obs": torch.randn(n, obs, generator=g), "act": torch.rand(n, act, generator=g) * 2 - 1,
            "rew": torch.randn(n, generator=g), "next_obs": torch.randn(n, obs, generator=g),
            "done": (torch.rand(n, generator=g) < 0.1).float(),
            "discount": torch.full((n,), 0.99), "weights": torch.ones(n)}


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


# ---- noise laws ------------------------------------------------------------------------------
@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_each_noise_law_has_mean_zero_and_variance_one(dist):
    x = sample_noise(dist, (200_000,), torch.Generator().manual_seed(0)).double()
    mean, var = moments(dist)
    assert abs(x.mean().item() - mean) < 0.02
    assert abs(x.var().item() - var) < 0.02
    skew = ((x - x.mean()) ** 3).mean().item() / x.std().item() ** 3
    assert abs(skew - SHAPE[dist][0]) < 0.1  # only gamma is skewed (sqrt2)


def test_gamma_noise_is_right_skewed_and_uniform_is_bounded_by_sqrt3():
    g = torch.Generator().manual_seed(1)
    assert (sample_noise("gamma", (200_000,), g) ** 3).mean() > 1.0
    u = sample_noise("uniform", (200_000,), g)
    assert u.abs().max() <= math.sqrt(3.0) and u.abs().max() > 0.99 * math.sqrt(3.0)
    b = sample_noise("beta", (200_000,), g)  # Beta(2, 2) standardised: support [-sqrt5, sqrt5]
    assert b.abs().max() <= math.sqrt(5.0)
    assert torch.isfinite(sample_noise("laplace", (200_000,), g)).all()


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_same_generator_seed_gives_same_noise(dist):
    a = sample_noise(dist, (4, 5), torch.Generator().manual_seed(7))
    b = sample_noise(dist, (4, 5), torch.Generator().manual_seed(7))
    c = sample_noise(dist, (4, 5), torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_unknown_noise_law_is_rejected():
    with pytest.raises(ValueError):
        sample_noise("cauchy", (3,), None)
    with pytest.raises(ValueError):
        TD3Config(noisy="cauchy")


# ---- NoisyLinear -----------------------------------------------------------------------------
def test_noisy_linear_init_follows_independent_noisy_nets():
    torch.manual_seed(0)
    layer = NoisyLinear(64, 32)
    bound = math.sqrt(3.0 / 64)
    for mu in (layer.weight_mu, layer.bias_mu):
        assert mu.abs().max() <= bound
    assert layer.weight_mu.abs().max() > 0.95 * bound  # fills the range
    assert torch.all(layer.weight_sigma == 0.017) and torch.all(layer.bias_sigma == 0.017)
    assert layer.sigma_mean() == pytest.approx(0.017)


def test_noisy_linear_eval_mode_equals_mean_weight_linear():
    layer = NoisyLinear(8, 5, dist="laplace")
    layer.resample(torch.Generator().manual_seed(0))
    x = torch.randn(10, 8)
    layer.eval()
    assert torch.equal(layer(x), torch.nn.functional.linear(x, layer.weight_mu, layer.bias_mu))


def test_noise_changes_noisy_linear_output_in_train_mode():
    layer = NoisyLinear(8, 5).train()
    g, x = torch.Generator().manual_seed(0), torch.randn(10, 8)
    layer.resample(g)
    y1, y1_again = layer(x), layer(x)
    layer.resample(g)
    y2 = layer(x)
    mean = torch.nn.functional.linear(x, layer.weight_mu, layer.bias_mu)
    assert torch.equal(y1, y1_again)  # noise only changes on resample
    assert not torch.allclose(y1, y2) and not torch.allclose(y1, mean)
    w = layer.weight_mu + layer.weight_sigma * layer.weight_eps
    assert torch.allclose(y2, x @ w.T + layer.bias_mu + layer.bias_sigma * layer.bias_eps, atol=1e-6)


def test_gradients_reach_sigma():
    layer = NoisyLinear(8, 5, dist="gamma").train()
    layer.resample(torch.Generator().manual_seed(0))
    x = torch.randn(10, 8)
    layer(x).sum().backward()
    assert layer.weight_sigma.grad.abs().sum() > 0 and layer.bias_sigma.grad.abs().sum() > 0
    # d/d sigma_w[j, i] of sum(y) = eps_w[j, i] * sum_n x[n, i]
    assert torch.allclose(layer.weight_sigma.grad, layer.weight_eps * x.sum(0), atol=1e-5)


def test_noisy_actor_reports_sigma_and_plain_actor_does_not():
    assert Actor(OBS, ACT, noisy="beta").noisy_sigma() == pytest.approx(0.017)
    assert Actor(OBS, ACT).noisy_sigma() is None
    q1, q2 = Critic(OBS, ACT)(torch.randn(4, OBS), torch.randn(4, ACT))
    assert q1.shape == q2.shape == (4,)


# ---- TD3 -------------------------------------------------------------------------------------
def test_polyak_update_mixes_tau_of_source_into_target():
    torch.manual_seed(0)
    target, source = torch.nn.Linear(6, 4), torch.nn.Linear(6, 4)
    before = _params(target)
    polyak_update(target, source, 0.005)
    for t, t0, s in zip(target.parameters(), before, source.parameters()):
        expected = 0.005 * s.double() + 0.995 * t0.double()
        assert torch.allclose(t.double(), expected, rtol=0, atol=1e-7)
    polyak_update(target, source, 1.0)  # tau = 1: hard copy
    assert _same(_params(target), _params(source))


def test_actor_updates_once_per_policy_delay_critic_updates():
    agent = TD3(OBS, ACT, TD3Config(policy_delay=2), seed=0)
    actor0, actor_t0, critic0 = _params(agent.actor), _params(agent.actor_target), _params(agent.critic)
    out = agent.update(_batch(64))
    assert not out["actor_updated"] and out["actor_loss"] is None
    assert _same(_params(agent.actor), actor0) and _same(_params(agent.actor_target), actor_t0)
    assert not _same(_params(agent.critic), critic0)
    flags = [out["actor_updated"]] + [agent.update(_batch(64, seed=i))["actor_updated"]
                                      for i in range(1, 6)]
    assert flags == [False, True] * 3
    assert agent.total_updates == 6 and agent.actor_updates == 3
    assert not _same(_params(agent.actor), actor0) and not _same(_params(agent.actor_target), actor_t0)


def test_td_target_ignores_bootstrap_when_done_and_uses_gamma_n_otherwise():
    agent = TD3(OBS, ACT, TD3Config(), seed=0)
    # Make Q'_1 = 5 and Q'_2 = 3 everywhere, so min_j Q'_j = 3.
    for net, c in ((agent.critic_target.q1_net, 5.0), (agent.critic_target.q2_net, 3.0)):
        torch.nn.init.zeros_(net[-1].weight)
        torch.nn.init.constant_(net[-1].bias, c)
    g3 = 0.99 ** 3
    batch = {"obs": torch.randn(2, OBS), "act": torch.zeros(2, ACT), "next_obs": torch.randn(2, OBS),
             "rew": torch.tensor([1.0, 2.0]), "done": torch.tensor([1.0, 0.0]),
             "discount": torch.tensor([g3, g3]), "weights": torch.tensor([1.0, 0.5])}
    y = agent.td_target(batch["rew"], batch["next_obs"], batch["done"], batch["discount"])
    assert torch.allclose(y, torch.tensor([1.0, 2.0 + g3 * 3.0]))
    # update() regresses onto that y with the PER-weighted sum of both critics' squared errors.
    with torch.no_grad():
        q1, q2 = agent.critic(batch["obs"], batch["act"])
    y = torch.tensor([1.0, 2.0 + g3 * 3.0])
    out = agent.update(batch)
    loss = (batch["weights"] * ((q1 - y) ** 2 + (q2 - y) ** 2)).mean()
    assert out["critic_loss"] == pytest.approx(loss.item(), rel=1e-5)
    assert np.allclose(out["td_errors"], torch.max((q1 - y).abs(), (q2 - y).abs()).numpy(), atol=1e-5)


def test_target_action_is_the_target_actor_without_smoothing():
    s = torch.randn(32, OBS)
    agent = TD3(OBS, ACT, TD3Config(target_policy_smoothing=False), seed=0)
    assert torch.equal(agent.target_action(s), agent.actor_target(s))
    smooth = TD3(OBS, ACT, TD3Config(target_policy_smoothing=True), seed=0)
    a, base = smooth.target_action(s), smooth.actor_target(s)
    assert not torch.equal(a, base)
    assert (a - base).abs().max() <= 0.5 + 1e-6 and a.abs().max() <= 1.0


@pytest.mark.parametrize("noisy", [None, "gaussian", "gamma"])
def test_update_on_random_batch_returns_finite_losses_and_per_sample_td_errors(noisy):
    agent = TD3(OBS, ACT, TD3Config(noisy=noisy), seed=0)
    outs = [agent.update(_batch(256, seed=i)) for i in range(2)]
    assert all(np.isfinite(o["critic_loss"]) for o in outs) and np.isfinite(outs[1]["actor_loss"])
    assert outs[1]["td_errors"].shape == (256,) and np.isfinite(outs[1]["td_errors"]).all()


def test_exploration_noise_is_bounded_and_evaluation_is_deterministic():
    obs = np.random.default_rng(0).normal(size=OBS).astype(np.float32)
    agent = TD3(OBS, ACT, TD3Config(), seed=0)
    a_eval = agent.act(obs, explore=False)
    assert a_eval.shape == (ACT,) and np.array_equal(a_eval, agent.act(obs, explore=False))
    a_expl = np.stack([agent.act(obs, explore=True) for _ in range(200)])
    assert np.abs(a_expl).max() <= 1.0
    assert 0.05 < (a_expl - a_eval).std() < 0.15  # N(0, 0.1), up to clipping


def test_noisy_actor_explores_by_resampling_and_evaluates_with_mean_weights():
    obs = np.random.default_rng(0).normal(size=(5, OBS)).astype(np.float32)
    agent = TD3(OBS, ACT, TD3Config(noisy="uniform"), seed=0)
    a_eval = agent.act(obs, explore=False)
    assert np.array_equal(a_eval, agent.act(obs, explore=False))
    agent.actor.eval()
    with torch.no_grad():
        assert np.allclose(a_eval, agent.actor(torch.from_numpy(obs)).numpy())
    agent.actor.train()
    a1, a2 = agent.act(obs, explore=True), agent.act(obs, explore=True)
    assert not np.array_equal(a1, a2) and not np.array_equal(a1, a_eval)
    assert not agent.actor_target.training  # target actor: mean weights


def test_same_seed_gives_same_agent_and_checkpoint_round_trips():
    a, b = TD3(OBS, ACT, TD3Config(noisy="laplace"), seed=3), TD3(OBS, ACT, TD3Config(noisy="laplace"), seed=3)
    obs = np.zeros(OBS, np.float32)
    assert np.array_equal(a.act(obs, True), b.act(obs, True))
    for i in range(2):
        a.update(_batch(32, seed=i))
    c = TD3(OBS, ACT, TD3Config(noisy="laplace"), seed=99)
    c.load_state_dict(a.state_dict())
    assert _same(_params(c.actor), _params(a.actor)) and c.actor_updates == a.actor_updates
    assert np.array_equal(c.act(obs, True), a.act(obs, True))


def test_q_value_is_the_first_critic_and_differentiable_in_obs():
    agent = TD3(OBS, ACT, TD3Config(), seed=0)
    s = torch.randn(4, OBS, requires_grad=True)
    q = agent.q_value(s, agent.actor(s))
    assert q.shape == (4,) and torch.equal(q, agent.critic(s, agent.actor(s))[0])
    (grad,) = torch.autograd.grad(q.sum(), s)
    assert grad.abs().sum() > 0
