#!/usr/bin/python3
"""Generate reference optimizer trajectories for the descent C++ tests.

What it writes
--------------
One file per optimizer of DEFAULTS below, ``<outdir>/<optimizer>.safetensors``.
Every optimizer descent registers (``descent list --names``) needs one: the
parity test fails for a registered optimizer without its file.

Each file uses the safetensors layout:

* bytes 0..7: little-endian uint64 N, the header length;
* N bytes of UTF-8 JSON header, padded with trailing spaces so that 8 + N is a
  multiple of 8;
* the raw data section (little-endian, C order, tensors stored contiguously in
  the order they are listed in the header).

The header holds ``__metadata__`` (generator, command, torch_version,
numpy_version, optimizer, and ``cases``: a JSON-encoded list describing every
case: id, dtype, reference, steps, groups with all options under descent's
names, params with name/shape/group) and, per case ``<id>``, the tensors
``<id>/init`` [n], ``<id>/grad`` [steps, n], ``<id>/param`` [steps, n],
``<id>/state.<slot>`` [steps, n] and (NAdam, ASGD) ``<id>/scalar.<slot>``
(mu_product; eta, mu) [steps, number of params] (F64).  n is the total number of elements of all
params, concatenated in params order, each flattened in C order.  A state slot
that exists for some params of a case but not for others (only the SGD
two-groups case, where group 1 has no momentum) is stored with NaN for the
elements of the params that do not have it.

How to rerun
------------
    /usr/bin/python3 tests/reference/generate.py            # writes tests/reference/data/
    /usr/bin/python3 tests/reference/generate.py --out DIR  # writes DIR/

Needs python3-numpy and python3-torch (written against torch 1.13 / numpy
1.24, Debian packages).  The output is deterministic: rerunning reproduces
byte-identical files.  See README.md next to this script for which reference
(torch or a NumPy re-implementation) produced which case, and why.
"""

import argparse
import json
import math
import os
import struct
import sys
import zlib

import numpy as np
import torch

STEPS = 100
COMMAND = "/usr/bin/python3 tests/reference/generate.py"
GENERATOR = "tests/reference/generate.py"

# Standard parameter layout: (name, shape); all in group 0 unless a config says otherwise.
PARAMS = [("w0", (4,)), ("w1", (2, 3)), ("w2", (1,))]

INF = float("inf")

# --------------------------------------------------------------------------
# Options (descent names, in descent's order) and state slots per optimizer.
# --------------------------------------------------------------------------

DEFAULTS = {
    "sgd": dict(lr=0.01, momentum=0.0, dampening=0.0, nesterov=False,
                weight_decay=0.0, maximize=False),
    "adagrad": dict(lr=0.01, lr_decay=0.0, weight_decay=0.0,
                    initial_accumulator_value=0.0, eps=1e-10, maximize=False),
    "adadelta": dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False),
    "rmsprop": dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0,
                    momentum=0.0, centered=False, maximize=False),
    "adam": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False, bias_correction=True),
    "adamw": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                  amsgrad=False, maximize=False, bias_correction=True),
    "adamax": dict(lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                   maximize=False),
    "nadam": dict(lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                  momentum_decay=4e-3, maximize=False),
    "radam": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                  maximize=False),
    "lars": dict(lr=1.0, momentum=0.9, nesterov=False, weight_decay=0.0,
                 trust_coefficient=1e-3, eps=0.0, exclude=False, maximize=False),
    "lamb": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.01,
                 bias_correction=True, weight_norm_min=0.0, weight_norm_max=INF,
                 exclude=False, maximize=False),
    "rprop": dict(lr=1e-2, etaminus=0.5, etaplus=1.2, step_size_min=1e-6,
                  step_size_max=50.0, maximize=False),
    "asgd": dict(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0,
                 maximize=False),
}

# Candidate per-element slots (recorded when present in the reference).
SLOTS = {
    "sgd": ["momentum_buffer"],
    "adagrad": ["sum"],
    "adadelta": ["square_avg", "acc_delta"],
    "rmsprop": ["square_avg", "momentum_buffer", "grad_avg"],
    "adam": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
    "adamw": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
    "adamax": ["exp_avg", "exp_inf"],
    "nadam": ["exp_avg", "exp_avg_sq"],
    "radam": ["exp_avg", "exp_avg_sq"],
    "lars": ["momentum_buffer"],
    "lamb": ["exp_avg", "exp_avg_sq"],
    "rprop": ["prev", "step_size"],
    "asgd": ["ax"],
}
SCALAR_SLOTS = {"nadam": ["mu_product"], "asgd": ["eta", "mu"]}

