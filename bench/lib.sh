# shellcheck shell=bash
# Shared by the bench scripts (run_bench.sh, run_quant_bench.sh, run_profile_bench.sh,
# run_transform_bench.sh), so that each says only what it measures: the paths, die(), the
# checks for the tools a script needs, the bench models with their preprocessing
# (../shared/models/README.md) and input shapes, preparing their inputs from the photographs
# of ../shared/data/imagenet-samples-200, and the machine line the tables start with.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"     (after `set -uo pipefail`; sourced
#                                                       without arguments, so $1 is the
#                                                       script's BUILD_DIR argument)
# Sets ROOT (the checkout), BUILD (the script's first argument, default ROOT/build), SHARED
# (environment, default ../shared beside the checkout), IMAGES, ORT (tests/tools/ort_run.js)
# and COSINE (bench/output_cosine.js).

BENCH_NAME="$(basename "${BASH_SOURCE[1]}")"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$(cd "${1:-$ROOT/build}" && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
IMAGES="$SHARED/data/imagenet-samples-200"
# shellcheck disable=SC2034  # ORT and COSINE are for the scripts that source this file
ORT="$ROOT/tests/tools/ort_run.js"
# shellcheck disable=SC2034
COSINE="$ROOT/bench/output_cosine.js"

# defaults NAME=VALUE...: each setting keeps its value from the environment when that is
# set and not empty, else takes VALUE (each script's header lists its settings).
defaults() {
  local kv name
  for kv in "$@"; do
    name="${kv%%=*}"
    [ -n "${!name:-}" ] || printf -v "$name" '%s' "${kv#*=}"
  done
}

# die MESSAGE...: the message on stderr, prefixed with the script's name; exit 1.
die() { echo "$BENCH_NAME: $*" >&2; exit 1; }

# require_tools NAME...: each must be built in BUILD.
require_tools() {
  local tool
  for tool in "$@"; do
    [ -x "$BUILD/$tool" ] || die "$BUILD/$tool is not built"
  done
}
require_time() { [ -x /usr/bin/time ] || die "/usr/bin/time is missing (Debian package 'time')"; }
require_node() { command -v node >/dev/null || die "node is missing: run scripts/install_deps.sh"; }

# fresh_dir DIR: DIR emptied (the scripts' work folders are removed at the start).
fresh_dir() {
  rm -rf "$1"
  mkdir -p "$1"
}

load_average() { cut -d' ' -f1-3 /proc/loadavg; }

# "date: ...; CPU: ...; N cores", the start of every table's header.
machine_line() {
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(nproc) cores"
}

# The bench models by short name: file, dipoorlet-prep flags, --input_shape flag (empty when
# the model's input shape is fixed) and table label.
model_file() {
  case "$1" in
    resnet50) echo "$SHARED/models/onnx-light/light_resnet50.onnx" ;;
    yolox) echo "$SHARED/models/yolox-nano/yolox_nano.onnx" ;;
    ppocr_det) echo "$SHARED/models/ppocr/ch_PP-OCRv4_det_infer.onnx" ;;
    ppocr_cls) echo "$SHARED/models/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx" ;;
    roadseg) echo "$SHARED/models/road-segmentation-adas-0001/model_float32.onnx" ;;
    deeplab) echo "$SHARED/models/deeplabv3-tflite-mnv2/deeplab_v3_1_default_1.onnx" ;;
    *) die "unknown model $1" ;;
  esac
}
prep_flags() {
  case "$1" in
    resnet50) echo "--resize crop --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375" ;;
    yolox) echo "--bgr --resize letterbox --letterbox_align topleft --pad_value 114" ;;
    ppocr_det) echo "--image_size 640 --mean 123.675,116.28,103.53 --std 58.395,57.12,57.375" ;;
    ppocr_cls) echo "--image_size 48,192 --mean 127.5 --std 127.5" ;;
    roadseg) echo "--bgr" ;;
    deeplab) echo "--mean 127.5 --std 127.5" ;;
  esac
}
shape_flag() {
  case "$1" in
    ppocr_det) echo "--input_shape x:1,3,640,640" ;;
    ppocr_cls) echo "--input_shape x:1,3,48,192" ;;
    *) echo "" ;;
  esac
}
label() {
  case "$1" in
    resnet50) echo "ResNet-50 224" ;;
    yolox) echo "YOLOX-Nano 416" ;;
    ppocr_det) echo "PP-OCRv4 det 640" ;;
    ppocr_cls) echo "PP-OCR cls 48x192" ;;
    roadseg) echo "Road seg 512x896" ;;
    deeplab) echo "DeepLabV3 257" ;;
  esac
}

# prepare_inputs NAME OUT_DIR LOG [dipoorlet-prep flags...]: the photographs preprocessed as
# model NAME expects into OUT_DIR/<input>/<i>.bin; on failure the log is shown and the
# script ends.
prepare_inputs() {
  local name="$1" out="$2" log="$3"
  shift 3
  # shellcheck disable=SC2046
  "$BUILD/dipoorlet-prep" -M "$(model_file "$name")" -i "$IMAGES" -O "$out" "$@" $(prep_flags "$name") >"$log" 2>&1 ||
    { cat "$log" >&2; die "preparing the photographs for $name failed"; }
}

# link_samples DIR FIRST COUNT: samples FIRST..FIRST+COUNT-1 of DIR/all (one input folder)
# become samples 0..COUNT-1 of DIR/eval, as symbolic links.
link_samples() {
  local dir="$1" first="$2" count="$3" input k
  input="$(ls "$dir/all")"
  mkdir -p "$dir/eval/$input"
  for ((k = 0; k < count; ++k)); do
    ln -s "$dir/all/$input/$((first + k)).bin" "$dir/eval/$input/$k.bin"
  done
}
