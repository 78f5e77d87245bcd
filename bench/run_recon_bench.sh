#!/usr/bin/env bash
# AdaRound speed, quality and cost (docs/training.md), two tables (TABLES, default "speed top1"):
#  speed: one AdaRound iteration at batch 32 (soft weight, forward, loss, backward, Adam step) on
#  four real layers of YOLOX-Nano (bench-adaround-step picks them), ours against the same recipe
#  in plain PyTorch-CPU (bench/adaround_step_torch.py; Debian's python3-torch, installed here if
#  missing: benchmark only), same threads; the ratio is ours / PyTorch's.
#  top1: top-1 on the 10,000 Fashion-MNIST TEST images of
# the fmnist-dev models (../shared/models/fmnist-dev), calibrated and reconstructed on the first
# CALIB (1024) TRAIN images, -D DEPLOY (magicmind) --first_last_8bit, round-to-nearest against
# --adaround, for each bit setting and --w_range. Each AdaRound cell also gives its wall time
# and peak RSS (GNU time).
#
#   bash bench/run_recon_bench.sh [BUILD_DIR]   (default: build; needs dipoorlet and dipoorlet-infer
#                                                 built, node, /usr/bin/time, and the Debian package
#                                                 dataset-fashion-mnist)
#   environment: TABLES, STEP_ITERS (iterations timed per layer, default 20), THREADS (default 2), CALIB (1024), TEST (10000), FMNIST_MODELS (default "resnet"),
#                DEPLOY (magicmind), BITS (default "4:8 4:4 2:4"), W_RANGES (default "minmax mse"),
#                ALGO (-A, default output), ITERS (--ada_iters, default 10000),
#                SHARED (default ../shared), WORK (default BUILD_DIR/recon_bench_work)
set -uo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

defaults TABLES="speed top1" STEP_ITERS="20" THREADS="2" CALIB="1024" TEST="10000" FMNIST_MODELS="resnet" DEPLOY="magicmind" BITS="4:8 4:4 2:4" \
  W_RANGES="minmax mse" ALGO="output" ITERS="10000"
defaults WORK="$BUILD/recon_bench_work"
FM="node $ROOT/bench/fmnist.js"

require_tools dipoorlet dipoorlet-infer
require_node
require_time
fresh_dir "$WORK"

# quantize OUT ARGS...: dipoorlet with ARGS into OUT under GNU time; prints "ok" or "fail".
quantize() {
  local out="$1"
  shift
  if /usr/bin/time -f "%e %M" -o "$out.time" "$BUILD/dipoorlet" -O "$out" --threads "$THREADS" --skip_prof_layer \
    "$@" >"$out.log" 2>&1; then echo ok; else echo fail; fi
}

# top1 OUT MODEL: top-1 of MODEL on the test images.
top1() {
  "$BUILD/dipoorlet-infer" -M "$2" -I "$WORK/fm_test" -N "$TEST" -O "$1/test" --threads "$THREADS" --batch 500 \
    >"$1/test.log" 2>&1 || { cat "$1/test.log" >&2; die "dipoorlet-infer failed on $2"; }
  $FM top1 t10k 0 "$TEST" "$1/test/logits"
  rm -rf "$1/test"
}

speed_table() {
  require_tools bench-adaround-step
  if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    echo "installing python3-torch (benchmark only)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3-torch >"$WORK/torch-install.log" 2>&1 ||
      die "python3-torch could not be installed (see $WORK/torch-install.log)"
  fi
  local yolox="$SHARED/models/yolox-nano/yolox_nano.onnx"
  [ -f "$yolox" ] || die "$yolox is missing"
  echo "## AdaRound iteration time, batch 32, $THREADS threads: ours vs PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
  machine_line
  echo
  echo "| layer | geometry | ours ms | PyTorch ms | ours / PyTorch |"
  echo "|---|---|---|---|---|"
  "$BUILD/bench-adaround-step" "$yolox" 32 "$STEP_ITERS" "$THREADS" |
    /usr/bin/python3 "$ROOT/bench/adaround_step_torch.py" "$STEP_ITERS" "$THREADS"
  echo
}

top1_table() {
  $FM samples train 0 "$CALIB" "$WORK/fm_calib" || die "no Fashion-MNIST train images"
  $FM samples t10k 0 "$TEST" "$WORK/fm_test" || die "no Fashion-MNIST test images"
  echo "## AdaRound: top-1 (%), Fashion-MNIST test ($TEST images), $CALIB train images, -D $DEPLOY -A $ALGO --first_last_8bit, --ada_iters $ITERS, $THREADS threads"
  machine_line
  echo
  echo "| model | W/A | --w_range | nearest | AdaRound | recovered | AdaRound wall s / peak RSS MB |"
  echo "|---|---|---|---|---|---|---|"
  for m in $FMNIST_MODELS; do
    model="$SHARED/models/fmnist-dev/${m}_dev.onnx"
    [ -f "$model" ] || die "$model is missing"
    mkdir -p "$WORK/fp_$m"
    fp=$(top1 "$WORK/fp_$m" "$model")
    echo "| $m FP32 | | | $fp | | | |"
    for b in $BITS; do
      wb="${b%:*}" ab="${b#*:}"
      for w in $W_RANGES; do
        common=(-M "$model" -I "$WORK/fm_calib" -N "$CALIB" -D "$DEPLOY" -A "$ALGO" --w_range "$w"
          --w_bits "$wb" --a_bits "$ab" --first_last_8bit)
        rtn="$WORK/rtn_${m}_${wb}${ab}_$w" ada="$WORK/ada_${m}_${wb}${ab}_$w"
        r1=fail r2=fail cost=-
        [ "$(quantize "$rtn" "${common[@]}")" = ok ] && r1=$(top1 "$rtn" "$rtn/quant_model.onnx")
        if [ "$(quantize "$ada" "${common[@]}" --adaround --ada_iters "$ITERS")" = ok ]; then
          r2=$(top1 "$ada" "$ada/quant_model.onnx")
          read -r secs kb <"$ada.time"
          cost="$secs / $((kb / 1024))"
        fi
        rec=-
        if [ "$r1" != fail ] && [ "$r2" != fail ]; then
          rec=$(awk -v f="$fp" -v a="$r1" -v b="$r2" 'BEGIN { if (f - a > 0.005) printf "%.0f%%", 100 * (b - a) / (f - a); else print "-" }')
        fi
        echo "| $m | W${wb}A${ab} | $w | $r1 | $r2 | $rec | $cost |"
      done
    done
  done
}

for t in $TABLES; do
  case "$t" in
    speed) speed_table ;;
    top1) top1_table ;;
    *) die "unknown table $t" ;;
  esac
done