# --------------------------------------------------------------------------
# Grids.  A config: name, list of group overrides, optional param->group
# assignment, optional set of params initialised to zero.
# --------------------------------------------------------------------------


def C(name, *groups, assign=None, zero=()):
    return dict(name=name, groups=list(groups) if groups else [{}],
                assign=assign or [0] * len(PARAMS), zero=tuple(zero))


GRIDS = {
    "sgd": [
        C("plain", dict(lr=0.1)),
        C("momentum", dict(momentum=0.9)),
        C("dampening", dict(momentum=0.9, dampening=0.5)),
        C("nesterov", dict(momentum=0.9, nesterov=True)),
        C("weight-decay", dict(momentum=0.9, weight_decay=0.1)),
        C("maximize", dict(maximize=True)),
        C("all", dict(momentum=0.9, nesterov=True, weight_decay=0.05, maximize=True)),
        C("two-groups", dict(lr=0.1, momentum=0.9), dict(lr=0.01), assign=[0, 0, 1]),
    ],
    "adagrad": [
        C("default"),
        C("lr-decay", dict(lr_decay=0.05)),
        C("weight-decay", dict(weight_decay=0.1)),
        C("initial-accumulator", dict(initial_accumulator_value=0.5)),
        C("eps", dict(eps=1e-3, lr=0.5)),
        C("maximize", dict(maximize=True)),
        C("all", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1,
                      initial_accumulator_value=0.5, eps=1e-3, maximize=True)),
    ],
    "adadelta": [
        C("default"),
        C("rho-eps-lr", dict(rho=0.5, eps=1e-4, lr=0.5)),
        C("weight-decay", dict(weight_decay=0.1)),
        C("maximize", dict(maximize=True)),
    ],
    "rmsprop": [
        C("default"),
        C("centered", dict(centered=True)),
        C("momentum", dict(momentum=0.9)),
        C("centered-momentum", dict(centered=True, momentum=0.9)),
        C("weight-decay", dict(weight_decay=0.1)),
        C("alpha-eps", dict(alpha=0.9, eps=1e-3)),
        C("maximize", dict(maximize=True)),
        C("all", dict(alpha=0.9, eps=1e-3, weight_decay=0.1, momentum=0.9,
                      centered=True, maximize=True)),
    ],
    "adam": [
        C("default"),
        C("amsgrad", dict(amsgrad=True)),
        C("weight-decay", dict(weight_decay=0.1)),
        C("maximize", dict(maximize=True)),
        C("betas-eps-lr", dict(beta1=0.5, beta2=0.9, eps=1e-3, lr=0.01)),
        C("amsgrad-weight-decay-maximize", dict(amsgrad=True, weight_decay=0.1, maximize=True)),
        C("no-bias-correction", dict(bias_correction=False)),
        C("no-bias-correction-amsgrad", dict(bias_correction=False, amsgrad=True)),
    ],
    "adamw": [
        C("default"),
        C("amsgrad", dict(amsgrad=True)),
        C("weight-decay-lr", dict(weight_decay=0.5, lr=0.01)),
        C("maximize", dict(maximize=True)),
        C("no-bias-correction", dict(bias_correction=False)),
    ],
    "adamax": [
        C("default"),
        C("weight-decay", dict(weight_decay=0.1)),
        C("betas", dict(beta1=0.5, beta2=0.9)),
        C("maximize", dict(maximize=True)),
    ],
    "nadam": [
        C("default"),
        C("momentum-decay", dict(momentum_decay=0.01)),
        C("weight-decay", dict(weight_decay=0.1)),
        C("maximize", dict(maximize=True)),
    ],
    "radam": [
        C("default"),
        C("weight-decay", dict(weight_decay=0.1)),
        C("betas-lr", dict(beta1=0.5, beta2=0.9, lr=0.01)),
        C("maximize", dict(maximize=True)),
    ],
    "lars": [
        C("default"),
        C("nesterov", dict(nesterov=True)),
        C("weight-decay-lr", dict(weight_decay=5e-4, lr=5.0)),
        C("no-momentum", dict(momentum=0.0)),
        C("exclude", dict(exclude=True)),
        C("zero-init", dict(weight_decay=1e-3), zero=["w1"]),
        C("two-groups", dict(weight_decay=1e-3), dict(exclude=True), assign=[0, 0, 1]),
        C("maximize", dict(maximize=True)),
        C("eps", dict(eps=1e-3)),
    ],
    "lamb": [
        C("default"),
        C("no-bias-correction", dict(bias_correction=False)),
        C("no-weight-decay", dict(weight_decay=0.0)),
        C("clamp", dict(weight_norm_min=0.5, weight_norm_max=1.5)),
        C("exclude", dict(exclude=True)),
        C("zero-init", zero=["w1"]),
        C("two-groups", dict(), dict(exclude=True, weight_decay=0.0), assign=[0, 0, 1]),
        C("maximize", dict(maximize=True)),
    ],
    # etaminus 0.3 is not a float: the f32 cases check that the flip mask compares with float(etaminus).
    # lr 1 with step_size_max 0.5 clamps at the first step; etaminus 0.1 reaches step_size_min 0.01 often.
    "rprop": [
        C("default"),
        C("etas", dict(etaminus=0.3, etaplus=1.5)),
        C("step-sizes", dict(lr=1.0, etaminus=0.1, step_size_min=0.01, step_size_max=0.5)),
        C("maximize", dict(maximize=True)),
        C("all", dict(lr=0.1, etaminus=0.3, etaplus=1.5, step_size_min=0.02,
                      step_size_max=0.2, maximize=True)),
        C("two-groups", dict(lr=0.1), dict(lr=1e-3, etaplus=2.0), assign=[0, 0, 1]),
        # 1e-50 is 0 in float32: torch's in-place assignments then make the shrink factor 1 (and no
        # gradient is zeroed); in float64 it shrinks to step_size_min at once.
        C("tiny-etaminus", dict(etaminus=1e-50)),
    ],
    # The default t0 = 1e6 never averages within 100 steps; the other cases start averaging early.
    "asgd": [
        C("default"),
        C("t0", dict(t0=10.0)),
        C("lambd-alpha", dict(lr=0.1, lambd=0.05, alpha=0.5, t0=20.0)),
        C("weight-decay", dict(weight_decay=0.1, t0=5.0)),
        C("maximize", dict(maximize=True, t0=0.0)),
        C("all", dict(lr=0.05, lambd=0.01, alpha=1.0, t0=3.0, weight_decay=0.1, maximize=True)),
        C("two-groups", dict(lr=0.1, t0=10.0), dict(lr=0.01, lambd=0.0), assign=[0, 0, 1]),
    ],
}

