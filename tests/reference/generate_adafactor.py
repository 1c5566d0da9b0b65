#!/usr/bin/python3
"""Reference trajectories for descent's Adafactor: data/adafactor.safetensors.

Debian's torch (1.13) has no torch.optim.Adafactor, so the reference is a NumPy
implementation, written here from the rule of PyTorch 2.5's Adafactor (the code
of its single-tensor path, torch/optim/_adafactor.py; docs/optimizers.md lists
where its docstring says otherwise).  Per parameter tensor, t its step count:

    g = grad (-grad when maximizing)
    w = t ** beta2_decay                       (1 - beta2_t)
    rho = min(lr, 1 / sqrt(t));  alpha = max(eps2, RMS(p)) * rho   (p before the decay)
    p = p * (1 - lr * weight_decay)            (only when weight_decay != 0)
    ndim >= 2:  row_var = lerp(row_var, mean(g^2, last axis), w)      [..., rows, 1]
                col_var = lerp(col_var, mean(g^2, axis -2), w)        [..., 1, cols]
                v = (row_var @ col_var) / max(mean(row_var, axis -2), eps1)
    ndim 1:     variance = lerp(variance, g^2, w);  v = variance
    U = (1 / sqrt(max(v, eps1^2))) * g
    p = p + (-alpha / max(1, RMS(U) / d)) * U

eps1 is the dtype's machine epsilon unless eps1_from_dtype is false.
lerp(a, x, w) is torch's: a + w (x - a) when |w| < 0.5, else x + (w - 1)(x - a),
w and w - 1 in the case dtype.  Element arithmetic runs in the case dtype
(np.float32 / np.float64); the sums (RMS, row and column means, mean of
row_var) are in float64 and rounded to the case dtype where torch keeps a
tensor.  The lerp and the final add round once, as torch's kernels do (fma()
below); everything else rounds per operation.

The file has generate.py's layout (tests/reference/README.md) with one
addition for state that is not one value per element: each case lists
``state_shapes``, {slot: [shape or null, per param]}, and
``<id>/state.<slot>`` is [steps, m], m the total element count of that slot
over the params that have it (null: the param has no such slot), each in
C order, in params order.

    /usr/bin/python3 tests/reference/generate_adafactor.py            # writes tests/reference/data/adafactor.safetensors
    /usr/bin/python3 tests/reference/generate_adafactor.py --out DIR

Deterministic (seeded np.random.default_rng): rerunning gives a byte-identical file.
"""

import argparse
import json
import math
import os
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate import STEPS, write_safetensors  # noqa: E402  (one writer of the file format)

GENERATOR = "tests/reference/generate_adafactor.py"
COMMAND = "/usr/bin/python3 tests/reference/generate_adafactor.py"

# 1-D, 2-D, a one-element tensor (descent's stand-in for torch's 0-d scalar: both keep a full
# `variance`) and 3-D (factored over its last two dimensions, per leading index).
PARAMS = [("w0", (4,)), ("w1", (2, 3)), ("w2", (1,)), ("w3", (2, 2, 3))]
SLOTS = ["row_var", "col_var", "variance"]

DEFAULTS = dict(lr=1e-2, beta2_decay=-0.8, eps1=1e-30, eps1_from_dtype=True, eps2=1e-3, d=1.0,
                weight_decay=0.0, maximize=False)


def C(name, *groups, assign=None, zero=(), zero_grad=None):
    """A configuration: group overrides, param -> group, params initialised to zero, and
    zero_grad(param name, step) -> a mask of gradient entries to zero (or None)."""
    return dict(name=name, groups=list(groups) if groups else [{}],
                assign=assign or [0] * len(PARAMS), zero=tuple(zero), zero_grad=zero_grad)


def zero_rows(name, k):
    """w1's first row never has a gradient; w3 has none for its first 3 steps (its row_var
    mean is then 0 and clamped at eps1); w0[1] has none on even steps."""
    shape = dict(PARAMS)[name]
    mask = np.zeros(shape, dtype=bool)
    if name == "w1":
        mask[0, :] = True
    elif name == "w3" and k < 3:
        mask[...] = True
    elif name == "w0" and k % 2 == 0:
        mask[1] = True
    return mask


