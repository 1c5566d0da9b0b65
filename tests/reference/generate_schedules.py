#!/usr/bin/env python3
"""Writes tests/reference/data/schedules.json: learning rates from torch.optim.lr_scheduler (PyTorch
1.13) and gradients clipped by torch.nn.utils.clip_grad_norm_ / clip_grad_value_, for
tests/test_schedule.cpp to replay through descent.

Rerun: /usr/bin/python3 tests/reference/generate_schedules.py   (deterministic, no network, < 2 s;
needs Debian's python3-torch 1.13 and python3-numpy; rerunning gives a byte-identical file).

Schedules. Each case attaches one scheduler to torch.optim.SGD over two parameter groups with
learning rates BASE_LRS (0.1 and 0.05; momentum 0.9, so OneCycleLR has a momentum to cycle) and
records optimizer.param_groups[g]["lr"] (the same numbers as get_last_lr()) right after construction
(row 0, PyTorch's step-0 value) and after every scheduler.step() (row k = the lr for step count k).
Every scheduler takes its default, chainable step() path, so the recursive forms of
CosineAnnealingLR, ExponentialLR, PolynomialLR, LinearLR, ... are what is recorded. Where the
optimizer's momentum (SGD) or beta1 (Adam) changes (OneCycleLR), it is recorded too.

ReduceLROnPlateau cases feed the fixed METRICS sequence (it improves, plateaus, improves by less
than the threshold, ...) and record, after each step(metric), the lrs and the scheduler's best,
num_bad_epochs and cooldown_counter.

"torch_errors" records argument values that PyTorch 1.13 accepts at construction but that fail
later (a division by zero), so that the C++ side can document why descent rejects them up front.

Clipping cases: three parameters of shapes [4], [2, 3], [5] whose gradients are drawn from
N(0, scale^2) (seeded numpy.random.default_rng), the middle one optionally without a gradient
(PyTorch skips .grad None, as descent skips a parameter without gradient). For float32 cases the
float64 draws are cast; every stored number is a Python float (JSON round-trips doubles exactly).
Infinity is written as the string "inf".
"""
import json
import math
import os
import sys
import zlib

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "schedules.json")
BASE_LRS = [0.1, 0.05]
MOMENTUM = 0.9

S = torch.optim.lr_scheduler

