#!/usr/bin/env bash
# Installs, with apt, the Debian 12 packages descent needs that are missing. Usage:
#   scripts/install-deps.sh run        # build the library and the CLI, draw plots
#   scripts/install-deps.sh test       # ... and build and run the tests
#   scripts/install-deps.sh reference  # ... and regenerate tests/reference/data (PyTorch, NumPy)
set -euo pipefail

build=(g++ make cmake libcli11-dev libhwy-dev zlib1g-dev libopenblas-dev)
run=("${build[@]}" gnuplot-nox dataset-fashion-mnist)
test=("${build[@]}" googletest libgtest-dev libgmock-dev nlohmann-json3-dev libbenchmark-dev)
reference=(python3 python3-torch python3-numpy python3-scipy)

case "${1:-run}" in
  run) wanted=("${run[@]}") ;;
  test) wanted=("${test[@]}") ;;
  reference) wanted=("${test[@]}" "${reference[@]}") ;;
  *) echo "usage: $0 run|test|reference" >&2; exit 2 ;;
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