GRID = [
    C("default"),
    C("relative-step", dict(lr=0.5)),           # rho = min(0.5, 1/sqrt(t)): 1/sqrt(t) from t = 5 on
    C("beta2-decay", dict(beta2_decay=-0.5)),
    C("beta2-decay-zero", dict(beta2_decay=0.0)),   # w = 1: the means are the last g^2
    C("eps", dict(eps1=1e-3, eps1_from_dtype=False, eps2=0.1)),
    C("zero-init", zero=("w0", "w3")),          # RMS(p) = 0: alpha = eps2 * rho
    C("zero-grad", zero_grad=zero_rows),        # zero rows and a zero tensor: the eps1 clamps
    C("zero-grad-eps", dict(eps1=0.05, eps1_from_dtype=False), zero_grad=zero_rows),
    C("clip", dict(d=1.05)),
    C("no-clip", dict(d=float("inf"))),
    C("weight-decay", dict(lr=0.05, weight_decay=0.1)),
    C("maximize", dict(maximize=True)),
    C("all", dict(lr=0.05, beta2_decay=-0.6, eps1=1e-4, eps1_from_dtype=False, eps2=1e-2, d=2.0,
                  weight_decay=0.05, maximize=True)),
    C("two-groups", dict(lr=0.1), dict(lr=0.003, weight_decay=0.2), assign=[0, 1, 1, 0]),
]

DTYPES = [("f32", "float32", np.float32), ("f64", "float64", np.float64)]


def rms64(x):
    x = np.asarray(x, dtype=np.float64)
    return math.sqrt(float(np.sum(x * x))) / math.sqrt(x.size)


def fma(a, b, c, dt):
    """a * b + c rounded once to the case dtype, where torch (and descent) round once (add_ with
    alpha, the vectorized lerp).  float32: exact product and sum in float64, then one rounding to
    float32 (a double rounding, which differs from a true fma only in rare ties); float64: two
    roundings, within the parity test's float64 tolerance."""
    if dt == np.float32:
        return (np.float64(a) * np.asarray(b, dtype=np.float64) + np.asarray(c, dtype=np.float64)).astype(dt)
    return a * b + c


def lerp(avg, x, w, dt):
    wt = dt(w)
    if abs(wt) < 0.5:
        return fma(wt, x - avg, avg, dt)
    return fma(wt - dt(1), x - avg, x, dt)


def adafactor_step(w, g, s, k, o, dt):
    """One step of one parameter (w, g arrays of the case dtype, s its state dict); returns new w."""
    eps1 = float(np.finfo(dt).eps) if o["eps1_from_dtype"] else o["eps1"]
    if o["maximize"]:
        g = -g
    weight = float(k) ** o["beta2_decay"]
    rho = min(o["lr"], 1.0 / math.sqrt(k))
    alpha = max(o["eps2"], rms64(w)) * rho
    if o["weight_decay"] != 0:
        w = w * dt(1 - o["lr"] * o["weight_decay"])
    if w.ndim >= 2:
        rows, cols = w.shape[-2], w.shape[-1]
        if not s:
            s["row_var"] = np.zeros(w.shape[:-1] + (1,), dtype=dt)
            s["col_var"] = np.zeros(w.shape[:-2] + (1, cols), dtype=dt)
        g2 = g.astype(np.float64) ** 2
        row_mean = (g2.sum(axis=-1, keepdims=True) / cols).astype(dt)
        col_mean = (g2.sum(axis=-2, keepdims=True) / rows).astype(dt)
        s["row_var"] = lerp(s["row_var"], row_mean, weight, dt)
        s["col_var"] = lerp(s["col_var"], col_mean, weight, dt)
        mean = (s["row_var"].astype(np.float64).sum(axis=-2, keepdims=True) / rows).astype(dt)
        mean = np.maximum(mean, dt(eps1))
        v = (s["row_var"] * s["col_var"]) / mean       # row_var @ col_var: one product per element
    else:
        if not s:
            s["variance"] = np.zeros_like(w)
        s["variance"] = lerp(s["variance"], g * g, weight, dt)
        v = s["variance"]
    u = (dt(1) / np.sqrt(np.maximum(v, dt(eps1 * eps1)))) * g
    clip = max(1.0, rms64(u) / o["d"])
    w = fma(dt(-alpha / clip), u, w, dt)
    assert w.dtype == dt and all(a.dtype == dt for a in s.values())
    return w


def full_groups(cfg):
    groups = []
    for over in cfg["groups"]:
        unknown = set(over) - set(DEFAULTS)
        assert not unknown, unknown
        groups.append(dict(DEFAULTS, **over))
    return groups