# (id, class name, kwargs, number of step() calls after construction)
SCHEDULES = [
    ("constant-default", "ConstantLR", dict(factor=1.0 / 3, total_iters=5), 60),
    ("constant-half-10", "ConstantLR", dict(factor=0.5, total_iters=10), 60),
    ("constant-one", "ConstantLR", dict(factor=1.0, total_iters=3), 30),
    ("constant-quarter-1", "ConstantLR", dict(factor=0.25, total_iters=1), 30),
    ("step-1-half", "StepLR", dict(step_size=1, gamma=0.5), 100),
    ("step-3-default", "StepLR", dict(step_size=3, gamma=0.1), 100),
    ("step-7-0.9", "StepLR", dict(step_size=7, gamma=0.9), 120),
    ("step-10-grow", "StepLR", dict(step_size=10, gamma=1.5), 120),
    ("step-30-default", "StepLR", dict(step_size=30, gamma=0.1), 120),
    ("multistep-default", "MultiStepLR", dict(milestones=[10, 30, 60], gamma=0.1), 100),
    ("multistep-duplicates", "MultiStepLR", dict(milestones=[5, 5, 20], gamma=0.5), 60),
    ("multistep-unsorted", "MultiStepLR", dict(milestones=[40, 15], gamma=0.3), 60),
    ("multistep-at-zero", "MultiStepLR", dict(milestones=[0, 8], gamma=0.5), 30),
    ("multistep-empty", "MultiStepLR", dict(milestones=[], gamma=0.5), 10),
    ("exponential-0.9", "ExponentialLR", dict(gamma=0.9), 120),
    ("exponential-0.99", "ExponentialLR", dict(gamma=0.99), 120),
    ("exponential-half", "ExponentialLR", dict(gamma=0.5), 120),
    ("exponential-grow", "ExponentialLR", dict(gamma=1.02), 120),
    ("exponential-one", "ExponentialLR", dict(gamma=1.0), 20),
    ("cosine-10", "CosineAnnealingLR", dict(T_max=10, eta_min=0.0), 120),
    ("cosine-50-min", "CosineAnnealingLR", dict(T_max=50, eta_min=0.001), 120),
    ("cosine-1", "CosineAnnealingLR", dict(T_max=1, eta_min=0.0), 40),
    ("cosine-7-min", "CosineAnnealingLR", dict(T_max=7, eta_min=0.01), 120),
    ("cosine-100", "CosineAnnealingLR", dict(T_max=100, eta_min=0.0), 120),
    ("cosine-3", "CosineAnnealingLR", dict(T_max=3, eta_min=0.0), 120),
    ("cosine-min-above-base", "CosineAnnealingLR", dict(T_max=20, eta_min=0.2), 60),
    ("restarts-10", "CosineAnnealingWarmRestarts", dict(T_0=10, T_mult=1, eta_min=0.0), 120),
    ("restarts-5-x2-min", "CosineAnnealingWarmRestarts", dict(T_0=5, T_mult=2, eta_min=0.001), 120),
    ("restarts-3-x3", "CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=3, eta_min=0.0), 120),
    ("restarts-1", "CosineAnnealingWarmRestarts", dict(T_0=1, T_mult=1, eta_min=0.0), 10),
    ("restarts-1-x2-min", "CosineAnnealingWarmRestarts", dict(T_0=1, T_mult=2, eta_min=0.01), 100),
    ("linear-default", "LinearLR", dict(start_factor=1.0 / 3, end_factor=1.0, total_iters=5), 30),
    ("linear-warmup-20", "LinearLR", dict(start_factor=0.1, end_factor=1.0, total_iters=20), 60),
    ("linear-decay-30", "LinearLR", dict(start_factor=1.0, end_factor=0.1, total_iters=30), 60),
    ("linear-flat", "LinearLR", dict(start_factor=0.5, end_factor=0.5, total_iters=10), 30),
    ("linear-to-zero", "LinearLR", dict(start_factor=0.25, end_factor=0.0, total_iters=8), 30),
    ("linear-1", "LinearLR", dict(start_factor=0.01, end_factor=1.0, total_iters=1), 10),
    ("linear-long", "LinearLR", dict(start_factor=0.001, end_factor=1.0, total_iters=100), 110),
    ("poly-default", "PolynomialLR", dict(total_iters=5, power=1.0), 30),
    ("poly-100-square", "PolynomialLR", dict(total_iters=100, power=2.0), 120),
    ("poly-50-sqrt", "PolynomialLR", dict(total_iters=50, power=0.5), 120),
    ("poly-30-0.9", "PolynomialLR", dict(total_iters=30, power=0.9), 60),
    ("poly-10-zero-power", "PolynomialLR", dict(total_iters=10, power=0.0), 20),
    ("poly-1", "PolynomialLR", dict(total_iters=1, power=3.0), 10),
    # OneCycleLR: stepped exactly total_steps times, the most PyTorch allows (row total_steps is the
    # value one step past the schedule's end, as a training loop's final step() computes it).
    ("onecycle-default", "OneCycleLR", dict(max_lr=0.5, total_steps=100), 100),
    ("onecycle-linear", "OneCycleLR", dict(max_lr=0.5, total_steps=100, anneal_strategy="linear"), 100),
    ("onecycle-three-phase", "OneCycleLR", dict(max_lr=0.5, total_steps=100, three_phase=True), 100),
    ("onecycle-three-phase-linear", "OneCycleLR",
     dict(max_lr=0.5, total_steps=100, three_phase=True, anneal_strategy="linear"), 100),
    ("onecycle-per-group", "OneCycleLR",
     dict(max_lr=[1.0, 0.5], total_steps=60, pct_start=0.25, div_factor=10.0, final_div_factor=100.0), 60),
    ("onecycle-odd", "OneCycleLR",
     dict(max_lr=0.3, total_steps=37, pct_start=0.45, three_phase=True, div_factor=5.0,
          final_div_factor=1e3), 37),
    ("onecycle-no-momentum", "OneCycleLR", dict(max_lr=0.5, total_steps=50, cycle_momentum=False), 50),
    ("onecycle-momentum-range", "OneCycleLR",
     dict(max_lr=0.5, total_steps=80, base_momentum=0.8, max_momentum=0.9, pct_start=0.4), 80),
    ("onecycle-short-warmup", "OneCycleLR", dict(max_lr=0.5, total_steps=10, pct_start=0.05), 10),
    ("onecycle-long-warmup", "OneCycleLR", dict(max_lr=0.5, total_steps=40, pct_start=0.95), 40),
    ("onecycle-adam-beta1", "OneCycleLR", dict(max_lr=0.01, total_steps=50), 50),  # on Adam: beta1 cycles
]

# SequentialLR: (id, [(class, kwargs), ...], milestones, steps)
SEQUENTIAL = [
    ("warmup-cosine", [("LinearLR", dict(start_factor=0.1, end_factor=1.0, total_iters=5)),
                       ("CosineAnnealingLR", dict(T_max=45, eta_min=0.0))], [5], 60),
    ("constant-exponential-step", [("ConstantLR", dict(factor=0.5, total_iters=3)),
                                   ("ExponentialLR", dict(gamma=0.9)),
                                   ("StepLR", dict(step_size=4, gamma=0.5))], [5, 20], 40),
]

# ReduceLROnPlateau metric sequence (mode "min"; the "max" cases negate it): falls, plateaus, falls by
# less than a 1e-4 relative threshold, falls again, bounces, plateaus long enough to reach min_lr.
METRICS = ([1.0, 0.8, 0.7, 0.65, 0.65, 0.65, 0.65, 0.65, 0.64999, 0.64998, 0.64997, 0.5, 0.5, 0.49, 0.6, 0.7,
            0.48, 0.48, 0.48, 0.48, 0.48, 0.48, 0.47, 0.3, 0.3, 0.3, 0.31, 0.29, 0.29995, 0.2]
           + [0.2] * 30 + [0.1, 0.15, 0.12, 0.11, 0.1, 0.1, 0.09, 0.2, 0.2, 0.2])

PLATEAU = [
    ("min-rel", dict(mode="min", factor=0.5, patience=3), 1),
    ("min-rel-default-patience", dict(mode="min"), 1),
    ("min-rel-cooldown", dict(mode="min", factor=0.5, patience=2, cooldown=3), 1),
    ("min-abs", dict(mode="min", factor=0.3, patience=1, threshold=0.05, threshold_mode="abs"), 1),
    ("min-patience-0", dict(mode="min", factor=0.7, patience=0), 1),
    ("min-lr-floor", dict(mode="min", factor=0.5, patience=1, min_lr=0.01), 1),
    ("min-lr-per-group", dict(mode="min", factor=0.5, patience=1, min_lr=[0.02, 0.001]), 1),
    ("eps-large", dict(mode="min", factor=0.9, patience=1, eps=0.004), 1),
    ("max-rel", dict(mode="max", factor=0.5, patience=3, threshold=0.01), -1),
    ("max-abs-cooldown", dict(mode="max", factor=0.2, patience=2, threshold=0.02, threshold_mode="abs",
                              cooldown=1), -1),
    # mode "max" on a positive metric that falls: it never improves after the first step.
    ("max-on-falling", dict(mode="max", factor=0.5, patience=4, min_lr=1e-3), 1),
    ("factor-zero", dict(mode="min", factor=0.0, patience=5), 1),
]

CLIP_NORM = [
    # (id, dtype, max_norm, norm_type, scale, middle parameter has a gradient)
    ("l2-clipped-f64", "float64", 1.0, 2.0, 1.0, True),
    ("l2-not-clipped-f64", "float64", 100.0, 2.0, 1.0, True),
    ("l2-clipped-f32", "float32", 1.0, 2.0, 1.0, True),
    ("l2-small-f64", "float64", 1e-3, 2.0, 1e-4, True),  # total ~1e-4 + 1e-6: the 1e-6 matters
    ("l1-clipped-f64", "float64", 2.5, 1.0, 1.0, True),
    ("l1-not-clipped-f32", "float32", 50.0, 1.0, 1.0, True),
    ("l1-clipped-f32", "float32", 0.5, 1.0, 1.0, True),
    ("inf-clipped-f64", "float64", 0.75, "inf", 1.0, True),
    ("inf-not-clipped-f64", "float64", 10.0, "inf", 1.0, True),
    ("inf-clipped-f32", "float32", 0.1, "inf", 1.0, True),
    ("p3-clipped-f64", "float64", 0.5, 3.0, 1.0, True),
    ("p0.5-clipped-f64", "float64", 5.0, 0.5, 1.0, True),
    ("l2-frozen-middle-f64", "float64", 1.0, 2.0, 1.0, False),
    ("l2-large-f64", "float64", 1.0, 2.0, 1e3, True),
    ("max-norm-zero-f64", "float64", 0.0, 2.0, 1.0, True),
]

CLIP_VALUE = [
    ("half-f64", "float64", 0.5, True),
    ("half-f32", "float32", 0.5, True),
    ("tenth-frozen-middle-f64", "float64", 0.1, False),
    ("large-f32", "float32", 100.0, True),
    ("zero-f64", "float64", 0.0, True),
]

SHAPES = [(4,), (2, 3), (5,)]


def encode(x):
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def warnings_off():
    import warnings
    warnings.simplefilter("ignore")  # the scheduler's deprecation and call-order warnings


def dump(out):
    """JSON with one case per line: the top-level scalars, then each list of cases."""
    lines = ["{"]
    items = list(out.items())
    for i, (key, value) in enumerate(items):
        end = "," if i + 1 < len(items) else ""
        if isinstance(value, list) and value and isinstance(value[0], dict):
            cases = ",\n".join("  " + json.dumps(case) for case in value)
            lines.append(" {}: [\n{}\n ]{}".format(json.dumps(key), cases, end))
        else:
            lines.append(" {}: {}{}".format(json.dumps(key), json.dumps(value), end))
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == json.loads(json.dumps(out))
    return text


def make_sgd():
    params = [torch.zeros(2, dtype=torch.float64, requires_grad=True) for _ in BASE_LRS]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, BASE_LRS)], lr=BASE_LRS[0],
                           momentum=MOMENTUM)


