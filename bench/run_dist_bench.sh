#!/usr/bin/env bash
# Distributed runs on one machine (docs/distributed.md): one process (2 threads, and 1),
# `mpirun -np 1 --threads 2` and `mpirun -np 2 --threads 1` (--bind-to none) on the same cores, for
#  calib: YOLOX-Nano calibration on CALIB_IMAGES (200) photographs of ../shared, -D trt -A
#         CALIB_ALGO (hist), profiling of the network outputs only; wall time, peak RSS of each
#         rank, and whether act_clip_val.json equals one process's byte for byte;
#  qdrop: QDrop (--brecq --drop, QDROP_ITERS iterations per block) on the fmnist-dev ResNet,
#         QDROP_CALIB (1024) Fashion-MNIST train images, W2A4 --w_range mse -D magicmind
#         --first_last_8bit (where reconstruction matters most: nearest rounding loses 57 points);
#         wall time, peak RSS of each rank, and top-1 on TEST (10000) test images.
# The point on a 2-core machine is correctness and overhead: the scaling argument is in
# docs/distributed.md.
#
#   bash bench/run_dist_bench.sh [BUILD_DIR]   (default: build; needs dipoorlet and dipoorlet-infer
#                                                 built with MPI, mpirun, node, /usr/bin/time and,
#                                                 for qdrop, the Debian package dataset-fashion-mnist)
#   environment: TABLES ("calib qdrop"), CALIB_IMAGES (200), CALIB_ALGO (hist), QDROP_CALIB (1024),
#                QDROP_ITERS (500), TEST (10000), SHARED (../shared), WORK (BUILD_DIR/dist_bench_work)
set -uo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

defaults TABLES="calib qdrop" CALIB_IMAGES="200" CALIB_ALGO="hist" QDROP_CALIB="1024" QDROP_ITERS="500" TEST="10000"
defaults WORK="$BUILD/dist_bench_work"
FM="node $ROOT/bench/fmnist.js"

require_tools dipoorlet dipoorlet-infer
require_time
command -v mpirun >/dev/null || die "mpirun is missing (Debian package openmpi-bin: scripts/install_deps.sh)"
fresh_dir "$WORK"
# The tools are copied: a build running beside the benchmark relinks build/dipoorlet.
mkdir -p "$WORK/bin"
cp "$BUILD/dipoorlet" "$BUILD/dipoorlet-infer" "$WORK/bin/"
BIN="$WORK/bin"
# Spinning OpenMP threads (what a process picks on an idle machine, util/omp_env.h), set here
# so that no run's choice depends on the load the previous one left: with passive waiting, two
# threads are 1.7x slower on YOLOX-Nano calibration. Another value from the caller is kept.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-active}"

# run OUT MODE ARGS...: dipoorlet with ARGS into OUT, MODE "one" (no MPI), "np1" (mpirun -np 1
# --threads 2) or "np2" (mpirun -np 2 --threads 1); each rank under GNU time into
# OUT.time.<rank>. Prints "ok" or "fail".
run() {
  local out="$1" mode="$2"
  shift 2
  local timed=(sh -c '/usr/bin/time -f "%e %M" -o "$0.time.${OMPI_COMM_WORLD_RANK:-0}" "$@"' "$out" "$BIN/dipoorlet")
  local launch=() flags=(--threads 2)
  case "$mode" in
    one1) flags=(--threads 1) ;;
    np1) launch=(mpirun --allow-run-as-root --bind-to none -np 1) flags=(--threads 2 --mpirun) ;;
    np2) launch=(mpirun --allow-run-as-root --bind-to none -np 2) flags=(--threads 1 --mpirun) ;;
  esac
  if "${launch[@]}" "${timed[@]}" -O "$out" "${flags[@]}" "$@" >"$out.log" 2>&1; then echo ok; else echo fail; fi
}