DTYPES = [("f32", "float32", np.float32, torch.float32),
          ("f64", "float64", np.float64, torch.float64)]

# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def sizes():
    return [int(np.prod(s)) for _, s in PARAMS]


def offsets():
    out, o = [], 0
    for k in sizes():
        out.append((o, o + k))
        o += k
    return out


def seed_for(opt, config):
    return zlib.crc32(("descent/" + opt + "/" + config).encode("ascii"))


def draw(opt, cfg):
    """Initial values and gradients in float64, shared by the f32 and f64 cases."""
    rng = np.random.default_rng(seed_for(opt, cfg["name"]))
    n = sum(sizes())
    init = rng.standard_normal(n)
    grads = rng.standard_normal((STEPS, n))
    for (name, _), (a, b) in zip(PARAMS, offsets()):
        if name in cfg["zero"]:
            init[a:b] = 0.0
    return init, grads


def full_groups(opt, cfg):
    groups = []
    for over in cfg["groups"]:
        g = dict(DEFAULTS[opt])
        for k, v in over.items():
            assert k in g, (opt, k)
            g[k] = v
        groups.append(g)
    return groups


def json_groups(groups):
    out = []
    for g in groups:
        d = {}
        for k, v in g.items():
            if isinstance(v, float) and math.isinf(v):
                assert v > 0
                v = "inf"
            d[k] = v
        out.append(d)
    return out


class Recorder:
    """Collects per-step param / state / scalar values for one case."""

    def __init__(self, n, nparams):
        self.n = n
        self.nparams = nparams
        self.param = []
        self.state = {}    # slot -> list over steps of list over params of array-or-None
        self.scalar = {}   # slot -> list over steps of list over params of float-or-None

    def finish(self, slots, scalar_slots, dtype):
        steps = len(self.param)
        param = np.stack(self.param).astype(dtype)
        states = {}
        for slot in slots:
            if slot not in self.state:
                continue
            rows = self.state[slot]
            present_end = [x is not None for x in rows[-1]]
            if not any(present_end):
                continue
            present_first = [x is not None for x in rows[0]]
            if present_first != present_end:
                # created later than step 1: skipped, as agreed.
                print("  note: slot %s created after step 1, skipped" % slot)
                continue
            arr = np.full((steps, self.n), np.nan, dtype=dtype)
            for t, row in enumerate(rows):
                for (a, b), x in zip(offsets(), row):
                    if x is not None:
                        arr[t, a:b] = x
            states[slot] = arr
        scalars = {}
        for slot in scalar_slots:
            if slot in self.scalar:
                scalars[slot] = np.array(self.scalar[slot], dtype=np.float64)
        return param, states, scalars


