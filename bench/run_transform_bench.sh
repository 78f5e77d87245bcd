#!/usr/bin/env bash
# What the weight transforms without training (docs/weight_transforms.md) do to the
# quantized network's output: for YOLOX-Nano (416x416), PP-OCRv4 det (640x640) and the PP-OCR
# angle classifier (48x192), on snpe (per-tensor asymmetric weights, where these methods
# matter) and trt (per-channel symmetric weights), for each of: no transform, --we, --bc,
# --we --bc (BN folding is on in every run, as by default):
#   - cosine and SQNR (10 log10(sum fp^2 / sum (fp - q)^2)) of the QDQ model's network output
#     against the original FP32 model's, both run by dipoorlet-infer, on EVAL photographs that
#     are NOT among the CALIB calibration ones (bench/output_cosine.js);
#   - the change of SQNR against no transform (negative: the method made the model worse);
#   - the wall time of the whole dipoorlet command.
# Photographs: ../shared/data/imagenet-samples-200 sorted by name, preprocessed with
# dipoorlet-prep as ../shared/models/README.md says; calibration = images 0..CALIB-1,
# evaluation = images CALIB..CALIB+EVAL-1.
#
#   bash bench/run_transform_bench.sh [BUILD_DIR]     (default: build; needs dipoorlet,
#                                                      dipoorlet-infer and dipoorlet-prep built)
#   environment: CALIB (default 100), EVAL (default 100; CALIB + EVAL <= 200),
#                MODELS (default "yolox ppocr_det ppocr_cls"), DEPLOYS (default "snpe trt"),
#                CONFIGS (default "none we bc we_bc"; also "we_absorb", "update_bn", "keep_bn"),
#                ALGO (default mse, the tool's default), THREADS (default 2), SHARED (default ../shared)
# Work files go to BUILD_DIR/transform_bench_work (removed at the start); the table is also
# written to BUILD_DIR/transform_bench_work/table.txt, one row as soon as it is measured.
set -uo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

defaults CALIB="100" EVAL="100" MODELS="yolox ppocr_det ppocr_cls" DEPLOYS="snpe trt" \
  CONFIGS="none we bc we_bc" ALGO="mse" THREADS="2"
WORK="$BUILD/transform_bench_work"

require_tools dipoorlet dipoorlet-infer dipoorlet-prep
require_node
[ -d "$IMAGES" ] || die "no photographs in $IMAGES"
fresh_dir "$WORK"
TABLE="$WORK/table.txt"
config_flags() {
  case "$1" in
    none) echo "" ;;
    we) echo "--we" ;;
    bc) echo "--bc" ;;
    we_bc) echo "--we --bc" ;;
    we_absorb) echo "--we --we_absorb" ;;
    update_bn) echo "--update_bn" ;;
    keep_bn) echo "--keep_bn" ;;
    *) die "unknown configuration $1" ;;
  esac
}

[ $((CALIB + EVAL)) -le 200 ] || die "CALIB + EVAL must be at most 200 (the folder's photographs)"
header="$(printf '%-18s %-5s %-10s %9s %9s %8s %8s %8s' model -D transform cosine "mean cos" "SQNR dB" "dSQNR" "time s")"
{
  echo "weight transform bench: -A $ALGO, $THREADS threads, $CALIB calibration and $EVAL other evaluation photographs"
  echo "$(machine_line); load average at start: $(load_average)"
  echo "$header"
} | tee "$TABLE"

failures=()
for m in $MODELS; do
  model="$(model_file "$m")"
  [ -f "$model" ] || die "model $model is missing"
  dir="$WORK/$m"
  mkdir -p "$dir"
  prepare_inputs "$m" "$dir/all" "$dir/prep.log" -N $((CALIB + EVAL))
  link_samples "$dir" "$CALIB" "$EVAL"
  # shellcheck disable=SC2207
  shape=($(shape_flag "$m"))
  "$BUILD/dipoorlet-infer" -M "$model" -I "$dir/eval" -N "$EVAL" --threads "$THREADS" "${shape[@]}" \
    -O "$dir/eval_fp32" >"$dir/eval_fp32.log" 2>&1 || { cat "$dir/eval_fp32.log" >&2; die "$m: FP32 run failed"; }
  for d in $DEPLOYS; do
    base_sqnr=""
    for c in $CONFIGS; do
      out="$dir/${d}_$c"
      # shellcheck disable=SC2046
      start=$(date +%s.%N)
      if ! "$BUILD/dipoorlet" -M "$model" -I "$dir/all" -N "$CALIB" -D "$d" -A "$ALGO" --threads "$THREADS" \
        "${shape[@]}" $(config_flags "$c") -O "$out" >"$out.log" 2>&1; then
        failures+=("$(label "$m") $d $c: $(grep -m1 -i error "$out.log")")
        continue
      fi
      secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
      if ! "$BUILD/dipoorlet-infer" -M "$out/quant_model.onnx" -I "$dir/eval" -N "$EVAL" --threads "$THREADS" \
        "${shape[@]}" -O "$out.eval" >"$out.eval.log" 2>&1; then
        failures+=("$(label "$m") $d $c: dipoorlet-infer: $(grep -m1 -i error "$out.eval.log")")
        continue
      fi
      # One line per output; these models have one.
      if ! line="$(node "$COSINE" "$dir/eval_fp32" "$out.eval" "$EVAL" 2>"$out.cosine.log" | head -1)" || [ -z "$line" ]; then
        failures+=("$(label "$m") $d $c: cosine: $(head -1 "$out.cosine.log")")
        continue
      fi
      rm -rf "$out.eval"
      cos="$(awk '{ print $3 }' <<<"$line")"
      mean_cos="$(awk '{ print $5 }' <<<"$line")"
      sqnr="$(awk '{ print $9 }' <<<"$line")"
      delta="-"
      if [ "$c" = none ]; then
        base_sqnr="$sqnr"
      elif [ -n "$base_sqnr" ]; then
        delta="$(awk -v a="$sqnr" -v b="$base_sqnr" 'BEGIN { printf "%+.2f", a - b }')"
      fi
      printf '%-18s %-5s %-10s %9s %9s %8s %8s %8s\n' "$(label "$m")" "$d" "$c" "$cos" "$mean_cos" "$sqnr" "$delta" \
        "$secs" | tee -a "$TABLE"
    done
  done
done

{
  echo
  echo "cosine / SQNR: QDQ vs original FP32 network output on the $EVAL evaluation photographs (cosine over all"
  echo "values, and the mean of per-image cosines); dSQNR: SQNR minus that of no transform on the same -D"
  echo "(negative: the transform made the quantized model worse); time: the whole dipoorlet command"
  echo "load average at the end: $(load_average)"
} | tee -a "$TABLE"
if ((${#failures[@]})); then
  echo
  echo "failed runs:"
  for f in "${failures[@]}"; do echo "  $f"; done
  exit 1
fi
