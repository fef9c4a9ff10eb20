"""The fast paths of the RL hot loop compute exactly what the straightforward code computes.

* SumTree: the vectorised update without ``np.unique`` and the scalar one-leaf path (every
  ``ReplayBuffer.add``) give bit-identical nodes to (a) a full bottom-up recomputation and (b) the
  former per-level ``np.unique`` update; ``find`` agrees with a scalar descent; a prioritized
  buffer on the fast tree samples the same indices and weights as one on the reference tree.
* Noise laws: each law is drawn from the same generator stream as the straightforward
  construction written in its docstring.
* SALE's ELU: within one float32 ulp of ``F.elu`` forward and identical gradients.
* The agents' cached parameter lists (Polyak updates and the critic's requires_grad toggle):
  the same updates as walking the modules, also after a checkpoint is loaded.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from saidl.rl.buffer import ReplayBuffer, SumTree
from saidl.rl.noise import DISTRIBUTIONS, sample_noise


class UniqueSumTree(SumTree):
    """The former update: parents deduplicated with np.unique at every level."""

    def update(self, indices, priorities):
        indices = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        priorities = np.broadcast_to(np.asarray(priorities, dtype=np.float64), indices.shape)
        if indices.size == 0:
            return
        self.nodes[self.size + indices] = priorities
        self.max_priority = max(self.max_priority, float(priorities.max()))
        nodes = np.unique((self.size + indices) // 2)
        for _ in range(self.depth):
            self.nodes[nodes] = self.nodes[2 * nodes] + self.nodes[2 * nodes + 1]
            nodes = np.unique(nodes // 2)

    def set(self, index, priority):
        self.update(np.array([index]), np.array([priority]))


def recomputed(tree: SumTree) -> np.ndarray:
    """Every internal node recomputed bottom-up from the leaves."""
    nodes = tree.nodes.copy()
    for i in range(tree.size - 1, 0, -1):
        nodes[i] = nodes[2 * i] + nodes[2 * i + 1]
    return nodes


def scalar_find(tree: SumTree, value: float) -> int:
    value = min(max(float(value), 0.0), float(np.nextafter(tree.total(), 0)))
    node = 1
    while node < tree.size:
        left, right = tree.nodes[2 * node], tree.nodes[2 * node + 1]
        if value >= left and right > 0:
            value, node = value - left, 2 * node + 1
        else:
            node = 2 * node
    return node - tree.size


@pytest.mark.parametrize("capacity", [1, 2, 5, 64, 1000])
def test_sum_tree_updates_match_the_references_bit_for_bit(capacity):
    rng = np.random.default_rng(capacity)
    fast, ref = SumTree(capacity), UniqueSumTree(capacity)
    for step in range(300):
        kind = step % 3
        if kind == 0:  # a batch with repeated indices (siblings and exact repeats)
            idx = rng.integers(0, capacity, size=rng.integers(1, 40))
            idx = np.concatenate([idx, idx[: len(idx) // 2]])
            pri = rng.exponential(size=len(idx)) ** 0.6
            fast.update(idx, pri)
            ref.update(idx, pri)
        elif kind == 1:  # one leaf, the scalar path of ReplayBuffer.add
            i, p = int(rng.integers(capacity)), float(rng.exponential())
            fast.set(i, p)
            ref.set(i, p)
        else:  # a one-element array through update, and zeros
            i = rng.integers(capacity, size=1)
            fast.update(i, [0.0])
            ref.update(i, [0.0])
        np.testing.assert_array_equal(fast.nodes, ref.nodes)
        np.testing.assert_array_equal(fast.nodes, recomputed(fast))
        assert fast.max_priority == ref.max_priority
    values = rng.uniform(-0.1, 1.1, size=500) * fast.total()
    expected = [scalar_find(fast, v) for v in values]
    np.testing.assert_array_equal(fast.find(values), expected)


def test_sum_tree_fast_paths_still_reject_bad_input():
    tree = SumTree(8)
    for bad in (lambda: tree.set(8, 1.0), lambda: tree.set(-1, 1.0), lambda: tree.update([0, 9], [1, 1])):
        with pytest.raises(IndexError):
            bad()
    for bad in (lambda: tree.set(0, -1.0), lambda: tree.set(0, float("nan")),
                lambda: tree.update([0, 1], [1.0, float("inf")])):
        with pytest.raises(ValueError):
            bad()
    assert tree.total() == 0.0


def test_prioritized_buffer_samples_as_with_the_reference_tree():
    rng = np.random.default_rng(0)
    fast, ref = (ReplayBuffer(4, 2, 300, prioritized=True, seed=3) for _ in range(2))
    ref.tree = UniqueSumTree(300)
    for t in range(700):  # wraps around twice
        tr = (rng.standard_normal(4), rng.standard_normal(2), float(rng.standard_normal()),
              rng.standard_normal(4), 0.0, 0.97)
        fast.add(*tr)
        ref.add(*tr)
        if t >= 64:
            bf, br = fast.sample(32, beta=0.5), ref.sample(32, beta=0.5)
            np.testing.assert_array_equal(bf["indices"], br["indices"])
            assert torch.equal(bf["weights"], br["weights"]) and torch.equal(bf["obs"], br["obs"])
            td = rng.standard_normal(32)
            fast.update_priorities(bf["indices"], td)
            ref.update_priorities(br["indices"], td)
    np.testing.assert_array_equal(fast.tree.nodes, ref.tree.nodes)


def _exp1(shape, g):
    return -torch.log1p(-torch.rand(shape, generator=g))


STRAIGHTFORWARD = {
    "gaussian": lambda s, g: torch.randn(s, generator=g),
    "uniform": lambda s, g: math.sqrt(3.0) * (2.0 * torch.rand(s, generator=g) - 1.0),
    "laplace": lambda s, g: (_exp1(s, g) - _exp1(s, g)) / math.sqrt(2.0),
    "beta": lambda s, g: (torch.rand((3, *s), generator=g).median(dim=0).values - 0.5) * math.sqrt(20.0),
    "gamma": lambda s, g: (_exp1(s, g) + _exp1(s, g) - 2.0) / math.sqrt(2.0),
}


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_noise_laws_follow_the_straightforward_construction(dist):
    shape = (257, 33)
    fast = sample_noise(dist, shape, torch.Generator().manual_seed(5))
    ref = STRAIGHTFORWARD[dist](shape, torch.Generator().manual_seed(5))
    # Same draws from the same stream; Exp(1) = -log(1 - U) may round differently from
    # -log1p(-U) in the last bit (1 - U is exact for torch's float32 uniforms).
    torch.testing.assert_close(fast, ref, rtol=0, atol=2e-6 if dist in ("laplace", "gamma") else 0)


def test_sale_elu_matches_torch_elu_within_an_ulp_with_the_same_gradient():
    from saidl.rl.sale import elu

    x = torch.cat([torch.randn(20_000) * s for s in (1e-6, 1e-2, 1.0, 10.0)] +
                  [torch.tensor([0.0, -0.0, -100.0, 100.0, -float("inf")])]).requires_grad_()
    y, y_ref = elu(x), F.elu(x)
    torch.testing.assert_close(y, y_ref, rtol=1.2e-7, atol=0)
    g = torch.randn_like(y)
    (gx,) = torch.autograd.grad(y, x, g)
    (gx_ref,) = torch.autograd.grad(y_ref, x, g)
    assert torch.equal(gx, gx_ref)


def _module_walking_update(agent, batch):
    """The update as written before the parameter lists were cached: every list from the modules."""
    saved = agent._params
    agent._params = {name: list(getattr(agent, name).parameters()) for name in saved}
    try:
        return agent.update(batch)
    finally:
        agent._params = saved


@pytest.mark.parametrize("kind", ["td3", "sale"])
def test_cached_parameter_lists_give_the_module_walking_updates(kind):
    from saidl.rl.sale import SALETD3
    from saidl.rl.td3 import TD3, TD3Config

    def make(seed):
        if kind == "td3":
            return TD3(5, 2, TD3Config(hidden=16, policy_delay=1), seed=seed)
        return SALETD3(5, 2, dict(hidden=16, zs_dim=8, policy_delay=1, encoder_refresh=2), seed=seed)

    g = torch.Generator().manual_seed(0)
    batch = {k: torch.randn(8, d, generator=g) for k, d in [("obs", 5), ("act", 2), ("next_obs", 5),
                                                            ("next_obs1", 5)]}
    batch.update({k: torch.rand(8, generator=g) for k in ("rew", "done", "discount", "weights")})
    a, b = make(0), make(0)
    donor = make(1)
    for _ in range(3):
        donor.update(batch)
    for agent in (a, b):  # a checkpoint loaded into the agents: the cached lists must follow it
        agent.load_state_dict(copy.deepcopy(donor.state_dict()))
    for _ in range(4):
        a.update(batch)
        _module_walking_update(b, batch)
    for name in a._params:
        for p, q in zip(getattr(a, name).parameters(), getattr(b, name).parameters()):
            assert torch.equal(p, q), name
        # and the lists are the modules' own tensors (load_state_dict copies into them)
        assert all(x is y for x, y in zip(a._params[name], getattr(a, name).parameters()))
    assert all(p.requires_grad for p in a.critic.parameters())
