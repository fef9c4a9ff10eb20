"""RL hot loop on the CPU: environment steps per second of our TD3 training loop against a reference
TD3 loop, on gymnasium's Hopper-v4, and the update rates of the variants.

1. End-to-end environment loop (act with exploration, env.step, store, sample, update), timed over
   ``--env-steps`` steps after ``--start-steps`` random steps and ``--learn-warmup`` untimed learning
   steps, both loops alive at once and run in alternating chunks (A B B A ...), so that the load of a
   shared machine falls on both alike.

   * ours: ``saidl.rl.td3.TD3`` fed as ``saidl.rl.train`` feeds it: ``NStepAccumulator(3)`` into a
     prioritized ``ReplayBuffer`` (alpha 0.6, beta annealed), ``sample`` -> ``update`` ->
     ``update_priorities`` every step.
   * reference: a TD3 loop written here in the style of the authors' code (Fujimoto et al.,
     github.com/sfujim/TD3: main.py, TD3.py, utils.ReplayBuffer): uniform replay in float64 NumPy
     arrays converted with ``torch.FloatTensor`` at every sample, one Critic module holding both Q
     heads (``Q1`` for the actor), ``F.mse_loss``, target policy smoothing (0.2, clip 0.5), policy
     delay 2, Adam 3e-4, Polyak by a loop over parameters, action noise N(0, 0.1) from NumPy.

   Both: 256-256 networks, batch 256, a 10^6 replay capacity, target policy smoothing on (ours
   too, so that both do the same network work; the task's runs switch it off), one torch thread.
   Printed: env steps/s of each and the ratio ours / reference.
2. Agent work per environment step without the environment (``act`` exploring + PER ``sample`` +
   ``update`` + ``update_priorities``), interleaved over rounds: TD3, Noisy-Nets TD3 with the
   Gaussian and the Gamma law, SALE; and the replay alone (PER ``add`` + ``sample`` +
   ``update_priorities`` against a uniform ``sample``).

Usage: ``python benchmarks/bench_rl.py [--env-steps N] [--start-steps N] [--chunk N] [--threads T]``
(``make bench`` runs it; the tests never do).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from saidl.rl.buffer import NStepAccumulator, ReplayBuffer
from saidl.rl.td3 import TD3, TD3Config

ENV_ID, HIDDEN, BATCH, CAPACITY = "Hopper-v4", 256, 256, 1_000_000


def make_env():
    import warnings

    import gymnasium as gym

    with warnings.catch_warnings():  # Hopper-v4's deprecation notice (v5 exists); v4 is the task's
        warnings.simplefilter("ignore")
        return gym.make(ENV_ID)


# ---- reference: a TD3 loop in the style of the authors' code --------------------------------------


class RefActor(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, max_action: float):
        super().__init__()
        self.l1, self.l2 = nn.Linear(obs_dim, HIDDEN), nn.Linear(HIDDEN, HIDDEN)
        self.l3 = nn.Linear(HIDDEN, act_dim)
        self.max_action = max_action

    def forward(self, s):
        return self.max_action * torch.tanh(self.l3(F.relu(self.l2(F.relu(self.l1(s))))))


class RefCritic(nn.Module):
    """Both Q heads in one module; ``Q1`` alone for the actor loss."""

    def __init__(self, obs_dim: int, act_dim: int):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(obs_dim + act_dim, HIDDEN), nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, 1)
        self.l4, self.l5, self.l6 = nn.Linear(obs_dim + act_dim, HIDDEN), nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, 1)

    def forward(self, s, a):
        sa = torch.cat([s, a], 1)
        return (self.l3(F.relu(self.l2(F.relu(self.l1(sa))))),
                self.l6(F.relu(self.l5(F.relu(self.l4(sa))))))

    def Q1(self, s, a):  # noqa: N802 (the reference's name)
        return self.l3(F.relu(self.l2(F.relu(self.l1(torch.cat([s, a], 1))))))


class RefReplay:
    """Uniform replay: float64 NumPy storage, ``torch.FloatTensor`` per field at every sample."""

    def __init__(self, obs_dim: int, act_dim: int, capacity: int):
        self.capacity, self.ptr, self.size = capacity, 0, 0
        self.s, self.a = np.zeros((capacity, obs_dim)), np.zeros((capacity, act_dim))
        self.s2, self.r, self.nd = np.zeros((capacity, obs_dim)), np.zeros((capacity, 1)), np.zeros((capacity, 1))

    def add(self, s, a, s2, r, done):
        i = self.ptr
        self.s[i], self.a[i], self.s2[i], self.r[i], self.nd[i] = s, a, s2, r, 1.0 - done
        self.ptr, self.size = (i + 1) % self.capacity, min(self.size + 1, self.capacity)

    def sample(self, n: int):
        ind = np.random.randint(0, self.size, size=n)
        return tuple(torch.FloatTensor(x[ind]) for x in (self.s, self.a, self.s2, self.r, self.nd))


class RefTD3:
    def __init__(self, obs_dim: int, act_dim: int, max_action: float = 1.0, discount: float = 0.99,
                 tau: float = 0.005, policy_noise: float = 0.2, noise_clip: float = 0.5, policy_freq: int = 2):
        self.actor = RefActor(obs_dim, act_dim, max_action)
        self.actor_target = copy.deepcopy(self.actor)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=3e-4)
        self.critic = RefCritic(obs_dim, act_dim)
        self.critic_target = copy.deepcopy(self.critic)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=3e-4)
        self.max_action, self.discount, self.tau = max_action, discount, tau
        self.policy_noise, self.noise_clip, self.policy_freq = policy_noise, noise_clip, policy_freq
        self.it = 0

    def select_action(self, s: np.ndarray) -> np.ndarray:
        return self.actor(torch.FloatTensor(s.reshape(1, -1))).cpu().data.numpy().flatten()

    def train(self, replay: RefReplay, batch_size: int) -> None:
        self.it += 1
        s, a, s2, r, nd = replay.sample(batch_size)
        with torch.no_grad():
            noise = (torch.randn_like(a) * self.policy_noise).clamp(-self.noise_clip, self.noise_clip)
            a2 = (self.actor_target(s2) + noise).clamp(-self.max_action, self.max_action)
            tq1, tq2 = self.critic_target(s2, a2)
            target = r + nd * self.discount * torch.min(tq1, tq2)
        q1, q2 = self.critic(s, a)
        critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        if self.it % self.policy_freq == 0:
            actor_loss = -self.critic.Q1(s, self.actor(s)).mean()
            self.actor_optimizer.zero_grad()
            actor_loss.backward()
            self.actor_optimizer.step()
            for net, tgt in ((self.critic, self.critic_target), (self.actor, self.actor_target)):
                for p, tp in zip(net.parameters(), tgt.parameters()):
                    tp.data.copy_(self.tau * p.data + (1 - self.tau) * tp.data)


class RefLoop:
    """main.py's loop: random actions, then policy + N(0, 0.1 max_action) noise and one train step."""

    name = "reference (uniform replay, 1-step)"

    def __init__(self, seed: int):
        torch.manual_seed(seed)
        np.random.seed(seed)
        self.env = make_env()
        self.env.action_space.seed(seed)
        obs_dim, self.act_dim = self.env.observation_space.shape[0], self.env.action_space.shape[0]
        self.max_action = float(self.env.action_space.high[0])
        self.policy = RefTD3(obs_dim, self.act_dim, self.max_action)
        self.replay = RefReplay(obs_dim, self.act_dim, CAPACITY)
        self.state, _ = self.env.reset(seed=seed)
        self.t = 0

    def run(self, steps: int, learn: bool) -> None:
        for _ in range(steps):
            if not learn:
                action = self.env.action_space.sample()
            else:
                action = (self.policy.select_action(np.array(self.state))
                          + np.random.normal(0, self.max_action * 0.1, size=self.act_dim)
                          ).clip(-self.max_action, self.max_action)
            next_state, reward, terminated, truncated, _ = self.env.step(action)
            self.replay.add(self.state, action, next_state, reward, float(terminated))
            self.state = next_state
            if learn:
                self.policy.train(self.replay, BATCH)
            if terminated or truncated:
                self.state, _ = self.env.reset()
            self.t += 1


