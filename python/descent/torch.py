"""descent.torch.<Optimizer>: every optimizer of descent's registry as a torch.optim.Optimizer.

    import descent.torch
    opt = descent.torch.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=1000)

The classes are made from the registry when this module is imported, so an optimizer added to
src/optimizers/registry.hpp appears here with no Python change. Hyperparameters live in param_groups under
torch 1.13's names (``betas`` for beta1 and beta2, see _TUPLES) and are read at every step, so
torch.optim.lr_scheduler works. State lives in ``self.state[p]``, allocated by torch under torch's names
(``step``, ``exp_avg``, ...) and handed to descent as memory the caller owns, so ``state_dict()`` and
``load_state_dict()`` are torch's own: a torch.optim.Adam state dict loads into descent.torch.Adam and
back. A step is one call into descent, without the GIL.

What is refused, with an exception naming the parameter, before anything changes: a dtype other than
float32 or float64 (TypeError), a tensor that is not on the CPU, a sparse tensor or gradient, a tensor whose
layout is not contiguous (never copied: an update to a copy would be lost), a parameter listed twice, an
option out of range (ValueError), a state dict whose entries this optimizer does not keep or lacks
(KeyError).

Differences from torch.optim (docs/python.md):
- NAdam keeps ``mu_product`` as a float64 tensor (torch 1.13: float32) and follows the paper, as 1.13's
  foreach NAdam does (descent's NAdam, src/optimizers/nadam/nadam.cpp).
- SGD without momentum keeps no state (torch 1.13 stores ``momentum_buffer: None``).
- Steps run on descent's threads: ``threads=`` (default: one per core) sets how many.
"""
import torch

from . import _descent

__all__ = []

# torch 1.13's tuple options and the descent options they hold, in order. An optimizer gets the tuple
# only when it has every one of the options; otherwise they stay under descent's own names.
_TUPLES = {
    "betas": ("beta1", "beta2"),
    "etas": ("etaminus", "etaplus"),              # Rprop
    "step_sizes": ("step_size_min", "step_size_max"),  # Rprop
}

# How torch 1.13 keeps a parameter's step count: a float32 singleton tensor (its default, and the
# convention of optimizers torch does not have), a Python int, or not at all.
_STEP_KIND = {"sgd": None, "adadelta": "int", "rmsprop": "int", "rprop": "int"}

# The dtype of new tensors that hold scalar state: float64 (NAdam's mu_product, in descent's precision, also
# after a load that cast it to float32), or float32 as torch 1.13's ASGD keeps eta and mu (descent's ASGD
# rounds them to float as torch does; a loaded float64 tensor, torch's cast for float64 parameters, is kept).
_SCALAR_DTYPE = {"asgd": torch.float32}

# torch's execution switches: accepted, and meaningless for descent's step.
_TORCH_SWITCHES = ("foreach", "differentiable", "capturable", "fused")

# Other spellings users know a class by (timm, torch-optimizer): descent.torch.Lamb is descent.torch.LAMB.
_ALIASES = {"lamb": "Lamb", "lars": "Lars"}

_DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64"}
_TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16,
                 "float16": torch.float16, "uint8": torch.uint8, "int32": torch.int32, "int64": torch.int64}