# --------------------------------------------------------------------------
# Torch references
# --------------------------------------------------------------------------


def torch_kwargs(opt, g):
    if opt == "sgd":
        return dict(lr=g["lr"], momentum=g["momentum"], dampening=g["dampening"],
                    nesterov=g["nesterov"], weight_decay=g["weight_decay"],
                    maximize=g["maximize"])
    if opt == "adagrad":
        return dict(lr=g["lr"], lr_decay=g["lr_decay"], weight_decay=g["weight_decay"],
                    initial_accumulator_value=g["initial_accumulator_value"],
                    eps=g["eps"], maximize=g["maximize"])
    if opt == "adadelta":
        return dict(lr=g["lr"], rho=g["rho"], eps=g["eps"],
                    weight_decay=g["weight_decay"], maximize=g["maximize"])
    if opt == "rmsprop":
        return dict(lr=g["lr"], alpha=g["alpha"], eps=g["eps"],
                    weight_decay=g["weight_decay"], momentum=g["momentum"],
                    centered=g["centered"], maximize=g["maximize"])
    if opt in ("adam", "adamw"):
        assert g["bias_correction"]
        return dict(lr=g["lr"], betas=(g["beta1"], g["beta2"]), eps=g["eps"],
                    weight_decay=g["weight_decay"], amsgrad=g["amsgrad"],
                    maximize=g["maximize"])
    if opt == "adamax":
        return dict(lr=g["lr"], betas=(g["beta1"], g["beta2"]), eps=g["eps"],
                    weight_decay=g["weight_decay"], maximize=g["maximize"])
    if opt == "nadam":   # no maximize in torch 1.13: handled by negating the gradient
        return dict(lr=g["lr"], betas=(g["beta1"], g["beta2"]), eps=g["eps"],
                    weight_decay=g["weight_decay"], momentum_decay=g["momentum_decay"])
    if opt == "radam":   # no maximize in torch 1.13: handled by negating the gradient
        return dict(lr=g["lr"], betas=(g["beta1"], g["beta2"]), eps=g["eps"],
                    weight_decay=g["weight_decay"])
    if opt == "rprop":
        return dict(lr=g["lr"], etas=(g["etaminus"], g["etaplus"]),
                    step_sizes=(g["step_size_min"], g["step_size_max"]), maximize=g["maximize"])
    if opt == "asgd":
        return dict(lr=g["lr"], lambd=g["lambd"], alpha=g["alpha"], t0=g["t0"],
                    weight_decay=g["weight_decay"], maximize=g["maximize"])
    raise KeyError(opt)


TORCH_CLASS = {
    "sgd": torch.optim.SGD, "adagrad": torch.optim.Adagrad,
    "adadelta": torch.optim.Adadelta, "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
    "adamax": torch.optim.Adamax, "nadam": torch.optim.NAdam,
    "radam": torch.optim.RAdam, "rprop": torch.optim.Rprop, "asgd": torch.optim.ASGD,
}
NEGATE_FOR_MAXIMIZE = ("nadam", "radam")


