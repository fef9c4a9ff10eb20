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

import numpy as np
import torch

from saidl.common.cli import exit_code
from saidl.common.io import write_json
from saidl.common.timing import best_time
from saidl.ssm import kernels as K

METHODS = ("euler", "bilinear", "zoh")
DISC_STATE = 16  # N of the system in the discretisation study: modes up to (N/2 - 1) pi rad per time unit


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
    and the largest |eigenvalue| of A-bar, for S4D-Lin and S4D-Inv systems. Where A-bar has an
    eigenvalue outside the unit circle the kernel grows without bound: its error is None."""
    n = DISC_STATE
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
                radius = float(abar.abs().max())
                err = float(torch.linalg.norm(k - ref) / torch.linalg.norm(ref))
                rows.append({"init": init, "dt": float(dt), "method": method,
                             "rel_error": err if radius <= 1.0 and np.isfinite(err) else None,
                             "spectral_radius": radius})
    return {"state": n, "horizon": 10.0, "rows": rows}


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
                rows.append({"path": name, "length": int(length), "seconds": best_time(fn, repeat(cfg))})
    return {"channels": h, "state": n, "threads": torch.get_num_threads(), "repeat": repeat(cfg), "rows": rows,
            "steps": step_timing(cfg)}


def repeat(cfg: dict) -> int:
    """Timed calls per measurement (after one warm-up call); the fastest is reported."""
    return int(cfg.get("timing_repeat", 3))


def step_timing(cfg: dict) -> dict:
    """Seconds per training step (forward, backward, optimiser) of the NumPy S4D and of the
    PyTorch S4D-Lin with ZOH, same sizes, same batch, one thread, in one process."""
    from saidl.ssm import numpy_s4d
    from saidl.ssm.models import SSMClassifier

    length = 784 if cfg["dataset"] == "fashion_mnist" else 1024
    b = cfg.get("timing_batch") or cfg["batch_size"]  # default: the training batch
    h, layers, n = cfg["d_model"], cfg["n_layers"], cfg["d_state"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((b, length, 1)).astype(np.float32)
    y = rng.integers(0, 10, b)
    params = numpy_s4d.init_params(1, h, layers, n, 10, seed=0, dtype=np.float32)
    opt = numpy_s4d.Adam(params, lr=0.01)

    def numpy_step():
        _, cache = numpy_s4d.forward(params, x, y)
        opt.step(params, numpy_s4d.backward(params, cache))

    torch.manual_seed(0)
    model = SSMClassifier(1, 10, d_model=h, n_layers=layers, d_state=n, dropout=0.0, kind="s4d",
                          init="lin", disc="zoh")
    topt = torch.optim.AdamW(model.param_groups(0.01, 0.01))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def torch_step():
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        topt.zero_grad(set_to_none=True)
        loss.backward()
        topt.step()

    return {"length": length, "batch": b, "d_model": h, "n_layers": layers, "state": n,
            "repeat": repeat(cfg), "numpy_s": best_time(numpy_step, repeat(cfg)),
            "torch_s": best_time(torch_step, repeat(cfg))}


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
