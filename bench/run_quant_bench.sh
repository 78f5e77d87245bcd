#!/usr/bin/env bash
# Quality and speed of the whole `dipoorlet` command on YOLOX-Nano (416x416)
# and PP-OCRv4 det (640x640), calibrated on real photographs from
# ../shared/data/imagenet-samples-200 (preprocessed with dipoorlet-prep as
# ../shared/models/README.md says), for each of -A minmax, hist, mse with -D trt:
#   - wall time of the whole `dipoorlet` command with -N CALIB (default 100) divided by the
#     wall time of a plain FP32 pass over the same samples (the whole `dipoorlet-infer`
#     command, same threads): target <= 1.5 for minmax, <= 3 for hist and mse;
#   - peak resident memory (/usr/bin/time -v "Maximum resident set size") at -N 50 and
#     -N 200 (MEM_N): target no growth beyond 10%;
#   - cosine similarity of the QDQ model's network output against the FP32 model's, both run
#     by dipoorlet-infer, on the photographs NOT used for calibration (images CALIB..199
#     of the folder, sorted by name): target >= 0.99 on YOLOX-Nano. Printed: the cosine over
#     all evaluation samples and the mean per-sample cosine.
#
#   bash bench/run_quant_bench.sh [BUILD_DIR]     (default: build; needs dipoorlet,
#                                                  dipoorlet-infer and dipoorlet-prep built)
#   environment: THREADS (default 1: the machine this was written for has 2 cores shared with
#                other work, where more threads mostly measure preemption), CALIB (default 100),
#                MEM_N (default "50 200"), MODELS (default "yolox ppocr_det"),
#                ALGOS (default "minmax hist mse"),
#                REPEAT (default 2: the FP32 pass and each -N CALIB run are timed REPEAT times and
#                the fastest counts, which damps the noise of a shared machine),
#                DEPLOY (default trt), EVAL (default: every image after the calibration ones),
#                SHARED (default ../shared)
# Work files go to BUILD_DIR/quant_bench_work (removed at the start).
set -uo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

defaults THREADS="1" CALIB="100" MEM_N="50 200" MODELS="yolox ppocr_det" \
  ALGOS="minmax hist mse" DEPLOY="trt" EVAL="" REPEAT="2"
WORK="$BUILD/quant_bench_work"

require_tools dipoorlet dipoorlet-infer dipoorlet-prep
require_time
require_node
[ -d "$IMAGES" ] || die "no calibration images in $IMAGES"
fresh_dir "$WORK"

# timed LOG CMD...: runs CMD under /usr/bin/time -v (output in LOG); prints "<wall s> <max RSS MiB>"
# or "fail".
timed() {
  local log="$1"
  shift
  if /usr/bin/time -v "$@" >"$log" 2>&1; then
    awk '/Elapsed \(wall clock\) time/ {
           n = split($NF, p, ":"); s = 0; for (i = 1; i <= n; ++i) s = s * 60 + p[i]; wall = s }
         /Maximum resident set size/ { rss = $NF / 1024 }
         END { printf "%.2f %.0f\n", wall, rss }' "$log"
  else
    echo "fail"
  fi
}

# best_of R LOG CMD...: `timed` R times; prints the fastest wall time with the largest RSS seen.
best_of() {
  local r="$1" log="$2" best="" rss=0 k res
  shift 2
  for ((k = 0; k < r; ++k)); do
    res="$(timed "$log" "$@")"
    [ "$res" = fail ] && { echo fail; return; }
    if [ -z "$best" ] || awk -v a="${res% *}" -v b="$best" 'BEGIN { exit !(a < b) }'; then best="${res% *}"; fi
    if [ "${res#* }" -gt "$rss" ]; then rss="${res#* }"; fi
  done
  echo "$best $rss"
}

echo "dipoorlet quantization bench: -D $DEPLOY, $THREADS threads, -N $CALIB calibration images, memory at -N ${MEM_N// /, -N }"
echo "$(machine_line); load average at start: $(load_average)"
echo

