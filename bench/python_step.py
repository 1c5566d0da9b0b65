#!/usr/bin/env python3
"""Times one Adam step, side by side in one run (issue 14's targets): descent.torch.Adam from Python,
the same step of the same optimizer from C++ (Engine.time_steps: a steady_clock loop around
Optimizer::step() over the same bound tensors, no Python), and torch.optim.Adam with foreach off and on;
10M float32 parameters as 200 tensors and as one tensor, 1 and 2 threads.

    PYTHONPATH=build/test/python /usr/bin/python3 bench/python_step.py [N] [REPEATS]

Timing: time.perf_counter() around each opt.step() on tensors whose .grad is set once (no autograd in the
timed region); torch.set_num_threads(threads) for torch, threads=threads for descent; 2 warm-up steps
(they allocate the state), then the median of REPEATS steps. Prints one JSON object per measurement,
then a table with the ratios the issue names: Python / C++ (target <= 1.15) and torch's best / descent
(targets >= 2 with 1 thread and >= 4 with 2 threads on 200 tensors)."""
import json
import statistics
import sys
import time

import torch

import descent.torch as dt

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 10


def tensors(count):
    generator = torch.Generator().manual_seed(1)
    params = [torch.randn(N // count, generator=generator, requires_grad=True) for _ in range(count)]
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator)
    return params


def median_step(opt):
    times = []
    for r in range(REPEATS + 2):
        start = time.perf_counter()
        opt.step()
        if r >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    print(json.dumps({"setup": {
        "torch": torch.__version__, "N": N, "repeats": REPEATS,
        "timing": "perf_counter around opt.step(), 2 warm-up steps, median of REPEATS; C++: steady_clock "
                  "around Optimizer::step() in Engine.time_steps, median of REPEATS"}}), flush=True)
    rows = []
    for count in (200, 1):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            row = {"tensors": count, "threads": threads}
            opt = dt.Adam(tensors(count), lr=1e-6, threads=threads)
            row["descent_python"] = median_step(opt)
            row["descent_cpp"] = statistics.median(opt._plan.engine.time_steps(REPEATS))
            del opt
            for foreach in (False, True):
                ref = torch.optim.Adam(tensors(count), lr=1e-6, foreach=foreach)
                row["torch_foreach_%s" % ("on" if foreach else "off")] = median_step(ref)
                del ref
            print(json.dumps(row), flush=True)
            rows.append(row)
    print("\n| tensors | threads | descent.torch (ms) | same step from C++ (ms) | Python / C++ | torch foreach off (ms) "
          "| torch foreach on (ms) | torch best / descent.torch |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        best = min(r["torch_foreach_off"], r["torch_foreach_on"])
        print("| %d | %d | %.2f | %.2f | %.2fx | %.2f | %.2f | %.1fx |" % (
            r["tensors"], r["threads"], 1e3 * r["descent_python"], 1e3 * r["descent_cpp"],
            r["descent_python"] / r["descent_cpp"], 1e3 * r["torch_foreach_off"], 1e3 * r["torch_foreach_on"],
            best / r["descent_python"]))


if __name__ == "__main__":
    main()
