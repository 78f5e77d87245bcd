#!/usr/bin/env bash
# Accuracy of the range searches (docs/calibration.md), two tables:
#  1. top-1 on the 10,000 Fashion-MNIST TEST images of the fmnist-dev models
#     (../shared/models/fmnist-dev), calibrated on the first CALIB (1024) TRAIN images, for
#     each -D (magicmind: asymmetric activations, per-channel weights; trt), each bit setting
#     (W8A8, and W4A8, W4A4, W2A4 with --first_last_8bit when the build has --w_bits/--a_bits),
#     each --w_range and each -A;
#  2. network-output cosine and SQNR against FP32 at W8A8, on held-out samples, of every
#     real shared model (COS_MODELS), for each -A: calibrated on the first COS_CALIB samples,
#     measured on the next COS_EVAL (photographs of ../shared/data/imagenet-samples-200,
#     text lines for PP-OCR rec, MNIST test digits for MNIST, Fashion-MNIST test images for
#     the fmnist-dev models).
#
#   bash bench/run_lowbit_bench.sh [BUILD_DIR]   (default: build; needs dipoorlet, dipoorlet-infer
#                                                 and dipoorlet-prep built, node, and the Debian
#                                                 package dataset-fashion-mnist)
#   environment: TABLES (default "top1 cosine"), THREADS (default 1), CALIB (1024), TEST (10000),
#                FMNIST_MODELS (default "resnet mbv2 vit"), DEPLOYS (default "magicmind trt"),
#                BITS (default "8:8 4:8 4:4 2:4"), W_RANGES (default "minmax mse output"),
#                ALGOS (default "minmax hist mse lp kl output"), COS_DEPLOY (default snpe),
#                COS_MODELS (default: every model below), COS_CALIB (default 16), COS_EVAL (16),
#                SHARED (default ../shared), WORK (default BUILD_DIR/lowbit_bench_work),
#                COMPARE (1: each top-1 cell also gives the logits' SQNR against FP32 and the share of
#                test images whose top-1 class is FP32's, bench/logits_compare.js), EXTRA (more dipoorlet flags)
# Work files go to WORK (removed at the start).
set -uo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

defaults TABLES="top1 cosine" THREADS="1" CALIB="1024" TEST="10000" FMNIST_MODELS="resnet mbv2 vit" \
  DEPLOYS="magicmind trt" BITS="8:8 4:8 4:4 2:4" W_RANGES="minmax mse output" ALGOS="minmax hist mse lp kl output" \
  COS_DEPLOY="snpe" COS_CALIB="16" COS_EVAL="16" COMPARE="0" EXTRA="" \
  COS_MODELS="yolox ppocr_det ppocr_rec ppocr_cls deeplab agllnet yunet road mnist fm_resnet fm_mbv2 fm_vit"
defaults WORK="$BUILD/lowbit_bench_work"
FM="node $ROOT/bench/fmnist.js"

require_tools dipoorlet dipoorlet-infer dipoorlet-prep
require_node
fresh_dir "$WORK"
# The bit-width flags come with the precision plan; without them only W8A8 runs.
LOWBIT=0
# (grep reads the whole help: with pipefail, grep -q closing the pipe early fails the test.)
"$BUILD/dipoorlet" --help 2>&1 | grep -c -- '--w_bits' >/dev/null && LOWBIT=1

# quantize LOG OUT ARGS...: dipoorlet with ARGS into OUT; prints "ok" or "fail".
quantize() {
  local log="$1" out="$2"
  shift 2
  if "$BUILD/dipoorlet" -O "$out" --threads "$THREADS" --skip_prof_layer "$@" >"$log" 2>&1; then echo ok; else echo fail; fi
}

# infer MODEL IN N OUT [FLAGS...]: dipoorlet-infer, dies on failure.
infer() {
  local model="$1" in="$2" n="$3" out="$4"
  shift 4
  "$BUILD/dipoorlet-infer" -M "$model" -I "$in" -N "$n" -O "$out" --threads "$THREADS" "$@" >"$out.log" 2>&1 ||
    { cat "$out.log" >&2; die "dipoorlet-infer failed on $model"; }
}

