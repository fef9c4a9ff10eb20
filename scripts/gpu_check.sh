#!/usr/bin/env bash
# Run every task's full-scale code path for a few steps on the GPU (scripts/gpu_check.py), measure
# the cost plan's per-step seconds (`make plan`) and merge them into benchmarks/calibration.json
# under this device's name.
# Uses .venv, else a preinstalled python3 with PyTorch (+ wheels in .whl/), else creates the venv
# (`make venv`); runs the check under a timeout; its exit status is the check's (124: timed out).
#   scripts/gpu_check.sh                                          # CUDA, 50 steps per run
#   scripts/gpu_check.sh --device cpu --steps 2                   # this CPU's entry (slow: full sizes)
#   scripts/gpu_check.sh --device cpu --steps 3 --calibration ''  # a quick test without a GPU
# Then, on CUDA, benchmarks/bench_pack.py and bench_pack_rl.py (K = 8 packed against serial).
# Environment: GPU_CHECK_TIMEOUT (seconds, default 900), GPU_PACK_TIMEOUT (default 240).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if [ ! -x "$PY" ] && python3 -c "import torch" 2>/dev/null; then
    # A machine with PyTorch preinstalled and no network (a lent GPU image): use its python3 and
    # this checkout's src/, plus any wheels carried in .whl/ (see README, "GPU check").
    PY=python3
    if ls .whl/*.whl >/dev/null 2>&1; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/saidl-site .whl/*.whl
        export PYTHONPATH=/tmp/saidl-site${PYTHONPATH:+:$PYTHONPATH}
    fi
    export PYTHONPATH=$PWD/src:$PYTHONPATH
elif [ ! -x "$PY" ]; then
    if command -v make >/dev/null && make -n venv >/dev/null 2>&1; then
        make venv
    else
        python3 -m venv .venv
        .venv/bin/pip install -e '.[coreml,rl,diffusion]'
    fi
fi
rc=0
timeout --kill-after=30 "${GPU_CHECK_TIMEOUT:-900}" "$PY" scripts/gpu_check.py \
    --calibration benchmarks/calibration.json "$@" || rc=$?
# Packed training (pack_mode: vmap) against the same Core ML members one after another, at the
# full scale's CNN and the demo's MLP: the throughput ratio packing is for (CPU numbers: make bench).
if "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    timeout --kill-after=10 "${GPU_PACK_TIMEOUT:-240}" "$PY" benchmarks/bench_pack.py --device cuda --k 8 --steps 20 \
        --threads 4 || echo "bench_pack: failed or timed out (status $?)"
    # RL packs: 8 TD3 and 8 noisy-net agents at the full scale's sizes, batched against one after another.
    timeout --kill-after=10 "${GPU_PACK_TIMEOUT:-240}" "$PY" benchmarks/bench_pack_rl.py --device cuda --k 8 --steps 50 \
        --threads 4 || echo "bench_pack_rl: failed or timed out (status $?)"
fi
exit $rc
