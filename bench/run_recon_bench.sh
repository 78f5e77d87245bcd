#!/usr/bin/env bash
# Reconstruction speed, quality and cost (docs/training.md), tables chosen by TABLES (default
# "speed top1"; also "sparse" and "yolox"):
#  speed: one AdaRound iteration at batch 32 (soft weight, forward, loss, backward, Adam step) on
#  four real layers of YOLOX-Nano (bench-adaround-step picks them), ours against the same recipe
#  in plain PyTorch-CPU (bench/adaround_step_torch.py; Debian's python3-torch, installed here if
#  missing: benchmark only), same threads; the ratio is ours / PyTorch's.
#  top1: top-1 on the 10,000 Fashion-MNIST TEST images of the fmnist-dev models
#  (../shared/models/fmnist-dev), calibrated and reconstructed on the first CALIB (1024) TRAIN
#  images, -D DEPLOY (magicmind) --first_last_8bit, round-to-nearest against each of METHODS
#  (adaround, brecq, qdrop), for each bit setting and --w_range. Each cell also gives its wall
#  time and peak RSS (GNU time).
#  sparse: the same top-1 for --sparse with --pattern unstruction (--sparse_rate 0.5) and nv24
#  at SPARSE_BITS (W8A8, W4A8), with the share of zeros the layers got (profile.json).
#  yolox: YOLOX-Nano output cosine against FP32 on YOLOX_EVAL held-out photographs, calibrated
#  on YOLOX_CALIB, -D trt -A mse, round-to-nearest against each of YOLOX_METHODS (qdrop;
#  also adaround, brecq), at YOLOX_BITS.
#
#   bash bench/run_recon_bench.sh [BUILD_DIR]   (default: build; needs dipoorlet and dipoorlet-infer
#                                                 built, node, /usr/bin/time, and the Debian package
#                                                 dataset-fashion-mnist)
#   environment: TABLES, STEP_ITERS (iterations timed per layer, default 20), THREADS (default 2), CALIB (1024), TEST (10000), FMNIST_MODELS (default "resnet"),
#                DEPLOY (magicmind), BITS (default "4:8 4:4 2:4"), W_RANGES (default "minmax mse"),
#                ALGO (-A, default output), ITERS (--ada_iters, default 10000), METHODS (default
#                "adaround brecq qdrop"), LAMBDA (--ada_lambda; empty: the default),
#                SPARSE_BITS ("8:8 4:8"), SPARSE_PATTERNS ("unstruction nv24"),
#                YOLOX_CALIB (64), YOLOX_EVAL (32), YOLOX_BITS ("8:8 4:8"), YOLOX_ITERS (500), YOLOX_METHODS (qdrop),
#                SHARED (default ../shared), WORK (default BUILD_DIR/recon_bench_work)
set -uo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

defaults TABLES="speed top1" STEP_ITERS="20" THREADS="2" CALIB="1024" TEST="10000" FMNIST_MODELS="resnet" DEPLOY="magicmind" BITS="4:8 4:4 2:4" \
  W_RANGES="minmax mse" ALGO="output" ITERS="10000" METHODS="adaround brecq qdrop" SPARSE_BITS="8:8 4:8" \
  SPARSE_PATTERNS="unstruction nv24" YOLOX_CALIB="64" YOLOX_EVAL="32" YOLOX_BITS="8:8 4:8" YOLOX_ITERS="500" \
  YOLOX_METHODS="qdrop"
LAMBDA="${LAMBDA:-}"
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
  # Both sides get the same OpenMP wait policy (both use libgomp): passive unless set. Spinning
  # waits cost either side several times its time whenever another process shares the cores.
  export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
  echo "OMP_WAIT_POLICY=$OMP_WAIT_POLICY, load average before: $(load_average)"
  echo
  echo "| layer | geometry | ours ms | PyTorch ms | ours / PyTorch |"
  echo "|---|---|---|---|---|"
  "$BUILD/bench-adaround-step" "$yolox" 32 "$STEP_ITERS" "$THREADS" |
    /usr/bin/python3 "$ROOT/bench/adaround_step_torch.py" "$STEP_ITERS" "$THREADS"
  echo
}

fmnist_samples() {
  [ -d "$WORK/fm_calib" ] || $FM samples train 0 "$CALIB" "$WORK/fm_calib" || die "no Fashion-MNIST train images"
  [ -d "$WORK/fm_test" ] || $FM samples t10k 0 "$TEST" "$WORK/fm_test" || die "no Fashion-MNIST test images"
}

# method_flags NAME: the dipoorlet flags of a reconstruction method.
method_flags() {
  local l=()
  [ -n "$LAMBDA" ] && l=(--ada_lambda "$LAMBDA")
  case "$1" in
    adaround) echo --adaround --ada_iters "$ITERS" "${l[@]}" ;;
    brecq) echo --brecq --ada_iters "$ITERS" "${l[@]}" ;;
    qdrop) echo --brecq --drop --ada_iters "$ITERS" "${l[@]}" ;;
    *) die "unknown method $1" ;;
  esac
}

# cost OUT: "wall s / peak RSS MB" of a quantize run.
cost() {
  local secs kb
  read -r secs kb <"$1.time"
  echo "$secs / $((kb / 1024))"
}

top1_table() {
  fmnist_samples
  echo "## Reconstruction: top-1 (%), Fashion-MNIST test ($TEST images), $CALIB train images, -D $DEPLOY -A $ALGO --first_last_8bit, --ada_iters $ITERS${LAMBDA:+ --ada_lambda $LAMBDA}, $THREADS threads"
  machine_line
  echo
  local header="| model | W/A | --w_range | nearest |" rule="|---|---|---|---|" m
  for m in $METHODS; do header+=" $m |"; rule+="---|"; done
  echo "$header wall s / peak RSS MB ($METHODS) |"
  echo "$rule---|"
  for m in $FMNIST_MODELS; do
    model="$SHARED/models/fmnist-dev/${m}_dev.onnx"
    [ -f "$model" ] || die "$model is missing"
    mkdir -p "$WORK/fp_$m"
    fp=$(top1 "$WORK/fp_$m" "$model")
    echo "| $m FP32 | | | $fp |"
    for b in $BITS; do
      wb="${b%:*}" ab="${b#*:}"
      for w in $W_RANGES; do
        common=(-M "$model" -I "$WORK/fm_calib" -N "$CALIB" -D "$DEPLOY" -A "$ALGO" --w_range "$w"
          --w_bits "$wb" --a_bits "$ab" --first_last_8bit)
        rtn="$WORK/rtn_${m}_${wb}${ab}_$w"
        r1=fail
        [ "$(quantize "$rtn" "${common[@]}")" = ok ] && r1=$(top1 "$rtn" "$rtn/quant_model.onnx")
        row="| $m | W${wb}A${ab} | $w | $r1 |" costs=""
        for meth in $METHODS; do
          out="$WORK/${meth}_${m}_${wb}${ab}_$w"
          r=fail c=-
          # shellcheck disable=SC2046
          if [ "$(quantize "$out" "${common[@]}" $(method_flags "$meth"))" = ok ]; then
            r=$(top1 "$out" "$out/quant_model.onnx")
            c=$(cost "$out")
          fi
          row+=" $r |"
          costs+="${costs:+; }$c"
        done
        echo "$row $costs |"
      done
    done
  done
}

# zeros DIR: the share of zeros over the layers sparse quantization saw (profile.json).
zeros() {
  node -e 'const p = require(process.argv[1]); let z = 0, t = 0;
    for (const l of p.sparsity || []) { z += l.zeros; t += l.total; }
    console.log(t ? (100 * z / t).toFixed(1) + "%" : "-");' "$1/profile.json"
}

sparse_table() {
  fmnist_samples
  echo "## Sparse quantization: top-1 (%), Fashion-MNIST test ($TEST images), $CALIB train images, -D $DEPLOY -A $ALGO --first_last_8bit, --ada_iters $ITERS, $THREADS threads"
  machine_line
  echo
  echo "| model | W/A | dense nearest | pattern | sparse | zeros | wall s / peak RSS MB |"
  echo "|---|---|---|---|---|---|---|"
  for m in $FMNIST_MODELS; do
    model="$SHARED/models/fmnist-dev/${m}_dev.onnx"
    [ -f "$model" ] || die "$model is missing"
    for b in $SPARSE_BITS; do
      wb="${b%:*}" ab="${b#*:}"
      common=(-M "$model" -I "$WORK/fm_calib" -N "$CALIB" -D "$DEPLOY" -A "$ALGO" --w_bits "$wb" --a_bits "$ab"
        --first_last_8bit)
      rtn="$WORK/sprtn_${m}_${wb}${ab}"
      r1=fail
      [ "$(quantize "$rtn" "${common[@]}")" = ok ] && r1=$(top1 "$rtn" "$rtn/quant_model.onnx")
      for p in $SPARSE_PATTERNS; do
        out="$WORK/sparse_${m}_${wb}${ab}_$p"
        r=fail z=- c=-
        if [ "$(quantize "$out" "${common[@]}" --sparse --pattern "$p" --ada_iters "$ITERS")" = ok ]; then
          r=$(top1 "$out" "$out/quant_model.onnx")
          z=$(zeros "$out")
          c=$(cost "$out")
        fi
        echo "| $m | W${wb}A${ab} | $r1 | $p | $r | $z | $c |"
      done
    done
  done
}

