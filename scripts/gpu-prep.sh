#!/usr/bin/env bash
# Here, before a GPU session: fill .whl/ and .gpu-pages/, then print the commit to name there
# (MANGACOLOR_COMMIT=...): the copy of the working tree the GPU machine gets has no .git.
# Commit first, or the rows say "-dirty". See docs/benchmarks.md, "GPU session recipe".
set -euo pipefail
here="$(dirname "$0")"
source "$here/common.sh"

"$here/gpu-wheels.sh"
"$here/gpu-pages.sh"
commit=$("$PYTHON" -c 'from mangacolor.benchmark.machine import git_commit
from mangacolor.runtime.bundled import REPO_DIR
print(git_commit(REPO_DIR))')
echo "MANGACOLOR_COMMIT=$commit"
