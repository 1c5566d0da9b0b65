#!/usr/bin/env python3
"""Reference trajectories for SOAP (src/optimizers/soap/soap.cpp): tests/reference/data/soap.safetensors.

NumPy, written from the algorithm of Vyas et al. 2024 (arXiv:2409.11321, Algorithm 3) with the details of
the authors' soap.py (github.com/nikhilvyas/SOAP): the first gradient only builds L = lerp(0, G G^T, 1 - sb),
R = lerp(0, G^T G, 1 - sb) and their eigenbases (eigh, columns by descending eigenvalue); later steps run Adam
on G' = Q_L^T G Q_R with the moments kept in the rotated basis, step lr sqrt(1 - b2^s) / (1 - b1^s) along
Q_L (m / (sqrt(v) + eps)) Q_R^T, decay w -= lr wd w after the step, then m back to the original basis,
L and R updated, every precondition_frequency steps the bases sorted by diag(Q^T L Q) (v permuted alike) and
refreshed by Q = qr(L Q).Q, and m into the new basis. 1-D parameters: not preconditioned.

Stored per case (float32 and float64 arithmetic on the same draws): init, grads, params after each step,
GG_0/GG_1 (the preconditioners: independent of the eigenvectors' signs) and exp_avg_sq (sign-independent
too), and a tolerance per step (<id>/tolerance), an estimate from first-order perturbation theory, not from
descent's output: the sum over the steps so far of
    SAFETY * n * u * kappa * |step| + 2 u max|p|,
with |step| the largest element of that step's update (lr times the direction, from the float64 run), the
second term the two roundings of p, u the dtype's unit roundoff, n the largest dimension (gemm and LAPACK errors grow like n u), and
kappa the largest sensitivity met along the trajectory: ||L||_2 / (smallest gap between two of its
eigenvalues) for every eigendecomposition (Davis-Kahan: an eigenvector moves by at most the perturbation over
the gap) and the condition number of every matrix given to QR. SAFETY = 100 covers the O(1) constants of
those first-order bounds. The script checks that its own float32 trajectory stays within the
tolerance of its float64 one, and cases are chosen with distinct eigenvalues (square matrices, whose first
G G^T and G^T G have full rank: a rank-deficient one has a null space whose basis LAPACK picks freely, and
then no two correct implementations agree).

Run with /usr/bin/python3 (Debian's numpy); deterministic.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numpy_reference import draws, metadata, write_safetensors  # noqa: E402  (shared with the other NumPy generator)

STEPS = 14
SAFETY = 100.0
UNIT_ROUNDOFF = {np.float32: 2.0 ** -24, np.float64: 2.0 ** -53}
DEFAULTS = {"lr": 3e-3, "beta1": 0.95, "beta2": 0.95, "shampoo_beta": -1.0, "eps": 1e-8, "weight_decay": 0.01,
            "precondition_frequency": 10, "max_precond_dim": 10000, "correct_bias": True}
CASES = [
    ("square-6", [6, 6], {"lr": 0.01, "precondition_frequency": 5}),
    ("square-9-defaults", [9, 9], {}),
    ("square-5-no-bias-correction", [5, 5], {"lr": 0.02, "correct_bias": False, "shampoo_beta": 0.9,
                                               "precondition_frequency": 3, "weight_decay": 0.0}),
    ("vector", [7], {"lr": 0.01}),
]


def lerp(a, b, w):
    if abs(float(w)) < 0.5:
        return a + w * (b - a)
    return b - (b - a) * (w.dtype.type(1) - w)


def eig_descending(a, kappa):
    w, q = np.linalg.eigh(a)
    gaps = np.diff(w)
    kappa.append(float(np.max(np.abs(w)) / max(float(np.min(gaps)), 1e-300)))
    return q[:, ::-1].copy()


def run(shape, o, init, grads, dtype):
    T = dtype
    matrix = len(shape) == 2
    rows, cols = (shape[0], shape[1]) if matrix else (shape[0], 1)
    p = init.astype(T).reshape(rows, cols)
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    L = np.zeros((rows, rows) if matrix else (0, 0), T)  # a vector has no preconditioner
    R = np.zeros((cols, cols) if matrix else (0, 0), T)
    QL = QR = None
    sb = o["shampoo_beta"] if o["shampoo_beta"] >= 0 else o["beta2"]
    w = T(1.0 - sb)
    b1, b2 = T(o["beta1"]), T(o["beta2"])
    omb1, omb2 = T(1.0 - o["beta1"]), T(1.0 - o["beta2"])
    eps = T(o["eps"])
    kappa = [1.0]
    params, ggs0, ggs1, vs, moves = [], [], [], [], []
    for t, g in enumerate(grads):
        g = g.astype(T).reshape(rows, cols)
        s = t  # steps after the first
        if s == 0:
            if matrix:
                L = lerp(L, g @ g.T, w)
                R = lerp(R, g.T @ g, w)
                QL, QR = eig_descending(L, kappa), eig_descending(R, kappa)
        else:
            gp = QL.T @ g @ QR if matrix else g.copy()
            m = m * b1 + omb1 * gp
            v = v * b2 + omb2 * (gp * gp)
            direction = m / (np.sqrt(v) + eps)
            if matrix:
                direction = QL @ direction @ QR.T
            step = o["lr"]
            if o["correct_bias"]:
                step = step * np.sqrt(1.0 - o["beta2"] ** s) / (1.0 - o["beta1"] ** s)
            p = p + T(-step) * direction
            moves.append(step * float(np.max(np.abs(direction))))
            if o["weight_decay"] > 0:
                p = p + T(-o["lr"] * o["weight_decay"]) * p
            if matrix:
                m = QL @ m @ QR.T
                L = lerp(L, g @ g.T, w)
                R = lerp(R, g.T @ g, w)
                if s % o["precondition_frequency"] == 0:
                    new = []
                    for dim, (gg, q) in enumerate(((L, QL), (R, QR))):
                        estimate = np.diag(q.T @ gg @ q)
                        order = np.argsort(-estimate, kind="stable")
                        v = v[order, :] if dim == 0 else v[:, order]
                        power = gg @ q[:, order]
                        kappa.append(float(np.linalg.cond(power.astype(np.float64))))
                        new.append(np.linalg.qr(power)[0].astype(T))
                    QL, QR = new
                m = QL.T @ m @ QR
        if s == 0:
            moves.append(0.0)
        params.append(p.reshape(-1).copy())
        ggs0.append(L.reshape(-1).copy())
        ggs1.append(R.reshape(-1).copy())
        vs.append(v.reshape(-1).copy())
    return (np.array(params), np.array(ggs0), np.array(ggs1), np.array(vs), np.array(moves)), max(kappa)


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "soap.safetensors")
    cases, tensors, report = [], [], []
    for config, shape, overrides in CASES:
        o = dict(DEFAULTS, **overrides)
        init, grads = draws("soap", config, shape, STEPS)
        exact, kappa64 = run(shape, o, init, grads, np.float64)
        for dtype, suffix in ((np.float32, "f32"), (np.float64, "f64")):
            cid = f"{config}-{suffix}"
            (params, gg0, gg1, vs, _), kappa = run(shape, o, init, grads, dtype)
            kappa = max(kappa, kappa64)
            u = UNIT_ROUNDOFF[dtype]
            per_step = SAFETY * max(shape) * u * kappa * exact[4] + 2 * u * np.max(np.abs(exact[0]), axis=1)
            tolerance = np.cumsum(per_step)
            gap = np.max(np.abs(params.astype(np.float64) - exact[0]), axis=1)
            assert np.all(gap <= tolerance), (cid, gap, tolerance)
            # The tolerance must leave the test room to fail: below a tenth of what a step moves a parameter.
            moved = np.max(np.abs(np.diff(exact[0], axis=0)))
            assert tolerance[-1] < 0.1 * moved, (cid, tolerance[-1], moved)
            report.append(f"{cid}: kappa {kappa:.3g}, tolerance at the end {tolerance[-1]:.3g} "
                          f"({tolerance[-1] / moved:.2g} of one step's move), float32-vs-float64 gap {gap[-1]:.3g}")
            cases.append({"id": cid, "dtype": suffix, "shape": shape, "steps": STEPS, "options": o,
                          "reference": "numpy (Vyas et al. 2024, Algorithm 3, and soap.py)"})
            tensors += [(f"{cid}/init", init.astype(dtype)), (f"{cid}/grad", grads.astype(dtype)),
                        (f"{cid}/param", params), (f"{cid}/state.GG_0", gg0), (f"{cid}/state.GG_1", gg1),
                        (f"{cid}/state.exp_avg_sq", vs), (f"{cid}/tolerance", tolerance)]
    write_safetensors(out, metadata("soap", cases), tensors)
    print("\n".join(report))
    print(f"wrote {out}: {len(cases)} cases")


if __name__ == "__main__":
    sys.exit(main())
