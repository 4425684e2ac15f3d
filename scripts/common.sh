# Sourced by the GPU-session scripts here: the repository, the Python to run, the import path, and
# DRY_RUN=1 (print each command, shell-quoted, instead of running it).

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# PYTHON=... wins; else the venv `make install` built; else the machine's python3 (the lent GPU
# machine has no venv and no console scripts, so everything runs as `python -m`).
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$REPO/.venv/bin/python" ]]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON=python3; fi
fi

# This checkout's code first, whatever else is installed (the GPU machine has no install of it at all).
export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"

run() {
  if [[ -n "${DRY_RUN:-}" ]]; then
    echo "${*@Q}"
  else
    "$@"
  fi
}
