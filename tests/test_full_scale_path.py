"""The full-scale code path (CIFAR-10 protocol, 8-layer CNN, no validation split) runs on the CPU
for a few steps with stand-in data: what scripts/gpu_check.sh runs on a GPU."""

import subprocess
import sys

from conftest import HANG_TIMEOUT, REPO


def test_gpu_check_runs_every_full_scale_part_on_cpu():
    proc = subprocess.run([sys.executable, "scripts/gpu_check.py", "--device", "cpu", "--steps", "1",
                           "--eval-images", "256"], cwd=REPO, capture_output=True, text=True, timeout=HANG_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "all parts OK" in proc.stdout and "FAILED" not in proc.stdout
