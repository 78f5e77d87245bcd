#!/usr/bin/env bash
# Runs each libFuzzer target of fuzz/ (docs/fuzzing.md) for SECONDS seconds, or for N inputs
# with -runs=N, on its corpus, and prints one line per target: executions, exec/s, crashes
# (libFuzzer stops at the first one and keeps the input), new corpus entries.
#
#   bash bench/run_fuzz.sh SECONDS|-runs=N [TARGET...]   (targets default: model samples image quant config)
#   environment: FUZZ_BUILD (default build-fuzz, configured with -DDPL_FUZZ=ON and clang),
#                CORPUS (default FUZZ_BUILD/corpus, made by fuzz/make_corpus.py when absent),
#                NICE (default 10), FUZZ_ARGS (more libFuzzer flags)
#
# A hang is an input that runs over 10 s (-timeout=10); memory is capped at 4 GB
# (-rss_limit_mb, also the largest single allocation). Crash inputs go to
# FUZZ_BUILD/artifacts/<target>/; reproduce one with `FUZZ_BUILD/fuzz/fuzz_<target> FILE`.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "run_fuzz.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: bash bench/run_fuzz.sh SECONDS|-runs=N [TARGET...]"
LIMIT="$1"; shift
case "$LIMIT" in
  -runs=[0-9]*) BUDGET=("$LIMIT") ;;
  [0-9]*) BUDGET=("-max_total_time=$LIMIT") ;;
  *) die "the first argument is a number of seconds or -runs=N, not '$LIMIT'" ;;
esac
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(model samples image quant config)
FUZZ_BUILD="$(cd "${FUZZ_BUILD:-$ROOT/build-fuzz}" 2>/dev/null && pwd)" ||
  die "no fuzz build: cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DDPL_FUZZ=ON -DDPL_BUILD_TESTS=OFF (docs/fuzzing.md)"
CORPUS="${CORPUS:-$FUZZ_BUILD/corpus}"
[ -d "$CORPUS" ] || python3 "$ROOT/fuzz/make_corpus.py" "$CORPUS" || die "cannot make the corpus in $CORPUS"

# One thread per target process: the kernels' OpenMP teams would only contend with the other
# targets (and with -fork workers) for the cores.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# No allocation stacks: recording one per malloc filled ASan's stack depot until it took 42% of
# fuzz_quant's time after 60,000 inputs (perf). Detection is the same; replaying a crash input
# with the default options (`FUZZ_BUILD/fuzz/fuzz_<target> FILE`) gives the full report.
export ASAN_OPTIONS="${ASAN_OPTIONS:-malloc_context_size=0}"

status=0
printf '%-8s %12s %9s %8s %10s  %s\n' target executions exec/s crashes new_inputs log
for t in "${TARGETS[@]}"; do
  bin="$FUZZ_BUILD/fuzz/fuzz_$t"
  [ -x "$bin" ] || die "$bin is not built (cmake --build $FUZZ_BUILD --target fuzz_$t)"
  art="$FUZZ_BUILD/artifacts/$t"; log="$FUZZ_BUILD/fuzz_$t.log"
  mkdir -p "$art" "$CORPUS/$t"
  before=$(find "$CORPUS/$t" -type f | wc -l)
  # One process (no -jobs/-workers): the machine is shared.
  # shellcheck disable=SC2086  # FUZZ_ARGS is a list of flags
  nice -n "${NICE:-10}" "$bin" "${BUDGET[@]}" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$art/" ${FUZZ_ARGS:-} "$CORPUS/$t" > "$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  crashes=$(grep -c -E '^==[0-9]+== ?ERROR|^SUMMARY: (Address|UndefinedBehavior|libFuzzer)|^finding:|ALARM: working on the last Unit' "$log")
  [ "$rc" -eq 0 ] || { [ "$crashes" -gt 0 ] || crashes=1; status=1; }
  after=$(find "$CORPUS/$t" -type f | wc -l)
  printf '%-8s %12s %9s %8s %10s  %s\n' "$t" "${runs:-?}" "${speed:-?}" "$crashes" "$((after - before))" "$log"
  [ "$rc" -eq 0 ] || grep -E -m3 'ERROR|SUMMARY|finding:|Test unit written' "$log" | sed 's/^/    /'
done
exit $status
