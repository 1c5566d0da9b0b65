#!/usr/bin/env bash
# Regenerates docs/convergence.md: every method of descent (Newton, Newton-CG, L-BFGS, each first-order
# optimizer at its best learning rate) on every test problem, beside SciPy's minimize (BFGS, L-BFGS-B,
# Newton-CG) from the same starts, to the same target ||grad f|| <= 1e-6.
#
#   1. installs what is missing (scripts/install-deps.sh reference: the build tools, Python, NumPy, SciPy);
#   2. builds the CLI, Release, into build/release;
#   3. exports the problems (`descent problems --json`) and runs SciPy on them
#      (scripts/scipy_convergence.py, which first cross-checks f and its derivatives at every start);
#   4. runs descent's methods and writes the document (`descent convergence`).
# About a minute on two cores once built. Usage: scripts/convergence-table.sh [output.md]
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-docs/convergence.md}
python=/usr/bin/python3  # Debian's, which python3-numpy and python3-scipy install into

scripts/install-deps.sh reference
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DDESCENT_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target descent_cli

cli=build/release/apps/descent/descent
work=build/convergence
mkdir -p "$work"
"$cli" problems --json >"$work/problems.json"
"$python" scripts/scipy_convergence.py "$work/problems.json" "$work/scipy.json"
"$cli" convergence --scipy "$work/scipy.json" --out "$out"

echo
echo "Convergence table: $out (SciPy's raw results: $work/scipy.json)"
