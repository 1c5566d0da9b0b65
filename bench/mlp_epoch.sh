#!/usr/bin/env bash
# The MLP 784-256-10 on Fashion-MNIST with Adam (lr 1e-3, batch 128), 10 epochs, in descent and in PyTorch
# CPU, in one run on this machine: test accuracy per epoch side by side, as the mean over several seeds
# (initial weights and batch order come from different generators in the two, and one run's accuracy moves
# by about a point from epoch to epoch), and the epoch time of each at its fastest thread setting (1 or 2).
# Writes build/bench/mlp_epoch.json.
#   bench/mlp_epoch.sh [epochs] [seeds]
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
seeds=${2:-3}
mkdir -p build/bench
for threads in 1 2; do
  for seed in $(seq 1 "$seeds"); do
    [ "$threads" = 2 ] && [ "$seed" != 1 ] && continue  # 2 threads: timing only
    echo "descent, $threads thread(s), seed $seed..."
    OPENBLAS_NUM_THREADS=$threads build/release/apps/descent/descent train --data fashion-mnist --optimizer adam \
        --lr 1e-3 --batch-size 128 --epochs "$epochs" --threads "$threads" --seed "$seed" \
        --out "build/bench/mlp-descent-$threads-$seed" >/dev/null
    echo "PyTorch, $threads thread(s), seed $seed..."
    /usr/bin/python3 bench/torch_mlp.py "$epochs" "$threads" "$seed" > "build/bench/mlp-torch-$threads-$seed.jsonl"
  done
done
/usr/bin/python3 - "$epochs" "$seeds" <<'PY'
import csv, json, statistics, sys
epochs, seeds = int(sys.argv[1]), int(sys.argv[2])
def descent_run(t, s):
    with open(f"build/bench/mlp-descent-{t}-{s}/metrics.csv") as f:
        return [(float(r["test_accuracy"]), float(r["epoch_seconds"])) for r in csv.DictReader(f)]
def torch_run(t, s):
    with open(f"build/bench/mlp-torch-{t}-{s}.jsonl") as f:
        return [(r["test_accuracy"], r["epoch_seconds"]) for r in map(json.loads, f)]
runs = {("descent", t): descent_run(t, 1) for t in (1, 2)}
runs.update({("torch", t): torch_run(t, 1) for t in (1, 2)})
def mean_accuracy(load):
    per_seed = [load(1, s) for s in range(1, seeds + 1)]
    return [statistics.mean(run[e][0] for run in per_seed) for e in range(epochs)]
accuracy = {"descent": mean_accuracy(descent_run), "torch": mean_accuracy(torch_run)}
def epoch_time(key):  # median over epochs: the first one warms caches and allocators
    return statistics.median(s for _, s in runs[key])
best = {who: min((1, 2), key=lambda t: epoch_time((who, t))) for who in ("descent", "torch")}
print(f"Test accuracy per epoch, mean over {seeds} seeds:\n")
print("| epoch | descent | PyTorch | difference (points) |")
print("|---|---|---|---|")
for e in range(epochs):
    d, p = accuracy["descent"][e], accuracy["torch"][e]
    print(f"| {e + 1} | {100 * d:.2f}% | {100 * p:.2f}% | {100 * (d - p):+.2f} |")
print()
for who in ("descent", "torch"):
    print(f"{who}: median epoch time {epoch_time((who, 1)):.3f} s with 1 thread, {epoch_time((who, 2)):.3f} s with 2; "
          f"fastest: {best[who]} thread(s)")
ratio = epoch_time(("descent", best["descent"])) / epoch_time(("torch", best["torch"]))
print(f"descent's epoch takes {ratio:.2f}x PyTorch's (each at its fastest setting)")
json.dump({"runs": {f"{k[0]}-{k[1]}": v for k, v in runs.items()}, "mean_accuracy": accuracy,
           "epoch_time_ratio": ratio},
          open("build/bench/mlp_epoch.json", "w"), indent=1)
PY
