#!/usr/bin/env bash
# Installs the dependencies, builds the project into build/ and runs every test with ctest
# (unit tests, ONNX conformance cases, parity with ONNX Runtime on the shared models).
# Exits non-zero on any failure. JOBS=<n> sets the build parallelism (default: all cores).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${JOBS:-$(nproc)}"

bash scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure
