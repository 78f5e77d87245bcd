#!/usr/bin/env bash
# Cost of profiling (docs/profiling.md) on YOLOX-Nano (416x416) with real photographs from
# ../shared/data/imagenet-samples-200, preprocessed with dipoorlet-prep as
# ../shared/models/README.md says:
#   - time of the profiling stage of `dipoorlet -N CALIB` (per-layer and output comparison,
#     histograms, files; from its log line "Profiling: ... in X s (pass Y s, CPU Z s)")
#     divided by one FP32 pass over the same samples (the whole `dipoorlet-infer` command,
#     same threads, fastest of REPEAT): target <= 2.5 without sensitivity. Printed for wall
#     time and for CPU time (user + sys), which a busy shared machine disturbs less;
#   - peak resident memory of the whole `dipoorlet` command at -N 50 and -N 200 (MEM_N,
#     /usr/bin/time): profiling streams over the samples, so it must not grow with N;
#   - the cost of --sensitivity (default 8 samples): single-layer pass and skip-list search,
#     in seconds and in FP32 passes per sensitivity sample.
#
#   bash bench/run_profile_bench.sh [BUILD_DIR]   (default: build; needs dipoorlet,
#                                                  dipoorlet-infer and dipoorlet-prep built)
#   environment: THREADS (default 1), CALIB (default 100), MEM_N (default "50 200"),
#                REPEAT (default 2), DEPLOY (default trt), ALGO (default minmax),
#                SENS_SAMPLES (default 8; 0 skips the sensitivity run), SHARED (default ../shared)
# Work files go to BUILD_DIR/profile_bench_work (removed at the start).
set -uo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

defaults THREADS="1" CALIB="100" MEM_N="50 200" REPEAT="2" DEPLOY="trt" ALGO="minmax" \
  SENS_SAMPLES="8"
WORK="$BUILD/profile_bench_work"
MODEL="$(model_file yolox)"

require_tools dipoorlet dipoorlet-infer dipoorlet-prep
require_time
[ -f "$MODEL" ] || die "model $MODEL is missing"
[ -d "$IMAGES" ] || die "no images in $IMAGES"
fresh_dir "$WORK"

prepare_inputs yolox "$WORK/data" "$WORK/prep.log"
total="$(ls "$WORK/data/images" | wc -l)"
for n in $CALIB $MEM_N; do [ "$n" -le "$total" ] || die "only $total images, -N $n asked"; done

# measure LOG CMD...: runs CMD; prints "<wall s> <cpu s> <max RSS MiB>" or "fail".
measure() {
  local log="$1"
  shift
  /usr/bin/time -f "@@time %e %U %S %M" "$@" >"$log" 2>&1 || { echo fail; return; }
  awk '/^@@time/ { printf "%.2f %.2f %.0f\n", $2, $3 + $4, $5 / 1024 }' "$log"
}

# Profiling line of a dipoorlet log: "<stage s> <pass s> <cpu s>".
profiling_figures() {
  sed -n 's/.*Profiling: [0-9]* samples in \([0-9.]*\) s (pass \([0-9.]*\) s, CPU \([0-9.]*\) s).*/\1 \2 \3/p' "$1" |
    tail -1
}

echo "dipoorlet profiling bench: YOLOX-Nano 416, -D $DEPLOY -A $ALGO, $THREADS thread(s), -N $CALIB"
echo "$(machine_line); load average at start: $(load_average)"
echo

best_fp_wall="" best_fp_cpu=""
best_st="" best_pass="" best_pcpu=""
for ((k = 0; k < REPEAT; ++k)); do
  r="$(measure "$WORK/fp32.log" "$BUILD/dipoorlet-infer" -M "$MODEL" -I "$WORK/data" -N "$CALIB" --threads "$THREADS" \
        -O "$WORK/fp32_out")"
  [ "$r" != fail ] || { cat "$WORK/fp32.log" >&2; die "the FP32 pass failed"; }
  read -r w c _ <<<"$r"
  if [ -z "$best_fp_wall" ] || awk -v a="$w" -v b="$best_fp_wall" 'BEGIN { exit !(a < b) }'; then best_fp_wall="$w"; fi
  if [ -z "$best_fp_cpu" ] || awk -v a="$c" -v b="$best_fp_cpu" 'BEGIN { exit !(a < b) }'; then best_fp_cpu="$c"; fi
  rm -rf "$WORK/fp32_out"

  r="$(measure "$WORK/q_$CALIB.log" "$BUILD/dipoorlet" -M "$MODEL" -I "$WORK/data" -N "$CALIB" -D "$DEPLOY" -A "$ALGO" \
        --threads "$THREADS" -O "$WORK/q_$CALIB")"
  [ "$r" != fail ] || { tail -5 "$WORK/q_$CALIB.log" >&2; die "dipoorlet -N $CALIB failed"; }
  read -r st pass pcpu <<<"$(profiling_figures "$WORK/q_$CALIB.log")"
  [ -n "${st:-}" ] || die "no profiling line in $WORK/q_$CALIB.log"
  if [ -z "$best_st" ] || awk -v a="$st" -v b="$best_st" 'BEGIN { exit !(a < b) }'; then best_st="$st"; best_pass="$pass"; fi
  if [ -z "$best_pcpu" ] || awk -v a="$pcpu" -v b="$best_pcpu" 'BEGIN { exit !(a < b) }'; then best_pcpu="$pcpu"; fi
