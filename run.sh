#!/usr/bin/env bash
# The main job: install what is missing (Fashion-MNIST too), build Release, train the same MLP on
# Fashion-MNIST with every optimizer, draw every optimizer's path on Rosenbrock, the saddle x^2 - y^2 and
# other classic functions, and write the report.
set -euo pipefail
cd "$(dirname "$0")"

scripts/install-deps.sh run
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DDESCENT_BUILD_TESTS=OFF -DDESCENT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/release -j"$(nproc)"

report=report
descent=build/release/apps/descent/descent
echo
"$descent" compare --data auto --epochs 5 --out "$report"
for function in rosenbrock saddle beale quadratic; do
  echo
  "$descent" trajectory --function "$function" --out "$report"
done

echo
echo "Report in $report/:"
echo "  fashion-mnist/ (or spirals/ without the data set): summary.md, loss-step.png, loss-time.png, accuracy.png"
echo "  rosenbrock/, saddle/, beale/, quadratic/: summary.md, paths.png (every path on the contours), loss.png"
