"""The S4 kernel and one S4 training step against a naive-kernel baseline, on the CPU.

Ours: the S4 (DPLR, bilinear) kernel through the Cauchy kernel and the Woodbury identity at the
roots of unity. Baseline: the same kernel from naive powers of the discretised dense matrix,
K_l = C Abar^l Bbar (``kernels.krylov_kernel``), as a first implementation would compute it.
Both run in the same process on the same weights; the script checks that they agree before
timing, then prints the times and the ratios at L = 784 and 1024.

Usage: ``python benchmarks/bench_ssm.py [--threads T] [--repeat R]``
"""

from __future__ import annotations

import argparse
import types

import torch

from saidl.common.timing import best_time
from saidl.ssm.kernels import krylov_kernel
from saidl.ssm.models import SSMClassifier

H, N, LAYERS, BATCH = 64, 64, 2, 16


def naive_kernel(self, L: int) -> torch.Tensor:
    """The baseline SSMKernel.forward: naive powers of the discrete system."""
    abar, bbar, c = self.discrete_system()
    return krylov_kernel(abar, bbar, c, L).real.to(torch.get_default_dtype())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ours = SSMClassifier(1, 10, d_model=H, n_layers=LAYERS, d_state=N, dropout=0.0, kind="s4", disc="bilinear")
    base = SSMClassifier(1, 10, d_model=H, n_layers=LAYERS, d_state=N, dropout=0.0, kind="s4", disc="bilinear")
    base.load_state_dict(ours.state_dict())
    for block in base.blocks:
        block.layer.kernel.forward = types.MethodType(naive_kernel, block.layer.kernel)
    print(f"torch {torch.__version__}, CPU, {args.threads} thread(s); S4 (DPLR, bilinear), H={H}, N={N}, "
          f"{LAYERS} layers, batch {BATCH}, float32, best of {args.repeat}")
    print(f"\n{'':<34}{'L':>6}{'ours (s)':>11}{'naive (s)':>11}{'ratio':>8}")
    for L in (784, 1024):
        k_ours, k_base = ours.blocks[0].layer.kernel, base.blocks[0].layer.kernel
        with torch.no_grad():
            err = float((k_ours(L) - k_base(L)).abs().max() / k_base(L).abs().max())
        assert err < 1e-3, f"kernels disagree (relative error {err:.2e})"
        with torch.no_grad():
            t_ours = best_time(lambda: k_ours(L), args.repeat)
            t_base = best_time(lambda: k_base(L), args.repeat)
        print(f"{'kernel (one layer)':<34}{L:>6}{t_ours:>11.4f}{t_base:>11.4f}{t_base / t_ours:>7.1f}x")
        x = torch.randn(BATCH, L, 1)
        y = torch.randint(0, 10, (BATCH,))

        def step(model, opt):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        opt_o = torch.optim.AdamW(ours.param_groups(0.01, 0.01))
        opt_b = torch.optim.AdamW(base.param_groups(0.01, 0.01))
        t_ours = best_time(lambda: step(ours, opt_o), args.repeat)
        t_base = best_time(lambda: step(base, opt_b), args.repeat)
        print(f"{'training step (fwd+bwd+AdamW)':<34}{L:>6}{t_ours:>11.4f}{t_base:>11.4f}{t_base / t_ours:>7.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