failures=()
rows=()
for m in $MODELS; do
  model="$(model_file "$m")"
  [ -f "$model" ] || die "model $model is missing"
  dir="$WORK/$m"
  mkdir -p "$dir"
  prepare_inputs "$m" "$dir/all" "$dir/prep.log"
  input="$(ls "$dir/all")"
  total="$(ls "$dir/all/$input" | wc -l)"
  [ "$total" -ge "$CALIB" ] || die "$m: only $total images, -N $CALIB asked"
  for n in $MEM_N; do
    [ "$n" -le "$total" ] || die "$m: only $total images, memory at -N $n asked"
  done
  # Evaluation samples: the images after the calibration ones, numbered from 0.
  n_eval=$((total - CALIB))
  if [ -n "$EVAL" ] && [ "$EVAL" -lt "$n_eval" ]; then n_eval="$EVAL"; fi
  link_samples "$dir" "$CALIB" "$n_eval"
  # shellcheck disable=SC2207
  shape=($(shape_flag "$m"))

  # Plain FP32 pass over the calibration samples: the denominator of the time ratio.
  fp="$(best_of "$REPEAT" "$dir/fp32_pass.log" "$BUILD/dipoorlet-infer" -M "$model" -I "$dir/all" -N "$CALIB" \
        --threads "$THREADS" "${shape[@]}" -O "$dir/fp32_pass")"
  [ "$fp" != fail ] || { cat "$dir/fp32_pass.log" >&2; die "$m: the FP32 pass failed"; }
  fp_s="${fp% *}"
  rm -rf "$dir/fp32_pass"
  # FP32 outputs on the evaluation samples, the reference of the cosines.
  if [ "$n_eval" -gt 0 ]; then
    "$BUILD/dipoorlet-infer" -M "$model" -I "$dir/eval" -N "$n_eval" --threads "$THREADS" "${shape[@]}" \
      -O "$dir/eval_fp32" >"$dir/eval_fp32.log" 2>&1 ||
      { cat "$dir/eval_fp32.log" >&2; die "$m: FP32 run on the evaluation samples failed"; }
  fi

  for a in $ALGOS; do
    run_q() {  # run_q REPEAT N OUT_DIR LOG
      local r="$1"
      shift
      best_of "$r" "$3" "$BUILD/dipoorlet" -M "$model" -I "$dir/all" -N "$1" -O "$2" -D "$DEPLOY" -A "$a" \
        --threads "$THREADS" "${shape[@]}"
    }
    q="$(run_q "$REPEAT" "$CALIB" "$dir/q_$a" "$dir/q_$a.log")"
    ratio="-"
    q_s="fail"
    rss_calib="-"
    if [ "$q" = fail ]; then
      failures+=("$(label "$m") $a -N $CALIB: $(grep -m1 -i error "$dir/q_$a.log")")
    else
      q_s="${q% *}"
      rss_calib="${q#* }"
      ratio="$(awk -v a="$q_s" -v b="$fp_s" 'BEGIN { printf "%.2f", a / b }')"
    fi
    mem=()
    for n in $MEM_N; do
      if [ "$n" = "$CALIB" ] && [ "$q" != fail ]; then
        mem+=("$rss_calib")
        continue
      fi
      r="$(run_q 1 "$n" "$dir/mem_${a}_$n" "$dir/mem_${a}_$n.log")"
      if [ "$r" = fail ]; then
        failures+=("$(label "$m") $a -N $n: $(grep -m1 -i error "$dir/mem_${a}_$n.log")")
        mem+=("fail")
      else
        mem+=("${r#* }")
      fi
      rm -rf "$dir/mem_${a}_$n"
    done
    growth="-"
    if [ "${#mem[@]}" -ge 2 ] && [ "${mem[0]}" != fail ] && [ "${mem[-1]}" != fail ]; then
      growth="$(awk -v a="${mem[0]}" -v b="${mem[-1]}" 'BEGIN { printf "%+.1f%%", (b / a - 1) * 100 }')"
    fi
    cos="-"
    mean_cos="-"
    if [ "$q" != fail ] && [ "$n_eval" -gt 0 ]; then
      if "$BUILD/dipoorlet-infer" -M "$dir/q_$a/quant_model.onnx" -I "$dir/eval" -N "$n_eval" \
        --threads "$THREADS" "${shape[@]}" -O "$dir/eval_q_$a" >"$dir/eval_q_$a.log" 2>&1; then
        # One line per output; these models have one.
        if line="$(node "$COSINE" "$dir/eval_fp32" "$dir/eval_q_$a" "$n_eval" 2>"$dir/cosine_$a.log")"; then
          line="$(head -1 <<<"$line")"
          cos="$(awk '{ print $3 }' <<<"$line")"
          mean_cos="$(awk '{ print $5 }' <<<"$line")"
        else
          failures+=("$(label "$m") $a: cosine: $(head -1 "$dir/cosine_$a.log")")
        fi
      else
        failures+=("$(label "$m") $a: dipoorlet-infer on quant_model.onnx: $(grep -m1 -i error "$dir/eval_q_$a.log")")
      fi
    fi
    rows+=("$(printf '%-17s %-6s %9s %9s %6s %9s %9s %7s %8s %8s' "$(label "$m")" "$a" "$q_s" "$fp_s" "$ratio" \
      "${mem[0]:--}" "${mem[-1]:--}" "$growth" "$cos" "$mean_cos")")
    echo "${rows[-1]}" >"$dir/row_$a.txt"
  done
done

echo "time: the whole command, seconds (wall, fastest of $REPEAT); ratio = dipoorlet / FP32 pass (dipoorlet-infer, same samples and threads)"
echo "RSS: peak resident memory in MiB of dipoorlet at -N ${MEM_N// /, -N }; cosine: QDQ vs FP32 network output on"
echo "the images not used for calibration (over all of them / mean per image)"
echo
printf '%-17s %-6s %9s %9s %6s %9s %9s %7s %8s %8s\n' model algo "quant s" "FP32 s" ratio \
  "RSS-N$(echo "$MEM_N" | awk '{ print $1 }')" "RSS-N$(echo "$MEM_N" | awk '{ print $NF }')" growth cosine "mean cos"
for r in "${rows[@]}"; do echo "$r"; done
echo
echo "load average at the end: $(load_average)"
if ((${#failures[@]})); then
  echo
  echo "failed runs:"
  for f in "${failures[@]}"; do echo "  $f"; done
  exit 1
fi
