"""Replay memory: sum tree, uniform and prioritised replay (Schaul et al., 2016), n-step returns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from saidl.rl.buffer import NStepAccumulator, ReplayBuffer, SumTree


def fill(buffer: ReplayBuffer, n: int) -> None:
    """Add transitions whose obs/act/rew all equal their insertion number."""
    for t in range(n):
        buffer.add(np.full(buffer.obs.shape[1], t), np.full(buffer.act.shape[1], t), t,
                   np.full(buffer.obs.shape[1], t + 1), 0.0, 0.99)


def frequencies(indices: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(indices, minlength=n) / len(indices)


# --- SumTree -------------------------------------------------------------------------------


def test_sum_tree_samples_in_proportion_to_priorities():
    priorities = np.array([1.0, 0.0, 3.0, 0.5, 2.0, 0.25])  # 6 leaves: padded to 8
    tree = SumTree(len(priorities))
    tree.update(np.arange(len(priorities)), priorities)
    rng = np.random.default_rng(0)
    leaves = tree.find(rng.random(100_000) * tree.total())
    assert leaves.min() >= 0 and leaves.max() < len(priorities)
    freq = frequencies(leaves, len(priorities))
    assert freq[1] == 0  # zero priority is never drawn
    np.testing.assert_allclose(freq, priorities / priorities.sum(), atol=0.01)


def test_sum_tree_find_maps_prefix_sums_to_leaves():
    tree = SumTree(5)
    tree.update(np.arange(5), np.array([1.0, 2.0, 0.0, 3.0, 4.0]))
    # prefix sums: [0,1) -> 0, [1,3) -> 1, [3,6) -> 3, [6,10) -> 4; edges included
    values = np.array([0.0, 0.999, 1.0, 2.999, 3.0, 5.999, 6.0, 9.999, 10.0, 1e9, -1.0])
    np.testing.assert_array_equal(tree.find(values), [0, 0, 1, 1, 3, 3, 4, 4, 4, 4, 0])


def test_sum_tree_total_equals_sum_after_updates_and_overwrites():
    rng = np.random.default_rng(1)
    tree = SumTree(13)
    leaves = np.zeros(13)
    for _ in range(50):
        idx = rng.integers(0, 13, size=4)
        pri = rng.random(4) * 5
        tree.update(idx, pri)
        for i, p in zip(idx, pri):  # a repeated index keeps its last value
            leaves[i] = p
        assert tree.total() == pytest.approx(leaves.sum(), rel=1e-12)
        np.testing.assert_allclose(tree[np.arange(13)], leaves)
    tree.update(np.array([3]), np.array([100.0]))
    tree.update(np.array([3]), np.array([0.5]))  # overwriting lowers the total again
    leaves[3] = 0.5
    assert tree.total() == pytest.approx(leaves.sum(), rel=1e-12)
    assert tree.max_priority == 100.0  # the running max is not lowered by an overwrite


def test_sum_tree_of_capacity_one():
    tree = SumTree(1)
    tree.update(np.array([0]), np.array([2.5]))
    assert tree.total() == 2.5
    np.testing.assert_array_equal(tree.find(np.array([0.0, 2.0])), [0, 0])


# --- prioritised replay ---------------------------------------------------------------------


def test_prioritized_sampling_frequencies_follow_p_to_the_alpha():
    alpha = 0.6
    buffer = ReplayBuffer(2, 1, capacity=5, prioritized=True, alpha=alpha, eps=0.0, seed=0)
    fill(buffer, 5)
    td = np.array([0.5, 4.0, 1.0, 0.1, 2.0])
    buffer.update_priorities(np.arange(5), td)
    drawn = np.concatenate([buffer.sample(256)["indices"] for _ in range(400)])
    expected = td**alpha / (td**alpha).sum()
    np.testing.assert_allclose(frequencies(drawn, 5), expected, atol=0.01)


def test_prioritized_sampling_is_stratified_one_draw_per_segment():
    buffer = ReplayBuffer(1, 1, capacity=4, prioritized=True, alpha=1.0, eps=0.0)
    fill(buffer, 4)  # all priorities equal: segment k of 4 holds exactly leaf k
    for _ in range(20):
        np.testing.assert_array_equal(buffer.sample(4)["indices"], [0, 1, 2, 3])


def test_importance_weights_match_the_formula():
    alpha, beta = 0.6, 0.4
    buffer = ReplayBuffer(2, 1, capacity=8, prioritized=True, alpha=alpha, eps=1e-6, seed=3)
    fill(buffer, 4)  # N = 4 of capacity 8
    td = np.array([0.2, -1.5, 3.0, 0.7])
    buffer.update_priorities(np.arange(4), td)
    batch = buffer.sample(16, beta=beta)
    p_alpha = (np.abs(td) + 1e-6) ** alpha
    probs = p_alpha / p_alpha.sum()  # P(i)
    w = (4 * probs[batch["indices"]]) ** -beta  # w_i = (N P(i))^-beta
    np.testing.assert_allclose(batch["weights"].numpy(), w / w.max(), rtol=1e-5)
    assert batch["weights"].max().item() == pytest.approx(1.0)


def test_new_transitions_get_the_max_priority():
    buffer = ReplayBuffer(1, 1, capacity=4, prioritized=True, alpha=0.5, eps=0.0)
    fill(buffer, 2)
    np.testing.assert_allclose(buffer.tree[[0, 1]], [1.0, 1.0])  # max starts at 1
    buffer.update_priorities(np.array([0, 1]), np.array([9.0, 0.25]))
    fill(buffer, 1)
    assert buffer.tree[2] == pytest.approx(9.0**0.5)  # the largest priority seen, to the alpha
    buffer.update_priorities(np.array([0]), np.array([0.01]))
    fill(buffer, 1)
    assert buffer.tree[3] == pytest.approx(9.0**0.5)  # a running max: not lowered


def test_update_priorities_changes_sampling():
    buffer = ReplayBuffer(1, 1, capacity=4, prioritized=True, alpha=1.0, eps=1e-6, seed=0)
    fill(buffer, 4)
    before = np.concatenate([buffer.sample(64)["indices"] for _ in range(50)])
    np.testing.assert_allclose(frequencies(before, 4), 0.25, atol=0.03)
    buffer.update_priorities(np.array([0, 1, 2, 3]), torch.tensor([0.0, 0.0, 0.0, 5.0]))
    after = np.concatenate([buffer.sample(64)["indices"] for _ in range(50)])
    assert frequencies(after, 4)[3] > 0.99


# --- uniform replay, shapes, seeds ----------------------------------------------------------


def test_uniform_buffer_wraps_around_and_keeps_the_newest():
    buffer = ReplayBuffer(3, 2, capacity=5)
    fill(buffer, 12)  # 0..11 written; 7..11 survive
    assert len(buffer) == 5 and buffer.pos == 12 % 5
    assert sorted(buffer.rew.tolist()) == [7, 8, 9, 10, 11]
    drawn = buffer.sample(1000)
    assert set(drawn["rew"].tolist()) == {7, 8, 9, 10, 11}
    torch.testing.assert_close(drawn["obs"][:, 0], drawn["rew"])  # rows stay aligned
    torch.testing.assert_close(drawn["next_obs"][:, 0], drawn["rew"] + 1)
    assert torch.all(drawn["weights"] == 1)


def test_sample_returns_float32_tensors_of_the_right_shapes():
    for prioritized in (False, True):
        buffer = ReplayBuffer(11, 3, capacity=100, prioritized=prioritized)
        fill(buffer, 30)
        batch = buffer.sample(32, beta=0.5)
        shapes = {"obs": (32, 11), "act": (32, 3), "rew": (32,), "next_obs": (32, 11),
                  "done": (32,), "discount": (32,), "weights": (32,)}
        for key, shape in shapes.items():
            assert batch[key].dtype == torch.float32 and tuple(batch[key].shape) == shape, key
        assert isinstance(batch["indices"], np.ndarray) and batch["indices"].shape == (32,)
        assert batch["indices"].max() < 30


def test_same_seed_gives_same_samples():
    for prioritized in (False, True):
        a, b, c = (ReplayBuffer(2, 1, 50, prioritized=prioritized, seed=s) for s in (7, 7, 8))
        for buffer in (a, b, c):
            fill(buffer, 40)
            buffer.update_priorities(np.arange(40), np.arange(40) % 7)
        ia, ib, ic = (buffer.sample(16)["indices"] for buffer in (a, b, c))
        np.testing.assert_array_equal(ia, ib)
        assert not np.array_equal(ia, ic)


# --- n-step returns -------------------------------------------------------------------------

GAMMA = 0.9
REWARDS = [1.0, 2.0, 3.0, 4.0, 5.0]


def run_episode(n: int, *, terminated: bool) -> list[tuple]:
    """A 5-step episode with obs_t = t, act_t = 10 t, reward r_t = REWARDS[t]."""
    acc = NStepAccumulator(n, GAMMA)
    out = []
    for t, r in enumerate(REWARDS):
        last = t == len(REWARDS) - 1
        emitted = acc.push(np.array([t]), np.array([10 * t]), r, np.array([t + 1]),
                           terminated and last, (not terminated) and last)
        if n == 3 and not last:  # inside the episode: nothing until the window is full
            assert len(emitted) == (1 if t >= 2 else 0)
        out += emitted
    assert len(acc.window) == 0  # empty for the next episode
    return out


# By hand, n = 3, gamma = 0.9: (obs, R, next_obs, discount)
NSTEP_BY_HAND = [
    (0, 1 + 0.9 * 2 + 0.81 * 3, 3, 0.729),
    (1, 2 + 0.9 * 3 + 0.81 * 4, 4, 0.729),
    (2, 3 + 0.9 * 4 + 0.81 * 5, 5, 0.729),
    (3, 4 + 0.9 * 5, 5, 0.81),
    (4, 5.0, 5, 0.9),
]


def check_against_hand(out: list[tuple], dones: list[float]) -> None:
    assert len(out) == len(NSTEP_BY_HAND)  # none of the last n - 1 transitions is dropped
    for (obs, act, ret, next_obs, done, discount, next_obs1), expected, d in zip(out, NSTEP_BY_HAND, dones):
        obs0, ret0, next0, disc0 = expected
        assert obs.item() == obs0 and act.item() == 10 * obs0
        assert ret == pytest.approx(ret0)
        assert next_obs.item() == next0
        assert next_obs1.item() == obs0 + 1  # the one-step next state, whatever k is
        assert discount == pytest.approx(disc0)
        assert done == d


def test_nstep_returns_on_termination_truncate_the_sum_and_set_done():
    # inside the window done = 0; the flush at termination sets done = 1 for every pending step
    check_against_hand(run_episode(3, terminated=True), dones=[0, 0, 1, 1, 1])


def test_nstep_returns_on_truncation_bootstrap_from_the_last_next_obs():
    check_against_hand(run_episode(3, terminated=False), dones=[0, 0, 0, 0, 0])


def test_one_step_accumulator_reproduces_the_raw_transitions():
    for terminated in (True, False):
        out = run_episode(1, terminated=terminated)
        assert len(out) == len(REWARDS)
        for t, (obs, act, ret, next_obs, done, discount, next_obs1) in enumerate(out):
            assert (obs.item(), act.item(), ret, next_obs.item()) == (t, 10 * t, REWARDS[t], t + 1)
            assert next_obs1.item() == next_obs.item()
            assert discount == pytest.approx(GAMMA)
            assert done == (1.0 if terminated and t == len(REWARDS) - 1 else 0.0)


def test_nstep_window_restarts_after_an_episode_and_copies_inputs():
    acc = NStepAccumulator(2, GAMMA)
    obs = np.array([0.0])
    acc.push(obs, np.array([0.0]), 1.0, np.array([1.0]), True, False)
    obs[0] = 99.0  # the env mutating its array in place must not change what was stored
    first = acc.push(np.array([5.0]), np.array([0.0]), 1.0, np.array([6.0]), False, False)
    assert first == []  # the previous episode left nothing in the window
    (tr,) = acc.push(np.array([6.0]), np.array([0.0]), 2.0, np.array([7.0]), False, False)
    assert tr[0].item() == 5.0 and tr[2] == pytest.approx(1 + GAMMA * 2) and tr[3].item() == 7.0


def test_nstep_transitions_feed_the_buffer():
    acc = NStepAccumulator(3, GAMMA)
    buffer = ReplayBuffer(1, 1, capacity=10)
    for t, r in enumerate(REWARDS):
        for transition in acc.push(np.array([t]), np.array([t]), r, np.array([t + 1]),
                                   t == 4, False):
            buffer.add(*transition)
    assert len(buffer) == 5
    np.testing.assert_allclose(buffer.rew[:5], [row[1] for row in NSTEP_BY_HAND], rtol=1e-6)
    np.testing.assert_allclose(buffer.discount[:5], [row[3] for row in NSTEP_BY_HAND], rtol=1e-6)
    np.testing.assert_array_equal(buffer.done[:5], [0, 0, 1, 1, 1])


def test_buffer_stores_the_one_step_next_state_beside_the_nstep_one():
    """SALE's encoder learns f(s_{t+1}) (TD7): each sampled n-step transition carries s_{t+1}."""
    acc = NStepAccumulator(3, GAMMA)
    buffer = ReplayBuffer(1, 1, capacity=20, prioritized=True)
    for t in range(12):  # one 12-step episode, obs_t = t
        for transition in acc.push(np.array([t]), np.array([t]), 1.0, np.array([t + 1]), t == 11, False):
            buffer.add(*transition)
    batch = buffer.sample(64)
    obs, nxt, nxt1 = (batch[k].numpy().ravel() for k in ("obs", "next_obs", "next_obs1"))
    np.testing.assert_array_equal(nxt1, obs + 1)
    assert np.all(nxt - obs == np.minimum(3, 12 - obs))  # the n-step target state is k <= 3 ahead
    assert np.any(nxt != nxt1)
    # Without next_obs1 (a one-step transition) the two next states are the same.
    one = ReplayBuffer(1, 1, capacity=4)
    one.add(np.array([0.0]), np.array([0.0]), 1.0, np.array([5.0]), 0.0, GAMMA)
    assert one.sample(2)["next_obs1"].numpy().ravel().tolist() == [5.0, 5.0]