def make_adam():
    params = [torch.zeros(2, dtype=torch.float64, requires_grad=True) for _ in BASE_LRS]
    return torch.optim.Adam([{"params": [p], "lr": lr} for p, lr in zip(params, BASE_LRS)], lr=BASE_LRS[0])


def momenta(opt):
    if "betas" in opt.defaults:
        return [g["betas"][0] for g in opt.param_groups]
    return [g["momentum"] for g in opt.param_groups]


def lrs(opt):
    return [float(g["lr"]) for g in opt.param_groups]


def run_schedule(cls, kwargs, steps, adam=False):
    opt = make_adam() if adam else make_sgd()
    before = momenta(opt)
    sched = getattr(S, cls)(opt, **kwargs)
    lr_rows, momentum_rows = [lrs(opt)], [momenta(opt)]
    assert sched.get_last_lr() == lr_rows[0]
    for _ in range(steps):
        opt.step()  # no gradients: only keeps PyTorch's "scheduler before optimizer" warning quiet
        sched.step()
        lr_rows.append(lrs(opt))
        momentum_rows.append(momenta(opt))
        assert sched.get_last_lr() == lr_rows[-1]
        assert sched.last_epoch == len(lr_rows) - 1
    case = {"lr": lr_rows}
    if any(row != before for row in momentum_rows):
        case["momentum_name"] = "beta1" if adam else "momentum"
        case["momentum"] = momentum_rows
    return case


