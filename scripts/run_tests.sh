#!/usr/bin/env bash
# Installs the dependencies, builds the project into build/ and runs every test with ctest
# (unit tests, ONNX conformance cases, parity with ONNX Runtime on the shared models). With
# SANITIZE=1 (as CI runs it: .ci/run) it then builds the test binary again with AddressSanitizer
# and UndefinedBehaviorSanitizer into build-asan/ and runs it, one shard per core, without the
# real-model suites of SANITIZE_EXCLUDE (docs/fuzzing.md: about 22 more minutes on 2 cores).
# Exits non-zero on any failure or sanitizer report.
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
# non-zero exit a test expected. Options, suppressions and the suites left out: docs/fuzzing.md.
SANITIZE_EXCLUDE="${SANITIZE_EXCLUDE:-*Parity*:*Agreement*:*RealModel*:MpiRunsShared.*:FusedKernels.*}"
# -Og: a third of -O2's compile time under the sanitizers (docs/fuzzing.md, "Time").
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-Og -g1 -D_GLIBCXX_ASSERTIONS" \
  -DDPL_SANITIZE=address,undefined -DDPL_WERROR=OFF
cmake --build build-asan -j"$JOBS" --target dipoorlet_tests
logs="$ROOT/build-asan/sanitizer-logs"
rm -rf "$logs" && mkdir -p "$logs"
export ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0"
rc=0
# One process per core, each running its share of the tests (gtest sharding).
pids=()
for ((i = 0; i < JOBS; i++)); do
  GTEST_TOTAL_SHARDS=$JOBS GTEST_SHARD_INDEX=$i build-asan/dipoorlet_tests --gtest_filter="-$SANITIZE_EXCLUDE" \
    --gtest_brief=1 > "build-asan/shard-$i.log" 2>&1 &
  pids+=($!)
done
for ((i = 0; i < JOBS; i++)); do
  wait "${pids[$i]}" || { rc=1; echo "sanitizer run, shard $i of $JOBS failed:" >&2; }
  tail -n 40 "build-asan/shard-$i.log"
done
# A report has an ERROR or SUMMARY line (ASan, LSan) or a "runtime error" (UBSan); LSan's note
# that a thread was not suspended during a check at exit is not one.
reports=$(grep -l -E 'ERROR: |SUMMARY: |runtime error' "$logs"/* 2> /dev/null || true)
if [ -n "$reports" ]; then
  echo "sanitizer reports (build-asan/sanitizer-logs):" >&2
  # shellcheck disable=SC2086  # one file name per word
  cat $reports >&2
  rc=1
fi
exit $rc
