#!/usr/bin/env bash
# Regenerates the convergence table: every method of descent (the second-order methods of
# second_order_method_names(), each first-order optimizer of optimizer_names() at its best learning rate)
# on every test problem, beside SciPy's minimize (BFGS, L-BFGS-B, Newton-CG, trust-ncg, trust-krylov,
# trust-exact) from the same starts, to the same target ||grad f|| <= 1e-6, in one run.
#
#   1. installs what is missing (scripts/install-deps.sh reference: the build tools, Python, NumPy, SciPy);
#   2. builds descent-convergence, Release, into build/release;
#   3. exports the problems (`descent-convergence problems`) and runs SciPy on them
#      (tools/convergence/scipy_convergence.py, which first cross-checks f and its derivatives at every start);
#   4. runs descent's methods and writes the document (`descent-convergence table`).
# A few minutes on two cores once built.
#
# Usage: tools/convergence/convergence-table.sh [output.md]
# DESCENT_BUILD_DIR (default build/release) names the build folder; it is configured as Release.
# The default output is build/convergence/convergence.md; the project's document is rewritten only when
# named: tools/convergence/convergence-table.sh docs/convergence.md
set -euo pipefail
cd "$(dirname "$0")/../.."

work=build/convergence
out=${1:-$work/convergence.md}
python=/usr/bin/python3  # Debian's, which python3-numpy and python3-scipy install into

scripts/install-deps.sh reference
build=${DESCENT_BUILD_DIR:-build/release}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDESCENT_BUILD_TOOLS=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target descent_convergence

tool=$build/tools/convergence/descent-convergence
mkdir -p "$work"
"$tool" problems >"$work/problems.json"
"$python" tools/convergence/scipy_convergence.py "$work/problems.json" "$work/scipy.json"
"$tool" table --scipy "$work/scipy.json" --out "$out" --command "tools/convergence/convergence-table.sh${1:+ $1}"

echo
echo "Convergence table: $out (SciPy's raw results: $work/scipy.json)"
