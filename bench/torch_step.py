#!/usr/bin/env python3
"""Times one torch.optim step (PyTorch CPU, float32) for bench/compare.sh: every optimizer descent shares
with PyTorch, 10M parameters as one tensor and as 200 tensors, 1 and 2 threads, with foreach off and on.
Prints one JSON object per measurement. Run with /usr/bin/python3 (Debian's python3-torch)."""
import json
import statistics
import sys
import time

import torch

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 5

# The same configurations as bench/compare_step.cpp.
OPTIMIZERS = {
    "sgd": lambda p, f: torch.optim.SGD(p, lr=1e-6, momentum=0.9, foreach=f),
    "adagrad": lambda p, f: torch.optim.Adagrad(p, lr=1e-6, foreach=f),
    "adadelta": lambda p, f: torch.optim.Adadelta(p, lr=1e-6, foreach=f),
    "rmsprop": lambda p, f: torch.optim.RMSprop(p, lr=1e-6, foreach=f),
    "adam": lambda p, f: torch.optim.Adam(p, lr=1e-6, foreach=f),
    "adamw": lambda p, f: torch.optim.AdamW(p, lr=1e-6, foreach=f),
    "adamax": lambda p, f: torch.optim.Adamax(p, lr=1e-6, foreach=f),
    "nadam": lambda p, f: torch.optim.NAdam(p, lr=1e-6, foreach=f),
    "radam": lambda p, f: torch.optim.RAdam(p, lr=1e-6, foreach=f),
}


def time_step(name, tensors, threads, foreach):
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(1)
    params = [torch.randn(N // tensors, generator=generator, requires_grad=True) for _ in range(tensors)]
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator)
    opt = OPTIMIZERS[name](params, foreach)
    times = []
    for r in range(REPEATS + 2):
        start = time.perf_counter()
        opt.step()
        if r >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    for name in OPTIMIZERS:
        for tensors in (1, 200):
            for threads in (1, 2):
                for foreach in (False, True):
                    seconds = time_step(name, tensors, threads, foreach)
                    print(json.dumps({"optimizer": name, "parameters": N, "tensors": tensors, "threads": threads,
                                      "foreach": foreach, "torch_s": seconds}), flush=True)


if __name__ == "__main__":
    main()
