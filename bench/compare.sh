#!/usr/bin/env bash
# Times every optimizer's step in descent, beside its memory roof and PyTorch CPU's fastest setting, in one
# run on this machine: 10M float32 parameters as one tensor and as 200 tensors, 1 and 2 threads.
# Prints the table of docs/performance.md and writes build/bench/compare.json. Takes a few minutes.
#   bench/compare.sh [parameters] [repeats]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh reference
cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DDESCENT_BUILD_BENCH=ON -DDESCENT_BUILD_TESTS=OFF \
      -DDESCENT_BUILD_APPS=OFF -DDESCENT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/bench -j"$(nproc)" --target descent_compare_step
n=${1:-10000000}
repeats=${2:-7}
echo "descent and its roofs..."
build/bench/bench/descent_compare_step "$n" "$repeats" > build/bench/descent.jsonl
echo "PyTorch..."
/usr/bin/python3 bench/torch_step.py "$n" "$repeats" > build/bench/torch.jsonl
/usr/bin/python3 bench/compare.py build/bench/descent.jsonl build/bench/torch.jsonl build/bench/compare.json
