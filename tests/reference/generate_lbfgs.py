#!/usr/bin/env python3
"""Writes tests/reference/data/lbfgs.safetensors: torch.optim.LBFGS (PyTorch 1.13, float64) on the
2-D Rosenbrock function, recording every function evaluation, for the C++ test that follows it.

Rerun: /usr/bin/python3 tests/reference/generate_lbfgs.py   (deterministic; no network)

The closure sets the gradient from the analytic formula below (the same expression as the C++ test),
not from autograd, so that the comparison isolates the optimizer's arithmetic.

Layout (safetensors, as tests/reference/README.md describes): metadata "cases" lists each case's id,
start, options (descent's LBFGSOptions names) and number of step() calls; per case:
  <id>/eval_x [E, 2]        every point the closure was evaluated at, in order
  <id>/eval_f [E]           f there
  <id>/evals_per_call [C]   evaluations made by each step() call
  <id>/final_x [C, 2]       x after each step() call
"""
import json
import os
import struct
import sys

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "lbfgs.safetensors")


def rosenbrock(x0, x1):
    a = 1.0 - x0
    b = x1 - x0 * x0
    f = a * a + 100.0 * b * b
    g0 = -2.0 * a - 400.0 * x0 * b
    g1 = 200.0 * b
    return f, g0, g1


CASES = [
    # (id, start, options, calls)
    ("strong-wolfe", [-1.2, 1.0], dict(lr=1.0, max_iter=100, max_eval=125, tolerance_grad=1e-7,
                                      tolerance_change=1e-9, history_size=100, line_search="strong_wolfe"), 1),
    ("strong-wolfe-history-3-calls", [-1.5, 2.0], dict(lr=1.0, max_iter=8, max_eval=10, tolerance_grad=1e-9,
                                                      tolerance_change=1e-12, history_size=3,
                                                      line_search="strong_wolfe"), 6),
    ("fixed-step", [-1.2, 1.0], dict(lr=0.1, max_iter=20, max_eval=25, tolerance_grad=1e-7,
                                    tolerance_change=1e-9, history_size=10, line_search=None), 4),
]


def run(start, options, calls):
    torch.set_num_threads(1)
    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x], lr=options["lr"], max_iter=options["max_iter"], max_eval=options["max_eval"],
                            tolerance_grad=options["tolerance_grad"], tolerance_change=options["tolerance_change"],
                            history_size=options["history_size"], line_search_fn=options["line_search"])
    evals_x, evals_f, per_call, finals = [], [], [], []

    def closure():
        with torch.no_grad():
            x0, x1 = float(x[0]), float(x[1])
        f, g0, g1 = rosenbrock(x0, x1)
        x.grad = torch.tensor([g0, g1], dtype=torch.float64)
        evals_x.append([x0, x1])
        evals_f.append(f)
        return torch.tensor(f, dtype=torch.float64)

    for _ in range(calls):
        before = len(evals_f)
        opt.step(closure)
        per_call.append(len(evals_f) - before)
        finals.append([float(x[0]), float(x[1])])
    return np.array(evals_x), np.array(evals_f), np.array(per_call, dtype=np.float64), np.array(finals)


def main():
    tensors, cases = [], []
    for case_id, start, options, calls in CASES:
        ex, ef, per_call, finals = run(start, options, calls)
        descent_options = dict(options)
        descent_options["line_search"] = "strong_wolfe" if options["line_search"] else "none"
        cases.append({"id": case_id, "start": start, "options": descent_options, "calls": calls,
                      "function": "rosenbrock: (1 - x0)^2 + 100 (x1 - x0^2)^2"})
        tensors += [(f"{case_id}/eval_x", ex), (f"{case_id}/eval_f", ef),
                    (f"{case_id}/evals_per_call", per_call), (f"{case_id}/final_x", finals)]
    header, data, offset = {}, bytearray(), 0
    header["__metadata__"] = {
        "generator": "tests/reference/generate_lbfgs.py",
        "command": "/usr/bin/python3 tests/reference/generate_lbfgs.py",
        "torch_version": torch.__version__,
        "cases": json.dumps(cases, separators=(",", ":")),
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
    for case_id, start, options, calls in CASES:
        print(case_id, "written")


if __name__ == "__main__":
    sys.exit(main())
