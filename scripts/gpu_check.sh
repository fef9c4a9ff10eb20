#!/usr/bin/env bash
# Run every task's full-scale code path for a few steps on the GPU (scripts/gpu_check.py).
# Creates the venv as `make env` does if .venv is missing, then runs the check with a timeout.
#   scripts/gpu_check.sh                        # CUDA, 50 steps per run
#   scripts/gpu_check.sh --device cpu --steps 3 # a quick test without a GPU
# Environment: GPU_CHECK_TIMEOUT (seconds, default 900).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d .venv ]; then
    python3 -m venv .venv
    .venv/bin/pip install -e '.[coreml]'
fi
exec timeout --kill-after=30 "${GPU_CHECK_TIMEOUT:-900}" .venv/bin/python scripts/gpu_check.py "$@"
