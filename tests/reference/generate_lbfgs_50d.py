#!/usr/bin/env python3
"""Writes tests/reference/data/lbfgs_50d.safetensors: torch.optim.LBFGS (PyTorch 1.13, float64) on a
50-dimensional convex quadratic, recording every function evaluation, for tests/test_lbfgs_torch_order.cpp,
which requires descent to evaluate at bitwise the same points.

Rerun: /usr/bin/python3 tests/reference/generate_lbfgs_50d.py   (deterministic; no network)

At 50 dimensions the order of PyTorch's reductions matters (at 2 it does not): torch sums |g| for the
first step with ATen's cascade sum over AVX2 vectors and takes dot products with the BLAS ddot it links
(Debian: OpenBLAS). The file also records torch.dot on three vector pairs, so that the test can tell a
machine whose BLAS rounds differently (then the comparison cannot hold and is skipped).

The problem: f(x) = sum_i 0.5 c_i (x_i - t_i)^2, c_i = 10^(2 i / 49) (condition number 100),
t_i = sin(i + 1); g_i = c_i (x_i - t_i). c, t and the start are stored; f is summed left to right in
Python floats (IEEE doubles), the same expression as the C++ test, so that only the optimizer's
arithmetic is compared.

Layout (safetensors): metadata "cases" lists each case's id, options (descent's LBFGSOptions names) and
number of step() calls; tensors c [50], t [50], start [50], dot_a [3, 50], dot_b [3, 50], dot_ab [3];
per case <id>/eval_x [E, 50], <id>/eval_f [E], <id>/evals_per_call [C]; and first-step/<n> [n], the
second evaluation point of one fixed-step iteration of the same problem at n dimensions (x + t d with
t = min(1, 1 / sum |g|): it holds the sum's rounding), for n where the cascade sum takes other paths;
there c_i = 1 + 0.37 (i mod 10), t_i = 0.1 (i mod 13) - 1, start_i = i mod 7 - 3.
"""
import json
import math
import os
import random
import struct
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "lbfgs_50d.safetensors")
N = 50


def problem(n):
    c = [10.0 ** (2.0 * i / (n - 1)) if n > 1 else 1.0 for i in range(n)]
    t = [math.sin(i + 1.0) for i in range(n)]
    start = [float((i % 7) - 3) for i in range(n)]
    return c, t, start


C, T, START = problem(N)

CASES = [
    ("strong-wolfe", dict(lr=1.0, max_iter=200, max_eval=250, tolerance_grad=1e-12, tolerance_change=1e-15,
                          history_size=100, line_search="strong_wolfe"), 1),
    ("fixed-step-history-5", dict(lr=1.0, max_iter=40, max_eval=50, tolerance_grad=1e-12, tolerance_change=1e-15,
                                  history_size=5, line_search=None), 3),
]


# The first step, t = min(1, 1 / sum |g|) lr, at sizes where ATen's cascade sum takes its other paths
# (no whole vector, leftover vectors, cascade levels): max_eval 2 stops after the first step.
FIRST_STEP_SIZES = [3, 7, 21, 64, 257, 1000, 4099, 20000]


def quadratic(xs, c=C, t=T):
    f = 0.0
    g = []
    for i in range(len(xs)):
        d = xs[i] - t[i]
        f += 0.5 * c[i] * d * d
        g.append(c[i] * d)
    return f, g


def first_step(n):
    # Data built with one multiplication and one addition each (no libm), so that the C++ test builds
    # the same doubles; not dyadic, so that sum |g| rounds and its order shows.
    c = [1.0 + (i % 10) * 0.37 for i in range(n)]
    t = [(i % 13) * 0.1 - 1.0 for i in range(n)]
    start = [float((i % 7) - 3) for i in range(n)]
    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=2, max_eval=2, tolerance_grad=0.0, tolerance_change=0.0)
    points = []

    def closure():
        with torch.no_grad():
            xs = [float(v) for v in x]
        f, g = quadratic(xs, c, t)
        x.grad = torch.tensor(g, dtype=torch.float64)
        points.append(xs)
        return torch.tensor(f, dtype=torch.float64)

    opt.step(closure)
    assert len(points) == 2, len(points)
    return np.array(points[1])


def run(options, calls):
    torch.set_num_threads(1)
    x = torch.tensor(START, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x], lr=options["lr"], max_iter=options["max_iter"], max_eval=options["max_eval"],
                            tolerance_grad=options["tolerance_grad"], tolerance_change=options["tolerance_change"],
                            history_size=options["history_size"], line_search_fn=options["line_search"])
    evals_x, evals_f, per_call = [], [], []

    def closure():
        with torch.no_grad():
            xs = [float(v) for v in x]
        f, g = quadratic(xs)
        x.grad = torch.tensor(g, dtype=torch.float64)
        evals_x.append(xs)
        evals_f.append(f)
        return torch.tensor(f, dtype=torch.float64)

    for _ in range(calls):
        before = len(evals_f)
        opt.step(closure)
        per_call.append(len(evals_f) - before)
    return np.array(evals_x), np.array(evals_f), np.array(per_call, dtype=np.float64)


def main():
    rng = random.Random(11)
    dot_a = np.array([[rng.gauss(0, 1) for _ in range(N)] for _ in range(3)])
    dot_b = np.array([[rng.gauss(0, 1) for _ in range(N)] for _ in range(3)])
    dot_ab = np.array([torch.tensor(a).dot(torch.tensor(b)).item() for a, b in zip(dot_a, dot_b)])
    tensors = [("c", np.array(C)), ("t", np.array(T)), ("start", np.array(START)),
               ("dot_a", dot_a), ("dot_b", dot_b), ("dot_ab", dot_ab)]
    cases = []
    for case_id, options, calls in CASES:
        ex, ef, per_call = run(options, calls)
        descent_options = dict(options)
        descent_options["line_search"] = "strong_wolfe" if options["line_search"] else "none"
        cases.append({"id": case_id, "options": descent_options, "calls": calls})
        tensors += [(f"{case_id}/eval_x", ex), (f"{case_id}/eval_f", ef), (f"{case_id}/evals_per_call", per_call)]
        print(case_id, len(ef), "evaluations, per call", [int(v) for v in per_call])
    for n in FIRST_STEP_SIZES:
        tensors.append((f"first-step/{n}", first_step(n)))
    header, data, offset = {}, bytearray(), 0
    header["__metadata__"] = {
        "generator": "tests/reference/generate_lbfgs_50d.py",
        "command": "/usr/bin/python3 tests/reference/generate_lbfgs_50d.py",
        "torch_version": torch.__version__,
        "torch_cpu_capability": "see torch.__config__.show(): " +
                                next((l.strip() for l in torch.__config__.show().splitlines() if "CPU capability" in l), "?"),
        "cases": json.dumps(cases, separators=(",", ":")),
        "first_step_sizes": json.dumps(FIRST_STEP_SIZES),
    }
    for name, array in tensors:
        raw = np.ascontiguousarray(array, dtype="<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        data += raw
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (8 + len(text)) % 8) % 8)
    with open(OUT, "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text.encode("utf-8"))
        out.write(bytes(data))


if __name__ == "__main__":
    sys.exit(main())
