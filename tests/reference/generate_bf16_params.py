#!/usr/bin/env python3
"""Reference trajectories of Adam and AdamW on bfloat16 parameters (src/lowbit/bf16_params.hpp).

Written from the rule as docs/optimizers.md states it, not from descent's code: Adam/AdamW (Kingma & Ba
2015, Algorithm 1; Loshchilov & Hutter 2019) in float32 with PyTorch's operation order (the moments as
beta * m + (1 - beta) * g with one rounding for the fused multiply-add, as torch's lerp/addcmul do on
CPU; eps after the bias-corrected sqrt(v)), on a float32 parameter p32 formed each step from the bfloat16
parameter:
  master: p32 = the float32 master copy (the bfloat16 values at the first step); then p = rne(p32).
  kahan:  p32 = float(p) + float(c), c a bfloat16 compensation (0 at the start); then p = rne(p32),
          c = rne(p32 - float(p))  (Kahan's compensated summation, as Zamirai et al. 2020 use it).
  none:   p32 = float(p); then p = rne(p32).
rne is float32 -> bfloat16, round to nearest even, done by torch's own conversion. Gradients are bfloat16
and read as float32. One case keeps the moments in bfloat16 too (state_dtype bfloat16: rounded after
each update).

    /usr/bin/python3 tests/reference/generate_bf16_params.py   # rewrites data/bf16_params.safetensors
Deterministic: rerunning gives a byte-identical file.
"""
import json
import os
import sys

import numpy as np

from generate_quantize import write_safetensors

SIZES = [1, 255, 257, 1000]
STEPS = 5
F32 = np.float32


def rne(x):
    import torch
    return torch.from_numpy(np.ascontiguousarray(x, dtype=F32)).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)


def widen(bits):
    return (bits.astype(np.uint32) << np.uint32(16)).view(F32)


def fma(a, b, c):
    """float32 a * b + c with one rounding. In float64 a * b is exact (48 bits); s = a * b + c rounds once
    and TwoSum gives its exact error e; rounding s to float32 is then right unless s sits exactly halfway
    between two float32 values with e != 0, where the true value lies on e's side of the halfway point."""
    a, b, c = (np.asarray(v, dtype=F32).astype(np.float64) for v in (a, b, c))
    p = a * b
    s = p + c
    bb = s - p
    e = (p - (s - bb)) + (c - bb)
    r = s.astype(F32)
    towards = np.where(s > r.astype(np.float64), np.float32(np.inf), np.float32(-np.inf)).astype(F32)
    other = np.nextafter(r, towards)
    mid = (r.astype(np.float64) + other.astype(np.float64)) / 2.0
    tie = (s == mid) & (e != 0.0)
    pick_other = tie & (np.sign(e) == np.sign(other.astype(np.float64) - r.astype(np.float64)))
    return np.where(pick_other, other, r).astype(F32)


def adam_step(p, g, m, v, step, lr, beta1, beta2, eps, weight_decay, decoupled):
    step_size = F32(-(lr / (1.0 - beta1 ** step)))
    bc2_sqrt = F32(np.sqrt(1.0 - beta2 ** step))
    if not decoupled and weight_decay != 0.0:
        g = fma(F32(weight_decay), p, g)
    if decoupled:
        p = (p * F32(1.0 - lr * weight_decay)).astype(F32)
    m = fma(F32(1.0 - beta1), g, (m * F32(beta1)).astype(F32))
    v = fma((F32(1.0 - beta2) * g).astype(F32), g, (v * F32(beta2)).astype(F32))
    denom = (np.sqrt(v) / bc2_sqrt + F32(eps)).astype(F32)
    p = (p + (step_size * m).astype(F32) / denom).astype(F32)
    return p, m, v


CASES = [
    # name, decoupled, weight_decay, lr, bfloat16 moments
    ("adam", False, 0.0, 1e-3, False),
    ("adam_l2", False, 0.1, 1e-3, False),
    ("adamw", True, 0.1, 1e-3, False),
    ("adam_bf16_state", False, 0.0, 1e-3, True),
]
MODES = ["kahan", "master", "none"]


def main():
    rng = np.random.default_rng(20200625)
    tensors = []
    for n in SIZES:
        p0 = rne(rng.standard_normal(n).astype(F32))
        grads = [rne((rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 0, n)).astype(F32)) for _ in range(STEPS)]
        tensors.append((f"{n}/param0", p0))
        for t, g in enumerate(grads):
            tensors.append((f"{n}/grad/{t + 1}", g))
        for name, decoupled, wd, lr, bf16_state in CASES:
            for mode in MODES:
                if bf16_state and mode != "kahan":
                    continue
                p = p0.copy()
                c = np.zeros(n, dtype=np.uint16)
                master = widen(p0).copy()
                m = np.zeros(n, dtype=F32)
                v = np.zeros(n, dtype=F32)
                for t in range(1, STEPS + 1):
                    if mode == "master":
                        p32 = master
                    elif mode == "kahan":
                        p32 = (widen(p) + widen(c)).astype(F32)
                    else:
                        p32 = widen(p)
                    p32, m, v = adam_step(p32, widen(grads[t - 1]), m, v, t, lr, 0.9, 0.999, 1e-8, wd, decoupled)
                    if bf16_state:
                        m, v = widen(rne(m)), widen(rne(v))
                    p = rne(p32)
                    if mode == "master":
                        master = p32
                    if mode == "kahan":
                        c = rne((p32 - widen(p)).astype(F32))
                    # Every step's parameter (and compensation); the float32 slots after the last step only.
                    key = f"{n}/{name}/{mode}/{t}"
                    tensors.append((key + "/param", p))
                    if mode == "kahan":
                        tensors.append((key + "/kahan_compensation", c))
                    if t == STEPS and mode == "master":
                        tensors.append((key + "/master_param", master.copy()))
                    if t == STEPS:
                        tensors.append((key + "/exp_avg", rne(m) if bf16_state else m.copy()))
                        tensors.append((key + "/exp_avg_sq", rne(v) if bf16_state else v.copy()))
    import torch
    meta = {"generator": "tests/reference/generate_bf16_params.py", "numpy_version": np.__version__,
            "torch_version": torch.__version__, "sizes": json.dumps(SIZES), "steps": str(STEPS),
            "cases": json.dumps([{"name": c[0], "decoupled": c[1], "weight_decay": c[2], "lr": c[3],
                                  "state_dtype": "bfloat16" if c[4] else "float32"} for c in CASES]),
            "betas": "0.9,0.999", "eps": "1e-8"}
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "bf16_params.safetensors")
    write_safetensors(out, meta, tensors)
    print("wrote", out, len(tensors), "tensors")


if __name__ == "__main__":
    sys.exit(main())