def run_torch(opt, groups, assign, init, grads, tdtype, foreach=False, nadam_prepopulate=True):
    """Runs torch.optim.<opt>; returns a Recorder and a reference string."""
    shapes = [s for _, s in PARAMS]
    tparams = []
    for (a, b), shape in zip(offsets(), shapes):
        t = torch.from_numpy(np.array(init[a:b], copy=True)).reshape(shape).to(tdtype)
        t.requires_grad_(True)
        tparams.append(t)
    tgroups = []
    for gi, g in enumerate(groups):
        d = torch_kwargs(opt, g)
        d["params"] = [p for p, a in zip(tparams, assign) if a == gi]
        d["foreach"] = foreach
        tgroups.append(d)
    ctor = torch_kwargs(opt, groups[0])
    ctor["foreach"] = foreach
    o = TORCH_CLASS[opt](tgroups, **ctor)

    if opt == "adagrad":
        # torch fills state['sum'] from the constructor argument, not the group's
        # option; make per-group values explicit.
        for tg, g in zip(o.param_groups, groups):
            for p in tg["params"]:
                o.state[p]["sum"].fill_(g["initial_accumulator_value"])

    if opt == "nadam" and nadam_prepopulate:
        for p in tparams:
            st = o.state[p]
            st["step"] = torch.tensor(0.)
            st["mu_product"] = torch.tensor(1., dtype=torch.float64)
            st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    rec = Recorder(init.shape[0], len(PARAMS))
    for t in range(grads.shape[0]):
        for pi, ((a, b), p) in enumerate(zip(offsets(), tparams)):
            gnp = np.array(grads[t, a:b], copy=True)
            if opt in NEGATE_FOR_MAXIMIZE and groups[assign[pi]]["maximize"]:
                gnp = -gnp
            # fresh tensor every step (foreach paths may modify grads in place)
            p.grad = torch.from_numpy(gnp).reshape(p.shape).to(tdtype).clone()
        o.step()
        rec.param.append(np.concatenate([p.detach().numpy().ravel().copy() for p in tparams]))
        for slot in SLOTS[opt]:
            row = []
            for p in tparams:
                v = o.state[p].get(slot, None)
                row.append(None if v is None else v.detach().numpy().ravel().copy())
            rec.state.setdefault(slot, []).append(row)
        for slot in SCALAR_SLOTS.get(opt, []):
            rec.scalar.setdefault(slot, []).append(
                [float(o.state[p][slot].item()) for p in tparams])

    name = TORCH_CLASS[opt].__name__
    ref = "torch.optim.%s(foreach=%s)" % (name, foreach)
    if opt == "nadam" and nadam_prepopulate:
        ref += ", state pre-populated with a float64 mu_product tensor"
    if opt in NEGATE_FOR_MAXIMIZE and any(g["maximize"] for g in groups):
        ref += ", maximize emulated by feeding the negated gradient"
    return rec, ref


# --------------------------------------------------------------------------
# NumPy references (computed in the case dtype; scalars are cast to it)
# --------------------------------------------------------------------------


def split(vec):
    return [np.array(vec[a:b], copy=True) for a, b in offsets()]


