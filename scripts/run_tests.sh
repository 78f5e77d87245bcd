#!/usr/bin/env bash
# Installs the dependencies, builds the project into build/ and runs every test with ctest
# (unit tests, ONNX conformance cases, parity with ONNX Runtime on the shared models). With
# SANITIZE=1 it then builds the test binary again with AddressSanitizer and
# UndefinedBehaviorSanitizer into build-asan/ and runs it without the slow suites of
# SANITIZE_EXCLUDE (docs/fuzzing.md; off by default until its time and cleanliness are
# measured on a CI-sized machine). Exits non-zero on any failure or sanitizer report.
# JOBS=<n> sets the build parallelism (default: all cores).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${JOBS:-$(nproc)}"

bash scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$JOBS"
ctest --test-dir build --output-on-failure

[ "${SANITIZE:-0}" = 1 ] || exit 0
# Every process (the tests and the tools they start) writes its sanitizer reports under
# build-asan/sanitizer-logs/; any report fails the run, also one from a child process whose
# non-zero exit a test expected. Options and suppressions: docs/fuzzing.md.
SANITIZE_EXCLUDE="${SANITIZE_EXCLUDE:-*Parity*:*Agreement*}"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -D_GLIBCXX_ASSERTIONS" \
  -DDPL_SANITIZE=address,undefined -DDPL_WERROR=OFF
cmake --build build-asan -j"$JOBS" --target dipoorlet_tests
logs="$ROOT/build-asan/sanitizer-logs"
rm -rf "$logs" && mkdir -p "$logs"
export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0"
rc=0
build-asan/dipoorlet_tests --gtest_filter="-$SANITIZE_EXCLUDE" --gtest_brief=1 || rc=$?
if compgen -G "$logs/*" > /dev/null; then
  echo "sanitizer reports (build-asan/sanitizer-logs):" >&2
  cat "$logs"/* >&2
  rc=1
fi
exit $rc