yolox_table() {
  local model="$SHARED/models/yolox-nano/yolox_nano.onnx" dir="$WORK/yolox"
  [ -f "$model" ] || die "$model is missing"
  require_tools dipoorlet-prep
  mkdir -p "$dir"
  "$BUILD/dipoorlet-prep" -M "$model" -i "$IMAGES" -O "$dir/all" -N $((YOLOX_CALIB + YOLOX_EVAL)) --bgr \
    --resize letterbox --letterbox_align topleft --pad_value 114 >"$dir/prep.log" 2>&1 ||
    { cat "$dir/prep.log" >&2; die "yolox: preprocessing failed"; }
  # The evaluation photographs are the last YOLOX_EVAL: linked as 0..EVAL-1 of their own folder.
  local input
  input="$(ls "$dir/all")"
  mkdir -p "$dir/eval/$input"
  for ((i = 0; i < YOLOX_EVAL; i++)); do
    ln -sf "$dir/all/$input/$((YOLOX_CALIB + i)).bin" "$dir/eval/$input/$i.bin"
  done
  "$BUILD/dipoorlet-infer" -M "$model" -I "$dir/eval" -N "$YOLOX_EVAL" --threads "$THREADS" -O "$dir/eval_fp32" \
    >"$dir/eval_fp32.log" 2>&1 || { cat "$dir/eval_fp32.log" >&2; die "yolox: FP32 run failed"; }
  echo "## YOLOX-Nano: output cosine with FP32 on $YOLOX_EVAL held-out photographs, $YOLOX_CALIB calibration photographs, -D trt -A mse, --ada_iters $YOLOX_ITERS, $THREADS threads"
  machine_line
  echo
  local header="| W/A | nearest |" rule="|---|---|"
  for meth in $YOLOX_METHODS; do header+=" $meth | $meth wall s / peak RSS MB |"; rule+="---|---|"; done
  echo "$header"
  echo "$rule"
  for b in $YOLOX_BITS; do
    wb="${b%:*}" ab="${b#*:}"
    local row="| W${wb}A${ab} |"
    for meth in nearest $YOLOX_METHODS; do
      local c=-
      out="$dir/${meth}_${wb}${ab}"
      flags=()
      case "$meth" in
        nearest) ;;
        adaround) flags=(--adaround --ada_iters "$YOLOX_ITERS") ;;
        brecq) flags=(--brecq --ada_iters "$YOLOX_ITERS") ;;
        qdrop) flags=(--brecq --drop --ada_iters "$YOLOX_ITERS") ;;
        *) die "YOLOX_METHODS: unknown method '$meth'" ;;
      esac
      cos=fail
      if [ "$(quantize "$out" -M "$model" -I "$dir/all" -N "$YOLOX_CALIB" -D trt -A mse --w_bits "$wb" --a_bits "$ab" \
        "${flags[@]}")" = ok ] &&
        "$BUILD/dipoorlet-infer" -M "$out/quant_model.onnx" -I "$dir/eval" -N "$YOLOX_EVAL" --threads "$THREADS" \
          -O "$out.eval" >"$out.eval.log" 2>&1; then
        cos="$(node "$COSINE" "$dir/eval_fp32" "$out.eval" "$YOLOX_EVAL" | head -1 | awk '{ print $3 }')"
        rm -rf "$out.eval"
        [ "$meth" != nearest ] && c=$(cost "$out")
      fi
      row+=" $cos |"
      [ "$meth" != nearest ] && row+=" $c |"
    done
    echo "$row"
  done
}

for t in $TABLES; do
  case "$t" in
    speed) speed_table ;;
    top1) top1_table ;;
    sparse) sparse_table ;;
    yolox) yolox_table ;;
    *) die "unknown table $t" ;;
  esac
done
