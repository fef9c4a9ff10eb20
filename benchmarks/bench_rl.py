"""TD3 gradient updates per second against a plain reference loop, and environment steps per
second in collection, on the CPU.

Ours: ``saidl.rl.td3.TD3.update`` on batches from our prioritized n-step ``ReplayBuffer``.
Baseline: the textbook TD3 update written out below (two separate critic networks and optimisers,
per-network target copies and a Python loop over parameters for the Polyak update), on uniform
batches of the same size. Both use 256-256 networks, batch 256, Hopper's sizes (obs 11, act 3).

Usage: ``python benchmarks/bench_rl.py [--updates N] [--threads T]``
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
from torch import nn

from saidl.rl.buffer import ReplayBuffer
from saidl.rl.td3 import TD3, TD3Config

OBS, ACT, BATCH = 11, 3, 256


def mlp(i: int, o: int, out_act=None) -> nn.Sequential:
    layers = [nn.Linear(i, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, o)]
    return nn.Sequential(*layers, *([out_act] if out_act else []))


class ReferenceTD3:
    """A plain TD3 update (Fujimoto et al.) as one would first write it."""

    def __init__(self):
        torch.manual_seed(0)
        self.actor, self.q1, self.q2 = mlp(OBS, ACT, nn.Tanh()), mlp(OBS + ACT, 1), mlp(OBS + ACT, 1)
        self.targets = [copy.deepcopy(m) for m in (self.actor, self.q1, self.q2)]
        self.a_opt = torch.optim.Adam(self.actor.parameters(), lr=3e-4)
        self.q1_opt = torch.optim.Adam(self.q1.parameters(), lr=3e-4)
        self.q2_opt = torch.optim.Adam(self.q2.parameters(), lr=3e-4)
        self.it = 0

    def update(self, b: dict) -> None:
        actor_t, q1_t, q2_t = self.targets
        with torch.no_grad():
            a2 = actor_t(b["next_obs"])
            sa2 = torch.cat([b["next_obs"], a2], 1)
            y = b["rew"][:, None] + 0.99 * (1 - b["done"][:, None]) * torch.min(q1_t(sa2), q2_t(sa2))
        sa = torch.cat([b["obs"], b["act"]], 1)
        for q, opt in ((self.q1, self.q1_opt), (self.q2, self.q2_opt)):
            loss = ((q(sa) - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.it += 1
        if self.it % 2 == 0:
            loss = -self.q1(torch.cat([b["obs"], self.actor(b["obs"])], 1)).mean()
            self.a_opt.zero_grad()
            loss.backward()
            self.a_opt.step()
            for src, tgt in zip((self.actor, self.q1, self.q2), self.targets):
                for p, tp in zip(src.parameters(), tgt.parameters()):
                    tp.data.copy_(0.005 * p.data + 0.995 * tp.data)


def filled_buffer(prioritized: bool) -> ReplayBuffer:
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(OBS, ACT, 100_000, prioritized=prioritized, seed=0)
    for _ in range(20_000):
        buf.add(rng.standard_normal(OBS), rng.uniform(-1, 1, ACT), rng.standard_normal(),
                rng.standard_normal(OBS), 0.0, 0.99 ** 3)
    return buf


def rate(fn, n: int) -> float:
    for _ in range(10):
        fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    per, uniform = filled_buffer(True), filled_buffer(False)
    ours = TD3(OBS, ACT, TD3Config(batch_size=BATCH, n_step=3), "cpu", 0)
    ref = ReferenceTD3()

    def ours_step():
        b = per.sample(BATCH, beta=0.5)
        info = ours.update(b)
        per.update_priorities(b["indices"], info["td_errors"])

    def ref_step():
        ref.update(uniform.sample(BATCH))

    r_ours, r_ref = rate(ours_step, args.updates), rate(ref_step, args.updates)
    print(f"torch {torch.__version__}, CPU, {args.threads} thread(s), batch {BATCH}, 256-256 networks")
    print(f"{'reference TD3 loop (uniform replay)':<44}{r_ref:>9.1f} updates/s")
    print(f"{'ours (TD3.update + PER sample + priorities)':<44}{r_ours:>9.1f} updates/s")
    print(f"{'ratio ours/reference':<44}{r_ours / r_ref:>9.2f}x")

    from saidl.rl.train import make_env

    env = make_env("Hopper-v4")
    env.reset(seed=0)
    env.action_space.seed(0)
    agent_obs = np.zeros(OBS, dtype=np.float32)
    t0, n = time.perf_counter(), 3000
    for _ in range(n):
        agent_obs, _, term, trunc, _ = env.step(ours.act(agent_obs, explore=True))
        if term or trunc:
            agent_obs, _ = env.reset()
    print(f"{'collection (policy + Hopper-v4 step)':<44}{n / (time.perf_counter() - t0):>9.1f} env steps/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
