"""Analyses of the SSM task that need no training.

``discretisation``: how closely each discretisation's kernel follows the continuous-time impulse
response, and whether the discrete system stays stable, as the step size grows.
``timing``: the time to compute an SSM convolution kernel against the sequence length for the
Cauchy path (S4), the Vandermonde path (S4D) and naive matrix powers.

Usage: ``python -m saidl.ssm.analysis {discretisation,timing} --config-json '{...}' --out X.json``
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from saidl.common.cli import exit_code
from saidl.common.io import write_json
from saidl.ssm import kernels as K

METHODS = ("euler", "bilinear", "zoh")


def continuous_kernel(lam: torch.Tensor, b: torch.Tensor, c: torch.Tensor, dt: float, length: int) -> torch.Tensor:
    """dt * k(l dt), the sampled impulse response k(t) = 2 Re sum_n c_n b_n exp(lam_n t) of a
    diagonal system, which a discrete kernel should approach as dt -> 0."""
    t = dt * torch.arange(length, dtype=torch.float64)
    return dt * 2 * ((c * b)[:, None] * torch.exp(lam[:, None] * t)).sum(0).real


def discrete_kernel(lam, b, c, dt: float, length: int, method: str) -> torch.Tensor:
    abar, bbar = K.discretize(lam, b, torch.tensor(dt, dtype=torch.float64), method)
    powers = abar[:, None] ** torch.arange(length, dtype=torch.float64)
    return 2 * (c[:, None] * bbar[:, None] * powers).sum(0).real


def discretisation(cfg: dict) -> dict:
    """Relative L2 error of each method's kernel against dt * k(l dt) over a fixed time horizon,
    and the largest |eigenvalue| of A-bar, for S4D-Lin and S4D-Inv systems."""
    n = cfg["timing_state"]
    rows = []
    for init in ("lin", "inv"):
        lam = K.s4d_init(n, init).to(torch.complex128)
        g = torch.Generator().manual_seed(0)
        c = torch.complex(torch.randn(n // 2, generator=g, dtype=torch.float64),
                          torch.randn(n // 2, generator=g, dtype=torch.float64)) * 0.5 ** 0.5
        b = torch.ones(n // 2, dtype=torch.complex128)
        for dt in np.logspace(-3, 1, 17):
            length = max(2, int(round(10.0 / dt)))  # a fixed horizon of 10 time units
            length = min(length, 20000)
            ref = continuous_kernel(lam, b, c, float(dt), length)
            for method in METHODS:
                abar, _ = K.discretize(lam, b, torch.tensor(float(dt), dtype=torch.float64), method)
                k = discrete_kernel(lam, b, c, float(dt), length, method)
                err = float(torch.linalg.norm(k - ref) / torch.linalg.norm(ref))
                rows.append({"init": init, "dt": float(dt), "method": method, "rel_error": err if np.isfinite(err) else None,
                             "spectral_radius": float(abar.abs().max())})
    return {"state": n, "horizon": 10.0, "rows": rows}


def _time(fn, repeat: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def timing(cfg: dict) -> dict:
    """Seconds to compute an (H, L) kernel, float32, for each path and length."""
    h, n = cfg["timing_channels"], cfg["timing_state"]
    torch.manual_seed(0)
    lam, p, b, _ = K.dplr_legs(n)
    lam = lam.to(torch.complex64).expand(h, -1).contiguous()
    p = p.to(torch.complex64).expand(h, -1).contiguous()
    b = b.to(torch.complex64).expand(h, -1).contiguous()
    c = torch.randn(h, n // 2, dtype=torch.complex64)
    log_dt = torch.full((h,), float(np.log(0.01)))
    rows = []
    with torch.no_grad():
        for length in cfg["timing_lengths"]:
            paths = {
                "cauchy (S4, bilinear)": lambda: K.cauchy_kernel(lam, p, b, c, log_dt, length),
                "vandermonde (S4D, ZOH)": lambda: K.vandermonde_kernel(lam, b, c, log_dt, length, "zoh"),
            }
            if length <= cfg.get("naive_max_length", 2048):
                abar, bbar = K.discretize(K.dplr_dense(lam, p), K.conj_pair(b), log_dt.exp(), "bilinear")
                paths["naive powers (dense)"] = lambda: K.krylov_kernel(abar, bbar, K.conj_pair(c), length)
            for name, fn in paths.items():
                rows.append({"path": name, "length": int(length), "seconds": _time(fn)})
    return {"channels": h, "state": n, "threads": torch.get_num_threads(), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["discretisation", "timing"])
    ap.add_argument("--config-json", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = json.loads(args.config_json)
    fn = {"discretisation": discretisation, "timing": timing}[args.what]
    return exit_code(lambda: write_json(args.out, fn(cfg)))


if __name__ == "__main__":
    sys.exit(main())
