"""Replay memory for TD3: uniform or prioritised (Schaul et al., 2016) replay, and n-step returns.

Storage is NumPy; only :meth:`ReplayBuffer.sample` returns torch tensors. A stored transition is
``(s_t, a_t, R, s_{t+k}, done, discount, s_{t+1})`` with ``R = sum_{i<k} gamma^i r_{t+i}`` and
``discount = gamma^k``, so one TD target serves one-step and n-step replay alike::

    y = R + discount * (1 - done) * min_j Q'_j(s_{t+k}, a~)

``done`` is 1 only for a true termination; a time-limit truncation is stored with done = 0.
The one-step next state ``s_{t+1}`` (``next_obs1``) is stored beside the n-step one: SALE's
encoder learns the one-step dynamics ``(s_t, a_t) -> s_{t+1}`` (as TD7 does) whatever the
n of the value target. With n = 1 the two next states are the same.

Typical use with a single environment::

    nstep = NStepAccumulator(n=3, gamma=0.99)
    buffer = ReplayBuffer(obs_dim, act_dim, capacity, prioritized=True)
    for transition in nstep.push(obs, act, rew, next_obs, terminated, truncated):
        buffer.add(*transition)
    batch = buffer.sample(256, beta=beta)          # beta annealed 0.4 -> 1
    loss = (batch["weights"] * (q - y) ** 2).mean()
    buffer.update_priorities(batch["indices"], (q - y).detach())
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch


class SumTree:
    """A binary sum tree over ``capacity`` leaf priorities, for O(log N) proportional sampling.

    The leaves hold the values the caller passes to :meth:`update` *as they are*: the tree does
    not raise them to alpha (:class:`ReplayBuffer` passes ``p_i^alpha``). The tree is an array of
    ``2 * size`` nodes, ``size`` = ``capacity`` padded to a power of two; node 1 is the root,
    node ``i`` has children ``2i`` and ``2i + 1``, and leaf ``j`` is node ``size + j``. Padding
    leaves hold 0 and are never returned by :meth:`find`.
    """

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"SumTree capacity must be a positive int, got {capacity}")
        self.capacity = int(capacity)
        self.size = 1 << (self.capacity - 1).bit_length()  # next power of two >= capacity
        self.depth = self.size.bit_length() - 1  # levels between the root and the leaves
        self.nodes = np.zeros(2 * self.size, dtype=np.float64)
        # Running max of every value ever written (overwritten or not), as in Schaul et al.;
        # starts at 1 so that the first transitions get priority 1.
        self.max_priority = 1.0

    def total(self) -> float:
        """Sum of all leaf priorities."""
        return float(self.nodes[1])

    def __getitem__(self, indices) -> np.ndarray:
        """Leaf priorities at ``indices``."""
        return self.nodes[self.size + np.asarray(indices)]

    def update(self, indices: np.ndarray, priorities: np.ndarray) -> None:
        """Set leaf ``indices[k]`` to ``priorities[k]`` and refresh their ancestors (vectorised).

        Level by level, every touched parent is recomputed as left child + right child. A parent
        listed twice (siblings, or a repeated index) is assigned the same sum twice, which is
        harmless: the sum is recomputed from the children, never accumulated, so no dedup
        (``np.unique``, a sort per level) is needed.
        """
        indices = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        priorities = np.broadcast_to(np.asarray(priorities, dtype=np.float64), indices.shape)
        if indices.size == 0:
            return
        if indices.size == 1:
            self.set(int(indices[0]), float(priorities[0]))
            return
        if indices.min() < 0 or indices.max() >= self.capacity:
            raise IndexError(f"SumTree leaf index out of range [0, {self.capacity})")
        if priorities.min() < 0 or not np.all(np.isfinite(priorities)):
            raise ValueError("SumTree priorities must be finite and non-negative")
        nodes = self.nodes
        nodes[self.size + indices] = priorities  # a repeated index keeps its last value
        self.max_priority = max(self.max_priority, float(priorities.max()))
        parents = (self.size + indices) >> 1
        for _ in range(self.depth):  # one level up per step: parent = left child + right child
            left = parents << 1
            sums = nodes.take(left)
            sums += nodes.take(left + 1)
            nodes[parents] = sums
            parents >>= 1

    def set(self, index: int, priority: float) -> None:
        """:meth:`update` of one leaf, with Python scalars (the path of every ``add``)."""
        if not 0 <= index < self.capacity:
            raise IndexError(f"SumTree leaf index out of range [0, {self.capacity})")
        if not (priority >= 0.0 and np.isfinite(priority)):
            raise ValueError("SumTree priorities must be finite and non-negative")
        nodes = self.nodes
        node = self.size + index
        nodes[node] = priority
        if priority > self.max_priority:
            self.max_priority = priority
        for _ in range(self.depth):
            node >>= 1
            nodes[node] = nodes[2 * node] + nodes[2 * node + 1]

    def find(self, values: np.ndarray) -> np.ndarray:
        """Leaf index ``j`` with ``sum_{i<j} p_i <= value < sum_{i<=j} p_i`` for each value.

        ``values`` should lie in ``[0, total())``; they are clipped to it, and a subtree of zero
        mass is never entered, so a leaf of priority 0 is never returned while ``total() > 0``.
        """
        values = np.asarray(values, dtype=np.float64)
        shape = values.shape
        values = np.atleast_1d(np.clip(values, 0.0, np.nextafter(self.total(), 0)))  # a new array
        tree = self.nodes
        nodes = np.ones(values.shape, dtype=np.int64)
        for _ in range(self.depth):  # in place: a handful of NumPy calls per level
            nodes <<= 1  # the left child
            left_sum = tree.take(nodes)
            go_right = values >= left_sum
            go_right &= tree.take(nodes + 1) > 0
            np.subtract(values, left_sum, out=values, where=go_right)
            nodes += go_right
        return (nodes - self.size).reshape(shape)


class ReplayBuffer:
    """Circular replay memory of ``(obs, act, rew, next_obs, done, discount, next_obs1)`` transitions.

    ``prioritized=False``: uniform sampling, importance weights all ones.
    ``prioritized=True``: proportional PER (Schaul et al., 2016). Priority
    ``p_i = |delta_i| + eps``, sampled with ``P(i) = p_i^alpha / sum_j p_j^alpha`` by stratified
    sampling (one draw per equal-mass segment of the sum tree); a new transition gets the
    largest priority seen so far.
    Importance weights ``w_i = (N * P(i))^-beta`` are normalised by the max weight *in the batch*
    (as CleanRL does), not by the global max over the buffer, so the largest weight is always 1.
    """

    def __init__(self, obs_dim: int, act_dim: int, capacity: int, *, prioritized: bool = False,
                 alpha: float = 0.6, eps: float = 1e-6, seed: int = 0):
        self.capacity = int(capacity)
        self.prioritized = prioritized
        self.alpha, self.eps = alpha, eps
        self.rng = np.random.default_rng(seed)

        self.obs = np.zeros((self.capacity, obs_dim), dtype=np.float32)
        self.act = np.zeros((self.capacity, act_dim), dtype=np.float32)
        self.rew = np.zeros(self.capacity, dtype=np.float32)
        self.next_obs = np.zeros((self.capacity, obs_dim), dtype=np.float32)
        self.done = np.zeros(self.capacity, dtype=np.float32)
        self.discount = np.zeros(self.capacity, dtype=np.float32)
        self.next_obs1 = np.zeros((self.capacity, obs_dim), dtype=np.float32)  # s_{t+1}
        self.pos = 0  # where the next transition goes
        self.size = 0  # number of transitions stored, at most capacity
        self.tree = SumTree(self.capacity) if prioritized else None  # leaves hold p_i^alpha

    def __len__(self) -> int:
        return self.size

    def add(self, obs, act, rew: float, next_obs, done: float, discount: float, next_obs1=None) -> None:
        """Store one transition, overwriting the oldest once the buffer is full. ``next_obs1``:
        the one-step next state s_{t+1} (None: ``next_obs``, i.e. a one-step transition)."""
        i = self.pos
        self.obs[i], self.act[i], self.rew[i] = obs, act, rew
        self.next_obs[i], self.done[i], self.discount[i] = next_obs, done, discount
        self.next_obs1[i] = next_obs if next_obs1 is None else next_obs1
        if self.prioritized:
            # The tree's running max is max p^alpha = (max p)^alpha: new items get the max priority.
            self.tree.set(i, self.tree.max_priority)
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, beta: float = 0.4, device="cpu") -> dict:
        """A batch of float32 tensors (``obs``/``next_obs``/``next_obs1``: (B, obs_dim), ``act``: (B, act_dim),
        ``rew``/``done``/``discount``/``weights``: (B,)) plus ``indices`` (np.ndarray, for
        :meth:`update_priorities`)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty ReplayBuffer")
        if self.prioritized:
            total = self.tree.total()
            segment = total / batch_size  # one draw per equal-mass segment
            values = (np.arange(batch_size) + self.rng.random(batch_size)) * segment
            indices = self.tree.find(values)
            probs = self.tree[indices] / total  # P(i)
            weights = (self.size * probs) ** -beta  # w_i = (N P(i))^-beta
            weights = weights / weights.max()  # normalised by the batch max
        else:
            indices = self.rng.integers(0, self.size, size=batch_size)
            weights = np.ones(batch_size)

        device = torch.device(device)

        def tensor(x: np.ndarray) -> torch.Tensor:  # zero-copy for float32 on the CPU
            t = torch.from_numpy(x)
            return t if t.dtype == torch.float32 and device.type == "cpu" else t.to(device, torch.float32)

        def rows(x: np.ndarray) -> torch.Tensor:  # take(axis=0): the rows of x[indices], faster
            return tensor(x.take(indices, axis=0))

        return {
            "obs": rows(self.obs),
            "act": rows(self.act),
            "rew": rows(self.rew),
            "next_obs": rows(self.next_obs),
            "next_obs1": rows(self.next_obs1),
            "done": rows(self.done),
            "discount": rows(self.discount),
            "weights": tensor(np.ascontiguousarray(weights)),
            "indices": indices,
        }

    def update_priorities(self, indices: np.ndarray, td_errors) -> None:
        """Set ``p_i = |delta_i| + eps`` for the sampled ``indices`` (no-op for uniform replay)."""
        if not self.prioritized:
            return
        if isinstance(td_errors, torch.Tensor):
            td_errors = td_errors.detach().cpu().numpy()
        priorities = np.abs(np.asarray(td_errors, dtype=np.float64)).reshape(-1) + self.eps
        self.tree.update(np.asarray(indices), priorities**self.alpha)


