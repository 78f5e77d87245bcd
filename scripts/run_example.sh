#!/usr/bin/env bash
# Installs the dependencies, builds the tools into build/, generates the bundled example
# (a small CNN and its calibration images, from fixed seeds) into examples/out/ and runs
# dipoorlet-infer on it. JOBS=<n> sets the build parallelism (default: all cores).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${JOBS:-$(nproc)}"

bash scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$JOBS" --target dipoorlet-infer dipoorlet-prep make-example

OUT=examples/out
./build/make-example "$OUT" 32
./build/dipoorlet-infer -M "$OUT/tiny_cnn.onnx" -I "$OUT/calib" -N 32 -O "$OUT/infer" --threads "$(nproc)"

echo
echo "Example model:       $ROOT/$OUT/tiny_cnn.onnx"
echo "Calibration inputs:  $ROOT/$OUT/calib/input/<0..31>.bin   (float32 [1,3,32,32])"
echo "Outputs:             $ROOT/$OUT/infer/logits/<0..31>.bin  (float32 [1,10])"
echo -n "Logits of sample 0: "
od -An -v -t f4 -w40 "$OUT/infer/logits/0.bin" | tr -s ' ' | sed 's/^ //'
