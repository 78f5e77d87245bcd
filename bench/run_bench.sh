#!/usr/bin/env bash
# Speed of dipoorlet-infer against ONNX Runtime (onnxruntime-node, tests/tools/ort_run.js) on
# the same inputs, in the same run: ResNet-50 (onnx-light, real FLOPs, constant weights),
# YOLOX-Nano at 416x416 and PP-OCRv4 det at 640x640, batch 1 and 8, 1 and 2 threads.
# Both tools time R passes over N samples after a warm-up pass and print the median
# milliseconds per sample; the table shows both and their ratio (ours / ORT, lower is better).
#
#   bash bench/run_bench.sh [BUILD_DIR]        (default: build; needs dipoorlet-infer,
#                                               dipoorlet-prep and bench-dynamic-batch built)
#   environment: REPEAT (default 5), SAMPLES (default 8), SHARED (default ../shared),
#                MODELS (default "resnet50 yolox ppocr_det"), BATCHES ("1 8"), THREADS ("1 2")
#
# Inputs are real photographs (../shared/data/imagenet-samples-200) preprocessed with
# dipoorlet-prep as each model expects. ONNX Runtime refuses a batch of 8 on a model exported
# with a fixed batch of 1, so batch 8 runs (both tools) use a copy with a symbolic batch
# dimension made by bench-dynamic-batch.
set -uo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

defaults REPEAT="5" SAMPLES="8" MODELS="resnet50 yolox ppocr_det" BATCHES="1 8" THREADS="1 2"
N="$SAMPLES"
WORK="$BUILD/bench_work"

require_tools dipoorlet-infer dipoorlet-prep bench-dynamic-batch
[ -d "$SHARED/models" ] || die "no shared models in $SHARED/models"
[ -d "$ROOT/tests/tools/node_modules/onnxruntime-node" ] || die "onnxruntime-node is missing: run scripts/install_deps.sh"
fresh_dir "$WORK"

# Prints the median ms per sample, or "fail" (the log keeps the reason).
measure() {
  local log="$1"
  shift
  if "$@" >"$log" 2>&1; then
    awk '/^median_ms_per_sample/ { print $2; found = 1 } END { if (!found) print "fail" }' "$log"
  else
    echo "fail"
  fi
}

echo "Dipoorlet-C++ vs ONNX Runtime $(node -p "require('$ROOT/tests/tools/node_modules/onnxruntime-node/package.json').version") (onnxruntime-node)"
machine_line
echo "median ms per sample over $REPEAT passes of $N samples, after one warm-up pass"
echo "load average at the start: $(load_average) (other processes on the machine skew the timings, most of all with 2 threads)"
echo
printf '%-18s %5s %7s %10s %10s %8s\n' model batch threads "ours ms" "ORT ms" ratio
printf '%-18s %5s %7s %10s %10s %8s\n' ------------------ ----- ------- ---------- ---------- --------
failures=()
for m in $MODELS; do
  model="$(model_file "$m")"
  dir="$WORK/$m"
  mkdir -p "$dir"
  prepare_inputs "$m" "$dir/in" "$dir/prep.log" -N "$N"
  "$BUILD/bench-dynamic-batch" "$model" "$dir/model_dynamic_batch.onnx" >"$dir/dynamic.log" 2>&1 ||
    { cat "$dir/dynamic.log" >&2; die "bench-dynamic-batch failed on $m"; }
  for b in $BATCHES; do
    run_model="$model"
    [ "$b" -gt 1 ] && run_model="$dir/model_dynamic_batch.onnx"
    for t in $THREADS; do
      common=(-M "$run_model" -I "$dir/in" -N "$N" --threads "$t" --batch "$b" --repeat "$REPEAT")
      # shellcheck disable=SC2207
      shape=($(shape_flag "$m"))
      ours="$(measure "$dir/ours_b${b}_t${t}.log" "$BUILD/dipoorlet-infer" "${common[@]}" "${shape[@]}" -O "$dir/out_ours")"
      ort="$(measure "$dir/ort_b${b}_t${t}.log" node "$ORT" "${common[@]}" "${shape[@]}" -O "$dir/out_ort")"
      ratio="-"
      if [ "$ours" != fail ] && [ "$ort" != fail ]; then
        ratio="$(awk -v a="$ours" -v b="$ort" 'BEGIN { printf "%.2f", a / b }')"
      fi
      [ "$ours" != fail ] && ours="$(awk -v a="$ours" 'BEGIN { printf "%.2f", a }')"
      [ "$ort" != fail ] && ort="$(awk -v a="$ort" 'BEGIN { printf "%.2f", a }')"
      [ "$ours" = fail ] && failures+=("$(label "$m") b$b t$t ours: $(grep -m1 -i error "$dir/ours_b${b}_t${t}.log")")
      [ "$ort" = fail ] && failures+=("$(label "$m") b$b t$t ORT: $(grep -m1 -i error "$dir/ort_b${b}_t${t}.log")")
      printf '%-18s %5s %7s %10s %10s %8s\n' "$(label "$m")" "$b" "$t" "$ours" "$ort" "$ratio"
    done
  done
done
if ((${#failures[@]})); then
  echo
  echo "failed runs:"
  for f in "${failures[@]}"; do echo "  $f"; done
fi
