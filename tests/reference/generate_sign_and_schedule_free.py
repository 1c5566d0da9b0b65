#!/usr/bin/python3
"""Reference trajectories for Lion and Schedule-Free SGD / AdamW, from NumPy
implementations written from the papers (neither is in torch 1.13).

Writes ``<outdir>/lion.safetensors``, ``sgdschedulefree.safetensors`` and
``adamwschedulefree.safetensors`` in the layout of generate.py (same
parameters, seeds, draws and writer; see README.md), which the parity test
replays by name.

* Lion: Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms",
  Algorithm 2: decay w *= 1 - lr*wd first; c = b1*m + (1-b1)*g;
  w -= lr*sign(c) with sign(0) = 0; m = b2*m + (1-b2)*g.
* Schedule-Free: Defazio et al. 2024, "The Road Less Scheduled", Algorithm 1
  (SGD) and its AdamW form, in the paper's x/z form: y = (1-b)*z + b*x is
  where the gradient is taken; z -= lr_t * d; x = (1-c)*x + c*z with
  c = w_t / sum(w), w_t = t^r * lr_max^weight_lr_power, lr_t warmed up
  linearly over warmup_steps (AdamW: times sqrt(1 - b2^t)), and z = x = y at
  the first step. A self-check compares this with the y-only update of the
  authors' code (facebookresearch/schedule_free), also written here in NumPy.
  In float32 the z, x and y updates (and SGD's decay term) round once, as
  descent's fused multiply-adds do (emulated in float64, see fused()): with
  two roundings, z, which sums 100 steps of O(0.1) and crosses zero, drifts
  past the parity test's float32 atol of 1e-7 (measured 2e-7).

How to rerun:
    /usr/bin/python3 tests/reference/generate_sign_and_schedule_free.py [--out DIR]
Deterministic: rerunning gives byte-identical files.
"""

import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate as g  # noqa: E402  (the shared layout, draws and writer)

COMMAND = "/usr/bin/python3 tests/reference/generate_sign_and_schedule_free.py"
GENERATOR = "tests/reference/generate_sign_and_schedule_free.py"

DEFAULTS = {
    "lion": dict(lr=1e-4, beta1=0.9, beta2=0.99, weight_decay=0.0, maximize=False),
    "sgdschedulefree": dict(lr=1.0, momentum=0.9, weight_decay=0.0, warmup_steps=0, r=0.0,
                            weight_lr_power=2.0, maximize=False),
    "adamwschedulefree": dict(lr=0.0025, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                              warmup_steps=0, r=0.0, weight_lr_power=2.0, maximize=False),
}
SLOTS = {
    "lion": ["exp_avg"],
    "sgdschedulefree": ["z", "x"],
    "adamwschedulefree": ["z", "exp_avg_sq", "x"],
}
SCALAR_SLOTS = {
    "lion": [],
    "sgdschedulefree": ["lr_max", "weight_sum"],
    "adamwschedulefree": ["lr_max", "weight_sum"],
}
C = g.C
GRIDS = {
    "lion": [
        C("default"),
        C("lr", dict(lr=0.01)),
        C("weight-decay", dict(lr=0.01, weight_decay=0.5)),
        C("betas", dict(lr=0.01, beta1=0.5, beta2=0.9)),
        C("maximize", dict(lr=0.01, maximize=True)),
        C("two-groups", dict(lr=0.01, weight_decay=0.1), dict(lr=0.001), assign=[0, 0, 1]),
    ],
    "sgdschedulefree": [
        C("default", dict(lr=0.1)),
        C("warmup", dict(lr=0.1, warmup_steps=10)),
        C("weight-decay", dict(lr=0.05, weight_decay=0.1)),
        C("r-power", dict(lr=0.1, r=1.0, weight_lr_power=0.0, momentum=0.5)),
        C("maximize", dict(lr=0.1, maximize=True)),
        C("all", dict(lr=0.05, warmup_steps=20, r=0.5, weight_lr_power=1.0, weight_decay=0.05,
                      momentum=0.8, maximize=True)),
    ],
    "adamwschedulefree": [
        C("default"),
        C("warmup", dict(lr=0.01, warmup_steps=10)),
        C("weight-decay", dict(lr=0.01, weight_decay=0.1)),
        C("betas-eps", dict(beta1=0.5, beta2=0.9, eps=1e-3, lr=0.01)),
        C("r-power", dict(lr=0.01, r=1.0, weight_lr_power=0.0)),
        C("maximize", dict(lr=0.01, maximize=True)),
    ],
}