def run_sequential(children, milestones, steps):
    opt = make_sgd()
    built = [getattr(S, cls)(opt, **kwargs) for cls, kwargs in children]
    sched = S.SequentialLR(opt, built, milestones=milestones)
    rows = [lrs(opt)]
    for _ in range(steps):
        opt.step()
        sched.step()
        rows.append(lrs(opt))
    return rows


def run_plateau(kwargs, sign):
    opt = make_sgd()
    sched = S.ReduceLROnPlateau(opt, **kwargs)
    metrics = [sign * m for m in METRICS]
    rows, best, bad, cooldown = [lrs(opt)], [encode(float(sched.best))], [sched.num_bad_epochs], [sched.cooldown_counter]
    for m in metrics:
        opt.step()
        sched.step(m)
        rows.append(lrs(opt))
        best.append(encode(float(sched.best)))
        bad.append(sched.num_bad_epochs)
        cooldown.append(sched.cooldown_counter)
        assert sched._last_lr == rows[-1]  # 1.13's ReduceLROnPlateau has no get_last_lr()
    return {"metrics": metrics, "lr": rows, "best": best, "num_bad_epochs": bad, "cooldown_counter": cooldown,
            "last_epoch": sched.last_epoch}


def draw(case_id, dtype, scale, middle_has_grad):
    rng = np.random.default_rng(zlib.crc32(("descent/clip/" + case_id).encode()))
    grads = [rng.standard_normal(int(np.prod(shape))) * scale for shape in SHAPES]
    torch_dtype = torch.float64 if dtype == "float64" else torch.float32
    params = []
    for i, (g, shape) in enumerate(zip(grads, SHAPES)):
        p = torch.zeros(shape, dtype=torch_dtype, requires_grad=True)
        if i != 1 or middle_has_grad:
            p.grad = torch.tensor(g, dtype=torch_dtype).reshape(shape)
        params.append(p)
    stored = [[float(x) for x in p.grad.flatten()] if p.grad is not None else None for p in params]
    return params, stored


def clipped(params):
    return [[float(x) for x in p.grad.flatten()] if p.grad is not None else None for p in params]


