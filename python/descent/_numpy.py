"""descent's optimizers over NumPy arrays, its schedules and checkpoints, and descent.minimize.

    w, g = np.zeros((10, 5), np.float32), np.zeros((10, 5), np.float32)
    opt = descent.Adam([("fc.weight", w, g)], lr=1e-3)
    ...   # write the gradient into g
    opt.step()   # updates w in place

The arrays are used in place, never copied: each must be a C-contiguous, writable, aligned float32 or
float64 NumPy array, the gradient of the value's shape and dtype, and both must stay alive and in place
while the optimizer is used (the optimizer keeps references to them). Options use descent's own names
(beta1, beta2: docs/optimizers.md), not torch's betas.
"""
import numpy as np

from . import _descent

_DTYPES = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64"}


def _check_array(what, a, where):
    if not isinstance(a, np.ndarray):
        raise TypeError("%s: %s is a %s, not a numpy.ndarray" % (where, what, type(a).__name__))
    if a.dtype not in _DTYPES:
        raise TypeError("%s: %s has dtype %s; descent steps float32 and float64 arrays" % (where, what, a.dtype))
    if not a.flags.c_contiguous:
        raise ValueError("%s: %s is not C-contiguous (strides %s); descent updates memory in place and never "
                         "steps a copy: pass np.ascontiguousarray(...) and keep that array" % (where, what, a.strides))
    if not a.flags.writeable:
        raise ValueError("%s: %s is read-only" % (where, what))
    if not a.flags.aligned:
        raise ValueError("%s: %s is not aligned to its element size" % (where, what))


class NumpyOptimizer:
    """Base of descent.<Optimizer> over NumPy arrays; each subclass is one registry entry."""
    _descent_name = None

    def __init__(self, params, *, threads=None, nonfinite="raise", **options):
        where = "descent.%s" % type(self).__name__
        groups = params if params and isinstance(params[0], dict) else [{"params": params}]
        self._arrays = []  # keeps every array alive while the optimizer holds its address
        self._names = []
        built = []
        for g, group in enumerate(groups):
            group = dict(group)
            entries = group.pop("params")
            merged = dict(options)
            merged.update(group)
            specs = []
            for k, entry in enumerate(entries):
                if not (isinstance(entry, tuple) and len(entry) == 3):
                    raise TypeError("%s: parameter %d of group %d must be a (name, value, grad) tuple" % (where, k, g))
                name, value, grad = entry
                _check_array("%s's value" % name, value, where)
                _check_array("%s's gradient" % name, grad, where)
                if grad.dtype != value.dtype or grad.shape != value.shape:
                    raise TypeError("%s: %s's gradient is %s %s, the value %s %s" % (
                        where, name, grad.dtype, list(grad.shape), value.dtype, list(value.shape)))
                specs.append(_descent.ParamSpec(name, value.ctypes.data, grad.ctypes.data, value.size,
                                                _DTYPES[value.dtype], list(value.shape)))
                self._arrays += [value, grad]
                self._names.append(name)
            built.append((specs, merged))
        self._engine = _descent.Engine(self._descent_name, built)
        if threads is not None:
            self._engine.set_num_threads(threads)
        self._engine.set_nonfinite_policy(nonfinite)
        self._index = {name: i for i, name in enumerate(self._names)}

    def step(self):
        """One update of every parameter; False when skipped for a non-finite gradient (nonfinite='skip')."""
        return self._engine.plain_step()

    def zero_grad(self):
        self._engine.zero_grad()

    @property
    def num_groups(self):
        return self._engine.num_groups()

    def options(self, group=0):
        """The group's options by descent's names."""
        return self._engine.options(group)

    def set_options(self, group=0, **values):
        """Sets options of a group, all or none (ValueError / KeyError naming the bad one)."""
        self._engine.apply_changes([(group, k, v) for k, v in values.items()])

    @property
    def lr(self):
        return self.options(0)["lr"]

    @lr.setter
    def lr(self, value):
        for g in range(self.num_groups):
            self.set_options(g, lr=value)

    def set_num_threads(self, threads):
        self._engine.set_num_threads(threads)

    def step_count(self, name):
        return self._engine.step_count(self._i(name))

    def state(self, name, slot):
        """A copy of one state slot of a parameter, as a NumPy array of the slot's shape and dtype."""
        data, shape, dtype = self._engine.state(self._i(name), slot)
        np_dtype = np.dtype(dtype) if dtype != "bfloat16" else np.dtype(np.uint16)
        return np.frombuffer(data, dtype=np_dtype).reshape(shape).copy()

    def save(self, path):
        """Writes the optimizer's state as a descent checkpoint (docs/checkpoint-format.md), atomically."""
        self._engine.save(str(path))

    def load(self, path, strict=True):
        """Restores a checkpoint; returns (missing, unexpected) of a non-strict load. A refused file changes nothing."""
        return self._engine.load(str(path), strict)

    def _i(self, name):
        try:
            return self._index[name]
        except KeyError:
            raise KeyError("descent.%s has no parameter '%s' (parameters: %s)"
                           % (type(self).__name__, name, ", ".join(self._names))) from None


