"""SALE-TD3 (saidl.rl.sale), observation attacks (saidl.rl.attacks) and embedding analysis
(saidl.rl.embedding). Small networks keep the file to a few seconds on a CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from saidl.rl import attacks as A
from saidl.rl import embedding as E
from saidl.rl.sale import AvgL1Norm, SALEConfig, SALEEncoder, SALETD3

OBS, ACT = 11, 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small_agent(**kw) -> SALETD3:
    cfg = {"hidden": 32, "zs_dim": 16, "seed": 0, **kw}
    return SALETD3(OBS, ACT, cfg)


def make_batch(B: int = 64, seed: int = 0) -> dict:
    """A batch as ReplayBuffer.sample gives it: ``next_obs`` is s_{t+k} (n-step), ``next_obs1`` s_{t+1}."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(B, OBS, generator=g)
    act = torch.rand(B, ACT, generator=g) * 2 - 1
    W = torch.randn(OBS, OBS, generator=g) * 0.3
    V = torch.randn(ACT, OBS, generator=g) * 0.3
    nxt1 = obs @ W + act @ V  # a fixed linear "dynamics"
    nxt = nxt1 @ W  # further ahead
    return {"obs": obs, "act": act, "rew": torch.randn(B, generator=g), "next_obs": nxt, "next_obs1": nxt1,
            "done": (torch.rand(B, generator=g) < 0.1).float(), "discount": torch.full((B,), 0.99**3),
            "weights": torch.rand(B, generator=g) + 0.5, "indices": np.arange(B)}


def params(module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in module.parameters()])


def test_avgl1norm_output_has_unit_mean_absolute_value():
    x = torch.randn(5, 40) * torch.tensor([[0.01], [1.0], [7.0], [100.0], [1e-3]])
    y = AvgL1Norm(x)
    assert torch.allclose(y.abs().mean(-1), torch.ones(5), atol=1e-5)
    assert torch.all(torch.sign(y) == torch.sign(x))
    assert torch.isfinite(AvgL1Norm(torch.zeros(2, 4))).all()  # the clamp avoids 0/0


