"""descent from Python.

descent.torch.<Optimizer>: every descent optimizer as a torch.optim.Optimizer (import descent.torch).
descent.Adam([("fc.weight", w, g), ...], lr=...): the same optimizers over NumPy arrays.
descent.minimize(fun, x0, method=..., jac=True): function minimization, SciPy-style.
"""
from . import _descent
from ._descent import optimizer_names

__all__ = ["optimizer_names"]