def full_groups(opt, cfg):
    groups = []
    for over in cfg["groups"]:
        d = dict(DEFAULTS[opt])
        for k, v in over.items():
            assert k in d, (opt, k)
            d[k] = v
        groups.append(d)
    return groups


def schedule_free_scalars(o, k, s, adam):
    """lr_t and c_{t+1} of step k (1-based), updating lr_max and weight_sum in s."""
    sched = min(1.0, k / o["warmup_steps"]) if o["warmup_steps"] > 0 else 1.0
    lr = o["lr"] * sched
    if adam:
        lr *= math.sqrt(1 - o["beta2"] ** k)
    s["lr_max"] = max(s["lr_max"], lr)
    weight = (k ** o["r"]) * (s["lr_max"] ** o["weight_lr_power"])
    s["weight_sum"] += weight
    c = weight / s["weight_sum"] if s["weight_sum"] > 0 else 0.0
    return lr, c


def fused(a, b, c, dtype):
    """a*b + c rounded once to a float32 (the product of two float32 values is exact in float64, and the
    sum's double rounding differs from a true fma only in rare ties), as descent's kernels fuse it
    (src/optimizers/common.hpp). In float64, two roundings: the float64 tolerance covers them."""
    if dtype == np.float32:
        return (np.float64(a) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(np.float32)
    return np.float64(a) * b + c


def run(opt, groups, assign, init, grads, dtype, y_form=False):
    """The paper's rule in the case dtype (scalars computed in float64, cast).
    y_form: Schedule-Free as the authors' code updates y in place (self-check only)."""
    dt = np.dtype(dtype).type
    ws = g.split(init.astype(dtype))
    st = [dict() for _ in ws]
    steps = [0] * len(ws)
    rec = g.Recorder(init.shape[0], len(ws))
    for t in range(grads.shape[0]):
        gs = g.split(grads[t].astype(dtype))
        for i in range(len(ws)):
            o = groups[assign[i]]
            w, grad, s = ws[i], gs[i], st[i]
            steps[i] += 1
            k = steps[i]
            if o["maximize"]:
                grad = -grad
            if opt == "lion":
                if not s:
                    s["exp_avg"] = np.zeros_like(w)
                w = w * dt(1 - o["lr"] * o["weight_decay"])
                c = dt(o["beta1"]) * s["exp_avg"] + dt(1 - o["beta1"]) * grad
                w = w - dt(o["lr"]) * np.sign(c)
                s["exp_avg"] = dt(o["beta2"]) * s["exp_avg"] + dt(1 - o["beta2"]) * grad
            else:
                adam = opt == "adamwschedulefree"
                beta = o["beta1"] if adam else o["momentum"]
                if not s:
                    s.update(z=w.copy(), x=w.copy(), lr_max=0.0, weight_sum=0.0)
                    if adam:
                        s["exp_avg_sq"] = np.zeros_like(w)
                lr, c = schedule_free_scalars(o, k, s, adam)
                if adam:
                    s["exp_avg_sq"] = dt(o["beta2"]) * s["exp_avg_sq"] + dt(1 - o["beta2"]) * (grad * grad)
                    d = grad / (np.sqrt(s["exp_avg_sq"]) + dt(o["eps"])) + dt(o["weight_decay"]) * w
                else:
                    d = fused(dt(o["weight_decay"]), w, grad, dtype)
                if y_form:
                    # the authors' code: y = (1-c)*y + c*z + lr*(beta*(1-c) - 1)*d, then z -= lr*d
                    w = dt(1 - c) * w + dt(c) * s["z"] + dt(lr * (beta * (1 - c) - 1)) * d
                    s["z"] = s["z"] - dt(lr) * d
                else:
                    # (1-c)*x + c*z and (1-b)*z + b*x, written x + c*(z-x) and z + b*(x-z) (torch's lerp)
                    s["z"] = fused(dt(-lr), d, s["z"], dtype)
                    s["x"] = fused(dt(c), s["z"] - s["x"], s["x"], dtype)
                    w = fused(dt(beta), s["x"] - s["z"], s["z"], dtype)
            assert w.dtype == dtype, (opt, w.dtype)
            ws[i] = w
        rec.param.append(np.concatenate([w.ravel() for w in ws]))
        for slot in SLOTS[opt]:
            rec.state.setdefault(slot, []).append([s[slot].ravel().copy() if slot in s else None for s in st])
        for slot in SCALAR_SLOTS[opt]:
            rec.scalar.setdefault(slot, []).append([s.get(slot) for s in st])
    return rec


REFERENCE = {
    "lion": "numpy: Lion, Chen et al. 2023 Alg. 2 (%s)" % GENERATOR,
    "sgdschedulefree": "numpy: Schedule-Free SGD, Defazio et al. 2024 Alg. 1, x/z form (%s)" % GENERATOR,
    "adamwschedulefree": "numpy: Schedule-Free AdamW, Defazio et al. 2024, x/z form (%s)" % GENERATOR,
}


def self_checks():
    # The paper's x/z form and the authors' in-place y update are the same rule: float64 agreement.
    for opt in ("sgdschedulefree", "adamwschedulefree"):
        for cfg in GRIDS[opt]:
            groups = full_groups(opt, cfg)
            init, grads = g.draw(opt, cfg)
            a = run(opt, groups, cfg["assign"], init, grads, np.float64).finish([], [], np.float64)[0]
            b = run(opt, groups, cfg["assign"], init, grads, np.float64, y_form=True).finish([], [], np.float64)[0]
            e = g.max_rel(a, b)
            print("self-check %s %s: x/z form vs the authors' y form (float64): max rel diff %.3g"
                  % (opt, cfg["name"], e))
            assert e <= 1e-9, e
    # Lion's sign(0) = 0: a zero interpolation leaves the weight alone.
    one = np.ones(1)
    rec = run("lion", [dict(DEFAULTS["lion"], lr=0.5)], [0, 0, 0],
              np.ones(sum(g.sizes())), np.zeros((1, sum(g.sizes()))), np.float64)
    assert (rec.param[0] == one).all()


def build_file(opt, outdir):
    cases, tensors = [], []
    for cfg in GRIDS[opt]:
        groups = full_groups(opt, cfg)
        init64, grads64 = g.draw(opt, cfg)
        for suffix, dname, npdt, _ in g.DTYPES:
            cid = "%s-%s" % (cfg["name"], suffix)
            init, grads = init64.astype(npdt), grads64.astype(npdt)
            rec = run(opt, groups, cfg["assign"], init, grads, npdt)
            param, states, scalars = rec.finish(SLOTS[opt], SCALAR_SLOTS[opt], npdt)
            assert np.isfinite(param).all(), (opt, cid)
            cases.append({"id": cid, "dtype": dname, "reference": REFERENCE[opt], "steps": g.STEPS,
                          "groups": g.json_groups(groups),
                          "params": [{"name": nm, "shape": list(shape), "group": a}
                                     for (nm, shape), a in zip(g.PARAMS, cfg["assign"])]})
            tensors += [(cid + "/init", init), (cid + "/grad", grads), (cid + "/param", param)]
            for slot in SLOTS[opt]:
                if slot in states:
                    tensors.append((cid + "/state." + slot, states[slot]))
            for slot, arr in scalars.items():
                tensors.append((cid + "/scalar." + slot, arr))
    metadata = {"generator": GENERATOR, "command": COMMAND, "torch_version": "not used",
                "numpy_version": str(np.__version__), "optimizer": opt,
                "cases": json.dumps(cases, sort_keys=False, separators=(",", ":"))}
    path = os.path.join(outdir, opt + ".safetensors")
    g.write_safetensors(path, metadata, tensors)
    print("wrote %s (%d cases, %d bytes)" % (path, len(cases), os.path.getsize(path)))


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "data"), help="output directory")
    args = ap.parse_args(argv)
    self_checks()
    os.makedirs(args.out, exist_ok=True)
    for opt in DEFAULTS:
        build_file(opt, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