# ---- ours: the loop of saidl.rl.train --------------------------------------------------------------


class OurLoop:
    name = "ours (PER + 3-step)"

    def __init__(self, seed: int, total_steps: int):
        self.env = make_env()
        self.env.action_space.seed(seed)
        obs_dim, act_dim = self.env.observation_space.shape[0], self.env.action_space.shape[0]
        cfg = TD3Config(batch_size=BATCH, hidden=HIDDEN, n_step=3, target_policy_smoothing=True)
        self.agent = TD3(obs_dim, act_dim, cfg, "cpu", seed)
        self.buffer = ReplayBuffer(obs_dim, act_dim, CAPACITY, prioritized=True, alpha=0.6, seed=seed)
        self.nstep = NStepAccumulator(3, cfg.gamma)
        self.obs, _ = self.env.reset(seed=seed)
        self.t, self.total, self.start = 0, total_steps, None

    def run(self, steps: int, learn: bool) -> None:
        env, agent, buffer, nstep = self.env, self.agent, self.buffer, self.nstep
        if learn and self.start is None:
            self.start = self.t
        for _ in range(steps):
            action = agent.act(self.obs, explore=True) if learn else env.action_space.sample()
            next_obs, reward, terminated, truncated, _ = env.step(action)
            for tr in nstep.push(self.obs, action, reward, next_obs, terminated, truncated):
                buffer.add(*tr)
            self.obs = next_obs
            if terminated or truncated:
                self.obs, _ = env.reset()
            if learn:
                beta = 0.4 + 0.6 * (self.t - self.start) / max(1, self.total - self.start)
                batch = buffer.sample(BATCH, beta=beta, device="cpu")
                info = agent.update(batch)
                buffer.update_priorities(batch["indices"], info["td_errors"])
            self.t += 1