top1_table() {
  local extra=()
  read -r -a extra <<< "$EXTRA"
  local fm_dir="$SHARED/models/fmnist-dev"
  $FM samples train 0 "$CALIB" "$WORK/fm_calib" || die "no Fashion-MNIST train images"
  $FM samples t10k 0 "$TEST" "$WORK/fm_test" || die "no Fashion-MNIST test images"
  echo "## top-1 (%), Fashion-MNIST test ($TEST images), calibrated on $CALIB train images"
  machine_line
  echo
  echo "| model | -D | W/A | --w_range | ${ALGOS// / | } |"
  echo "|---|---|---|---|$(for _ in $ALGOS; do printf -- '---|'; done)"
  for m in $FMNIST_MODELS; do
    local model="$fm_dir/${m}_dev.onnx"
    [ -f "$model" ] || die "$model is missing"
    infer "$model" "$WORK/fm_test" "$TEST" "$WORK/fp_$m" --batch 500
    echo "| $m FP32 | | | | $($FM top1 t10k 0 "$TEST" "$WORK/fp_$m/logits") |"
    for d in $DEPLOYS; do
      for b in $BITS; do
        local wb="${b%:*}" ab="${b#*:}" flags=()
        if [ "$b" != "8:8" ]; then
          [ "$LOWBIT" = 1 ] || { echo "| $m | $d | W${wb}A${ab} | | needs --w_bits/--a_bits (not in this build) |"; continue; }
          flags=(--w_bits "$wb" --a_bits "$ab" --first_last_8bit)
        fi
        for w in $W_RANGES; do
          local row="| $m | $d | W${wb}A${ab} | $w |"
          for a in $ALGOS; do
            local out="$WORK/q_${m}_${d}_${wb}${ab}_${w}_$a"
            if [ "$(quantize "$out.log" "$out" -M "$model" -I "$WORK/fm_calib" -N "$CALIB" -D "$d" -A "$a" \
                  --w_range "$w" "${flags[@]}" "${extra[@]}")" = ok ]; then
              infer "$out/quant_model.onnx" "$WORK/fm_test" "$TEST" "$out/test" --batch 500
              if [ "$COMPARE" = 1 ]; then
                row+=" $($FM top1 t10k 0 "$TEST" "$out/test/logits") / $(node "$ROOT/bench/logits_compare.js" "$WORK/fp_$m" "$out/test" "$TEST") |"
              else
                row+=" $($FM top1 t10k 0 "$TEST" "$out/test/logits") |"
              fi
            else
              row+=" fail |"
            fi
            rm -rf "$out/test"
          done
          echo "$row"
        done
      done
    done
  done
  echo
}

# The real models of ../shared/models: file, dipoorlet-prep flags, input-shape flag, data.
cos_file() {
  case "$1" in
    yolox | ppocr_det | ppocr_cls) model_file "$1" ;;
    ppocr_rec) echo "$SHARED/models/ppocr/ch_PP-OCRv4_rec_infer.onnx" ;;
    deeplab) echo "$SHARED/models/deeplabv3-tflite-mnv2/deeplab_v3_1_default_1.onnx" ;;
    agllnet) echo "$SHARED/models/agllnet-lowlight-256/model_float32.onnx" ;;
    yunet) echo "$SHARED/models/yunet-face-120x160/face_detection_yunet_120x160.onnx" ;;
    road) echo "$SHARED/models/road-segmentation-adas-0001/model_float32.onnx" ;;
    mnist) echo "$SHARED/models/mnist-wonnx/opt-mnist.onnx" ;;
    fm_*) echo "$SHARED/models/fmnist-dev/${1#fm_}_dev.onnx" ;;
    *) die "unknown model $1" ;;
  esac
}
cos_prep() {
  case "$1" in
    yolox | ppocr_det | ppocr_cls) prep_flags "$1" ;;
    ppocr_rec) echo "--image_size 48,320 --mean 127.5 --std 127.5" ;;
    deeplab) echo "--image_size 257 --mean 127.5 --std 127.5" ;;
    agllnet) echo "--image_size 256 --std 255" ;;
    yunet) echo "--bgr --image_size 120,160" ;;
    road) echo "--bgr --image_size 512,896" ;;
  esac
}
cos_shape() {
  case "$1" in
    ppocr_det | ppocr_cls) shape_flag "$1" ;;
    ppocr_rec) echo "--input_shape x:1,3,48,320" ;;
    fm_*) echo "--input_shape input:1,1,28,28" ;;
  esac
}
cos_images() {
  case "$1" in
    ppocr_rec) echo "$SHARED/data/text-lines" ;;
    *) echo "$IMAGES" ;;
  esac
}