def _engine_of(optimizer):
    if not isinstance(optimizer, NumpyOptimizer):
        raise TypeError("a schedule drives a descent NumPy optimizer, not a %s (for descent.torch, use "
                        "torch.optim.lr_scheduler)" % type(optimizer).__name__)
    return optimizer._engine


def StepLR(optimizer, step_size, gamma=0.1):
    """PyTorch's StepLR over a descent optimizer: lr * gamma^(step // step_size). Call .step() after each step."""
    return _descent.StepLR(_engine_of(optimizer), step_size, gamma)


def ExponentialLR(optimizer, gamma):
    return _descent.ExponentialLR(_engine_of(optimizer), gamma)


def CosineAnnealingLR(optimizer, T_max, eta_min=0.0):
    return _descent.CosineAnnealingLR(_engine_of(optimizer), T_max, eta_min)


def LinearLR(optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
    return _descent.LinearLR(_engine_of(optimizer), start_factor, end_factor, total_iters)


try:
    from scipy.optimize import OptimizeResult
except ImportError:  # SciPy is optional: the same shape, a dict with attribute access
    class OptimizeResult(dict):
        def __getattr__(self, name):
            try:
                return self[name]
            except KeyError:
                raise AttributeError(name) from None


def minimize(fun, x0, method="lbfgs", jac=None, hess=None, hessp=None, tol=None, callback=None, options=None):
    """SciPy-style minimization with descent's methods.

    method: "newton", "newton-cg", "lbfgs", "trust-ncg", "trust-exact", "trust-krylov" (case-insensitive),
    or any optimizer of the registry ("adam", "sgd", ...) run as full-batch gradient descent.
    jac: True when fun returns (value, gradient), or a callable returning the gradient; descent does not
    difference numerically here. hess(x) -> matrix, hessp(x, p) -> vector: second derivatives for the
    Newton methods (Newton-CG without them differences gradients). options: maxiter, gtol (stop when
    ||g|| <= gtol), ftol (relative change of f), and the method's own (lr, momentum, history_size ...).
    Returns an OptimizeResult with x, fun, jac (its norm: grad_norm), nit, nfev, njev, nhev, success, status
    and message (descent's stop reason).
    """
    if jac is True:
        def value_and_grad(x):
            f, g = fun(np.asarray(x))
            return float(f), [float(v) for v in np.asarray(g, dtype=np.float64).ravel()]
    elif callable(jac):
        def value_and_grad(x):
            x = np.asarray(x)
            return float(fun(x)), [float(v) for v in np.asarray(jac(x), dtype=np.float64).ravel()]
    else:
        raise ValueError("descent.minimize: jac=%r; give jac=True (fun returns value and gradient) or a "
                         "gradient function" % (jac,))
    x0 = np.asarray(x0, dtype=np.float64).ravel()
    options = dict(options or {})
    maxiter = int(options.pop("maxiter", 1000))
    gtol = float(options.pop("gtol", tol if tol is not None else 1e-8))
    ftol = float(options.pop("ftol", 0.0))
    h = (lambda x: np.asarray(hess(np.asarray(x)), dtype=np.float64).tolist()) if hess else None
    hp = (lambda x, p: np.asarray(hessp(np.asarray(x), np.asarray(p)), dtype=np.float64).ravel().tolist()) \
        if hessp else None
    cb = (lambda x: callback(np.asarray(x))) if callback else None
    r = _descent.minimize(value_and_grad, x0.tolist(), str(method).lower(), options, hp, h, maxiter, gtol, ftol, cb)
    return OptimizeResult(x=np.asarray(r["x"]), fun=r["fun"], grad_norm=r["grad_norm"], nit=r["nit"],
                          nfev=r["nfev"], njev=r["njev"], nhev=r["nhev"], success=r["success"],
                          status=0 if r["success"] else 1, message=r["reason"])


def _make_classes():
    out = {}
    for name in _descent.optimizer_names():
        kind = _descent.kind_name(name)
        out[kind] = type(kind, (NumpyOptimizer,), {
            "_descent_name": name,
            "__module__": "descent",
            "__doc__": "descent's %s over NumPy arrays (options: %s)."
                       % (kind, ", ".join(i["name"] for i in _descent.option_info(name))),
        })
    return out


optimizers = _make_classes()
