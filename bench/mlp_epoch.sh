#!/usr/bin/env bash
# The MLP 784-256-10 on Fashion-MNIST with Adam (lr 1e-3, batch 128), 10 epochs, in descent and in PyTorch
# CPU, each with 1 and 2 threads, in one run on this machine: test accuracy per epoch side by side, and the
# epoch time of each at its fastest thread setting. Writes build/bench/mlp_epoch.json.
#   bench/mlp_epoch.sh [epochs]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh reference
sudo_apt=()
dpkg-query -W -f='${Status}' dataset-fashion-mnist 2>/dev/null | grep -q "install ok installed" || {
  [ "$(id -u)" -ne 0 ] && sudo_apt=(sudo)
  "${sudo_apt[@]}" apt-get install -y -qq dataset-fashion-mnist
}
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DDESCENT_BUILD_TESTS=OFF -DDESCENT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target descent_cli
epochs=${1:-10}
mkdir -p build/bench
for threads in 1 2; do
  echo "descent, $threads thread(s)..."
  OPENBLAS_NUM_THREADS=$threads build/release/apps/descent/descent train --data fashion-mnist --optimizer adam \
      --lr 1e-3 --batch-size 128 --epochs "$epochs" --threads "$threads" --out "build/bench/mlp-descent-$threads" >/dev/null
  echo "PyTorch, $threads thread(s)..."
  /usr/bin/python3 bench/torch_mlp.py "$epochs" "$threads" > "build/bench/mlp-torch-$threads.jsonl"
done
/usr/bin/python3 - "$epochs" <<'PY'
import csv, json, statistics, sys
epochs = int(sys.argv[1])
runs = {}
for t in (1, 2):
    with open(f"build/bench/mlp-descent-{t}/metrics.csv") as f:
        rows = list(csv.DictReader(f))
    runs[("descent", t)] = [(float(r["test_accuracy"]), float(r["epoch_seconds"])) for r in rows]
    with open(f"build/bench/mlp-torch-{t}.jsonl") as f:
        runs[("torch", t)] = [(r["test_accuracy"], r["epoch_seconds"]) for r in map(json.loads, f)]
def epoch_time(key):  # median over epochs: the first one warms caches and allocators
    return statistics.median(s for _, s in runs[key])
best = {who: min((1, 2), key=lambda t: epoch_time((who, t))) for who in ("descent", "torch")}
print("| epoch | descent test accuracy | PyTorch test accuracy | difference (points) |")
print("|---|---|---|---|")
for e in range(epochs):
    d, p = runs[("descent", 1)][e][0], runs[("torch", 1)][e][0]
    print(f"| {e + 1} | {100 * d:.2f}% | {100 * p:.2f}% | {100 * (d - p):+.2f} |")
print()
for who in ("descent", "torch"):
    print(f"{who}: median epoch time {epoch_time((who, 1)):.3f} s with 1 thread, {epoch_time((who, 2)):.3f} s with 2; "
          f"fastest: {best[who]} thread(s)")
ratio = epoch_time(("descent", best["descent"])) / epoch_time(("torch", best["torch"]))
print(f"descent's epoch takes {ratio:.2f}x PyTorch's (each at its fastest setting)")
json.dump({"runs": {f"{k[0]}-{k[1]}": v for k, v in runs.items()}, "epoch_time_ratio": ratio},
          open("build/bench/mlp_epoch.json", "w"), indent=1)
PY
