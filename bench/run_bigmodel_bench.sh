#!/usr/bin/env bash
# A model over 2 GB end to end (docs/external_data.md): bench-gen-unet writes a
# Stable-Diffusion-shaped UNet with random weights (CHANNELS 320: 782 M parameters, 3.1 GB, in
# unet.onnx.data), then `dipoorlet -A minmax -N SAMPLES -D trt --model_type unet` runs on it
# with per-layer profiling (the default) and with --skip_prof_layer; each run's wall time and
# peak resident set (/usr/bin/time) are printed against the weights' size. ONNX Runtime then
# runs the quant_model.onnx (+ .data) written, and its output is compared with
# dipoorlet-infer's on the same sample (cosine).
#
#   bash bench/run_bigmodel_bench.sh [BUILD_DIR]   (default: build; needs dipoorlet,
#                                                  dipoorlet-infer, bench-gen-unet, node,
#                                                  /usr/bin/time; about 4x the model's size
#                                                  of free disk and 2x of memory)
#   environment: CHANNELS (default 320), SIZE (latent side, default 16), SAMPLES (8),
#                THREADS (default 2), RUNS (default "profile noprofile"), ORT_CHECK (default 1),
#                WORK (default BUILD_DIR/bigmodel_bench_work)
# Work files go to WORK (removed at the start and at the end unless KEEP=1).
set -uo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

defaults CHANNELS="320" SIZE="16" SAMPLES="8" THREADS="2" RUNS="profile noprofile" ORT_CHECK="1" KEEP="0"
defaults WORK="$BUILD/bigmodel_bench_work"
require_tools dipoorlet dipoorlet-infer bench-gen-unet
require_time
[ "$ORT_CHECK" = 1 ] && require_node
fresh_dir "$WORK"

"$BUILD/bench-gen-unet" "$WORK/model" --channels "$CHANNELS" --size "$SIZE" --samples "$SAMPLES" ||
  die "bench-gen-unet failed"
model="$WORK/model/unet.onnx"
weights=$(( $(stat -c %s "$model") + $( [ -f "$model.data" ] && stat -c %s "$model.data" || echo 0) ))
weights_mb=$((weights / 1000000))

echo
echo "$(machine_line)"
echo "model: bench-gen-unet --channels $CHANNELS --size $SIZE: $weights_mb MB (unet.onnx + unet.onnx.data); -N $SAMPLES, --threads $THREADS"
echo
echo "| run | wall s | peak RSS MB | peak RSS / model size |"
echo "|---|---|---|---|"
for run in $RUNS; do
  flags=""
  [ "$run" = noprofile ] && flags="--skip_prof_layer"
  out="$WORK/out_$run"
  # shellcheck disable=SC2086  # flags is a list
  /usr/bin/time -f "%e %M" -o "$WORK/time_$run" "$BUILD/dipoorlet" -M "$model" -I "$WORK/model/data" -N "$SAMPLES" \
    -A minmax -D trt --model_type unet --threads "$THREADS" -O "$out" $flags > "$WORK/log_$run" 2>&1 ||
    die "dipoorlet ($run) failed: see $WORK/log_$run"
  read -r wall rss_kb < "$WORK/time_$run"
  awk -v r="$run" -v w="$wall" -v k="$rss_kb" -v m="$weights" \
    'BEGIN { printf "| %s | %.1f | %.0f | %.2f |\n", r, w, k * 1024 / 1e6, k * 1024 / m }'
done

if [ "$ORT_CHECK" = 1 ]; then
  run=$(echo "$RUNS" | awk '{print $1}')
  q="$WORK/out_$run/quant_model.onnx"
  [ -f "$q.data" ] || die "$q was written without external data"
  "$BUILD/dipoorlet-infer" -M "$q" -I "$WORK/model/data" -N 1 --threads "$THREADS" -O "$WORK/ours" \
    > "$WORK/log_infer" 2>&1 || die "dipoorlet-infer failed on $q: see $WORK/log_infer"
  /usr/bin/time -f "%e %M" -o "$WORK/time_ort" node "$ORT" -M "$q" -I "$WORK/model/data" -N 1 --threads "$THREADS" \
    --opt_level disabled -O "$WORK/ort" > "$WORK/log_ort" 2>&1 || die "ONNX Runtime failed on $q: see $WORK/log_ort"
  read -r wall rss_kb < "$WORK/time_ort"
  echo
  echo "ONNX Runtime on quant_model.onnx (+ .data): loaded and ran 1 sample in ${wall} s (peak RSS $((rss_kb / 1024)) MiB);"
  echo "against dipoorlet-infer: $(node "$COSINE" "$WORK/ours" "$WORK/ort" 1 | head -1)"
fi
[ "$KEEP" = 1 ] || rm -rf "$WORK"