def env_loop(args) -> None:
    total = args.start_steps + args.learn_warmup + args.env_steps
    loops = [RefLoop(0), OurLoop(0, total)]
    for loop in loops:
        loop.run(args.start_steps, learn=False)
        loop.run(args.learn_warmup, learn=True)
    spent = {loop.name: 0.0 for loop in loops}
    chunk_rates = {loop.name: [] for loop in loops}
    done, k = 0, 0
    while done < args.env_steps:
        n = min(args.chunk, args.env_steps - done)
        order = loops if k % 2 == 0 else loops[::-1]  # A B, B A, A B, ...
        for loop in order:
            t0 = time.perf_counter()
            loop.run(n, learn=True)
            dt = time.perf_counter() - t0
            spent[loop.name] += dt
            chunk_rates[loop.name].append(n / dt)
        done, k = done + n, k + 1
    ref, ours = (args.env_steps / spent[loop.name] for loop in loops)
    ratios = [o / r for r, o in zip(chunk_rates[loops[0].name], chunk_rates[loops[1].name])]
    print(f"\nEnvironment loop on {ENV_ID}: {args.env_steps} timed env steps each (learning on, after "
          f"{args.start_steps} random + {args.learn_warmup} learning steps), {k} alternating chunks of {args.chunk}")
    print(f"  {loops[0].name:<44}{ref:>9.1f} env steps/s")
    print(f"  {loops[1].name:<44}{ours:>9.1f} env steps/s")
    print(f"  {'ratio ours / reference':<44}{ours / ref:>9.2f}x   (median over chunks "
          f"{statistics.median(ratios):.2f}x, range {min(ratios):.2f}-{max(ratios):.2f})")


# ---- agent work per step, and the replay alone -----------------------------------------------------


