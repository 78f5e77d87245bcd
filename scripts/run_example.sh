#!/usr/bin/env bash
# Installs the dependencies, builds the tools into build/, generates the bundled example
# (a small CNN and its calibration images, from fixed seeds) into examples/out/, quantizes it
# end to end with `dipoorlet` (TensorRT settings, mse calibration, bias correction; profiling
# with its console summary and report.html; the TensorRT deploy file), runs the FP32 and the
# quantized model with dipoorlet-infer and prints where everything is.
# JOBS=<n> sets the build parallelism (default: all cores).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${JOBS:-$(nproc)}"
THREADS="$(nproc)"

bash scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$JOBS" --target dipoorlet dipoorlet-infer dipoorlet-prep make-example

OUT=examples/out
N=32
rm -rf "$OUT"
./build/make-example "$OUT" "$N"

# Quantize: calibrate on the 32 samples, correct the biases, build the QDQ model for TensorRT,
# profile it against the FP32 model, write TensorRT's range file.
./build/dipoorlet -M "$OUT/tiny_cnn.onnx" -I "$OUT/calib" -N "$N" -D trt -A mse --bc -O "$OUT/results" \
  --threads "$THREADS"

# Run the FP32 and the quantized model on the same samples.
./build/dipoorlet-infer -M "$OUT/tiny_cnn.onnx" -I "$OUT/calib" -N "$N" -O "$OUT/infer_fp32" --threads "$THREADS"
./build/dipoorlet-infer -M "$OUT/results/quant_model.onnx" -I "$OUT/calib" -N "$N" -O "$OUT/infer_quant" \
  --threads "$THREADS"

LOG="$(ls "$OUT"/results/log-*.txt | tail -1)"
logits() { od -An -v -t f4 -w40 "$1" | tr -s ' ' | sed 's/^ //'; }
echo
echo "Example model:        $ROOT/$OUT/tiny_cnn.onnx   (input 'input' [1,3,32,32], output 'logits' [1,10])"
echo "Calibration inputs:   $ROOT/$OUT/calib/input/<0..$((N - 1))>.bin   (float32 [1,3,32,32])"
echo "Quantized model:      $ROOT/$OUT/results/quant_model.onnx   (QDQ, opset 13, TensorRT settings)"
echo "Activation ranges:    $ROOT/$OUT/results/act_clip_val.json"
echo "Weight ranges:        $ROOT/$OUT/results/weight_clip_val.json"
echo "TensorRT ranges:      $ROOT/$OUT/results/trt_clip_val.json"
echo "Profiling report:     $ROOT/$OUT/results/report.html   (open in a browser; profile.json, layer_res.json, model_res.json beside it)"
echo "Log:                  $ROOT/$LOG"
echo "FP32 outputs:         $ROOT/$OUT/infer_fp32/logits/<0..$((N - 1))>.bin   (float32 [1,10])"
echo "Quantized outputs:    $ROOT/$OUT/infer_quant/logits/<0..$((N - 1))>.bin"
echo "Logits of sample 0, FP32:      $(logits "$OUT/infer_fp32/logits/0.bin")"
echo "Logits of sample 0, quantized: $(logits "$OUT/infer_quant/logits/0.bin")"
if command -v node >/dev/null; then
  echo "Quantized vs FP32 logits over the $N samples: $(node bench/output_cosine.js "$OUT/infer_fp32" \
    "$OUT/infer_quant" "$N" | awk '{ print "cosine " $3 " (mean per sample " $5 ")" }')"
fi
