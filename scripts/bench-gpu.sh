#!/usr/bin/env bash
# The GPU sweep of docs/benchmarks.md ("GPU session recipe"), one part per call of the lent machine:
#   scripts/bench-gpu.sh eager|compile|all [OVERRIDE ...]
# eager:   the eager batch sweep (channels_last off and on), bf16 and fp32 at batch 16 profiled,
#          data (decode on device off and on), end to end and colourise
# compile: torch.compile at each batch size, profiled at 16 and 64
# OVERRIDEs go last on every bench line, so they win: `+debug=tiny ...` makes a CPU smoke test.
# Environment: PYTHON (see common.sh), PAGES (.gpu-pages/), OUT_DIR (outputs/bench-gpu),
#   COMPILE_BATCHES ([1,8,16,32,64]), DECODE_SWEEP (bench.data_decode_on_device=[false,true];
#   set it empty to drop those rows), DRY_RUN=1 (print the commands only).
# Every line runs even when one before it failed: one failing part must not cost the rest of a
# 10-minute call. The script then exits 1, naming the lines that failed.
set -euo pipefail
source "$(dirname "$0")/common.sh"

part="${1:-}"
case "$part" in
  eager | compile | all) shift ;;
  *) echo "usage: scripts/bench-gpu.sh eager|compile|all [OVERRIDE ...]" >&2; exit 2 ;;
esac
extra=("$@")
pages="${PAGES:-$REPO/.gpu-pages}"
out="${OUT_DIR:-$REPO/outputs/bench-gpu}"
compile_batches="${COMPILE_BATCHES:-[1,8,16,32,64]}"
decode_sweep=()
if [[ -n "${DECODE_SWEEP-bench.data_decode_on_device=[false,true]}" ]]; then
  decode_sweep=("${DECODE_SWEEP-bench.data_decode_on_device=[false,true]}")
fi

failed=()
bench() {  # bench NAME OVERRIDE...: one line of the sweep, on the manga recipe and the pages
  local name="$1"
  shift
  run "$PYTHON" -m mangacolor.commands.bench +experiment=manga "data.train_dir=$pages" "$@" "${extra[@]}" ||
    failed+=("$name")
}

if [[ "$part" == eager || "$part" == all ]]; then
  bench eager 'bench.tasks=[model]' 'bench.batch_sizes=[1,8,16,32,64]' 'bench.compile=[false]' \
    'bench.channels_last=[false,true]' "bench.json=$out/eager/bench.json"
  bench pipeline 'bench.tasks=[model,data,end_to_end,colourise]' 'bench.batch_sizes=[16]' 'bench.compile=[false]' \
    'bench.precisions=[bf16-mixed,32-true]' bench.profile=true data.batch_size=16 data.num_workers=16 \
    'bench.data_workers=[16]' "${decode_sweep[@]}" bench.data_batches=100 bench.iterations=50 \
    "bench.json=$out/pipeline/bench.json"
fi
if [[ "$part" == compile || "$part" == all ]]; then
  bench compiled 'bench.tasks=[model]' "bench.batch_sizes=$compile_batches" 'bench.compile=[true]' \
    'bench.profile=[16,64]' "bench.json=$out/compiled/bench.json"
fi

if (( ${#failed[@]} )); then
  echo "bench-gpu.sh: failed: ${failed[*]} (their rows so far are in $out/<name>/bench.json; read the log above)" >&2
  exit 1
fi