class _Spelling:
    """One optimizer's options as torch spells them in a param_group."""

    def __init__(self, name):
        self.info = _descent.option_info(name)
        names = [i["name"] for i in self.info]
        self.tuples = {key: parts for key, parts in _TUPLES.items() if all(p in names for p in parts)}
        in_tuple = {p: (key, k) for key, parts in self.tuples.items() for k, p in enumerate(parts)}
        # (descent name, group key, index in the tuple or None), in the option table's order
        self.fields = [(n, *(in_tuple[n] if n in in_tuple else (n, None))) for n in names]
        self.defaults = {}
        for info in self.info:
            key, index = next((k, i) for n, k, i in self.fields if n == info["name"])
            value = _python_value(info, info["default"])
            if index is None:
                self.defaults[key] = value
            else:
                self.defaults.setdefault(key, [None] * len(self.tuples[key]))[index] = value
        for key in self.tuples:
            self.defaults[key] = tuple(self.defaults[key])

    def values(self, group):
        """The group's options in descent's names, as a list in table order."""
        out = []
        for name, key, index in self.fields:
            value = group[key]
            out.append(value if index is None else value[index])
        return out

    def descent_dict(self, group, where):
        out = {}
        for name, key, index in self.fields:
            if key not in group:
                continue
            value = group[key]
            if index is not None:
                if not isinstance(value, (tuple, list)) or len(value) != len(self.tuples[key]):
                    raise ValueError("%s: %s must be a tuple of %d numbers %s, not %r"
                                     % (where, key, len(self.tuples[key]), self.tuples[key], value))
                value = value[index]
            if isinstance(value, torch.Tensor):
                raise TypeError("%s: %s is a tensor (%r); descent takes numbers" % (where, key, value))
            out[name] = value
        return out


def _check_options(name, options, where):
    """descent's check of one group's options; its exception, prefixed with where the group is."""
    try:
        return _descent.check_options(name, options)
    except (ValueError, KeyError, TypeError) as e:
        raise type(e)("%s: %s" % (where, e.args[0] if e.args else e)) from None


def _python_value(info, value):
    kind = info["type"]
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value)
    if kind == "choice":
        return info["choices"][int(value)]
    return float(value)


def _check_tensor(what, t, where):
    """Refuses a tensor descent cannot step in place; TypeError for the dtype, ValueError otherwise."""
    if not isinstance(t, torch.Tensor):
        raise TypeError("%s: %s is a %s, not a torch.Tensor" % (where, what, type(t).__name__))
    if t.layout != torch.strided:
        raise ValueError("%s: %s is a sparse tensor (%s); descent steps dense tensors only" % (where, what, t.layout))
    if t.device.type != "cpu":
        raise ValueError("%s: %s is on device '%s'; descent steps CPU tensors only (move the model or "
                         "the optimizer's parameters to the CPU)" % (where, what, t.device))
    if t.dtype not in _DTYPE_NAMES:
        raise TypeError("%s: %s has dtype %s; descent steps float32 and float64 tensors"
                        % (where, what, t.dtype))
    if not t.is_contiguous():
        raise ValueError("%s: %s is not contiguous (shape %s, strides %s); descent updates memory in place "
                         "and never steps a copy: pass a contiguous tensor" % (where, what, list(t.shape), t.stride()))


class _Plan:
    """The built descent optimizer and what each step compares against (rebuilt when groups change)."""
    __slots__ = ("engine", "params", "ids", "values", "option_cache", "slots_used", "bound", "step_ptrs",
                 "scalar_ptrs", "group_of", "unchecked")


