#!/usr/bin/env python3
"""Fashion-MNIST accuracy of optimizers at a tuned learning rate (docs/training.md, issue 12).

For each optimizer: a learning-rate sweep of one epoch with seed 1 picks the rate with the best test
accuracy; then 10 epochs with seeds 1, 2, 3 at that rate. MLP 784-256-10, batch 128, one thread
(OPENBLAS_NUM_THREADS=1), so the accuracies do not depend on the machine or its load.

    tools/accuracy_table.py DESCENT_CLI OUT_DIR [optimizer:lr,lr,... ...]

Prints a Markdown table and writes OUT_DIR/results.json. Every run's metrics stay in OUT_DIR."""
import json, os, subprocess, sys

cli, out = sys.argv[1], sys.argv[2]
specs = sys.argv[3:]
env = dict(os.environ, OPENBLAS_NUM_THREADS="1")


def run(optimizer, lr, seed, epochs):
    folder = os.path.join(out, f"{optimizer}-lr{lr}-s{seed}-e{epochs}")
    metrics = os.path.join(folder, "metrics.json")
    if not os.path.exists(metrics):
        subprocess.run([cli, "train", "--data", "fashion-mnist", "--model", "784-256-10", "--batch-size", "128",
                        "--epochs", str(epochs), "--optimizer", optimizer, "--lr", lr, "--seed", str(seed),
                        "--threads", "1", "--out", folder], check=True, env=env, stdout=subprocess.DEVNULL)
    with open(metrics) as f:
        return json.load(f)["final_test_accuracy"]


results = {}
for spec in specs:
    optimizer, rates = spec.split(":")
    rates = rates.split(",")
    sweep = {lr: run(optimizer, lr, 1, 1) for lr in rates}
    best = max(rates, key=lambda lr: sweep[lr])
    finals = [run(optimizer, best, seed, 10) for seed in (1, 2, 3)]
    results[optimizer] = {"sweep_1_epoch_seed_1": sweep, "lr": best, "seeds": finals,
                          "mean": sum(finals) / 3}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(optimizer, results[optimizer], flush=True)

base = results.get("adam", {}).get("mean")
print("\n| optimizer | lr (1-epoch sweep) | seed 1 | seed 2 | seed 3 | mean | vs adam (points) |")
print("|---|---|---|---|---|---|---|")
for name, r in results.items():
    diff = "" if base is None or name == "adam" else f"{100 * (r['mean'] - base):+.2f}"
    sweep = ", ".join(f"{lr}: {100 * a:.1f}%" for lr, a in r["sweep_1_epoch_seed_1"].items())
    print(f"| {name} | {r['lr']} ({sweep}) | " + " | ".join(f"{100 * a:.2f}%" for a in r["seeds"]) +
          f" | {100 * r['mean']:.2f}% | {diff} |")