def torch_error(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - recording what PyTorch raises is the point
        return "{}: {}".format(type(e).__name__, e)
    return None


def step_n(sched, opt, n):
    for _ in range(n):
        opt.step()
        sched.step()


def main():
    torch.set_num_threads(1)
    warnings_off()
    out = {
        "generator": "tests/reference/generate_schedules.py",
        "command": "/usr/bin/python3 tests/reference/generate_schedules.py",
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "base_lrs": BASE_LRS,
        "momentum": MOMENTUM,
        "schedules": [],
        "sequential": [],
        "plateau": [],
        "clip_grad_norm": [],
        "clip_grad_value": [],
        "torch_errors": [],
    }
    ids = set()
    for case_id, cls, kwargs, steps in SCHEDULES:
        assert case_id not in ids
        ids.add(case_id)
        case = {"id": case_id, "schedule": cls, "args": kwargs, "steps": steps,
                "optimizer": "Adam" if "adam" in case_id else "SGD"}
        case.update(run_schedule(cls, kwargs, steps, adam="adam" in case_id))
        out["schedules"].append(case)
    for case_id, children, milestones, steps in SEQUENTIAL:
        out["sequential"].append({"id": case_id, "children": [{"schedule": c, "args": a} for c, a in children],
                                  "milestones": milestones, "steps": steps,
                                  "lr": run_sequential(children, milestones, steps)})
    for case_id, kwargs, sign in PLATEAU:
        case = {"id": case_id, "args": kwargs}
        case.update(run_plateau(kwargs, sign))
        out["plateau"].append(case)
    for case_id, dtype, max_norm, norm_type, scale, middle in CLIP_NORM:
        params, grads = draw(case_id, dtype, scale, middle)
        nt = math.inf if norm_type == "inf" else norm_type
        total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=nt)
        out["clip_grad_norm"].append({"id": case_id, "dtype": dtype, "max_norm": max_norm, "norm_type": norm_type,
                                      "shapes": [list(s) for s in SHAPES], "grads": grads,
                                      "total_norm": float(total), "clipped": clipped(params)})
    for case_id, dtype, clip_value, middle in CLIP_VALUE:
        params, grads = draw(case_id, dtype, 1.0, middle)
        torch.nn.utils.clip_grad_value_(params, clip_value)
        out["clip_grad_value"].append({"id": case_id, "dtype": dtype, "clip_value": clip_value,
                                       "shapes": [list(s) for s in SHAPES], "grads": grads,
                                       "clipped": clipped(params)})

    # Arguments PyTorch 1.13 takes at construction and fails on later.
    def probe(case_id, what, fn):
        out["torch_errors"].append({"id": case_id, "what": what, "error": torch_error(fn)})

    def constant_factor_zero():
        opt = make_sgd()
        sched = S.ConstantLR(opt, factor=0.0, total_iters=3)
        step_n(sched, opt, 3)

    def linear_start_zero():
        opt = make_sgd()
        sched = S.LinearLR(opt, start_factor=0.0, end_factor=1.0, total_iters=5)
        step_n(sched, opt, 1)

    def onecycle_unit_warmup():
        S.OneCycleLR(make_sgd(), max_lr=0.5, total_steps=10, pct_start=0.1)

    def onecycle_past_end():
        opt = make_sgd()
        sched = S.OneCycleLR(opt, max_lr=0.5, total_steps=10)
        step_n(sched, opt, 11)

    def step_size_zero():
        opt = make_sgd()
        sched = S.StepLR(opt, step_size=0)
        step_n(sched, opt, 1)

    probe("constant-factor-zero", "ConstantLR(factor=0, total_iters=3), 3 steps", constant_factor_zero)
    probe("linear-start-zero", "LinearLR(start_factor=0, total_iters=5), 1 step", linear_start_zero)
    probe("onecycle-unit-warmup", "OneCycleLR(total_steps=10, pct_start=0.1): warm-up phase of length 0",
          onecycle_unit_warmup)
    probe("onecycle-past-end", "OneCycleLR(total_steps=10), 11 steps", onecycle_past_end)
    probe("step-size-zero", "StepLR(step_size=0), 1 step", step_size_zero)

    text = dump(out)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(text)
    print("wrote {} ({} schedule, {} sequential, {} plateau, {} clip_grad_norm, {} clip_grad_value cases)".format(
        os.path.relpath(OUT), len(out["schedules"]), len(out["sequential"]), len(out["plateau"]),
        len(out["clip_grad_norm"]), len(out["clip_grad_value"])))
    for e in out["torch_errors"]:
        print("  torch 1.13, {}: {}".format(e["what"], e["error"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
