#!/usr/bin/env bash
# The tests that need CUDA (marked `gpu`; elsewhere they skip): scripts/test-gpu.sh [PYTEST ARG ...]
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$REPO"
run "$PYTHON" -m pytest -q -m gpu "$@"
