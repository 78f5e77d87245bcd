#!/usr/bin/env bash
# Per-node profile of one model, fused against unfused: runs dipoorlet-infer with and without
# --no_fuse under DPL_NODE_TIMES (runtime/session.h: one line per plan node with its time),
# then prints, for every fused node that absorbed others, its time against the sum of the
# unfused nodes it stands for, largest loss first, and the totals. Times are mean ms per call
# without each node's first call (kernel set-up), process CPU time by default (steadier on a
# shared machine; METRIC=wall for wall time): compare within one run.
#
#   bash bench/node_profile.sh MODEL [BUILD_DIR]     MODEL: a bench/lib.sh short name
#                                                    (resnet50 yolox ppocr_det roadseg deeplab)
#   environment: REPEAT (default 5), SAMPLES (default 1), THREADS (default 1), TOP (default 15)
set -uo pipefail
MODEL_NAME="${1:?usage: node_profile.sh MODEL [BUILD_DIR]}"
shift
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

defaults REPEAT="5" SAMPLES="1" THREADS="1" TOP="15" METRIC="cpu"
require_tools dipoorlet-infer dipoorlet-prep
WORK="$BUILD/bench_work/node_profile_$MODEL_NAME"
fresh_dir "$WORK"
prepare_inputs "$MODEL_NAME" "$WORK/in" "$WORK/prep.log" -N "$SAMPLES"
# shellcheck disable=SC2207
shape=($(shape_flag "$MODEL_NAME"))
run() {  # run OUT_TSV [flags]
  local out="$1"
  shift
  DPL_NODE_TIMES="$out" "$BUILD/dipoorlet-infer" -M "$(model_file "$MODEL_NAME")" -I "$WORK/in" -N "$SAMPLES" \
    --threads "$THREADS" --repeat "$REPEAT" "${shape[@]}" -O "$WORK/out" "$@" >"$out.log" 2>&1 ||
    { cat "$out.log" >&2; die "dipoorlet-infer failed"; }
}
run "$WORK/fused.tsv"
run "$WORK/unfused.tsv" --no_fuse

echo "$(label "$MODEL_NAME"): per-node $METRIC ms per call, fused vs the unfused nodes it absorbed ($THREADS thread(s), $REPEAT+1 passes of $SAMPLES sample(s))"
machine_line
echo "load average: $(load_average)"
col=7
[ "$METRIC" = wall ] && col=6
awk -F'\t' -v top="$TOP" -v col="$col" '
  FNR == 1 { next }
  { ms = $5 > 0 ? $col / $5 : 0 }
  FILENAME ~ /unfused.tsv$/ { t[$2] = ms; total_u += ms; next }
  {
    total_f += ms
    if ($4 == "-") next
    n = split($4, parts, "+")
    sum = t[$2]
    names = $2 ":" $3
    for (k = 1; k <= n; ++k) { split(parts[k], nm, ":"); sum += t[nm[1]]; names = names "+" nm[2] }
    d[++rows] = sprintf("%10.3f %10.3f %+9.3f  %s  %s", ms, sum, ms - sum, names, $9)
    diff[rows] = ms - sum
  }
  END {
    printf "%10s %10s %9s  %s\n", "fused", "unfused", "diff", "node+absorbed  implementation"
    for (k = 1; k <= rows && k <= top; ++k) {
      best = 0
      for (j = 1; j <= rows; ++j) if (!used[j] && (best == 0 || diff[j] > diff[best])) best = j
      used[best] = 1
      print d[best]
    }
    printf "total: fused %.2f ms, unfused %.2f ms per call\n", total_f, total_u
  }' "$WORK/unfused.tsv" "$WORK/fused.tsv"
