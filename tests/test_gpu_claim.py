"""Several GPUs on one machine (``--resources gpu=N``): each GPU job claims a GPU no other job
holds (saidl.common.runtime.claim_gpu), instead of every job training on the first."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

from saidl.common import runtime

from conftest import HANG_TIMEOUT, REPO

CLAIM = ("import sys, time; from saidl.common.runtime import claim_gpu; "
         "print(claim_gpu(int(sys.argv[1]), sys.argv[2]), flush=True); time.sleep(float(sys.argv[3]))")


def _claim(n, folder, hold=0.0):
    return subprocess.Popen([sys.executable, "-c", CLAIM, str(n), str(folder), str(hold)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)


def test_jobs_running_at_once_claim_different_gpus_and_release_them(tmp_path):
    holders = [_claim(2, tmp_path, hold=30.0) for _ in range(2)]
    got = sorted(int(p.stdout.readline()) for p in holders)
    assert got == [0, 1]
    third = _claim(2, tmp_path)
    assert third.communicate(timeout=HANG_TIMEOUT)[0].strip() == "None"  # both held
    holders[0].kill()
    holders[0].wait()
    again = _claim(2, tmp_path)
    assert int(again.communicate(timeout=HANG_TIMEOUT)[0]) in got  # a finished job's GPU is free again
    holders[1].kill()
    holders[1].wait()


def test_choose_device_takes_the_claimed_gpu(tmp_path, monkeypatch):
    picked = []
    fake = SimpleNamespace(cuda=SimpleNamespace(device_count=lambda: 3, set_device=picked.append),
                           device=lambda kind, i=None: (kind, i))
    monkeypatch.setenv("SAIDL_GPU_LOCK_DIR", str(tmp_path))
    monkeypatch.setattr(runtime, "_GPU_CLAIM", None)
    held = _claim(3, tmp_path, hold=30.0)
    try:
        assert held.stdout.readline().strip() == "0"
        assert runtime._cuda_device(fake) == ("cuda", 1) and picked == [1]
        assert runtime._cuda_device(fake) == ("cuda", 1)  # the same GPU for the rest of the process
        one = SimpleNamespace(cuda=SimpleNamespace(device_count=lambda: 1), device=lambda kind, i=None: (kind, i))
        assert runtime._cuda_device(one) == ("cuda", None)  # one GPU (or SLURM's own): nothing to claim
    finally:
        held.kill()
        held.wait()
        runtime._GPU_CLAIM = None