def test_encoder_loss_decreases_on_fixed_synthetic_batch():
    torch.manual_seed(0)
    enc = SALEEncoder(OBS, ACT, zs_dim=32, hidden=64)
    opt = torch.optim.Adam(enc.parameters(), lr=3e-4)
    b = make_batch(128)
    losses = []
    for _ in range(40):
        loss = enc.loss(b["obs"], b["act"], b["next_obs"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    # f's output is AvgL1Norm-ed: the target cannot collapse to zero.
    assert torch.allclose(enc.zs(b["obs"]).abs().mean(-1), torch.ones(128), atol=1e-5)


def test_agent_update_trains_the_encoder_on_a_fixed_batch():
    agent = small_agent()
    b = make_batch(128)
    losses = [agent.update(b)["encoder_loss"] for _ in range(40)]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_sale_encoder_learns_the_one_step_next_state_and_requires_it():
    """TD7's SALE: L = MSE(g(f(s_t), a_t), sg f(s_{t+1})) with s_{t+1}, never the n-step s_{t+k}."""
    agent = small_agent()
    b = make_batch(64)
    act = b["act"] / agent.max_action
    with torch.no_grad():
        one_step = agent.encoder.loss(b["obs"], act, b["next_obs1"]).item()
        n_step = agent.encoder.loss(b["obs"], act, b["next_obs"]).item()
    assert abs(one_step - n_step) > 1e-4  # the two targets are told apart
    out = agent.update(b)
    assert out["encoder_loss"] == pytest.approx(one_step, rel=1e-6)
    assert agent.stats["encoder_target"] == "next_obs1"
    with pytest.raises(KeyError, match="next_obs1"):  # no silent fall-back to s_{t+k}
        agent.update({k: v for k, v in b.items() if k != "next_obs1"})


def test_the_initial_encoder_is_the_untrained_control():
    agent = small_agent(encoder_refresh=2)
    init = params(agent.encoder)
    assert torch.equal(params(agent.initial_encoder), init)
    for i in range(5):
        agent.update(make_batch(32, seed=i))
    assert torch.equal(params(agent.initial_encoder), init)  # never trained, never refreshed
    assert not torch.equal(params(agent.encoder), init) and not torch.equal(params(agent.fixed_encoder), init)
    x = torch.randn(6, OBS)
    assert torch.equal(agent.embed(x, which="initial"), agent.initial_encoder.zs(x))
    assert not torch.equal(agent.embed(x, which="initial"), agent.embed(x, which="online"))
    clone = small_agent(encoder_refresh=2)  # restored with a checkpoint
    clone.load_state_dict(agent.state_dict())
    assert torch.equal(params(clone.initial_encoder), init)


@pytest.mark.parametrize("delay", [2, 3])
def test_update_returns_contract_keys_finite_and_actor_updates_once_per_policy_delay(delay):
    agent = small_agent(policy_delay=delay, target_policy_smoothing=True)
    actor_before = params(agent.actor_head)
    flags = []
    for i in range(2 * delay):
        out = agent.update(make_batch(32, seed=i))
        assert {"critic_loss", "actor_loss", "td_errors", "actor_updated"} <= out.keys()
        assert np.isfinite(out["critic_loss"])
        assert isinstance(out["td_errors"], np.ndarray) and out["td_errors"].shape == (32,)
        assert np.all(np.isfinite(out["td_errors"])) and np.all(out["td_errors"] >= 0)
        assert (out["actor_loss"] is None) == (not out["actor_updated"])
        if out["actor_updated"]:
            assert np.isfinite(out["actor_loss"])
        flags.append(out["actor_updated"])
        if i == delay - 2:  # no actor step yet: actor weights untouched
            assert torch.equal(params(agent.actor_head), actor_before)
    assert flags == [(i + 1) % delay == 0 for i in range(2 * delay)]
    assert agent.actor_updates == 2
    assert not torch.equal(params(agent.actor_head), actor_before)


def test_td_errors_are_the_max_over_twin_critics_of_abs_q_minus_target():
    agent = small_agent(policy_delay=100)
    b = make_batch(16)
    with torch.no_grad():  # recompute before the update changes the critic
        zs_n = agent.fixed_encoder_target.zs(b["next_obs"])
        na = agent.actor_target(b["next_obs"], zs_n)
        q1t, q2t = agent.critic_target(b["next_obs"], na, agent.fixed_encoder_target.zsa(zs_n, na), zs_n)
        y = b["rew"] + b["discount"] * (1 - b["done"]) * torch.minimum(q1t, q2t)
        zs = agent.fixed_encoder.zs(b["obs"])
        q1, q2 = agent.critic(b["obs"], b["act"], agent.fixed_encoder.zsa(zs, b["act"]), zs)
        expected = torch.maximum((q1 - y).abs(), (q2 - y).abs()).numpy()
        loss = (b["weights"] * ((q1 - y) ** 2 + (q2 - y) ** 2)).mean().item()
    out = agent.update(b)
    np.testing.assert_allclose(out["td_errors"], expected, rtol=1e-5, atol=1e-6)
    assert out["critic_loss"] == pytest.approx(loss, rel=1e-5)


def test_fixed_encoders_refresh_exactly_every_encoder_refresh_updates():
    R = 3
    agent = small_agent(encoder_refresh=R)
    init = params(agent.encoder)
    fixed_prev = params(agent.fixed_encoder)
    assert torch.equal(fixed_prev, init) and torch.equal(params(agent.fixed_encoder_target), init)
    refreshed_at = []
    for step in range(1, 3 * R + 2):
        target_prev = params(agent.fixed_encoder_target)
        agent.update(make_batch(32, seed=step))
        fixed_now = params(agent.fixed_encoder)
        if not torch.equal(fixed_now, fixed_prev):
            refreshed_at.append(step)
            assert torch.equal(fixed_now, params(agent.encoder))  # fixed <- online
            assert torch.equal(params(agent.fixed_encoder_target), fixed_prev)  # target <- old fixed
        else:
            assert torch.equal(params(agent.fixed_encoder_target), target_prev)
            assert not torch.equal(params(agent.encoder), fixed_now)  # the online one keeps training
        fixed_prev = fixed_now
    assert refreshed_at == [R, 2 * R, 3 * R]
    assert agent.encoder_refreshes == 3
    # The actor reads the fixed encoder.
    x = torch.randn(4, OBS)
    expected = agent.actor_head(x, agent.fixed_encoder.zs(x))
    assert torch.allclose(agent.actor(x), expected)


def test_act_shapes_bounds_and_exploration():
    agent = small_agent()
    o = np.random.default_rng(0).normal(size=OBS)
    a = agent.act(o, explore=False)
    assert a.shape == (ACT,) and a.dtype == np.float32 and np.all(np.abs(a) <= 1)
    np.testing.assert_array_equal(a, agent.act(o, explore=False))
    assert not np.array_equal(a, agent.act(o, explore=True))
    assert agent.act(np.zeros((5, OBS)), explore=True).shape == (5, ACT)
    z = agent.embed(torch.zeros(5, OBS))
    assert z.shape == (5, 16) and not z.requires_grad


def test_config_accepts_dataclass_and_ignores_unknown_keys():
    agent = SALETD3(OBS, ACT, SALEConfig(hidden=16, zs_dim=8), seed=1, device=torch.device("cpu"))
    assert agent.cfg.seed == 1 and agent.cfg.hidden == 16
    agent = SALETD3(OBS, ACT, {"hidden": 16, "zs_dim": 8, "n_step": 3, "lr": 1e-3})
    assert agent.ignored_cfg_keys == ["n_step"] and agent.cfg.lr == 1e-3


def test_random_perturbation_stays_in_the_ball():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(500, OBS))
    scale = rng.uniform(0.1, 3.0, size=OBS)
    for sc in (None, scale):
        p = A.random_perturbation(obs, 0.2, rng, sc)
        r = 0.2 * (np.ones(OBS) if sc is None else sc)
        assert p.shape == obs.shape
        assert np.all(np.abs(p - obs) <= r + 1e-12)
        assert np.abs(p - obs).max() > 0.9 * r.min()  # it does use the ball
    single = A.random_perturbation(obs[0], 0.1, rng)
    assert single.shape == (OBS,)


def test_critic_attack_stays_in_the_ball_and_lowers_q_of_a_random_agent():
    agent = small_agent(hidden=64)
    agent.critic.train()
    agent.actor.eval()  # mixed modes must be restored as they were
    rng = np.random.default_rng(1)
    S = rng.normal(size=(128, OBS)).astype(np.float32)
    scale = rng.uniform(0.5, 2.0, size=OBS)
    eps = 0.3
    adv = A.critic_attack(S, agent, eps, steps=10, scale=scale)
    assert adv.shape == S.shape and adv.dtype == S.dtype
    assert np.all(np.abs(adv.astype(np.float64) - S) <= eps * scale + 1e-6)
    def q(x):
        with torch.no_grad():
            x = torch.as_tensor(x)
            return agent.q_value(x, agent.actor(x)).numpy()

    q_clean, q_adv = q(S), q(adv)
    assert np.all(q_adv <= q_clean + 1e-5)
    assert q_adv.mean() < q_clean.mean() - 1e-3
    assert q_adv.mean() < q(A.random_perturbation(S, eps, rng, scale)).mean()  # stronger than random
    # No gradient leaks into the agent, and the train/eval flags are restored.
    assert all(p.grad is None for m in (agent.critic, agent.actor_head, agent.encoder) for p in m.parameters())
    assert agent.critic.training and not agent.actor.training
    # q_at="true": the critic judges the induced action at the true state.
    adv_t = A.critic_attack(S, agent, eps, steps=5, scale=scale, q_at="true")
    assert np.all(np.abs(adv_t.astype(np.float64) - S) <= eps * scale + 1e-6)
    with torch.no_grad():
        x = torch.as_tensor(S)
        q_true = agent.q_value(x, agent.actor(torch.as_tensor(adv_t))).numpy()
    assert np.all(q_true <= q_clean + 1e-5) and q_true.mean() < q_clean.mean()
    # eps = 0 is the identity; a single observation keeps its shape.
    np.testing.assert_array_equal(A.critic_attack(S, agent, 0.0), S)
    assert A.critic_attack(S[0], agent, eps, steps=2).shape == (OBS,)


def test_linear_probe_r2_is_one_on_a_linear_target_and_zero_on_noise():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(2000, 8))
    S = rng.normal(size=(2000, 4))
    groups = np.repeat(np.arange(20), 100)
    targets = {"linear": Z @ rng.normal(size=8) + 3.0, "noise": rng.normal(size=2000)}
    out = E.linear_probe({"z": Z, "state": S}, targets, groups, n_folds=5)
    assert out["n_folds"] == 5 and out["n_trajectories"] == 20
    r2 = {f: {k: np.mean(v) for k, v in d.items()} for f, d in out["r2"].items()}
    assert all(len(v) == 5 for d in out["r2"].values() for v in d.values())
    assert r2["z"]["linear"] > 0.999
    assert abs(r2["z"]["noise"]) < 0.05
    assert abs(r2["state"]["linear"]) < 0.05 and abs(r2["state"]["noise"]) < 0.05


