"""RL packs against the same runs one after another, on one device (issue: pack small runs).

K TD3 members (the full scale's sizes: 256-256 actor and twin critics, batch 256, Hopper's 11
observations and 3 actions, prioritized replay, n-step targets) do ``--steps`` training steps each.
A step is the agent's work per environment step: an exploring action, a PER sample, one update
(critic, and every second step the actor and the targets) and the priority update. The simulator is
left out: it costs the same packed or not (each member steps its own Hopper).

* serial: K ``TD3`` agents, each with its own replay buffer, one after another (``pack_mode:
          serial`` or ``pack: 1``, start-up aside);
* packed: one ``saidl.rl.packed.PackedTD3`` over the same K agents and buffers, the path that
          ``pack_mode: vmap`` takes on this device (CPU: member by member, exact; CUDA: one batched
          product per layer); on a CPU the batched path is timed as well (``packed-bmm``).

Families: plain TD3 and noisy nets (five laws in one pack). The sides alternate; the best of
``--repeat`` passes counts, after a warm-up pass. Expect about 1.0x on a CPU (a slowdown is a bug);
the GPU numbers are what packing is for (``scripts/gpu_check.sh`` runs this with ``--device cuda``).

Usage: ``python benchmarks/bench_pack_rl.py [--k 8] [--steps 20] [--device cpu] [--threads 1]``
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from bench_pack import timed  # noqa: E402  (benchmarks/ is on sys.path when a script there runs)

from saidl.rl.buffer import ReplayBuffer
from saidl.rl.noise import DISTRIBUTIONS
from saidl.rl.packed import PackedTD3
from saidl.rl.td3 import TD3, TD3Config

OBS, ACT, HIDDEN, BATCH, FILL = 11, 3, 256, 256, 20_000


def buffers(k: int) -> list[ReplayBuffer]:
    """K prioritized buffers of FILL random 3-step transitions each."""
    out = []
    for i in range(k):
        rng = np.random.default_rng(i)
        buf = ReplayBuffer(OBS, ACT, 1_000_000, prioritized=True, alpha=0.6, seed=i)
        for _ in range(FILL):
            o = rng.standard_normal(OBS).astype(np.float32)
            buf.add(o, rng.uniform(-1, 1, ACT).astype(np.float32), float(rng.standard_normal()),
                    rng.standard_normal(OBS).astype(np.float32), float(rng.random() < 0.01), 0.99 ** 3)
        out.append(buf)
    return out


def agents(k: int, family: str, device: torch.device) -> list[TD3]:
    def noisy(i):
        return DISTRIBUTIONS[i % len(DISTRIBUTIONS)] if family == "noisy" else None

    return [TD3(OBS, ACT, TD3Config(hidden=HIDDEN, batch_size=BATCH, n_step=3, noisy=noisy(i)), device, seed=i)
            for i in range(k)]


class Serial:
    def __init__(self, family, k, device):
        self.agents, self.buffers, self.device = agents(k, family, device), buffers(k), device
        self.obs = np.zeros(OBS, np.float32)

    steps = 2  # per member per pass

    def run_pass(self) -> None:
        steps = self.steps
        for agent, buf in zip(self.agents, self.buffers):
            for _ in range(steps):
                agent.act(self.obs, explore=True)
                batch = buf.sample(BATCH, beta=0.4, device=self.device)
                buf.update_priorities(batch["indices"], agent.update(batch)["td_errors"])


class Packed:
    def __init__(self, family, k, device, exact=None):
        self.agent = PackedTD3(agents(k, family, device), exact=exact)
        self.buffers = buffers(k)
        self.obs = [np.zeros(OBS, np.float32)] * k

    steps = 2

    def run_pass(self) -> None:
        for _ in range(self.steps):
            self.agent.act(self.obs)
            batches = [b.sample(BATCH, beta=0.4, device="cpu") for b in self.buffers]
            for buf, batch, td in zip(self.buffers, batches, self.agent.update(batches)):
                buf.update_priorities(batch["indices"], td)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=8, help="members per pack")
    ap.add_argument("--steps", type=int, default=20, help="training steps per member per timed pass")
    ap.add_argument("--families", nargs="+", default=["td3", "noisy"], choices=["td3", "noisy"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__}, {name}, {args.threads} threads; K = {args.k} members x {args.steps} steps "
          f"(act + PER sample + update + priorities), hidden {HIDDEN}, batch {BATCH}; best of {args.repeat} "
          "passes after a warm-up")
    print(f"{'family':<8}{'side':<12}{'seconds':>9}{'ms/member-step':>16}{'throughput vs serial':>22}")
    for family in args.families:
        sides = {"serial": Serial(family, args.k, device), "packed": Packed(family, args.k, device)}
        if device.type == "cpu":
            sides["packed-bmm"] = Packed(family, args.k, device, exact=False)
        for side in sides.values():
            side.run_pass()  # warm-up
        best = {s: float("inf") for s in sides}
        for _ in range(args.repeat):
            for s, side in sides.items():
                side.steps = args.steps
                best[s] = min(best[s], timed(side, device))
        for s, secs in best.items():
            print(f"{family:<8}{s:<12}{secs:>9.3f}{1e3 * secs / (args.k * args.steps):>16.3f}"
                  f"{best['serial'] / secs:>21.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
