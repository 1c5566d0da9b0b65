"""descent from Python.

descent.torch.<Optimizer>: every descent optimizer as a torch.optim.Optimizer (``import descent.torch``).
descent.<Optimizer>([("fc.weight", w, g), ...], lr=...): the same optimizers over NumPy arrays, in place.
descent.minimize(fun, x0, method=..., jac=True): function minimization, SciPy-style.

Errors: descent's InvalidArgument is ValueError, NotFound is KeyError (dtype checks: TypeError), with
descent's message. docs/python.md has the details.
"""
from . import _descent
from ._descent import optimizer_names
from ._numpy import (CosineAnnealingLR, ExponentialLR, LinearLR, NumpyOptimizer, OptimizeResult, StepLR,
                     minimize, optimizers)

globals().update(optimizers)

__all__ = ["optimizer_names", "minimize", "OptimizeResult", "NumpyOptimizer", "StepLR", "ExponentialLR",
           "CosineAnnealingLR", "LinearLR"] + list(optimizers)
