#!/usr/bin/env bash
# Fuzzes the checkpoint loader (tests/fuzz/fuzz_checkpoint.cpp) with libFuzzer under AddressSanitizer and
# UndefinedBehaviorSanitizer for a bounded time. Usage:
#   scripts/fuzz.sh [seconds]      # default 60
# Builds with clang in build/fuzz, writes the seed corpus into build/fuzz/corpus (the inputs the fuzzer
# finds interesting are kept there too, so later runs start from them), replays every input saved in
# tests/fuzz/regressions, then fuzzes in one process. Exits non-zero on any finding: a crash, a leak,
# undefined behaviour, an exception not derived from descent::Error, a load that changed the optimizer
# it failed on, an input that runs for more than 30 s; or when a saved regression fails again. A new
# find stays in build/fuzz/ (crash-*, leak-*, timeout-*, oom-*) and the commands to reproduce it are
# printed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
case "$seconds" in
  '' | *[!0-9]*) echo "usage: $0 [seconds]" >&2; exit 2 ;;
esac

scripts/install-deps.sh fuzz

build=build/fuzz
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDESCENT_BUILD_FUZZ=ON \
  -DDESCENT_BUILD_TESTS=OFF -DDESCENT_BUILD_APPS=OFF -DDESCENT_BUILD_EXAMPLES=OFF -DDESCENT_BUILD_BENCH=OFF \
  -DDESCENT_INSTALL=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target descent_fuzz_checkpoint descent_fuzz_make_corpus

fuzzer="$build/tests/fuzz/descent_fuzz_checkpoint"
# Readable reports: stack traces for UB, and symbols where an llvm-symbolizer is installed (package llvm-14).
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
  for symbolizer in "$(command -v llvm-symbolizer || true)" /usr/lib/llvm-14/bin/llvm-symbolizer; do
    if [ -n "$symbolizer" ] && [ -x "$symbolizer" ]; then
      export ASAN_SYMBOLIZER_PATH="$symbolizer"
      break
    fi
  done
fi

"$build/tests/fuzz/descent_fuzz_make_corpus" "$build/corpus"

# Inputs that once found a defect: each runs once, and must pass.
regressions=()
if [ -d tests/fuzz/regressions ]; then
  while IFS= read -r -d '' file; do regressions+=("$file"); done \
    < <(find tests/fuzz/regressions -type f ! -name '*.md' -print0 | sort -z)
fi
failed_regressions=()
if [ ${#regressions[@]} -gt 0 ]; then
  echo "fuzz: replaying ${#regressions[@]} input(s) from tests/fuzz/regressions"
  : >"$build/regressions.log"
  for file in "${regressions[@]}"; do
    "$fuzzer" "$file" >>"$build/regressions.log" 2>&1 || failed_regressions+=("$file")
  done
  if [ ${#failed_regressions[@]} -gt 0 ]; then
    grep -E 'runtime error|ERROR: |FINDING|^SUMMARY' "$build/regressions.log" || true
    echo "fuzz: these fail again (full log: $build/regressions.log); fuzzing all the same:" >&2
    for file in "${failed_regressions[@]}"; do
      echo "  $fuzzer $file" >&2
    done
  fi
fi

marker="$build/.fuzz-started"
touch "$marker"
echo "fuzz: ${seconds} s of libFuzzer on the checkpoint loader (full log: $build/fuzz.log)"
status=0
"$fuzzer" -max_total_time="$seconds" -max_len=65536 -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
  -dict=tests/fuzz/checkpoint.dict -artifact_prefix="$build/" "$build/corpus" >"$build/fuzz.log" 2>&1 || status=$?

# The run's summary: the seeds' coverage, the last status line and libFuzzer's final statistics.
grep -E '^#[0-9]+[[:space:]]+INITED' "$build/fuzz.log" | tail -n 1 || true
grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)' "$build/fuzz.log" | tail -n 1 || true
grep -E '^stat::' "$build/fuzz.log" || true

mapfile -t finds < <(find "$build" -maxdepth 1 -type f -newer "$marker" \
  \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'slow-unit-*' \) | sort)
if [ "$status" -ne 0 ] || [ ${#finds[@]} -gt 0 ]; then
  tail -n 80 "$build/fuzz.log"
  echo >&2
  echo "fuzz: FAILED (libFuzzer exit status $status); the input(s) found:" >&2
  for file in "${finds[@]}"; do
    echo "  $file" >&2
  done
  file="${finds[0]:-$build/crash-ID}"
  echo "reproduce:  $fuzzer $file" >&2
  echo "minimize:   $fuzzer -minimize_crash=1 -max_total_time=60 -exact_artifact_path=$build/minimized $file" >&2
  echo "keep it:    cp $build/minimized tests/fuzz/regressions/SHORT-NAME   (replayed by every run)" >&2
  exit 1
fi
if [ ${#failed_regressions[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${#failed_regressions[@]} input(s) of tests/fuzz/regressions fail again (see above)" >&2
  exit 1
fi
echo "fuzz: no findings"