done

echo "time (seconds, fastest of $REPEAT): FP32 pass = dipoorlet-infer -N $CALIB (whole command)"
printf '%-34s %9s %9s\n' "" "wall s" "ratio"
printf '%-34s %9s %9s\n' "FP32 pass" "$best_fp_wall" "1.00"
printf '%-34s %9s %9s\n' "profiling stage (no sensitivity)" "$best_st" \
  "$(awk -v a="$best_st" -v b="$best_fp_wall" 'BEGIN { printf "%.2f", a / b }')"
printf '%-34s %9s %9s\n' "  of which the streaming pass" "$best_pass" \
  "$(awk -v a="$best_pass" -v b="$best_fp_wall" 'BEGIN { printf "%.2f", a / b }')"
printf '%-34s %9s %9s\n' "" "CPU s" "ratio"
printf '%-34s %9s %9s\n' "FP32 pass (user + sys)" "$best_fp_cpu" "1.00"
printf '%-34s %9s %9s\n' "profiling pass (process CPU)" "$best_pcpu" \
  "$(awk -v a="$best_pcpu" -v b="$best_fp_cpu" 'BEGIN { printf "%.2f", a / b }')"
echo

echo "peak resident memory of the whole dipoorlet command (MiB)"
mem=()
for n in $MEM_N; do
  r="$(measure "$WORK/mem_$n.log" "$BUILD/dipoorlet" -M "$MODEL" -I "$WORK/data" -N "$n" -D "$DEPLOY" -A "$ALGO" \
        --threads "$THREADS" -O "$WORK/mem_$n")"
  [ "$r" != fail ] || { tail -5 "$WORK/mem_$n.log" >&2; die "dipoorlet -N $n failed"; }
  read -r _ _ rss <<<"$r"
  mem+=("$rss")
  printf '  -N %-4s %6s MiB\n' "$n" "$rss"
  rm -rf "$WORK/mem_$n"
done
if [ "${#mem[@]}" -ge 2 ]; then
  echo "  growth from -N ${MEM_N%% *} to -N ${MEM_N##* }: $(awk -v a="${mem[0]}" -v b="${mem[-1]}" \
    'BEGIN { printf "%+.1f%%", (b / a - 1) * 100 }')"
fi
echo

if [ "$SENS_SAMPLES" -gt 0 ]; then
  r="$(measure "$WORK/sens.log" "$BUILD/dipoorlet" -M "$MODEL" -I "$WORK/data" -N "$CALIB" -D "$DEPLOY" -A "$ALGO" \
        --threads "$THREADS" -O "$WORK/sens" --sensitivity --sensitivity_samples "$SENS_SAMPLES")"
  [ "$r" != fail ] || { tail -5 "$WORK/sens.log" >&2; die "dipoorlet --sensitivity failed"; }
  read -r _ _ rss <<<"$r"
  line="$(grep -o 'sensitivity [0-9.]* s + skip list [0-9.]* s' "$WORK/sens.log" | tail -1)"
  single="$(awk '{ print $2 }' <<<"$line")"
  skip="$(awk '{ print $7 }' <<<"$line")"
  nodes="$(grep -o 'quantized [0-9]* nodes' "$WORK/sens.log" | head -1 | awk '{ print $2 }')"
  per_pass="$(awk -v b="$best_fp_wall" -v n="$CALIB" 'BEGIN { printf "%.4f", b / n }')"
  echo "--sensitivity on $SENS_SAMPLES samples ($nodes quantized nodes): single layers $single s" \
    "($(awk -v s="$single" -v p="$per_pass" -v k="$SENS_SAMPLES" 'BEGIN { printf "%.0f", s / p / k }') FP32 passes" \
    "per sample), skip list $skip s; peak RSS $rss MiB"
  grep -o 'Suggested --skip_layers.*samples)' "$WORK/sens.log" | tail -1 | sed 's/^/  /'
fi
echo
echo "load average at the end: $(load_average)"
