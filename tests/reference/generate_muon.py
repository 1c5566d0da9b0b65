#!/usr/bin/env python3
"""Reference trajectories for Muon (src/optimizers/muon/muon.cpp): tests/reference/data/muon.safetensors.

Written from the rule of torch.optim.Muon (PyTorch 2.9, torch/optim/_muon.py; Debian's torch 1.13 has no
Muon), in NumPy, in float32 and in float64:

    buf = lerp(buf, g, 1 - momentum);  u = lerp(g, buf, momentum) if nesterov else buf
    X = u (transposed if rows > cols);  X = X / max(||X||_F, eps)
    ns_steps times: A = X X^T;  B = b A + c A A;  X = a X + B X
    p = p * (1 - lr * wd) - adjusted_lr * X (transposed back)

lerp is torch's scalar formula (a + w (b - a) for |w| < 0.5, else b - (b - a)(1 - w)), element by element in
the case dtype, so the momentum buffer must match descent's bit for bit. The products are NumPy's matmul
(its own BLAS, its own summation order), so the parameters match only to rounding: for every step the file
holds a bound on how far a correct implementation in the case dtype may be from the exact result
(<id>/bound, and <id>/bound_f64 for float64 arithmetic), derived below, not measured from descent.

Error bound (first-order forward error analysis, u = unit roundoff of the dtype, gamma_k = k u / (1 - k u)):
  * Inputs: the normalised X0 carries a relative error of at most 3u per element (norm: sqrt in double, one
    rounding to the dtype; the division: one more), so ||dX0||_F <= 3u ||X0||_F.
  * One iteration from an exact X (f = ||X||_F, s = ||X||_2, G = X X^T, P = b G + c G G), each gemm of inner
    dimension k with beta != 0 rounding like a dot product of length k + 2 (|fl(AB) - AB| <= gamma |A||B|,
    and || |A||B| ||_F <= ||A||_F ||B||_F):
        e_G = gamma_n f^2
        e_P = (|b| + 2 |c| s^2) e_G + gamma_{m+2} (|b| ||G||_F + |c| ||G||_F^2)
        e_X = s e_P + gamma_{m+2} (|a| f + ||P||_F f)
  * Propagation: X -> a X + b X X^T X + c (X X^T)^2 X applies the odd polynomial p(x) = a x + b x^3 + c x^5
    to the singular values; its Frechet derivative in the Frobenius norm is bounded by the largest divided
    difference of p over [-s, s], i.e. by L(s) = max_{|x| <= s} |p'(x)| (mean value theorem). So
        E_{k+1} = L(s_k + E_k) E_k + e_X(k).
  * The step: p_new = p * decay - adjusted_lr * O rounds at most twice (descent fuses the second
    operation, NumPy does not): |d p_new| <= adjusted_lr * E_K + 3u (|p| + adjusted_lr |O|) per element, the
    elementwise error of O being at most its Frobenius norm. Errors in p carry over, multiplied by decay <= 1,
    so the bound after t steps is the sum of the per-step ones.
Two implementations that each satisfy the bound differ by at most twice it. The script checks that its
own float32 trajectory is within bound of its float64 one (the bound is not violated by this reference)
and that the bound is below 5% of the update (||O||_F ~ sqrt(min(rows, cols))), so that a test using it
can fail.

Run with /usr/bin/python3 (Debian's numpy); deterministic: rerunning gives identical bytes.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numpy_reference import draws, metadata, write_safetensors  # noqa: E402  (shared with the other NumPy generator)

STEPS = 6
SHARE = []  # every step's float32 bound on ||dO||_F over ||O||_F
UNIT_ROUNDOFF = {np.float32: 2.0 ** -24, np.float64: 2.0 ** -53}

DEFAULTS = {"lr": 1e-3, "weight_decay": 0.1, "momentum": 0.95, "nesterov": True, "ns_a": 3.4445, "ns_b": -4.7750,
            "ns_c": 2.0315, "eps": 1e-7, "ns_steps": 5, "adjust_lr_fn": "original", "flatten": False,
            "aux_lr": 3e-4, "aux_beta1": 0.9, "aux_beta2": 0.95, "aux_eps": 1e-10, "aux_weight_decay": 0.0}

# (id, shape, option overrides). lr is larger than torch's default so that each step moves the parameters
# by many ulps: the comparison then sees the orthogonalized update, not the rounding of p.
CASES = [
    ("wide", [6, 10], {"lr": 0.05}),
    ("tall", [12, 5], {"lr": 0.05, "nesterov": False, "adjust_lr_fn": "match_rms_adamw", "weight_decay": 0.05}),
    ("square-3-steps", [8, 8], {"lr": 0.05, "ns_steps": 3, "momentum": 0.5}),
    ("conv-flatten", [4, 2, 3, 3], {"lr": 0.05, "flatten": True, "weight_decay": 0.0}),
    ("mlp-layer", [24, 64], {"lr": 0.02}),
    ("other-coefficients", [5, 7], {"lr": 0.05, "ns_a": 2.0, "ns_b": -1.5, "ns_c": 0.5, "ns_steps": 8}),
]


def lerp(a, b, w):
    # torch's scalar lerp, in the arrays' dtype (w is a scalar of that dtype)
    if abs(float(w)) < 0.5:
        return a + w * (b - a)
    return b - (b - a) * (w.dtype.type(1) - w)


def adjusted_lr(o, rows, cols):
    if o["adjust_lr_fn"] == "original":
        return o["lr"] * np.sqrt(max(1.0, rows / cols))
    return o["lr"] * 0.2 * np.sqrt(max(rows, cols))


def newton_schulz(x, o):
    a, b, c = (x.dtype.type(o[k]) for k in ("ns_a", "ns_b", "ns_c"))
    for _ in range(o["ns_steps"]):
        gram = x @ x.T
        poly = b * gram + c * (gram @ gram)
        x = a * x + poly @ x
    return x


def ns_error_bound(x0, o, u):
    """E_K of the docstring: a bound on ||computed NS(X0) - exact NS(X0)||_F in unit roundoff u, from the
    exact (float64) trajectory."""
    a, b, c = o["ns_a"], o["ns_b"], o["ns_c"]
    m, n = x0.shape
    gamma = lambda k: k * u / (1.0 - k * u)
    grid = np.linspace(0.0, 1.0, 4001)

    def lipschitz(s):
        xs = grid * s
        return float(np.max(np.abs(a + 3 * b * xs ** 2 + 5 * c * xs ** 4)))

    x = x0.astype(np.float64)
    error = 3.0 * u * np.linalg.norm(x)
    for _ in range(o["ns_steps"]):
        f = np.linalg.norm(x)
        s = np.linalg.norm(x, 2)
        gram = x @ x.T
        poly = b * gram + c * gram @ gram
        g_f, p_f = np.linalg.norm(gram), np.linalg.norm(poly)
        e_gram = gamma(n) * f * f
        e_poly = (abs(b) + 2 * abs(c) * s * s) * e_gram + gamma(m + 2) * (abs(b) * g_f + abs(c) * g_f * g_f)
        e_x = s * e_poly + gamma(m + 2) * (abs(a) * f + p_f * f)
        error = lipschitz(s + error) * error + e_x
        x = a * x + poly @ x
    return error, x


def run(shape, o, init, grads, dtype):
    """The trajectory in `dtype`, and per step the bounds (for this dtype's u and float64's)."""
    rows = shape[0]
    cols = int(np.prod(shape[1:]))
    tall = rows > cols
    p = init.astype(dtype).reshape(rows, cols)
    buf = np.zeros_like(p)
    to_grad, momentum = dtype(1.0 - o["momentum"]), dtype(o["momentum"])
    decay = dtype(1.0 - o["lr"] * o["weight_decay"])
    lr_adj = adjusted_lr(o, rows, cols)
    params, bufs, bound, bound64 = [], [], [], []
    share = SHARE
    total, total64 = 0.0, 0.0
    for g in grads:
        g = g.astype(dtype).reshape(rows, cols)
        buf = lerp(buf, g, to_grad)
        update = lerp(g, buf, momentum) if o["nesterov"] else buf
        x = update.T.copy() if tall else update.copy()
        norm = dtype(max(np.sqrt(np.sum(x.astype(np.float64) ** 2)), o["eps"]))
        x = x / norm
        e, exact = ns_error_bound(x, o, UNIT_ROUNDOFF[dtype])
        e64, _ = ns_error_bound(x, o, UNIT_ROUNDOFF[np.float64])
        x = newton_schulz(x, o)
        out = x.T if tall else x
        scale = float(np.max(np.abs(p))) + lr_adj * float(np.max(np.abs(exact)))
        total += lr_adj * e + 3.0 * UNIT_ROUNDOFF[dtype] * scale
        total64 += lr_adj * e64 + 3.0 * UNIT_ROUNDOFF[np.float64] * scale
        p = p * decay - dtype(lr_adj) * out
        params.append(p.reshape(-1).copy())
        bufs.append(buf.reshape(-1).copy())
        bound.append(total)
        bound64.append(total64)
        # The bound must leave the test room to fail: well below the size of one update (one Newton-Schulz
        # iteration more or less changes O by tens of percent).
        assert e < 0.05 * np.linalg.norm(exact), (e, np.linalg.norm(exact))
        share.append(e / np.linalg.norm(exact))
    return np.array(params), np.array(bufs), np.array(bound), np.array(bound64)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "muon.safetensors")
    cases, tensors = [], []
    worst = 0.0
    for config, shape, overrides in CASES:
        o = dict(DEFAULTS, **overrides)
        init, grads = draws("muon", config, shape, STEPS)
        for dtype, suffix in ((np.float32, "f32"), (np.float64, "f64")):
            cid = f"{config}-{suffix}"
            params, bufs, bound, bound64 = run(shape, o, init, grads, dtype)
            # float64 arithmetic on the case's (cast) inputs: the "exact" trajectory of this case.
            exact, _, _, _ = run(shape, o, init.astype(dtype), grads.astype(dtype), np.float64)
            # This reference itself keeps to its bound (with the float64 run's bound beside it).
            gap = np.max(np.abs(params.astype(np.float64) - exact), axis=1)
            assert np.all(gap <= bound + bound64), (cid, gap, bound)
            worst = max(worst, float(np.max(gap / (bound + bound64))))
            cases.append({"id": cid, "dtype": suffix, "shape": shape, "steps": STEPS, "options": o,
                          "reference": "numpy (torch.optim.Muon's rule, PyTorch 2.9)"})
            tensors += [(f"{cid}/init", init.astype(dtype)), (f"{cid}/grad", grads.astype(dtype)),
                        (f"{cid}/param", params), (f"{cid}/param_f64", exact),
                        (f"{cid}/state.momentum_buffer", bufs), (f"{cid}/bound", bound),
                        (f"{cid}/bound_f64", bound64)]
    worst_share = max(SHARE)
    write_safetensors(out, metadata("muon", cases), tensors)
    print(f"wrote {out}: {len(cases)} cases; this reference's float32 gap to float64 is at most "
          f"{worst:.3g} of the bound; the float32 bound is at most {worst_share:.3g} of ||O||_F")


if __name__ == "__main__":
    sys.exit(main())
