#!/usr/bin/env bash
# Speed of dipoorlet-infer against ONNX Runtime (onnxruntime-node, tests/tools/ort_run.js) on
# the same inputs, in the same run. Two tables (TABLES):
#  fp32:  ResNet-50 (onnx-light, real FLOPs, constant weights), YOLOX-Nano at 416x416 and
#         PP-OCRv4 det at 640x640, batch 1 and 8, 1 and 2 threads: ours, ORT, ours / ORT;
#  quant: the models of `dipoorlet -A minmax --quant_format QOP` per platform (QUANT_DEPLOYS:
#         trt has int8 weights, snpe uint8 ones), batch 1: our FP32 and QDQ (quant_model.onnx)
#         times and their ratio, then qop_model.onnx run by us and by ORT and that ratio.
# Both tools time R passes over N samples after a warm-up pass and print the median
# milliseconds per sample (lower is better).
#
#   bash bench/run_bench.sh [BUILD_DIR]        (default: build; needs dipoorlet, dipoorlet-infer,
#                                               dipoorlet-prep and bench-dynamic-batch built)
#   environment: REPEAT (default 5), SAMPLES (default 8), SHARED (default ../shared),
#                MODELS (default "resnet50 yolox ppocr_det"), BATCHES ("1 8"), THREADS ("1 2"),
#                TABLES ("fp32 quant"), QUANT_MODELS ("resnet50 yolox ppocr_det"),
#                QUANT_DEPLOYS ("trt snpe")
#
# Inputs are real photographs (../shared/data/imagenet-samples-200) preprocessed with
# dipoorlet-prep as each model expects. ONNX Runtime refuses a batch of 8 on a model exported
# with a fixed batch of 1, so batch 8 runs (both tools) use a copy with a symbolic batch
# dimension made by bench-dynamic-batch.
set -uo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

defaults REPEAT="5" SAMPLES="8" MODELS="resnet50 yolox ppocr_det" BATCHES="1 8" THREADS="1 2" TABLES="fp32 quant" \
  QUANT_MODELS="resnet50 yolox ppocr_det" QUANT_DEPLOYS="trt snpe"
N="$SAMPLES"
WORK="$BUILD/bench_work"

require_tools dipoorlet dipoorlet-infer dipoorlet-prep bench-dynamic-batch
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
ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "fail" || b == "fail") print "-"; else printf "%.2f", a / b }'; }
ms() { awk -v a="$1" 'BEGIN { if (a == "fail") print a; else printf "%.2f", a }'; }
failures=()

fp32_table() {
  printf '%-18s %5s %7s %10s %10s %8s\n' model batch threads "ours ms" "ORT ms" ratio
  printf '%-18s %5s %7s %10s %10s %8s\n' ------------------ ----- ------- ---------- ---------- --------
  local m model dir b t run_model common shape ours ort ratio
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
        ratio="$(ratio_of "$ours" "$ort")"
        [ "$ours" = fail ] && failures+=("$(label "$m") b$b t$t ours: $(grep -m1 -i error "$dir/ours_b${b}_t${t}.log")")
        [ "$ort" = fail ] && failures+=("$(label "$m") b$b t$t ORT: $(grep -m1 -i error "$dir/ort_b${b}_t${t}.log")")
        printf '%-18s %5s %7s %10s %10s %8s\n' "$(label "$m")" "$b" "$t" "$(ms "$ours")" "$(ms "$ort")" "$ratio"
      done
    done
  done
}

# The quant table: per model, platform and thread count, at batch 1.
quant_table() {
  echo
  printf '%-18s %-5s %7s %9s %9s %8s %9s %9s %8s\n' model -D threads "FP32 ms" "QDQ ms" QDQ/FP32 "QOP ours" "QOP ORT" ratio
  printf '%-18s %-5s %7s %9s %9s %8s %9s %9s %8s\n' ------------------ ----- ------- --------- --------- -------- --------- --------- --------
  for m in $QUANT_MODELS; do
    local model dir
    model="$(model_file "$m")"
    dir="$WORK/quant_$m"
    mkdir -p "$dir"
    prepare_inputs "$m" "$dir/in" "$dir/prep.log" -N "$N"
    # shellcheck disable=SC2207
    local shape=($(shape_flag "$m"))
    for d in $QUANT_DEPLOYS; do
      local q="$dir/$d"
      if ! "$BUILD/dipoorlet" -M "$model" -I "$dir/in" -N "$N" -D "$d" -A minmax --quant_format QOP --skip_prof_layer \
        "${shape[@]}" -O "$q" >"$q.log" 2>&1; then
        failures+=("$(label "$m") -D $d: dipoorlet failed: $(grep -m1 -i error "$q.log")")
        continue
      fi
      for t in $THREADS; do
        local common=(-I "$dir/in" -N "$N" --threads "$t" --repeat "$REPEAT" "${shape[@]}")
        local fp qdq qop_ours qop_ort
        fp="$(measure "$q/fp_t$t.log" "$BUILD/dipoorlet-infer" -M "$model" "${common[@]}" -O "$q/out_fp")"
        qdq="$(measure "$q/qdq_t$t.log" "$BUILD/dipoorlet-infer" -M "$q/quant_model.onnx" "${common[@]}" -O "$q/out_qdq")"
        qop_ort="$(measure "$q/qop_ort_t$t.log" node "$ORT" -M "$q/qop_model.onnx" "${common[@]}" -O "$q/out_qop_ort")"
        qop_ours="$(measure "$q/qop_ours_t$t.log" "$BUILD/dipoorlet-infer" -M "$q/qop_model.onnx" "${common[@]}" -O "$q/out_qop")"
        for v in fp qdq qop_ours qop_ort; do
          [ "${!v}" = fail ] && failures+=("$(label "$m") -D $d t$t $v: $(grep -m1 -i error "$q/${v}_t$t.log" 2>/dev/null)")
        done
        printf '%-18s %-5s %7s %9s %9s %8s %9s %9s %8s\n' "$(label "$m")" "$d" "$t" "$(ms "$fp")" "$(ms "$qdq")" \
          "$(ratio_of "$qdq" "$fp")" "$(ms "$qop_ours")" "$(ms "$qop_ort")" "$(ratio_of "$qop_ours" "$qop_ort")"
      done
    done
  done
}

for tb in $TABLES; do
  case "$tb" in
    fp32) fp32_table ;;
    quant) quant_table ;;
    *) die "unknown table '$tb' (fp32, quant)" ;;
  esac
done
if ((${#failures[@]})); then
  echo
  echo "failed runs:"
  for f in "${failures[@]}"; do echo "  $f"; done
fi
