#!/usr/bin/env bash
# Installs, with apt, the Debian 12 packages descent needs that are missing. Usage:
#   scripts/install-deps.sh run        # build the library and the CLI, draw plots
#   scripts/install-deps.sh test       # ... and build and run the tests
#   scripts/install-deps.sh reference  # ... and regenerate tests/reference/data (PyTorch, NumPy)
#   scripts/install-deps.sh fuzz       # build the library with clang and fuzz it (scripts/fuzz.sh)
#   scripts/install-deps.sh python     # pip install --no-build-isolation . into a venv (the Python package)
set -euo pipefail

build=(g++ make cmake libcli11-dev libhwy-dev zlib1g-dev libopenblas-dev nlohmann-json3-dev)
run=("${build[@]}" gnuplot-nox dataset-fashion-mnist)
test=("${build[@]}" googletest libgtest-dev libgmock-dev libbenchmark-dev python3)
test+=(libtorch-dev)                 # descent::torch (DESCENT_WITH_TORCH, which ./test.sh turns on)
test+=(libopenmpi-dev openmpi-bin)   # descent::dist (DESCENT_WITH_MPI, which ./test.sh turns on)
# the Python package and its pytest suite (DESCENT_WITH_PYTHON, which ./test.sh turns on)
test+=(python3-dev pybind11-dev python3-pybind11 python3-pytest python3-torch python3-numpy python3-scipy)
reference=(python3-torch python3-numpy python3-scipy)
# pip install --no-build-isolation . into a venv (README, "From Python"): the build backend comes from Debian
python=("${build[@]}" python3-dev pybind11-dev python3-pybind11 python3-venv python3-setuptools python3-wheel python3-torch python3-numpy python3-scipy)
# libclang-rt-14-dev holds libFuzzer and the sanitizer runtimes; clang only recommends it (through
# libclang-common-14-dev), so it is named here for --no-install-recommends.
fuzz=("${build[@]}" clang libclang-rt-14-dev)

case "${1:-run}" in
  run) wanted=("${run[@]}") ;;
  test) wanted=("${test[@]}") ;;
  reference) wanted=("${test[@]}" "${reference[@]}") ;;
  fuzz) wanted=("${fuzz[@]}") ;;
  python) wanted=("${python[@]}") ;;
  *) echo "usage: $0 run|test|reference|fuzz|python" >&2; exit 2 ;;
esac

missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=()
[ "$(id -u)" -ne 0 ] && sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
