#!/usr/bin/env bash
# Here, before a GPU call: copy GPU_PAGE_COUNT (600) pages of SHARED_PAGES (../shared's clipart
# training pages) into .gpu-pages/, since the lent GPU machine has no ../shared. .gpu-pages/ is
# git-ignored: name it in the call's `carry`.
set -euo pipefail
source "$(dirname "$0")/common.sh"

shared_pages="${SHARED_PAGES:-$REPO/../shared/data/clipart/train}"
count="${GPU_PAGE_COUNT:-600}"
pages="$REPO/.gpu-pages"

if [[ ! -d "$shared_pages" ]]; then
  echo "gpu-pages.sh: folder not found: $shared_pages (set SHARED_PAGES=/a/folder/of/colour/pages)" >&2
  exit 1
fi
# The first pages by name, so every session benchmarks the same ones.
mapfile -d '' -t files < <(find "$shared_pages" -maxdepth 1 -type f -print0 | sort -z)
if (( ${#files[@]} == 0 )); then
  echo "gpu-pages.sh: no files in $shared_pages" >&2
  exit 1
fi
run rm -rf "$pages"
run mkdir -p "$pages"
run cp -t "$pages" "${files[@]:0:$count}"