class DescentOptimizer(torch.optim.Optimizer):
    """Base of descent.torch's classes; each subclass is one registry entry (``_descent_name``)."""
    _descent_name = None
    _spelling = None
    _slot_names = ((), ())  # (slots, scalar slots) of the rule

    def __init__(self, params, lr=None, *, threads=None, nonfinite="propagate", **options):
        where = "descent.torch.%s" % type(self).__name__
        defaults = dict(self._spelling.defaults)
        if lr is not None:
            options["lr"] = lr
        for key, value in options.items():
            if key not in defaults and key not in _TORCH_SWITCHES:
                raise TypeError("%s() got an unexpected keyword argument '%s' (options: %s)"
                                % (where, key, ", ".join(defaults)))
            defaults[key] = value
        _check_options(self._descent_name, self._spelling.descent_dict(defaults, where), where)
        if nonfinite not in ("raise", "skip", "propagate"):
            raise ValueError("%s: nonfinite=%r is none of 'raise', 'skip', 'propagate'" % (where, nonfinite))
        if threads is not None and (not isinstance(threads, int) or threads < 0):
            raise ValueError("%s: threads=%r must be a non-negative int (0: one per core)" % (where, threads))
        self._threads = threads
        self._nonfinite = nonfinite
        self._plan = None
        super().__init__(params, defaults)

    # torch pickles defaults, state and param_groups only; the built descent optimizer is a cache
    def __getstate__(self):
        state = super().__getstate__()
        state["_threads"] = self._threads
        state["_nonfinite"] = self._nonfinite
        return state

    def __setstate__(self, state):
        state.setdefault("_threads", None)
        state.setdefault("_nonfinite", "propagate")
        super().__setstate__(state)
        self._plan = None

    # ---- groups ---------------------------------------------------------------------------------------

    def add_param_group(self, param_group):
        where = "descent.torch.%s" % type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError("%s: a parameter group is a dict, not a %s" % (where, type(param_group).__name__))
        params = param_group["params"]
        if isinstance(params, torch.Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("%s: parameters must be an ordered collection, not a set" % where)
        else:
            params = list(params)
        index = len(self.param_groups)
        seen = {}
        for k, p in enumerate(params):
            what = "parameter %d of group %d" % (k, index)
            _check_tensor(what, p, where)
            if id(p) in seen:
                raise ValueError("%s: %s is the same tensor as parameter %d of that group; each parameter "
                                 "may be listed once" % (where, what, seen[id(p)]))
            seen[id(p)] = k
        merged = dict(self.defaults)
        merged.update(param_group)
        at = "%s: group %d" % (where, index)
        _check_options(self._descent_name, self._spelling.descent_dict(merged, at), at)
        param_group = dict(param_group)
        param_group["params"] = params
        super().add_param_group(param_group)
        self._plan = None

    # ---- state dicts ----------------------------------------------------------------------------------

    def load_state_dict(self, state_dict):
        """torch's load_state_dict, after checking that every entry is one this optimizer keeps and that
        none it needs is missing; a refused dict changes nothing."""
        self._check_state_dict(state_dict)
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)
        self._plan = None

    def _check_state_dict(self, state_dict):
        where = "descent.torch.%s.load_state_dict" % type(self).__name__
        name = self._descent_name
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        state = state_dict.get("state") if isinstance(state_dict, dict) else None
        if groups is None or state is None:
            raise KeyError("%s: a state dict has 'state' and 'param_groups'" % where)
        if len(groups) != len(self.param_groups):
            raise ValueError("%s: the state dict has %d parameter groups, this optimizer %d"
                             % (where, len(groups), len(self.param_groups)))
        slots, scalars = self._slot_names
        step_kind = _STEP_KIND.get(name, "tensor")
        kept = set(slots) | set(scalars) | ({"step"} if step_kind else set())
        specs = _param_specs(self, where)
        saved_options = []
        for g, (saved, mine) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(mine["params"]):
                raise ValueError("%s: group %d has %d parameters in the state dict, %d here"
                                 % (where, g, len(saved["params"]), len(mine["params"])))
            merged = dict(self.defaults)
            merged.update({k: v for k, v in saved.items() if k != "params"})
            at = "%s: group %d" % (where, g)
            options = self._spelling.descent_dict(merged, at)
            _check_options(name, options, at)
            saved_options.append(options)
        probe = _descent.Engine(name, list(zip(specs, saved_options)))
        index = 0
        for g, saved in enumerate(groups):
            used = set(probe.slots_used(g))
            for key in saved["params"]:
                i, index = index, index + 1
                entry = state.get(key)
                if not entry:
                    continue
                what = "%s: the state of parameter %s (group %d)" % (where, key, g)
                if not isinstance(entry, dict):
                    raise ValueError("%s is a %s, not a dict" % (what, type(entry).__name__))
                present = {k for k, v in entry.items() if v is not None}
                unknown = sorted(present - kept)
                if unknown:
                    raise KeyError("%s has %s, which %s does not keep (it keeps: %s); is it another "
                                   "optimizer's state?" % (what, ", ".join(map(repr, unknown)),
                                                           type(self).__name__, ", ".join(sorted(kept))))
                needed = used | set(scalars) | ({"step"} if step_kind else set())
                missing = sorted(needed - present)
                if missing:
                    raise KeyError("%s lacks %s" % (what, ", ".join(map(repr, missing))))
                for slot in sorted(present & set(slots)):
                    t = entry[slot]
                    shape, dtype = probe.state_layout(i, slot)
                    if not isinstance(t, torch.Tensor) or list(t.shape) != shape:
                        raise ValueError("%s: '%s' is %s, not a tensor of shape %s" % (
                            what, slot, "a tensor of shape %s" % list(t.shape) if isinstance(t, torch.Tensor)
                            else repr(t), shape))
                    if t.is_floating_point() != _TORCH_DTYPES[dtype].is_floating_point:
                        raise TypeError("%s: '%s' has dtype %s, not %s" % (what, slot, t.dtype, dtype))
                for slot in scalars:
                    value = entry[slot]
                    if isinstance(value, torch.Tensor) and value.numel() != 1:
                        raise ValueError("%s: '%s' has %d elements, not 1" % (what, slot, value.numel()))
                if step_kind:
                    _step_count(entry["step"], what)


