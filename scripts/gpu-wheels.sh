#!/usr/bin/env bash
# Here, before a GPU call: download into .whl/ the wheels the lent GPU machine lacks (it has Python
# 3.12 with torch, Lightning, torchvision and pytest, but no kornia, hydra-core, omegaconf or antlr4).
# .whl/ is git-ignored: name it in the call's `carry`. See docs/benchmarks.md, "GPU session recipe".
set -euo pipefail
source "$(dirname "$0")/common.sh"

wheels="$REPO/.whl"
# The versions CI runs with, as wheels for CPython 3.12 on manylinux x86-64.
gpu_wheels=(kornia==0.9.0 kornia_rs==0.2.0 hydra-core==1.3.8 omegaconf==2.3.1)

run rm -rf "$wheels"
run "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$wheels" "${gpu_wheels[@]}"
# antlr4 4.9.3 (omegaconf's parser) is only an sdist on PyPI: built here, it is pure Python.
run "$PYTHON" -m pip wheel -q --no-deps -w "$wheels" antlr4-python3-runtime==4.9.3