def test_probe_splits_by_trajectory_so_neighbouring_steps_do_not_leak():
    """Each trajectory drifts slowly through feature space and carries its own target value, which
    the features do not determine: a split over states lets the probe match test states to their
    training neighbours (high R^2); a split over trajectories does not."""
    rng = np.random.default_rng(0)
    n_traj, T, d = 12, 150, 16  # more features than trajectories, as z_s (256) against 10 episodes
    groups = np.repeat(np.arange(n_traj), T)
    start = rng.normal(size=(n_traj, d)) * 3
    Z = np.concatenate([s + np.cumsum(rng.normal(scale=0.02, size=(T, d)), 0) for s in start])
    y = np.repeat(rng.normal(size=n_traj), T) + 0.01 * rng.normal(size=n_traj * T)
    for train, test in E.trajectory_folds(groups, 4):
        assert not set(groups[train]) & set(groups[test])
    assert sorted(np.concatenate([te for _, te in E.trajectory_folds(groups, 4)])) == list(range(n_traj * T))
    perm = rng.permutation(len(y))  # the old split: at random over states
    leaky = E._ridge_r2(Z, y, perm[: int(0.7 * len(y))], perm[int(0.7 * len(y)):], ridge=1.0)
    assert leaky > 0.5
    out = E.linear_probe({"z": Z}, {"y": y}, groups, n_folds=4)
    assert np.mean(out["r2"]["z"]["y"]) < 0.2
    with pytest.raises(ValueError, match="2 trajectories"):
        E.trajectory_folds(np.zeros(10), 5)


