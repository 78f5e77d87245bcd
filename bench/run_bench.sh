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

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
REPEAT="${REPEAT:-5}"
N="${SAMPLES:-8}"
MODELS="${MODELS:-resnet50 yolox ppocr_det}"
BATCHES="${BATCHES:-1 8}"
THREADS="${THREADS:-1 2}"
WORK="$BUILD/bench_work"
IMAGES="$SHARED/data/imagenet-samples-200"
ORT="$ROOT/tests/tools/ort_run.js"

for tool in dipoorlet-infer dipoorlet-prep bench-dynamic-batch; do
  [ -x "$BUILD/$tool" ] || { echo "run_bench.sh: $BUILD/$tool is not built" >&2; exit 1; }
done
[ -d "$SHARED/models" ] || { echo "run_bench.sh: no shared models in $SHARED/models" >&2; exit 1; }
[ -d "$ROOT/tests/tools/node_modules/onnxruntime-node" ] ||
  { echo "run_bench.sh: onnxruntime-node is missing: run scripts/install_deps.sh" >&2; exit 1; }
rm -rf "$WORK"
mkdir -p "$WORK"

# name -> model file, prep flags, --input_shape flag (empty when the shape is fixed)
model_file() {
  case "$1" in
    resnet50) echo "$SHARED/models/onnx-light/light_resnet50.onnx" ;;
    yolox) echo "$SHARED/models/yolox-nano/yolox_nano.onnx" ;;
    ppocr_det) echo "$SHARED/models/ppocr/ch_PP-OCRv4_det_infer.onnx" ;;
    *) echo "run_bench.sh: unknown model $1" >&2; exit 1 ;;
  esac
}
prep_flags() {
  case "$1" in
    resnet50) echo "--resize crop --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375" ;;
    yolox) echo "--bgr --resize letterbox --letterbox_align topleft --pad_value 114" ;;
    ppocr_det) echo "--image_size 640 --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375" ;;
  esac
}
shape_flag() {
  case "$1" in
    ppocr_det) echo "--input_shape x:1,3,640,640" ;;
    *) echo "" ;;
  esac
}
label() {
  case "$1" in
    resnet50) echo "ResNet-50 224" ;;
    yolox) echo "YOLOX-Nano 416" ;;
    ppocr_det) echo "PP-OCRv4 det 640" ;;
  esac
}

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
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(nproc) cores"
echo "median ms per sample over $REPEAT passes of $N samples, after one warm-up pass"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on the machine skew the timings, most of all with 2 threads)"
echo
printf '%-18s %5s %7s %10s %10s %8s\n' model batch threads "ours ms" "ORT ms" ratio
printf '%-18s %5s %7s %10s %10s %8s\n' ------------------ ----- ------- ---------- ---------- --------
failures=()
for m in $MODELS; do
  model="$(model_file "$m")"
  dir="$WORK/$m"
  mkdir -p "$dir"
  # shellcheck disable=SC2046
  if ! "$BUILD/dipoorlet-prep" -M "$model" -i "$IMAGES" -O "$dir/in" -N "$N" $(prep_flags "$m") >"$dir/prep.log" 2>&1; then
    echo "run_bench.sh: preparing inputs for $m failed:" >&2
    cat "$dir/prep.log" >&2
    exit 1
  fi
  "$BUILD/bench-dynamic-batch" "$model" "$dir/model_dynamic_batch.onnx" >"$dir/dynamic.log" 2>&1 ||
    { echo "run_bench.sh: bench-dynamic-batch failed on $m:" >&2; cat "$dir/dynamic.log" >&2; exit 1; }
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