def run_numpy(opt, groups, assign, init, grads, dtype):
    dt = np.dtype(dtype).type
    ws = split(init.astype(dtype))
    nparams = len(ws)
    st = [dict() for _ in range(nparams)]
    steps = [0] * nparams
    rec = Recorder(init.shape[0], nparams)

    def norm64(x):
        return float(np.linalg.norm(x.astype(np.float64)))

    for t in range(grads.shape[0]):
        gs = split(grads[t].astype(dtype))
        for i in range(nparams):
            g_opt = groups[assign[i]]
            w, g, s = ws[i], gs[i], st[i]
            steps[i] += 1
            k = steps[i]
            if g_opt["maximize"]:
                g = -g
            if opt in ("adam", "adamw"):
                b1, b2, lr, eps, wd = (g_opt["beta1"], g_opt["beta2"], g_opt["lr"],
                                       g_opt["eps"], g_opt["weight_decay"])
                if not s:
                    s["exp_avg"] = np.zeros_like(w)
                    s["exp_avg_sq"] = np.zeros_like(w)
                    if g_opt["amsgrad"]:
                        s["max_exp_avg_sq"] = np.zeros_like(w)
                if opt == "adam":
                    if wd != 0:
                        g = g + dt(wd) * w
                else:
                    w = w * dt(1 - lr * wd)
                s["exp_avg"] = dt(b1) * s["exp_avg"] + dt(1 - b1) * g
                s["exp_avg_sq"] = dt(b2) * s["exp_avg_sq"] + dt(1 - b2) * (g * g)
                if g_opt["amsgrad"]:
                    s["max_exp_avg_sq"] = np.maximum(s["max_exp_avg_sq"], s["exp_avg_sq"])
                    v = s["max_exp_avg_sq"]
                else:
                    v = s["exp_avg_sq"]
                if g_opt["bias_correction"]:
                    # same association as torch: (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
                    bc1 = 1 - b1 ** k
                    bc2 = 1 - b2 ** k
                    denom = np.sqrt(v) / dt(math.sqrt(bc2)) + dt(eps)
                    w = w - dt(lr / bc1) * (s["exp_avg"] / denom)
                else:
                    w = w - dt(lr) * (s["exp_avg"] / (np.sqrt(v) + dt(eps)))
            elif opt == "lars":
                lr, mom, wd, tc, eps = (g_opt["lr"], g_opt["momentum"], g_opt["weight_decay"],
                                        g_opt["trust_coefficient"], g_opt["eps"])
                if g_opt["exclude"]:
                    d = g
                    ratio = 1.0
                else:
                    d = g + dt(wd) * w
                    wn = norm64(w)
                    gn = norm64(g)
                    ratio = tc * wn / (gn + wd * wn + eps) if (wn > 0 and gn > 0) else 1.0
                scaled = dt(lr * ratio) * d
                if mom == 0:
                    w = w - scaled
                else:
                    buf = s.get("momentum_buffer", np.zeros_like(w))
                    buf = dt(mom) * buf + scaled
                    s["momentum_buffer"] = buf
                    if g_opt["nesterov"]:
                        w = w - (dt(mom) * buf + scaled)
                    else:
                        w = w - buf
            elif opt == "lamb":
                b1, b2, lr, eps, wd = (g_opt["beta1"], g_opt["beta2"], g_opt["lr"],
                                       g_opt["eps"], g_opt["weight_decay"])
                if not s:
                    s["exp_avg"] = np.zeros_like(w)
                    s["exp_avg_sq"] = np.zeros_like(w)
                s["exp_avg"] = dt(b1) * s["exp_avg"] + dt(1 - b1) * g
                s["exp_avg_sq"] = dt(b2) * s["exp_avg_sq"] + dt(1 - b2) * (g * g)
                if g_opt["bias_correction"]:
                    mh = s["exp_avg"] / dt(1 - b1 ** k)
                    vh = s["exp_avg_sq"] / dt(1 - b2 ** k)
                else:
                    mh = s["exp_avg"]
                    vh = s["exp_avg_sq"]
                r = mh / (np.sqrt(vh) + dt(eps))
                if g_opt["exclude"]:
                    u = r
                    ratio = 1.0
                else:
                    u = r + dt(wd) * w
                    wn = min(max(norm64(w), g_opt["weight_norm_min"]), g_opt["weight_norm_max"])
                    un = norm64(u)
                    ratio = wn / un if (wn > 0 and un > 0) else 1.0
                w = w - dt(lr * ratio) * u
            elif opt == "nadam":   # only used for the self-check, never written to a file
                b1, b2, lr, eps, wd, psi = (g_opt["beta1"], g_opt["beta2"], g_opt["lr"],
                                            g_opt["eps"], g_opt["weight_decay"],
                                            g_opt["momentum_decay"])
                if not s:
                    s["exp_avg"] = np.zeros_like(w)
                    s["exp_avg_sq"] = np.zeros_like(w)
                    s["mu_product"] = 1.0
                if wd != 0:
                    g = g + dt(wd) * w
                mu = b1 * (1 - 0.5 * 0.96 ** (k * psi))
                mu_next = b1 * (1 - 0.5 * 0.96 ** ((k + 1) * psi))
                s["mu_product"] *= mu
                s["exp_avg"] = dt(b1) * s["exp_avg"] + dt(1 - b1) * g
                s["exp_avg_sq"] = dt(b2) * s["exp_avg_sq"] + dt(1 - b2) * (g * g)
                denom = np.sqrt(s["exp_avg_sq"]) / dt(math.sqrt(1 - b2 ** k)) + dt(eps)
                w = w - dt(lr * (1 - mu) / (1 - s["mu_product"])) * (g / denom)
                w = w - dt(lr * mu_next / (1 - s["mu_product"] * mu_next)) * (s["exp_avg"] / denom)
            else:
                raise KeyError(opt)
            assert w.dtype == dtype, (opt, w.dtype)
            ws[i] = w
        rec.param.append(np.concatenate([w.ravel() for w in ws]))
        for slot in SLOTS[opt]:
            rec.state.setdefault(slot, []).append(
                [s[slot].ravel().copy() if slot in s else None for s in st])
        for slot in SCALAR_SLOTS.get(opt, []):
            rec.scalar.setdefault(slot, []).append([s.get(slot) for s in st])

    refs = {
        "adam": "numpy: Adam without bias correction (tests/reference/generate.py run_numpy)",
        "adamw": "numpy: AdamW without bias correction (tests/reference/generate.py run_numpy)",
        "lars": "numpy: LARS, You et al. 2017 Alg. 1 (tests/reference/generate.py run_numpy)",
        "lamb": "numpy: LAMB, You et al. 2019 Alg. 2 (tests/reference/generate.py run_numpy)",
        "nadam": "numpy: NAdam (self-check only)",
    }
    return rec, refs[opt]


def uses_numpy(opt, groups):
    if opt in ("lars", "lamb"):
        return True
    if opt in ("adam", "adamw"):
        flags = set(g["bias_correction"] for g in groups)
        assert len(flags) == 1, "mixed bias_correction across groups not supported"
        return not flags.pop()
    return False