def _param_specs(self, where):
    """Each group's parameters as descent.ParamSpec, checked."""
    out = []
    index = 0
    for group in self.param_groups:
        specs = []
        for p in group["params"]:
            _check_tensor("parameter %d" % index, p, where)
            specs.append(_descent.ParamSpec("params[%d]" % index, p.data_ptr(), 0, p.numel(),
                                            _DTYPE_NAMES[p.dtype], list(p.shape)))
            index += 1
        out.append(specs)
    return out


def _step_count(value, what):
    count = float(value.item() if isinstance(value, torch.Tensor) else value)
    if not (count >= 0 and count == int(count)):
        raise ValueError("%s: 'step' is %r, not a count of steps" % (what, value))
    return int(count)


def _step(self, closure=None):
    loss = None
    if closure is not None:
        with torch.enable_grad():
            loss = closure()
    flat = [p for group in self.param_groups for p in group["params"]]
    plan = self._plan
    if plan is None or list(map(id, flat)) != plan.ids:  # the same tensor objects (plan.params keeps them alive)
        plan = self._plan = _build(self, flat)
    prepared = _prepare(self, plan, flat)
    if prepared is None:
        # a parameter's memory moved (p.data = ...) or the caller replaced a state tensor: rebuild, which
        # checks and binds everything again
        plan = self._plan = _build(self, flat)
        prepared = _prepare(self, plan, flat)
    grads, fresh, changes = prepared
    group_of = plan.group_of
    if changes:
        # rare (a schedule, a user's edit): one more call, so that slots the new options use are known
        try:
            plan.engine.apply_changes(changes)
        except (ValueError, KeyError) as e:
            raise type(e)("descent.torch.%s: param_groups: %s" % (type(self).__name__, e.args[0])) from None
        names = [f[0] for f in self._spelling.fields]
        for g, name, value in changes:
            plan.option_cache[g][names.index(name)] = value
        plan.slots_used = [plan.engine.slots_used(g) for g in range(len(self.param_groups))]
    state = self.state
    new_state = {i: _allocate(self, plan, i, group_of[i]) for i in fresh}
    if changes:
        plan.unchecked = set(range(len(flat))) - set(new_state)
    if plan.unchecked:
        # a slot the new options use that a parameter has no tensor for yet (amsgrad or momentum turned
        # on), looked for at the parameter's next step with a gradient
        for i in [i for i in plan.unchecked if grads[i]]:
            plan.unchecked.discard(i)
            if i in new_state:
                continue  # allocated above with every slot the options use
            entry = state[flat[i]]
            for slot in plan.slots_used[group_of[i]]:
                if entry.get(slot) is None:
                    t = _slot_tensor(plan, i, slot)
                    plan.engine.bind(i, slot, t.data_ptr(), t.numel(), _dtype_name(t), False)
                    entry[slot] = t
                    plan.bound[i].append((slot, t))
    stepped = plan.engine.step(grads, [], plan.step_ptrs, plan.scalar_ptrs)
    for i, entry in new_state.items():
        state[flat[i]].update(entry)
    if stepped and _STEP_KIND.get(self._descent_name, "tensor") == "int":
        for i, p in enumerate(flat):
            if grads[i]:
                state[p]["step"] += 1
    return loss