def draw(cfg):
    rng = np.random.default_rng(zlib.crc32(("descent/adafactor/" + cfg["name"]).encode()))
    sizes = [int(np.prod(shape)) for _, shape in PARAMS]
    n = sum(sizes)
    init = rng.standard_normal(n)
    grads = rng.standard_normal((STEPS, n))
    offsets = np.cumsum([0] + sizes)
    for i, (name, shape) in enumerate(PARAMS):
        if name in cfg["zero"]:
            init[offsets[i]:offsets[i + 1]] = 0.0
        if cfg["zero_grad"]:
            for k in range(STEPS):
                mask = cfg["zero_grad"](name, k).ravel()
                grads[k, offsets[i]:offsets[i + 1]][mask] = 0.0
    return init, grads


def run(cfg, groups, init, grads, dt):
    """Returns param [steps, n] and {slot: [steps, m]} and the slot shapes per param."""
    sizes = [int(np.prod(shape)) for _, shape in PARAMS]
    offsets = np.cumsum([0] + sizes)
    ws = [init[offsets[i]:offsets[i + 1]].reshape(shape).astype(dt) for i, (_, shape) in enumerate(PARAMS)]
    states = [dict() for _ in PARAMS]
    params, slots = [], {slot: [] for slot in SLOTS}
    for k in range(STEPS):
        for i, (_, shape) in enumerate(PARAMS):
            g = grads[k, offsets[i]:offsets[i + 1]].reshape(shape).astype(dt)
            ws[i] = adafactor_step(ws[i], g, states[i], k + 1, groups[cfg["assign"][i]], dt)
        params.append(np.concatenate([w.ravel() for w in ws]))
        for slot in SLOTS:
            slots[slot].append(np.concatenate([s[slot].ravel() for s in states if slot in s]))
    shapes = {slot: [list(s[slot].shape) if slot in s else None for s in states] for slot in SLOTS}
    return np.array(params, dtype=dt), {k: np.array(v, dtype=dt) for k, v in slots.items()}, shapes


def json_groups(groups):
    return [{k: ("inf" if v == float("inf") else v) for k, v in g.items()} for g in groups]


def self_check():
    """The factored estimate is exact for a rank-one g^2 (g = a b^T): with beta2_decay 0 the means
    are the last g^2, so v = g^2 and U = sign(g) (float64, to rounding)."""
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.5, 2, (3, 1)), rng.uniform(0.5, 2, (1, 5))
    g = a * b * np.sign(rng.standard_normal((3, 5)))
    s = {}
    o = dict(DEFAULTS, beta2_decay=0.0, lr=1.0, d=float("inf"))
    w0 = rng.standard_normal((3, 5))
    for k in (1, 2):
        w1 = adafactor_step(w0, g, s, k, o, np.float64)
        alpha = max(o["eps2"], rms64(w0)) * min(1.0, 1 / math.sqrt(k))
        err = float(np.max(np.abs((w0 - w1) / alpha - np.sign(g))))
        print("self-check adafactor rank-one factored estimate, step %d: max |U - sign(g)| %.3g" % (k, err))
        assert err < 1e-12, err
        w0 = w1


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "data"))
    args = ap.parse_args(argv)
    self_check()
    cases, tensors = [], []
    for cfg in GRID:
        groups = full_groups(cfg)
        init64, grads64 = draw(cfg)
        for suffix, dname, dt in DTYPES:
            cid = "%s-%s" % (cfg["name"], suffix)
            init, grads = init64.astype(dt), grads64.astype(dt)
            param, states, shapes = run(cfg, groups, init, grads, dt)
            assert np.isfinite(param).all(), cid
            cases.append({
                "id": cid, "dtype": dname,
                "reference": "numpy: Adafactor, torch 2.5's rule (tests/reference/generate_adafactor.py)",
                "steps": STEPS, "groups": json_groups(groups),
                "params": [{"name": nm, "shape": list(shape), "group": a}
                           for (nm, shape), a in zip(PARAMS, cfg["assign"])],
                "state_shapes": shapes,
            })
            tensors += [(cid + "/init", init), (cid + "/grad", grads), (cid + "/param", param)]
            tensors += [(cid + "/state." + slot, states[slot]) for slot in SLOTS]
    metadata = {
        "generator": GENERATOR, "command": COMMAND, "torch_version": "none (NumPy reference)",
        "numpy_version": str(np.__version__), "optimizer": "adafactor",
        "cases": json.dumps(cases, sort_keys=False, separators=(",", ":")),
    }
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "adafactor.safetensors")
    write_safetensors(path, metadata, tensors)
    print("wrote %s (%d cases, %d bytes)" % (path, len(cases), os.path.getsize(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
