#!/usr/bin/env bash
# Run every task's full-scale code path for a few steps on the GPU (scripts/gpu_check.py).
# Creates the venv if .venv is missing (`make venv`, else a plain venv + pip), then runs the
# check under a timeout; its exit status is the check's (124: timed out).
#   scripts/gpu_check.sh                         # CUDA, 50 steps per run
#   scripts/gpu_check.sh --device cpu --steps 3  # a quick test without a GPU
# Environment: GPU_CHECK_TIMEOUT (seconds, default 900).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    if command -v make >/dev/null && make -n venv >/dev/null 2>&1; then
        make venv
    else
        python3 -m venv .venv
        .venv/bin/pip install -e '.[coreml]'
    fi
fi
exec timeout --kill-after=30 "${GPU_CHECK_TIMEOUT:-900}" .venv/bin/python scripts/gpu_check.py "$@"
