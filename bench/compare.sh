#!/usr/bin/env bash
# Times every optimizer's step in descent, beside its memory roof and PyTorch CPU's fastest setting, in ONE
# run on this machine: 10M float32 parameters as one tensor and as 200 tensors, 1 and 2 threads. Both sides
# are measured by this invocation, one after the other; the run's id, date, machine and versions are
# written at the top of both result files, and compare.py refuses files from different runs. Prints the
# table of docs/performance.md (with its stamp) and writes build/bench/compare.json and compare.md.
# Takes several minutes; run it on a quiet machine.
#   bench/compare.sh [parameters] [repeats]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh reference
cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DDESCENT_BUILD_BENCH=ON -DDESCENT_BUILD_TESTS=OFF \
      -DDESCENT_BUILD_APPS=OFF -DDESCENT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/bench -j"$(nproc)" --target descent_compare_step
n=${1:-10000000}
repeats=${2:-7}
run_id="$(date -u +%Y%m%dT%H%M%SZ)-$$-${RANDOM}"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)"
stamp=$(/usr/bin/python3 - "$run_id" "$n" "$repeats" "$cpu" "$(nproc)" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY'
import datetime, json, platform, sys
run, n, repeats, cpu, cores, commit = sys.argv[1:7]
print(json.dumps({"run": run, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  "machine": f"{cpu or platform.processor()}, {cores} hardware threads, {platform.platform()}",
                  "parameters": int(n), "repeats": int(repeats), "descent_commit": commit}))
PY
)
echo "descent and its roofs (run $run_id)..."
{ echo "$stamp"; build/bench/bench/descent_compare_step "$n" "$repeats"; } > build/bench/descent.jsonl
echo "PyTorch (run $run_id)..."
{ echo "$stamp"; /usr/bin/python3 bench/torch_step.py "$n" "$repeats"; } > build/bench/torch.jsonl
/usr/bin/python3 bench/compare.py build/bench/descent.jsonl build/bench/torch.jsonl build/bench/compare.json \
  | tee build/bench/compare.md