def filled_buffer(obs_dim: int, act_dim: int, prioritized: bool, n: int = 20_000) -> ReplayBuffer:
    rng = np.random.default_rng(0)
    buf = ReplayBuffer(obs_dim, act_dim, CAPACITY, prioritized=prioritized, seed=0)
    for _ in range(n):
        buf.add(rng.standard_normal(obs_dim), rng.uniform(-1, 1, act_dim), rng.standard_normal(),
                rng.standard_normal(obs_dim), 0.0, 0.99 ** 3, rng.standard_normal(obs_dim))
    return buf


def interleaved_rates(fns: dict, n: int, rounds: int) -> dict:
    """Calls per second of each function: ``rounds`` rounds, each running every function ``n``
    times in turn (order reversed every other round); the best round of each."""
    for fn in fns.values():
        for _ in range(3):
            fn()
    best = {name: 0.0 for name in fns}
    for r in range(rounds):
        for name in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
            t0 = time.perf_counter()
            for _ in range(n):
                fns[name]()
            best[name] = max(best[name], n / (time.perf_counter() - t0))
    return best


def agent_rates(args) -> None:
    from saidl.rl.sale import SALETD3

    obs_dim, act_dim = 11, 3
    buf = filled_buffer(obs_dim, act_dim, True)
    uniform = filled_buffer(obs_dim, act_dim, False)
    cfg = dict(batch_size=BATCH, hidden=HIDDEN, n_step=3)
    agents = {"TD3": TD3(obs_dim, act_dim, TD3Config(**cfg)),
              "TD3 noisy nets, gaussian": TD3(obs_dim, act_dim, TD3Config(**cfg, noisy="gaussian")),
              "TD3 noisy nets, gamma": TD3(obs_dim, act_dim, TD3Config(**cfg, noisy="gamma")),
              "SALE": SALETD3(obs_dim, act_dim, {"batch_size": BATCH, "hidden": HIDDEN, "zs_dim": 256}, seed=0)}
    obs = np.zeros(obs_dim, dtype=np.float32)

    def work(agent):
        def step():
            agent.act(obs, explore=True)
            b = buf.sample(BATCH, beta=0.5)
            info = agent.update(b)
            buf.update_priorities(b["indices"], info["td_errors"])
        return step

    rates = interleaved_rates({name: work(a) for name, a in agents.items()}, args.updates, args.rounds)
    print(f"\nAgent work per env step without the environment (act + PER sample + update + priorities), "
          f"best of {args.rounds} interleaved rounds of {args.updates}")
    for name, r in rates.items():
        print(f"  {name:<44}{r:>9.1f} /s   {r / rates['TD3']:>5.2f}x TD3")

    rng = np.random.default_rng(1)
    z = np.zeros(obs_dim)

    def per():
        buf.add(z, z[:act_dim], 0.0, z, 0.0, 0.97, z)
        b = buf.sample(BATCH, beta=0.5)
        buf.update_priorities(b["indices"], rng.random(BATCH))

    def uni():
        uniform.add(z, z[:act_dim], 0.0, z, 0.0, 0.97, z)
        uniform.sample(BATCH)

    rates = interleaved_rates({"PER add + sample + priorities": per, "uniform add + sample": uni},
                              20 * args.updates, args.rounds)
    print(f"\nReplay alone (capacity {CAPACITY:.0e}, 20k stored, batch {BATCH})")
    for name, r in rates.items():
        print(f"  {name:<44}{r:>9.1f} /s   {1e6 / r:>7.1f} us each")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env-steps", type=int, default=2000, help="timed env steps of each loop")
    ap.add_argument("--start-steps", type=int, default=1000, help="random steps before learning")
    ap.add_argument("--learn-warmup", type=int, default=50, help="untimed learning steps")
    ap.add_argument("--chunk", type=int, default=250, help="env steps per alternating chunk")
    ap.add_argument("--updates", type=int, default=20, help="agent steps per round (part 2)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-env", action="store_true", help="only part 2")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, CPU, {args.threads} thread(s), batch {BATCH}, {HIDDEN}-{HIDDEN} networks")
    if not args.skip_env:
        env_loop(args)
    agent_rates(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