# cost OUT: "wall s | peak RSS MB per rank" (the slowest rank's wall time).
cost() {
  local f secs kb wall=0 rss=""
  for f in "$1".time.*; do
    read -r secs kb <"$f"
    wall=$(awk -v a="$wall" -v b="$secs" 'BEGIN { print (b > a) ? b : a }')
    rss+="${rss:+ / }$((kb / 1024))"
  done
  echo "$wall | $rss"
}

calib_table() {
  local model flags
  model="$(model_file yolox)"
  [ -f "$model" ] || die "$model is missing"
  read -r -a flags <<<"$(prep_flags yolox)"
  echo "## Distributed calibration: YOLOX-Nano, $CALIB_IMAGES images, -D trt -A $CALIB_ALGO --skip_prof_layer"
  machine_line
  echo "OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
  echo
  echo "| run | wall s | peak RSS MB per rank | act_clip_val.json as one process |"
  echo "|---|---|---|---|"
  local mode out same
  for mode in one one1 np1 np2; do
    out="$WORK/calib_$mode"
    if [ "$(run "$out" "$mode" -M "$model" -I "$IMAGES" -N "$CALIB_IMAGES" -D trt -A "$CALIB_ALGO" --skip_prof_layer \
      "${flags[@]}")" != ok ]; then
      echo "| $mode | fail | | |"
      continue
    fi
    same=-
    [ "$mode" != one ] && [ "$mode" != one1 ] && { cmp -s "$out/act_clip_val.json" "$WORK/calib_one/act_clip_val.json" && same=identical || same=DIFFERENT; }
    echo "| $(label "$mode") | $(cost "$out") | $same |"
  done
  echo
}

label() {
  case "$1" in
    one) echo "one process, 2 threads" ;;
    one1) echo "one process, 1 thread" ;;
    np1) echo "mpirun -np 1, 2 threads" ;;
    np2) echo "mpirun -np 2, 1 thread each" ;;
  esac
}

qdrop_table() {
  local model="$SHARED/models/fmnist-dev/resnet_dev.onnx"
  [ -f "$model" ] || die "$model is missing"
  [ -d "$WORK/fm_calib" ] || $FM samples train 0 "$QDROP_CALIB" "$WORK/fm_calib" || die "no Fashion-MNIST train images"
  [ -d "$WORK/fm_test" ] || $FM samples t10k 0 "$TEST" "$WORK/fm_test" || die "no Fashion-MNIST test images"
  echo "## Distributed QDrop: fmnist-dev ResNet W2A4 --w_range mse, $QDROP_CALIB train images, -D magicmind -A mse --first_last_8bit, --brecq --drop --ada_iters $QDROP_ITERS; top-1 on $TEST test images"
  machine_line
  echo "OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
  echo
  echo "| run | wall s | peak RSS MB per rank | top-1 % |"
  echo "|---|---|---|---|"
  local mode out top
  for mode in one one1 np1 np2; do
    out="$WORK/qdrop_$mode"
    if [ "$(run "$out" "$mode" -M "$model" -I "$WORK/fm_calib" -N "$QDROP_CALIB" -D magicmind -A mse --w_bits 2 \
      --a_bits 4 --w_range mse --first_last_8bit --skip_prof_layer --brecq --drop --ada_iters "$QDROP_ITERS")" != ok ]; then
      echo "| $mode | fail | | |"
      continue
    fi
    "$BIN/dipoorlet-infer" -M "$out/quant_model.onnx" -I "$WORK/fm_test" -N "$TEST" -O "$out/test" --threads 2 \
      --batch 500 >"$out/test.log" 2>&1 || die "dipoorlet-infer failed on $out/quant_model.onnx"
    top=$($FM top1 t10k 0 "$TEST" "$out/test/logits")
    rm -rf "$out/test"
    echo "| $(label "$mode") | $(cost "$out") | $top |"
  done
  echo
}

for t in $TABLES; do
  case "$t" in
    calib) calib_table ;;
    qdrop) qdrop_table ;;
    *) die "unknown table $t (calib, qdrop)" ;;
  esac
done
