#!/usr/bin/env python3
"""Times one torch.optim step (PyTorch CPU, float32) for bench/compare.sh: every optimizer descent shares
with PyTorch, 10M parameters as one tensor and as 200 tensors, 1 and 2 threads, with foreach off and on.
Prints first how it times (the "torch" object: version, method), then one JSON object per measurement.
Run with /usr/bin/python3 (Debian's python3-torch).

Timing: torch.set_num_threads(threads); time.perf_counter() around each opt.step() on tensors whose .grad
is set once (no autograd in the timed region); 2 warm-up steps, then the median of REPEATS steps."""
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
    "rprop": lambda p, f: torch.optim.Rprop(p, lr=1e-6, foreach=f),
    # t0=0: averaging on from the first step, as src/optimizers/asgd/asgd.cpp registers its benchmark.
    "asgd": lambda p, f: torch.optim.ASGD(p, lr=1e-6, t0=0, foreach=f),
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
    print(json.dumps({"torch": {
        "version": torch.__version__,
        "blas": "MKL" if torch.backends.mkl.is_available() else "not MKL (Debian: the system BLAS)",
        "timing": f"time.perf_counter() around opt.step(), torch.set_num_threads(threads), 2 warm-up steps, "
                  f"median of {REPEATS}; foreach off and on, the faster kept",
    }}), flush=True)
    for name in OPTIMIZERS:
        for tensors in (1, 200):
            for threads in (1, 2):
                for foreach in (False, True):
                    seconds = time_step(name, tensors, threads, foreach)
                    print(json.dumps({"optimizer": name, "parameters": N, "tensors": tensors, "threads": threads,
                                      "foreach": foreach, "torch_s": seconds}), flush=True)


if __name__ == "__main__":
    main()