class NStepAccumulator:
    """Turns one environment's stream of one-step transitions into n-step transitions.

    Each emitted transition is ``(s_t, a_t, R, s_{t+k}, done, gamma^k, s_{t+1})`` with
    ``R = sum_{i<k} gamma^i r_{t+i}``, in the argument order of :meth:`ReplayBuffer.add`;
    ``s_{t+1}`` is the one-step next state of ``s_t`` (SALE's encoder target).
    ``k = n`` inside an episode. At an episode's end every pending transition is emitted with
    its shorter sum (none of the last n - 1 is dropped) and ``next_obs`` = the episode's last
    ``next_obs``: with done = 1 on termination, done = 0 on truncation (it bootstraps).
    Then the window is empty for the next episode. One accumulator per environment.
    """

    def __init__(self, n: int, gamma: float):
        if n < 1:
            raise ValueError(f"n-step needs n >= 1, got {n}")
        self.n, self.gamma = n, gamma
        self.window = deque()  # pending (obs, act, rew, next_obs), oldest first

    def reset(self) -> None:
        """Drop pending transitions (e.g. after an environment reset not signalled by push)."""
        self.window.clear()

    def _emit(self, start: int, done: float) -> tuple:
        """The transition starting at ``window[start]`` and ending at the newest one."""
        steps = list(self.window)[start:]
        ret = sum(self.gamma**i * rew for i, (_, _, rew, _) in enumerate(steps))
        obs, act, next_obs1 = steps[0][0], steps[0][1], steps[0][3]
        return obs, act, float(ret), steps[-1][3], float(done), float(self.gamma ** len(steps)), next_obs1

    def push(self, obs, act, rew: float, next_obs, terminated: bool,
             truncated: bool) -> list[tuple]:
        """Add one step; return the n-step transitions it completed (possibly none)."""
        self.window.append((np.array(obs, copy=True), np.array(act, copy=True), float(rew),
                            np.array(next_obs, copy=True)))
        if terminated or truncated:  # flush: termination wins if both are set
            done = 1.0 if terminated else 0.0
            out = [self._emit(start, done) for start in range(len(self.window))]
            self.window.clear()
            return out
        if len(self.window) == self.n:
            out = [self._emit(0, 0.0)]
            self.window.popleft()
            return out
        return []
