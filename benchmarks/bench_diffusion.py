"""DiT training step and 50-image sampling time for each attention backend, and the two forms of
sliding-window attention against full attention, on the CPU.

Model: the demo scale's unconditional DiT (``land-full`` in ``tasks/diffusion/config.yaml``) on
the demo autoencoder's (4, 8, 8) latents, with random weights (the zero-initialised adaLN layers
perturbed, so that every backend's attention reaches the output). For every backend that
``available_backends`` says can run here, on the same weights (``DiT.set_attention``) and seed:
one training step (forward, backward and AdamW on a batch of 64) and sampling 50 images with 50
DDIM steps (``sample_latents``). Times are ratios against the plain ``matmul`` backend, which
writes softmax(q k^T / sqrt(d)) v out; the script checks that every backend's samples agree with
matmul's before it prints (sliding attention is a different model, so its distance is shown only).

Attention level: full attention (``sdpa``) against the sliding window as a dense mask in SDPA
(``masked_sliding_attention``) and as the O(N w^2) gather form (``sliding_attention``), from a
small token grid (8x8, where the DiT uses the mask) to large ones (32x32, 64x64), where the gather
form pays off. Timings are information only: nothing fails on them.

Usage: ``python benchmarks/bench_diffusion.py [--threads T] [--repeat R] [--quick]``
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch
import yaml

from saidl.common.timing import best_time
from saidl.diffusion.attention import (BACKENDS, available_backends, masked_sliding_attention,
                                       sliding_attention)
from saidl.diffusion.grid import run_configs
from saidl.diffusion.process import diffusion_loss, make_scheduler, sample_latents
from saidl.diffusion.train import build_dit, schedule_kwargs

ROOT = Path(__file__).resolve().parents[1]
LATENT = (4, 8, 8)
BATCH, N_IMAGES, STEPS = 64, 50, 50


def demo_model() -> tuple[dict, torch.nn.Module]:
    task_cfg = yaml.safe_load((ROOT / "tasks/diffusion/config.yaml").read_text())["diffusion"]
    cfg = run_configs(task_cfg, "demo")["land-full"]
    torch.manual_seed(0)
    model = build_dit(cfg, LATENT)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # a trained-looking model: no zero gates, so attention reaches the output
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)
    return cfg, model


def time_sampling(model, backend: str, window: int | None, repeat: int) -> tuple[float, torch.Tensor]:
    model.set_attention(backend, window)
    sample_latents(model, N_IMAGES, LATENT, 2, "ddim", seed=0, batch_size=N_IMAGES)  # warm-up
    best, z = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        z = sample_latents(model, N_IMAGES, LATENT, STEPS, "ddim", seed=0, batch_size=N_IMAGES)
        best = min(best, time.perf_counter() - t0)
    return best, z


def time_training(cfg: dict, base, backend: str, window: int | None, repeat: int) -> float:
    model = copy.deepcopy(base)
    model.set_attention(backend, window)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.0)
    scheduler = make_scheduler("ddpm", **schedule_kwargs(cfg))
    z0 = torch.randn(BATCH, *LATENT, generator=torch.Generator().manual_seed(2))

    def step():
        loss = diffusion_loss(model, z0, None, scheduler, torch.Generator().manual_seed(3))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return best_time(step, repeat)


def model_table(repeat: int) -> None:
    cfg, model = demo_model()
    window = cfg.get("window") or 1
    tokens = (LATENT[1] // cfg["patch_size"]) ** 2
    print(f"DiT: demo 'land-full' (hidden {cfg['hidden_size']}, depth {cfg['depth']}, heads {cfg['num_heads']}, "
          f"patch {cfg['patch_size']}) on {LATENT} latents = {tokens} tokens; sliding window {window}")
    print(f"training step: fwd+bwd+AdamW, batch {BATCH}; sampling: {N_IMAGES} images x {STEPS} DDIM steps; "
          f"best of {repeat}")
    print(f"\n{'backend':<10}{'train step (s)':>15}{'vs matmul':>11}{'sample (s)':>12}{'vs matmul':>11}"
          f"{'max|z - z_matmul|':>19}")
    avail = available_backends("cpu")
    base_train = base_sample = ref = None
    for backend in BACKENDS:
        if avail[backend]:
            print(f"{backend:<10}skipped: {avail[backend]}")
            continue
        w = window if backend == "sliding" else None
        t_train = time_training(cfg, model, backend, w, repeat)
        t_sample, z = time_sampling(model, backend, w, repeat)
        if backend == "matmul":
            base_train, base_sample, ref = t_train, t_sample, z
        diff = float((z - ref).abs().max())
        if backend != "sliding":  # the same model: must agree
            assert diff < 1e-2, f"{backend} samples differ from matmul's by {diff:.2e}"
        print(f"{backend:<10}{t_train:>15.4f}{base_train / t_train:>10.2f}x{t_sample:>12.3f}"
              f"{base_sample / t_sample:>10.2f}x{diff:>19.2e}"
              + ("  (windowed: another model)" if backend == "sliding" else ""))
    print("(ratios: matmul time / backend time, > 1 = faster than matmul)")


def attention_table(repeat: int, quick: bool) -> None:
    heads, dim = 4, 32
    cases = [(8, 1), (32, 1), (32, 2), (64, 1)] + ([] if quick else [(64, 2)])
    print(f"\nattention forward, batch 1, {heads} heads x {dim} dims, float32, best of {repeat}; "
          "ratios: full sdpa time / sliding time")
    print(f"{'grid':>7}{'tokens':>8}{'w':>3}{'full sdpa (s)':>15}{'mask (s)':>11}{'ratio':>8}"
          f"{'gather (s)':>12}{'ratio':>8}{'max|mask - gather|':>20}")
    for side, w in cases:
        n = side * side
        g = torch.Generator().manual_seed(side + w)
        q, k, v = (torch.randn(1, heads, n, dim, generator=g) for _ in range(3))
        with torch.no_grad():
            diff = float((masked_sliding_attention(q, k, v, (side, side), w)
                          - sliding_attention(q, k, v, (side, side), w)).abs().max())
            assert diff < 1e-4, f"the two sliding forms disagree by {diff:.2e} at {side}x{side}, w={w}"
            t_full = best_time(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v), repeat)
            t_mask = best_time(lambda: masked_sliding_attention(q, k, v, (side, side), w), repeat)
            t_gather = best_time(lambda: sliding_attention(q, k, v, (side, side), w), repeat)
        print(f"{f'{side}x{side}':>7}{n:>8}{w:>3}{t_full:>15.5f}{t_mask:>11.5f}{t_full / t_mask:>7.2f}x"
              f"{t_gather:>12.5f}{t_full / t_gather:>7.2f}x{diff:>20.1e}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=None, help="timed repeats (default 3, 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="one timed repeat, and no 64x64 grid with window 2")
    args = ap.parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, CPU, {args.threads} thread(s)")
    t0 = time.perf_counter()
    model_table(repeat)
    attention_table(max(repeat, 2), args.quick)
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
