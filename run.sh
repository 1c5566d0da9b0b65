#!/usr/bin/env bash
# The main job: install what is missing, build Release, compare every optimizer of the notes on the
# classic test functions, and write the report (tables, loss curves, paths on contour plots).
set -euo pipefail
cd "$(dirname "$0")"

scripts/install-deps.sh run
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DDESCENT_BUILD_TESTS=OFF -DDESCENT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/release -j"$(nproc)"

report=report
for function in rosenbrock beale quadratic saddle; do
  echo
  build/release/apps/descent/descent compare --function "$function" --out "$report"
done

echo
echo "Report in $report/: for each function, summary.md (table), loss.png (progress per step) and"
echo "paths.png (every optimizer's path on the contours); data in runs/*.csv."
