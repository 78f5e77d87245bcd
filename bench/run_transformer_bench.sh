#!/usr/bin/env bash
# Accuracy of the transformer placement (--optim_transformer, docs/transformers.md), FP32 against
# W8A8 for each -D, without and with the flag:
#  1. vit: top-1 of ../shared/models/fmnist-dev/vit_dev.onnx on the first TEST (10000)
#     Fashion-MNIST TEST images, calibrated on the first CALIB (1024) TRAIN images (the pieces
#     of bench/run_lowbit_bench.sh: bench/fmnist.js);
#  2. ocr: line and character accuracy of PP-OCRv4 rec on the 200 lines of
#     ../shared/data/text-lines (scored by ../shared/data/make_text_data.py: greedy CTC, NFKC,
#     spaces removed; see that folder's README), calibrated on OCR_CALIB (256) lines rendered
#     with another seed (make_text_data.py lines ... --seed 7), as the README asks.
#
#   bash bench/run_transformer_bench.sh [BUILD_DIR]   (default: build; needs dipoorlet,
#                                                     dipoorlet-infer, dipoorlet-prep, node, the
#                                                     Debian packages dataset-fashion-mnist,
#                                                     python3-numpy, python3-pil, fonts-dejavu-core
#                                                     and fonts-dejavu-extra)
#   environment: TABLES (default "vit ocr"), DEPLOYS (default "trt snpe magicmind"; every -D:
#                "trt stpu magicmind rv atlas snpe ti imx"), MODES (default "plain transformer":
#                without / with --optim_transformer; also "w4a8" and "w4a8_adaround": the flag at
#                4-bit weights, nearest / AdaRound), ALGO (-A; default: dipoorlet's own),
#                ADA_ITERS (AdaRound iterations per layer, default 2000),
#                THREADS (default 2), CALIB (1024), TEST (10000), OCR_CALIB (256),
#                PYTHON (default /usr/bin/python3), SHARED (default ../shared),
#                WORK (default BUILD_DIR/transformer_bench_work)
# Work files go to WORK (removed at the start). Cells: top-1 % (vit); line % / char % (ocr).
set -uo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

defaults TABLES="vit ocr" DEPLOYS="trt snpe magicmind" MODES="plain transformer" ALGO="" THREADS="2" CALIB="1024" \
  TEST="10000" OCR_CALIB="256" PYTHON="/usr/bin/python3" ADA_ITERS="2000"
defaults WORK="$BUILD/transformer_bench_work"
FM="node $ROOT/bench/fmnist.js"
TEXT="$SHARED/data/text-lines"
MAKE_TEXT="$SHARED/data/make_text_data.py"

require_tools dipoorlet dipoorlet-infer dipoorlet-prep
require_node
fresh_dir "$WORK"

# plain: the platform as it is; transformer: --optim_transformer; w4a8 / w4a8_adaround: the
# same at 4-bit weights, rounded to nearest / by AdaRound (ADA_ITERS iterations per layer).
mode_flags() {
  case "$1" in
    transformer) echo "--optim_transformer" ;;
    w4a8) echo "--optim_transformer --w_bits 4" ;;
    w4a8_adaround) echo "--optim_transformer --w_bits 4 --adaround --ada_iters $ADA_ITERS" ;;
  esac
}
algo_flags() { [ -n "$ALGO" ] && echo "-A $ALGO"; }

# quantize LOG OUT ARGS...: dipoorlet with ARGS into OUT (per-layer profile skipped: only the
# models are measured here); prints "ok" or "fail".
quantize() {
  local log="$1" out="$2"
  shift 2
  # shellcheck disable=SC2046
  if "$BUILD/dipoorlet" -O "$out" --threads "$THREADS" --skip_prof_layer $(algo_flags) "$@" >"$log" 2>&1; then
    echo ok
  else
    echo fail
  fi
}

# infer MODEL IN N OUT [FLAGS...]: dipoorlet-infer, dies on failure.
infer() {
  local model="$1" in="$2" n="$3" out="$4"
  shift 4
  "$BUILD/dipoorlet-infer" -M "$model" -I "$in" -N "$n" -O "$out" --threads "$THREADS" "$@" >"$out.log" 2>&1 ||
    { cat "$out.log" >&2; die "dipoorlet-infer failed on $model"; }
}

# only_dir DIR: the one sub-folder dipoorlet-infer wrote (one per graph output).
only_dir() { find "$1" -mindepth 1 -maxdepth 1 -type d | head -1; }

header() {
  echo "| model | -D | ${MODES// / | } |"
  echo "|---|---|$(for _ in $MODES; do printf -- '---|'; done)"
}