# --------------------------------------------------------------------------
# Self-checks
# --------------------------------------------------------------------------


def max_rel(a, b):
    """max |a-b| / max(|b|, 1e-300), elementwise."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def self_checks():
    assign = [0, 0, 0]
    # 1. The NumPy Adam/AdamW harness (with bias correction) reproduces torch in float64.
    for opt, over in (("adam", {}), ("adam", dict(amsgrad=True, weight_decay=0.1, maximize=True)),
                      ("adamw", {}), ("adamw", dict(amsgrad=True, maximize=True))):
        cfg = C("selfcheck", over)
        groups = full_groups(opt, cfg)
        init, grads = draw(opt, cfg)
        rt, _ = run_torch(opt, groups, assign, init, grads, torch.float64)
        rn, _ = run_numpy(opt, groups, assign, init, grads, np.float64)
        pt, stt, _ = rt.finish(SLOTS[opt], [], np.float64)
        pn, stn, _ = rn.finish(SLOTS[opt], [], np.float64)
        assert sorted(stt) == sorted(stn), (stt.keys(), stn.keys())
        errs = [max_rel(pn, pt)] + [max_rel(stn[k], stt[k]) for k in stt]
        print("self-check numpy %s %s vs torch (float64): max rel diff %.3g" % (opt, over, max(errs)))
        assert max(errs) <= 1e-12, errs

    # 2. NAdam: torch 1.13's single-tensor path (foreach=False) differs from the
    #    foreach path (mu_product_next counts mu_t twice, pytorch PR #92699),
    #    while the foreach path with a float64 mu_product matches a NumPy
    #    implementation of the documented algorithm.
    cfg = C("selfcheck")
    groups = full_groups("nadam", cfg)
    init, grads = draw("nadam", cfg)
    rf, _ = run_torch("nadam", groups, assign, init, grads, torch.float64, foreach=True)
    rs, _ = run_torch("nadam", groups, assign, init, grads, torch.float64, foreach=False,
                      nadam_prepopulate=False)
    rs64, _ = run_torch("nadam", groups, assign, init, grads, torch.float64, foreach=False,
                        nadam_prepopulate=True)
    rn, _ = run_numpy("nadam", groups, assign, init, grads, np.float64)
    pf = rf.finish([], [], np.float64)[0]
    ps = rs.finish([], [], np.float64)[0]
    ps64 = rs64.finish([], [], np.float64)[0]
    pn = rn.finish([], [], np.float64)[0]
    d_single = float(np.max(np.abs(ps - pf)))
    d_single64 = float(np.max(np.abs(ps64 - pf)))
    e_numpy = max_rel(pn, pf)
    print("self-check nadam float64: |single-tensor - foreach| max %.3g "
          "(%.3g with float64 mu_product), numpy vs foreach max rel %.3g"
          % (d_single, d_single64, e_numpy))
    assert d_single > 1e-6 and d_single64 > 1e-6, "single-tensor NAdam no longer differs?"
    assert e_numpy <= 1e-12, e_numpy

    # 3. Consistency of the LARS / LAMB NumPy references with torch where they
    #    reduce to a torch optimizer (float64, rounding-level agreement):
    #    LARS with exclude=True and lr=1 is SGD(lr=1) with the same momentum /
    #    nesterov; LAMB with exclude=True is Adam with the same betas/eps/lr.
    for nesterov in (False, True):
        cfg = C("selfcheck", dict(exclude=True, nesterov=nesterov))
        lg = full_groups("lars", cfg)
        init, grads = draw("lars", cfg)
        sg = [dict(DEFAULTS["sgd"], lr=lg[0]["lr"], momentum=lg[0]["momentum"],
                   nesterov=nesterov)]
        assert lg[0]["lr"] == 1.0
        pn = run_numpy("lars", lg, assign, init, grads, np.float64)[0].finish([], [], np.float64)[0]
        pt = run_torch("sgd", sg, assign, init, grads, torch.float64)[0].finish([], [], np.float64)[0]
        e = max_rel(pn, pt)
        print("self-check numpy lars(exclude, nesterov=%s) vs torch SGD: max rel diff %.3g"
              % (nesterov, e))
        assert e <= 1e-10, e
    cfg = C("selfcheck", dict(exclude=True))
    lg = full_groups("lamb", cfg)
    init, grads = draw("lamb", cfg)
    ag = [dict(DEFAULTS["adam"], lr=lg[0]["lr"], beta1=lg[0]["beta1"], beta2=lg[0]["beta2"],
               eps=lg[0]["eps"], weight_decay=0.0)]
    pn = run_numpy("lamb", lg, assign, init, grads, np.float64)[0].finish([], [], np.float64)[0]
    pt = run_torch("adam", ag, assign, init, grads, torch.float64)[0].finish([], [], np.float64)[0]
    e = max_rel(pn, pt)
    print("self-check numpy lamb(exclude) vs torch Adam: max rel diff %.3g" % e)
    assert e <= 1e-10, e

    # 4. Rprop and ASGD: the files come from foreach=False; torch 1.13's default (foreach=None) takes
    #    that same single-tensor path, so the two must agree bit for bit.
    for opt in ("rprop", "asgd"):
        cfg = C("selfcheck")
        groups = full_groups(opt, cfg)
        init, grads = draw(opt, cfg)
        for tdt in (torch.float32, torch.float64):
            pd = run_torch(opt, groups, assign, init, grads, tdt, foreach=None)[0].finish([], [], np.float64)[0]
            ps = run_torch(opt, groups, assign, init, grads, tdt, foreach=False)[0].finish([], [], np.float64)[0]
            assert np.array_equal(pd, ps), opt
        print("self-check %s: torch's default path is the single-tensor one (bitwise equal)" % opt)


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------

DT_NAME = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}


def write_safetensors(path, metadata, tensors):
    header = {"__metadata__": metadata}
    blobs = []
    pos = 0
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr)
        le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        raw = le.tobytes(order="C")
        header[name] = {"dtype": DT_NAME[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [pos, pos + len(raw)]}
        blobs.append(raw)
        pos += len(raw)
    hjson = json.dumps(header, sort_keys=False, separators=(",", ":")).encode("utf-8")
    pad = (-(8 + len(hjson))) % 8
    hjson += b" " * pad
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


def build_file(opt, outdir):
    cases = []
    tensors = []
    for cfg in GRIDS[opt]:
        groups = full_groups(opt, cfg)
        init64, grads64 = draw(opt, cfg)
        for suffix, dname, npdt, tdt in DTYPES:
            cid = "%s-%s" % (cfg["name"], suffix)
            init = init64.astype(npdt)
            grads = grads64.astype(npdt)
            if uses_numpy(opt, groups):
                rec, ref = run_numpy(opt, groups, cfg["assign"], init, grads, npdt)
            else:
                rec, ref = run_torch(opt, groups, cfg["assign"], init, grads, tdt,
                                     foreach=(opt == "nadam"))
            param, states, scalars = rec.finish(SLOTS[opt], SCALAR_SLOTS.get(opt, []), npdt)
            for arr in [param] + list(states.values()):
                assert arr.dtype == npdt and arr.shape == (STEPS, init.shape[0])
            for slot, arr in states.items():
                if np.isnan(arr).any():
                    print("  note: %s/%s state.%s is NaN for params without that slot"
                          % (opt, cid, slot))
            assert np.isfinite(param).all(), (opt, cid)
            cases.append({
                "id": cid,
                "dtype": dname,
                "reference": ref,
                "steps": STEPS,
                "groups": json_groups(groups),
                "params": [{"name": nm, "shape": list(shape), "group": a}
                           for (nm, shape), a in zip(PARAMS, cfg["assign"])],
            })
            tensors.append((cid + "/init", init))
            tensors.append((cid + "/grad", grads))
            tensors.append((cid + "/param", param))
            for slot in SLOTS[opt]:
                if slot in states:
                    tensors.append((cid + "/state." + slot, states[slot]))
            for slot, arr in scalars.items():
                assert arr.shape == (STEPS, len(PARAMS))
                tensors.append((cid + "/scalar." + slot, arr))
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids))
    metadata = {
        "generator": GENERATOR,
        "command": COMMAND,
        "torch_version": str(torch.__version__),
        "numpy_version": str(np.__version__),
        "optimizer": opt,
        "cases": json.dumps(cases, sort_keys=False, separators=(",", ":")),
    }
    path = os.path.join(outdir, opt + ".safetensors")
    write_safetensors(path, metadata, tensors)
    print("wrote %s (%d cases, %d bytes)" % (path, len(cases), os.path.getsize(path)))


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "data"),
                    help="output directory (default: data/ next to this script)")
    ap.add_argument("--skip-checks", action="store_true", help="skip the self-checks")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)  # irrelevant (all values are fed), but harmless
    if not args.skip_checks:
        self_checks()
    os.makedirs(args.out, exist_ok=True)
    for opt in DEFAULTS:
        build_file(opt, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
