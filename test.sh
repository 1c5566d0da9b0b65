#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite with ctest.
#   ./test.sh              Release build with assertions of the test suite (build/test)
#   ./test.sh --sanitize   the same under AddressSanitizer and UndefinedBehaviorSanitizer (build/sanitize)
# Warnings are errors when CI=true.
set -euo pipefail
cd "$(dirname "$0")"

scripts/install-deps.sh test

build=build/test
flags=(-DCMAKE_BUILD_TYPE=Release)
if [ "${1:-}" = "--sanitize" ]; then
  build=build/sanitize
  flags=(-DCMAKE_BUILD_TYPE=Debug -DDESCENT_SANITIZE_ADDRESS=ON -DDESCENT_SANITIZE_UNDEFINED=ON)
fi
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON

cmake -S . -B "$build" "${flags[@]}" -DDESCENT_BUILD_BENCH=ON -DDESCENT_WARNINGS_AS_ERRORS="$werror" >/dev/null
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