def _prepare(self, plan, flat):
    """This step's gradient addresses, the parameters stepping for the first time and the option changes;
    None when the plan no longer matches the tensors."""
    where = "descent.torch.%s" % type(self).__name__
    spelling = self._spelling
    changes = []
    for g, group in enumerate(self.param_groups):
        values = spelling.values(group)
        cached = plan.option_cache[g]
        if values != cached:
            for (name, key, _), value, old in zip(spelling.fields, values, cached):
                if value != old:
                    if isinstance(value, torch.Tensor):
                        raise TypeError("%s: group %d: %s is a tensor; descent takes numbers" % (where, g, key))
                    changes.append((g, name, value))
    grads = [0] * len(flat)
    fresh = []
    state = self.state
    values = plan.values
    bound = plan.bound
    for i, p in enumerate(flat):
        grad = p.grad
        if grad is None:
            continue
        # is_cpu: the same test as device.type == "cpu", at a quarter of its cost per tensor
        if grad.layout != torch.strided or not grad.is_cpu or grad.dtype is not p.dtype \
                or not grad.is_contiguous():
            _check_tensor("the gradient of parameter %d" % i, grad, where)
            raise TypeError("%s: the gradient of parameter %d has dtype %s, the parameter %s"
                            % (where, i, grad.dtype, p.dtype))
        if p.data_ptr() != values[i]:
            return None
        grads[i] = grad.data_ptr()
        entry = state.get(p)
        if not entry:
            fresh.append(i)
        else:
            for slot, t in bound[i]:
                if entry.get(slot) is not t:
                    return None
    return grads, fresh, changes


def _scalar_dtype(self):
    return _SCALAR_DTYPE.get(self._descent_name, torch.float64)


def _group_index(self):
    return [g for g, group in enumerate(self.param_groups) for _ in group["params"]]


def _dtype_name(t):
    return str(t.dtype).replace("torch.", "")


def _slot_tensor(plan, i, slot):
    shape, dtype = plan.engine.state_layout(i, slot)
    return torch.zeros(shape, dtype=_TORCH_DTYPES[dtype])


def _allocate(self, plan, i, group):
    """State for a parameter's first step, under torch's names, bound into descent (which fills it)."""
    entry = {}
    kind = _STEP_KIND.get(self._descent_name, "tensor")
    if kind == "tensor":
        entry["step"] = torch.tensor(0.0)
        plan.step_ptrs[i] = entry["step"].data_ptr()
    elif kind == "int":
        entry["step"] = 0
    if kind:
        plan.engine.set_step_count(i, 0)  # torch's count starts again with its state
    _, scalars = self._slot_names
    for k, slot in enumerate(scalars):
        entry[slot] = torch.tensor(plan.engine.scalar_state(i, slot), dtype=_scalar_dtype(self))
        plan.scalar_ptrs[i][k] = (entry[slot].data_ptr(), entry[slot].dtype == torch.float32)
    for slot in plan.slots_used[group]:
        t = _slot_tensor(plan, i, slot)
        plan.engine.bind(i, slot, t.data_ptr(), t.numel(), _dtype_name(t), False)
        entry[slot] = t
        plan.bound[i].append((slot, t))
    return entry


