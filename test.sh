#!/usr/bin/env bash
# Install what is missing, build, and run the whole test suite with ctest.
#   ./test.sh              Release build of the test suite (build/test)
#   ./test.sh --sanitize   the same under AddressSanitizer and UndefinedBehaviorSanitizer (build/sanitize)
#   ./test.sh --tsan       the threaded engine's tests under ThreadSanitizer (build/tsan)
# Warnings are errors when CI=true.
set -euo pipefail
cd "$(dirname "$0")"

scripts/install-deps.sh test

build=build/test
flags=(-DCMAKE_BUILD_TYPE=Release -DDESCENT_WITH_TORCH=ON -DDESCENT_WITH_MPI=ON -DDESCENT_WITH_PYTHON=ON)
select=()
case "${1:-}" in
  --sanitize)
    build=build/sanitize
    flags=(-DCMAKE_BUILD_TYPE=Debug -DDESCENT_SANITIZE_ADDRESS=ON -DDESCENT_SANITIZE_UNDEFINED=ON -DDESCENT_WITH_TORCH=OFF -DDESCENT_WITH_MPI=OFF -DDESCENT_WITH_PYTHON=OFF) ;;
  --tsan)
    build=build/tsan
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DDESCENT_SANITIZE_THREAD=ON -DDESCENT_BUILD_APPS=OFF -DDESCENT_BUILD_EXAMPLES=OFF -DDESCENT_WITH_TORCH=OFF -DDESCENT_WITH_MPI=OFF -DDESCENT_WITH_PYTHON=OFF)
    select=(-R "Engine|Kernels") ;;
esac
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON

cmake -S . -B "$build" "${flags[@]}" -DDESCENT_BUILD_BENCH=ON -DDESCENT_WARNINGS_AS_ERRORS="$werror" >/dev/null
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" "${select[@]}"