def test_margin_rule_decides_only_beyond_the_larger_std():
    assert E.compare([0.9, 0.8, 0.85], [0.2, 0.3, 0.25])["outcome"] == "better"
    assert E.compare([0.2, 0.3, 0.25], [0.9, 0.8, 0.85])["outcome"] == "worse"
    res = E.compare([0.5, 0.9, 0.1], [0.4, 0.45, 0.35])  # diff 0.1 < std 0.4
    assert res["outcome"] == "within noise" and res["diff"] == pytest.approx(0.1)
    assert res["margin"] == pytest.approx(0.4)
    assert E.compare([0.9], [0.1])["outcome"] == "not tested"  # one value: no noise estimate
    # Near the ceiling a tiny but "significant" gap is no verdict: the margin is at least MIN_R2_GAP.
    assert E.compare([0.999, 0.9995], [0.990, 0.991])["outcome"] == "within noise"
    assert E.MIN_R2_GAP == 0.02
    assert E.compare([0.9, float("nan"), 0.8], [0.1, 0.2])["outcome"] == "better"  # NaN folds dropped


def test_summarise_pools_folds_over_seeds_and_gives_a_verdict_per_comparison():
    def analysis(trained, untrained, state):
        return {"n_states": 100, "n_episodes": 4, "neighbour_agreement": {"trained": 0.2, "untrained": 0.4},
                "probe": {"n_folds": 2, "n_trajectories": 4,
                          "r2": {"trained": {"g": trained}, "untrained": {"g": untrained}, "state": {"g": state}}},
                "encoder_target": "next_obs1", "encoder_updates": 300, "encoder_refreshes": 1, "encoder_refresh": 250,
                "pca": [[0, 0]], "pca_return": [1.0]}

    out = E.summarise([analysis([0.8, 0.9], [0.1, 0.2], [0.7, 0.95]), analysis([0.85, 0.8], [0.15, 0.1], [0.6, 0.9])])
    assert out["probe"]["trained"]["g"]["n"] == 4 and out["n_runs"] == 2
    assert out["probe"]["trained"]["g"]["mean"] == pytest.approx(np.mean([0.8, 0.9, 0.85, 0.8]))
    v = out["verdicts"]["g"]
    assert v["trained_vs_untrained"]["outcome"] == "better"
    assert v["trained_vs_state"]["outcome"] == "within noise"
    assert v["untrained_vs_state"]["outcome"] == "worse"
    assert out["encoder_target"] == ["next_obs1"] and out["neighbour_agreement"]["untrained"]["mean"] == 0.4