# cos_inputs NAME DIR: DIR/all/<input>/<i>.bin, COS_CALIB + COS_EVAL samples.
cos_inputs() {
  local name="$1" dir="$2" n=$((COS_CALIB + COS_EVAL))
  case "$name" in
    fm_*) $FM samples t10k 0 "$n" "$dir/all" || die "no Fashion-MNIST test images" ;;
    mnist)
      FMNIST="$SHARED/data/mnist-test" RAW=1 $FM samples t10k 0 "$n" "$dir/all" || die "no MNIST test images"
      mv "$dir/all/input" "$dir/all/Input3"
      ;;
    *)
      # shellcheck disable=SC2046
      "$BUILD/dipoorlet-prep" -M "$(cos_file "$name")" -i "$(cos_images "$name")" -O "$dir/all" \
        $(cos_prep "$name") >"$dir/prep.log" 2>&1 || { cat "$dir/prep.log" >&2; die "preparing inputs for $name failed"; }
      ;;
  esac
}

cosine_table() {
  echo "## W8A8 network-output cosine vs FP32 (-D $COS_DEPLOY), calibrated on $COS_CALIB samples, measured on the next $COS_EVAL"
  machine_line
  echo
  echo "| model | output | ${ALGOS// / | } |"
  echo "|---|---|$(for _ in $ALGOS; do printf -- '---|'; done)"
  for m in $COS_MODELS; do
    local model dir input
    model="$(cos_file "$m")"
    [ -f "$model" ] || { echo "| $m | model missing: $model |"; continue; }
    dir="$WORK/cos_$m"
    mkdir -p "$dir"
    cos_inputs "$m" "$dir"
    input="$(ls "$dir/all")"
    [ "$(ls "$dir/all/$input" | wc -l)" -ge $((COS_CALIB + COS_EVAL)) ] || die "$m: too few samples"
    link_samples "$dir" "$COS_CALIB" "$COS_EVAL"
    # shellcheck disable=SC2207
    local shape=($(cos_shape "$m"))
    infer "$model" "$dir/eval" "$COS_EVAL" "$dir/fp32" "${shape[@]}"
    declare -A cells=()
    local outs=""
    for a in $ALGOS; do
      local out="$dir/q_$a"
      if [ "$(quantize "$out.log" "$out" -M "$model" -I "$dir/all" -N "$COS_CALIB" -D "$COS_DEPLOY" -A "$a" \
            "${shape[@]}")" = ok ]; then
        infer "$out/quant_model.onnx" "$dir/eval" "$COS_EVAL" "$out/eval" "${shape[@]}"
        while read -r o _ c _ _ _ _ _ s; do
          cells["$o/$a"]="$c / $s dB"
          outs+=" $o"
        done < <(node "$COSINE" "$dir/fp32" "$out/eval" "$COS_EVAL")
      else
        cells["fail/$a"]="fail: $(grep -m1 -i error "$out.log")"
        outs+=" fail"
      fi
      rm -rf "$out/eval"
    done
    for o in $(echo "$outs" | tr ' ' '\n' | sort -u); do
      local row="| $m | $o |"
      for a in $ALGOS; do row+=" ${cells["$o/$a"]:--} |"; done
      echo "$row"
    done
    unset cells
  done
  echo
}

echo "dipoorlet low-bit bench: $THREADS threads; cells are top-1 % / 'cosine / SQNR'"
for t in $TABLES; do
  case "$t" in
    top1) top1_table ;;
    cosine) cosine_table ;;
    *) die "unknown table $t" ;;
  esac
done