def _build(self, flat):
    """Builds the descent optimizer over the groups and binds the state torch holds."""
    where = "descent.torch.%s" % type(self).__name__
    name = self._descent_name
    groups = [(specs, self._spelling.descent_dict(group, "%s: group %d" % (where, g)))
              for g, (specs, group) in enumerate(zip(_param_specs(self, where), self.param_groups))]
    plan = _Plan()
    plan.engine = _descent.Engine(name, groups)
    if self._threads is not None:
        plan.engine.set_num_threads(self._threads)
    plan.engine.set_nonfinite_policy(self._nonfinite)
    plan.params = flat
    plan.ids = list(map(id, flat))
    plan.values = [p.data_ptr() for p in flat]
    plan.option_cache = [self._spelling.values(group) for group in self.param_groups]
    plan.slots_used = [plan.engine.slots_used(g) for g in range(len(self.param_groups))]
    plan.bound = [[] for _ in flat]
    plan.step_ptrs = [0] * len(flat)
    slots, scalars = self._slot_names
    plan.scalar_ptrs = [[(0, False)] * len(scalars) for _ in flat]
    kind = _STEP_KIND.get(name, "tensor")
    group_of = plan.group_of = _group_index(self)
    plan.unchecked = set()
    for i, p in enumerate(flat):
        entry = self.state.get(p)
        if not entry:
            continue
        what = "the state of parameter %d" % i
        if not kind:
            # torch keeps no count (SGD): its state means at least one step was taken, which is all the
            # update uses (the momentum buffer's first step)
            plan.engine.set_step_count(i, 1)
            count = 1
        else:
            count = _step_count(entry["step"], "%s: %s" % (where, what))
            plan.engine.set_step_count(i, count)
            if kind == "tensor":
                if not (isinstance(entry["step"], torch.Tensor) and entry["step"].dtype == torch.float32
                        and entry["step"].numel() == 1 and entry["step"].device.type == "cpu"):
                    entry["step"] = torch.tensor(float(count))
                plan.step_ptrs[i] = entry["step"].data_ptr()
                plan.bound[i].append(("step", entry["step"]))
        for slot in slots:
            t = entry.get(slot)
            if t is None:
                if slot in plan.slots_used[group_of[i]]:
                    raise KeyError("%s: %s lacks '%s'" % (where, what, slot))
                continue
            shape, dtype = plan.engine.state_layout(i, slot)
            if not isinstance(t, torch.Tensor) or t.layout != torch.strided or t.device.type != "cpu" \
                    or t.dtype != _TORCH_DTYPES[dtype] or list(t.shape) != list(shape) \
                    or not t.is_contiguous():
                raise ValueError("%s: %s: '%s' must be a contiguous CPU %s tensor of shape %s, not %r"
                                 % (where, what, slot, dtype, shape, t if not isinstance(t, torch.Tensor)
                                    else "a %s %s tensor of shape %s" % (t.device, t.dtype, list(t.shape))))
            # a count of 0 (torch's Adagrad fills its state before any step): descent fills it at the first step
            plan.engine.bind(i, slot, t.data_ptr(), t.numel(), dtype, count > 0)
            plan.bound[i].append((slot, t))
        for k, slot in enumerate(scalars):
            value = entry[slot]
            plan.engine.set_scalar_state(i, slot, float(value.item() if isinstance(value, torch.Tensor) else value))
            kept = (torch.float64,) if _scalar_dtype(self) == torch.float64 else (torch.float32, torch.float64)
            if not (isinstance(value, torch.Tensor) and value.dtype in kept and value.numel() == 1
                    and value.device.type == "cpu" and value.is_contiguous()):
                entry[slot] = torch.tensor(plan.engine.scalar_state(i, slot), dtype=_scalar_dtype(self))
            plan.scalar_ptrs[i][k] = (entry[slot].data_ptr(), entry[slot].dtype == torch.float32)
            plan.bound[i].append((slot, entry[slot]))
    return plan


DescentOptimizer.step = torch.no_grad()(_step)

optimizers = {}
for _name in _descent.optimizer_names():
    _kind = _descent.kind_name(_name)
    _cls = type(_kind, (DescentOptimizer,), {
        "_descent_name": _name,
        "_spelling": _Spelling(_name),
        "_slot_names": _descent.slot_names(_name),
        "__module__": __name__,
        "__doc__": "descent's %s as a torch.optim.Optimizer (options: %s); see descent.torch."
                   % (_kind, ", ".join(i["name"] for i in _descent.option_info(_name))),
    })
    globals()[_kind] = _cls
    optimizers[_kind] = _cls
    __all__.append(_kind)
    if _name in _ALIASES:
        globals()[_ALIASES[_name]] = _cls
        __all__.append(_ALIASES[_name])
del _name, _kind, _cls