def test_neighbour_agreement_is_one_for_identical_spaces_and_low_for_unrelated():
    rng = np.random.default_rng(0)
    S = rng.normal(size=(300, OBS)) * rng.uniform(0.1, 10, size=OBS)
    Zs = (S - S.mean(0)) / S.std(0)
    assert E.neighbour_agreement(Zs, S, k=10) == pytest.approx(1.0)
    assert E.neighbour_agreement(S, S, k=10, standardise_z=True) == pytest.approx(1.0)
    assert E.neighbour_agreement(rng.normal(size=(300, 16)), S, k=10) < 0.15


def test_pca_2d_recovers_the_dominant_directions():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(400, 6)) * np.array([10, 5, 0.1, 0.1, 0.1, 0.1])
    xy, frac = E.pca_2d(Z, return_explained=True)
    assert xy.shape == (400, 2) and frac.sum() > 0.99
    assert abs(np.corrcoef(xy[:, 0], Z[:, 0])[0, 1]) > 0.99
    assert E.pca_2d(Z).shape == (400, 2)


def test_hopper_quantities_and_returns_to_go():
    assert E.HOPPER_QUANTITIES == {"height": 0, "angle": 1, "x_velocity": 5}
    assert [E.HOPPER_OBS_NAMES[i] for i in E.HOPPER_QUANTITIES.values()] == list(E.HOPPER_QUANTITIES)
    np.testing.assert_allclose(E.discounted_returns_to_go([1, 1, 1], 0.5), [1.75, 1.5, 1.0])


@pytest.mark.parametrize("attack", ["none", "random", "critic"])
def test_evaluate_runs_a_short_hopper_episode_with_each_attack(attack):
    pytest.importorskip("gymnasium")
    pytest.importorskip("mujoco")
    agent = small_agent()
    res = A.evaluate(agent, "Hopper-v4", episodes=1, eps=0.05 if attack != "none" else 0.0, attack=attack,
                     seed=0, scale=np.ones(OBS), max_steps=50)
    assert set(res) >= {"mean", "std", "returns"}
    assert len(res["returns"]) == 1 and np.isfinite(res["mean"]) and 1 <= res["lengths"][0] <= 50
    if attack == "random":  # seeded: reproducible (the other two are deterministic anyway)
        again = A.evaluate(agent, "Hopper-v4", episodes=1, eps=0.05, attack=attack, seed=0, scale=np.ones(OBS),
                           max_steps=50)
        assert again["returns"] == res["returns"]
