"""Seeding, device choice and thread settings: one place for each."""

from __future__ import annotations

import logging
import os
import random
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) and ask PyTorch for deterministic kernels."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    deterministic_algorithms()
    # Deterministic mode also fills every new tensor with NaN (about 10 % of a CPU step); the
    # kernels stay deterministic without it.
    torch.utils.deterministic.fill_uninitialized_memory = False
    torch.backends.cudnn.benchmark = False


def deterministic_algorithms() -> None:
    """``torch.use_deterministic_algorithms(True, warn_only=True)`` without its import of
    ``torch._inductor`` (and with it TorchDynamo: about 1 CPU second of every job's start, which
    nothing here compiles). The flag is the same; inductor's own ``deterministic`` setting is set
    if inductor is loaded, else left to its environment variable for a later import."""
    import sys

    import torch

    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:  # another PyTorch: the public call
        torch.use_deterministic_algorithms(True, warn_only=True)
        return
    setter(True, warn_only=True)
    inductor = sys.modules.get("torch._inductor.config")
    if inductor is not None:
        inductor.deterministic = True
    else:
        os.environ.setdefault("TORCHINDUCTOR_DETERMINISTIC", "1")


def skip_dynamo_import() -> None:
    """Let PyTorch's optimisers run without importing TorchDynamo (torch.compile's tracer).

    ``torch.optim`` imports ``torch._dynamo`` (about 1 CPU second, a large part of a short job's
    start) only to mark its methods as not traceable (``torch._disable_dynamo``) and to put graph
    breaks around ``step`` (``_use_grad_for_differentiable``); outside ``torch.compile`` both
    are no-ops and nothing here compiles. This pre-fills the cache of the first with the
    undecorated method and rewraps each optimiser's ``step`` with the same grad-mode handling
    minus the graph breaks, so the same arithmetic runs. Call it before building an optimiser;
    where PyTorch's internals differ from the expected ones, it changes nothing (the import then
    happens as usual). Harmless once ``torch._dynamo`` is loaded: it then does nothing."""
    import functools
    import sys

    import torch

    if "torch._dynamo" in sys.modules:
        return
    optimizer_mod = sys.modules.get("torch.optim.optimizer")
    use_grad = getattr(optimizer_mod, "_use_grad_for_differentiable", None)
    disable = getattr(torch, "_disable_dynamo", None)
    if use_grad is None or disable is None:
        return
    disabled_code = disable(lambda: None).__code__
    use_grad_code = use_grad(lambda self: None).__code__

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    base = torch.optim.Optimizer
    for name, meth in vars(base).items():
        fn = getattr(meth, "__wrapped__", None)
        if getattr(meth, "__code__", None) is disabled_code and fn is not None:
            if getattr(fn, "__dynamo_disable", None) is None:
                setattr(fn, "__dynamo_disable", fn)  # what _disable_dynamo would call, undecorated

    def grad_mode_step(func):
        def _use_grad(*args, **kwargs):
            self = args[0]
            prev_grad = torch.is_grad_enabled()
            try:
                torch.set_grad_enabled(self.defaults["differentiable"])
                return func(*args, **kwargs)
            finally:
                torch.set_grad_enabled(prev_grad)

        functools.update_wrapper(_use_grad, func)
        _use_grad.saidl_no_dynamo = True
        return _use_grad

    for cls in subclasses(base):
        step = vars(cls).get("step")
        if getattr(step, "__code__", None) is use_grad_code and hasattr(step, "__wrapped__"):
            cls.step = grad_mode_step(step.__wrapped__)


def keep_freed_memory() -> None:
    """Let glibc's malloc keep freed memory for reuse instead of handing it back to the kernel.

    By default a block over 128 KiB (the threshold grows with use, to at most 32 MiB) is its own
    mmap, and freeing it unmaps it, so a training loop that allocates the same large tensors every
    step page-faults them in again each time: several CPU seconds of kernel time in an SSM demo
    run (4-5 s of sys time; 0.5 s with this). With a 256 MiB mmap threshold and a 1 GiB trim
    threshold they come from the heap and are reused; the price is a process that keeps up to
    1 GiB of freed memory. Addresses change, numbers do not. Not glibc: nothing happens."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    mallopt(m_mmap_threshold, 256 << 20)
    mallopt(m_trim_threshold, 1 << 30)


def set_threads(n: int | None) -> None:
    """Set PyTorch's intra-op threads from the Snakemake rule's ``threads:``."""
    import torch

    if n:
        torch.set_num_threads(max(1, int(n)))


_GPU_CLAIM = None  # (index, open lock file) of the GPU this process claimed (held until it exits)


def claim_gpu(n: int, lock_dir: str | None = None) -> int | None:
    """The index of a GPU, of ``n`` this process sees, that no other process of this machine has
    claimed (a non-blocking ``flock`` on ``saidl-gpu-<i>.lock`` in ``lock_dir``, default
    ``$SAIDL_GPU_LOCK_DIR`` or the temporary folder), or None if all are claimed. The lock is held
    while the returned claim lives: Snakemake's ``--resources gpu=N`` lets N GPU jobs run at once on
    one machine, and each then trains on its own GPU instead of all on the first."""
    import fcntl
    import tempfile

    global _GPU_CLAIM
    folder = lock_dir or os.environ.get("SAIDL_GPU_LOCK_DIR") or tempfile.gettempdir()
    for i in range(n):
        f = open(os.path.join(folder, f"saidl-gpu-{i}.lock"), "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        _GPU_CLAIM = (i, f)
        return i
    return None


def _cuda_device(torch) -> "torch.device":
    """``cuda``, on a GPU of its own where this process sees several (see :func:`claim_gpu`)."""
    n = torch.cuda.device_count()
    if n <= 1:
        return torch.device("cuda")
    i = _GPU_CLAIM[0] if _GPU_CLAIM is not None else claim_gpu(n)  # this process may have claimed one
    if i is None:
        log.warning("every one of the %d GPUs is claimed by another saidl job; sharing GPU 0 (run with "
                    "--resources gpu=%d at most)", n, n)
        i = 0
    torch.cuda.set_device(i)
    return torch.device("cuda", i)


def choose_device(requested: str = "auto") -> "torch.device":
    """cuda → mps → cpu unless ``requested`` names one; an unavailable request is a clear error.
    With several GPUs visible, ``auto`` and ``cuda`` take one no other job of this machine holds."""
    import torch

    from .errors import ConfigError

    if requested == "auto":
        if torch.cuda.is_available():
            return _cuda_device(torch)
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device '{requested}' was requested in the config but CUDA is not available here; "
            "set device: auto (or cpu) in tasks/<task>/config.yaml or run on a GPU machine"
        )
    if requested == "cuda":
        return _cuda_device(torch)
    return torch.device(requested)