vit_table() {
  local model="$SHARED/models/fmnist-dev/vit_dev.onnx"
  [ -f "$model" ] || die "$model is missing"
  $FM samples train 0 "$CALIB" "$WORK/fm_calib" || die "no Fashion-MNIST train images"
  $FM samples t10k 0 "$TEST" "$WORK/fm_test" || die "no Fashion-MNIST test images"
  echo "## ViT (fmnist-dev) top-1 (%), $TEST Fashion-MNIST test images, calibrated on $CALIB train images"
  machine_line
  echo
  header
  infer "$model" "$WORK/fm_test" "$TEST" "$WORK/vit_fp32" --batch 500
  echo "| vit FP32 | | $($FM top1 t10k 0 "$TEST" "$WORK/vit_fp32/logits") |"
  for d in $DEPLOYS; do
    local row="| vit | $d |"
    for mode in $MODES; do
      local out="$WORK/vit_${d}_$mode"
      # shellcheck disable=SC2046
      if [ "$(quantize "$out.log" "$out" -M "$model" -I "$WORK/fm_calib" -N "$CALIB" -D "$d" $(mode_flags "$mode"))" = ok ]; then
        infer "$out/quant_model.onnx" "$WORK/fm_test" "$TEST" "$out/test" --batch 500
        # (the platforms that quantize the network output rename it: one folder either way)
        row+=" $($FM top1 t10k 0 "$TEST" "$(only_dir "$out/test")") |"
        rm -rf "$out/test"
      else
        row+=" fail: $(grep -m1 -i error "$out.log") |"
      fi
    done
    echo "$row"
  done
  echo
}

# ocr_score OUTPUTS: "line % / char %" of PP-OCRv4 rec outputs on the text lines.
ocr_score() {
  "$PYTHON" "$MAKE_TEXT" score rec "$TEXT" "$1" | node -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    console.log(`${(100 * r.line_acc).toFixed(1)} / ${(100 * r.char_acc).toFixed(2)}`);'
}

ocr_table() {
  local model="$SHARED/models/ppocr/ch_PP-OCRv4_rec_infer.onnx" image=(--image_size 48,320 --mean 127.5 --std 127.5)
  local shape=(--input_shape x:1,3,48,320)
  [ -f "$model" ] || die "$model is missing"
  "$PYTHON" "$MAKE_TEXT" lines "$WORK/ocr_calib_lines" "$OCR_CALIB" --seed 7 >"$WORK/ocr_calib_lines.log" 2>&1 ||
    { cat "$WORK/ocr_calib_lines.log" >&2; die "rendering calibration lines failed (python3-numpy, python3-pil, fonts-dejavu?)"; }
  "$BUILD/dipoorlet-prep" -M "$model" -i "$TEXT" -O "$WORK/ocr_eval" "${image[@]}" >"$WORK/ocr_eval.log" 2>&1 ||
    { cat "$WORK/ocr_eval.log" >&2; die "preparing the text lines failed"; }
  local n
  n="$(ls "$WORK/ocr_eval/x" | wc -l)"
  echo "## PP-OCRv4 rec line / character accuracy (%), $n lines of text-lines, calibrated on $OCR_CALIB other lines"
  machine_line
  echo
  header
  infer "$model" "$WORK/ocr_eval" "$n" "$WORK/ocr_fp32" "${shape[@]}"
  echo "| PP-OCRv4 rec FP32 | | $(ocr_score "$WORK/ocr_fp32") |"
  for d in $DEPLOYS; do
    local row="| PP-OCRv4 rec | $d |"
    for mode in $MODES; do
      local out="$WORK/ocr_${d}_$mode"
      # shellcheck disable=SC2046
      if [ "$(quantize "$out.log" "$out" -M "$model" -I "$WORK/ocr_calib_lines" -N "$OCR_CALIB" -D "$d" \
            "${image[@]}" "${shape[@]}" $(mode_flags "$mode"))" = ok ]; then
        infer "$out/quant_model.onnx" "$WORK/ocr_eval" "$n" "$out/eval" "${shape[@]}"
        row+=" $(ocr_score "$out/eval") |"
        rm -rf "$out/eval"
      else
        row+=" fail: $(grep -m1 -i error "$out.log") |"
      fi
    done
    echo "$row"
  done
  echo
}

echo "dipoorlet transformer bench: $THREADS threads, -A ${ALGO:-default}, modes: plain = the platform's placement,"
echo "transformer = --optim_transformer (W8A8); w4a8, w4a8_adaround = the same at --w_bits 4, nearest / AdaRound ($ADA_ITERS it.)"
for t in $TABLES; do
  case "$t" in
    vit) vit_table ;;
    ocr) ocr_table ;;
    *) die "unknown table $t" ;;
  esac
done
