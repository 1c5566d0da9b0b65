// descent._descent: the compiled half of the Python package. It knows nothing of torch or NumPy: the Python
// half (python/descent/) checks tensors and arrays and hands their addresses here, so that one engine
// serves descent.torch.<Optimizer>, the NumPy optimizers and descent.minimize.
//
// Errors: descent::InvalidArgument becomes ValueError, descent::NotFound KeyError, any other
// descent::Error RuntimeError, each with descent's message (dtype checks happen in Python: TypeError).
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "descent/checkpoint.hpp"
#include "descent/compose.hpp"
#include "descent/factory.hpp"
#include "descent/minimize.hpp"
#include "descent/optimizer.hpp"
#include "descent/schedule.hpp"

namespace py = pybind11;

namespace descent::python {
namespace {

std::vector<std::string> names_of(const std::vector<std::string_view>& names) {
  return {names.begin(), names.end()};
}

// The slots torch allocates for group `group` of `optimizer` (the state PyTorch keeps: max_exp_avg_sq only
// with amsgrad). None for a Composite (the registry's "muon": Muon for the matrices, AdamW for the rest):
// it splits a torch group into groups of its own, so torch's group numbers are not its own, and its state
// stays in descent's arenas.
std::vector<std::string> torch_slots(const Optimizer& optimizer, std::size_t group) {
  if (dynamic_cast<const Composite*>(&optimizer)) return {};
  return names_of(optimizer.slots_in_use(group));
}

constexpr std::pair<std::string_view, DType> kDTypeNames[] = {
    {"float32", DType::Float32}, {"float64", DType::Float64}, {"bfloat16", DType::BFloat16},
    {"float16", DType::Float16}, {"uint8", DType::UInt8},     {"int32", DType::Int32},
    {"int64", DType::Int64}};

DType dtype_from(std::string_view name) {
  for (const auto& [text, dtype] : kDTypeNames)
    if (text == name) return dtype;
  throw InvalidArgument("unknown dtype '" + excerpt(name) + "'");
}

std::string_view dtype_name(DType dtype) {
  for (const auto& [text, d] : kDTypeNames)
    if (d == dtype) return text;
  return "unknown";
}

// Sets one option from a Python value: a str for a Choice option, a bool or number otherwise.
void set_option(Options& options, const std::string& name, const py::handle& value) {
  options.get(name);  // NotFound (KeyError) for an unknown name, before the value's type is looked at
  if (py::isinstance<py::str>(value)) {
    options.set_choice(name, value.cast<std::string>());
  } else if (py::isinstance<py::bool_>(value)) {
    options.set(name, value.cast<bool>() ? 1.0 : 0.0);
  } else {
    double number = 0.0;
    try {
      number = value.cast<double>();
    } catch (const py::cast_error&) {
      throw InvalidArgument(std::string(options.optimizer()) + ": option " + name + " needs a number, not " +
                            excerpt(py::str(py::repr(value)).cast<std::string>()));
    }
    options.set(name, number);
  }
}

std::unique_ptr<Options> options_from(const std::string& optimizer, const py::dict& values) {
  auto options = make_options(optimizer);
  for (const auto& [key, value] : values) set_option(*options, key.cast<std::string>(), value);
  options->validate();
  return options;
}

py::object option_value(const Options& options, const OptionInfo& info) {
  const double v = options.get(info.name);
  switch (info.type) {
    case OptionType::Bool: return py::bool_(v != 0.0);
    case OptionType::Int: return py::int_(static_cast<std::int64_t>(v));
    case OptionType::Choice: return py::str(std::string(options.choice(info.name)));
    case OptionType::Real: break;
  }
  return py::float_(v);
}

py::dict options_dict(const Options& options) {
  py::dict out;
  for (const OptionInfo& info : options.info()) out[py::str(std::string(info.name))] = option_value(options, info);
  return out;
}

// A parameter as the Python half describes it: addresses of memory it keeps alive.
struct ParamSpec {
  std::string name;
  std::uintptr_t value = 0;
  std::uintptr_t grad = 0;  // 0: no gradient yet
  std::size_t numel = 0;
  std::string dtype;
  std::vector<std::int64_t> shape;
};

Parameter make_parameter(const ParamSpec& spec) {
  switch (dtype_from(spec.dtype)) {
    case DType::Float32:
      return Parameter(spec.name, {reinterpret_cast<float*>(spec.value), spec.numel},
                       {reinterpret_cast<float*>(spec.grad), spec.grad ? spec.numel : 0}, spec.shape);
    case DType::Float64:
      return Parameter(spec.name, {reinterpret_cast<double*>(spec.value), spec.numel},
                       {reinterpret_cast<double*>(spec.grad), spec.grad ? spec.numel : 0}, spec.shape);
    default:
      throw InvalidArgument("parameter " + excerpt(spec.name) + ": dtype " + spec.dtype +
                            " is not a parameter dtype (float32, float64)");
  }
}

// Where the torch adapter keeps one scalar state of one parameter: the address of a singleton tensor and
// whether it is float32 (torch 1.13's ASGD keeps eta and mu so) rather than float64; address 0: none.
using ScalarPlace = std::pair<std::uintptr_t, bool>;

// A built optimizer and what the adapters cache about it.
class Engine {
 public:
  Engine(const std::string& optimizer, const std::vector<std::pair<std::vector<ParamSpec>, py::dict>>& groups) {
    if (groups.empty()) throw InvalidArgument(optimizer + ": no parameter group");
    for (std::size_t g = 0; g < groups.size(); ++g) {
      std::vector<Parameter> params;
      for (const ParamSpec& spec : groups[g].first) {
        params.push_back(make_parameter(spec));
        names_.push_back(spec.name);
        numel_.push_back(spec.numel);
        dtype_.push_back(dtype_from(spec.dtype));
        grads_.push_back(spec.grad);
        group_of_.push_back(g);
      }
      auto options = options_from(optimizer, groups[g].second);
      if (g == 0) {
        optimizer_ = make_optimizer(optimizer, std::move(params), *options);
      } else {
        optimizer_->add_param_group(std::move(params), std::move(options));
      }
    }
  }

  Optimizer& optimizer() { return *optimizer_; }
  std::size_t size() const { return names_.size(); }
  const std::string& name(std::size_t index) const { return names_.at(index); }

  std::vector<std::string> slots_used(std::size_t group) const { return torch_slots(*optimizer_, group); }

  py::tuple state_layout(std::size_t index, const std::string& slot) const {
    const SlotLayout layout = optimizer_->state_layout(name(index), slot);
    return py::make_tuple(layout.shape, std::string(dtype_name(layout.dtype)));
  }

  void bind(std::size_t index, const std::string& slot, std::uintptr_t data, std::size_t elements,
            const std::string& dtype, bool holds_state) {
    optimizer_->bind_state(name(index), slot, reinterpret_cast<void*>(data), elements, dtype_from(dtype), holds_state);
  }

  // Applies option changes [(group, name, value)] all or nothing: each group's changes go to a copy first.
  void apply_changes(const std::vector<std::tuple<std::size_t, std::string, py::object>>& changes) {
    if (changes.empty()) return;
    std::vector<std::unique_ptr<Options>> trial(optimizer_->num_groups());
    for (const auto& [group, key, value] : changes) {
      auto& copy = trial.at(group);
      if (!copy) copy = optimizer_->group(group).options().clone();
      set_option(*copy, key, value);
    }
    for (const auto& copy : trial)
      if (copy) copy->validate();
    for (const auto& [group, key, value] : changes) set_option(optimizer_->group(group).options(), key, value);
  }

  void set_grads(const std::vector<std::uintptr_t>& grads) {
    if (grads.size() != size())
      throw InvalidArgument("step: " + std::to_string(grads.size()) + " gradients for " + std::to_string(size()) +
                            " parameters");
    for (std::size_t i = 0; i < grads.size(); ++i) {
      if (grads[i] == grads_[i]) continue;
      if (dtype_[i] == DType::Float32) {
        optimizer_->set_grad(names_[i], {reinterpret_cast<float*>(grads[i]), grads[i] ? numel_[i] : 0});
      } else {
        optimizer_->set_grad(names_[i], {reinterpret_cast<double*>(grads[i]), grads[i] ? numel_[i] : 0});
      }
      grads_[i] = grads[i];
    }
  }

  // One step of the torch adapter: options that changed, this step's gradients, and the addresses of
  // torch's float32 'step' tensors (0: kept elsewhere) and scalar-state tensors, read before the step and
  // written after it. The step itself runs without the GIL.
  bool step(const std::vector<std::uintptr_t>& grads,
            const std::vector<std::tuple<std::size_t, std::string, py::object>>& changes,
            const std::vector<std::uintptr_t>& step_ptrs, const std::vector<std::vector<ScalarPlace>>& scalar_ptrs) {
    if (step_ptrs.size() != size() || scalar_ptrs.size() != size())
      throw InvalidArgument("step: state addresses for " + std::to_string(step_ptrs.size()) + " parameters, not " +
                            std::to_string(size()));
    apply_changes(changes);
    set_grads(grads);
    const auto scalar_names = optimizer_->scalar_slot_names();
    for (std::size_t i = 0; i < size(); ++i) {
      if (!grads_[i]) continue;
      if (step_ptrs[i]) {
        const float held = *reinterpret_cast<const float*>(step_ptrs[i]);
        if (!(held >= 0.0f) || held != std::floor(held))
          throw InvalidArgument("parameter " + names_[i] + ": state 'step' is " + format_number(held) +
                                ", not a count of steps");
        const auto count = static_cast<std::int64_t>(held);
        if (count != optimizer_->step_count(names_[i])) optimizer_->set_step_count(names_[i], count);
      }
      for (std::size_t s = 0; s < scalar_ptrs[i].size() && s < scalar_names.size(); ++s) {
        const auto [address, float32] = scalar_ptrs[i][s];
        if (!address) continue;
        const double held = float32 ? *reinterpret_cast<const float*>(address) : *reinterpret_cast<const double*>(address);
        if (held != optimizer_->scalar_state(names_[i], scalar_names[s]))
          optimizer_->set_scalar_state(names_[i], scalar_names[s], held);
      }
    }
    bool stepped = false;
    {
      py::gil_scoped_release release;
      stepped = optimizer_->step();
    }
    for (std::size_t i = 0; i < size(); ++i) {
      if (!grads_[i]) continue;
      // float32 counts exactly up to 2^24 steps, as PyTorch 1.13's own 'step' tensor does.
      if (step_ptrs[i])
        *reinterpret_cast<float*>(step_ptrs[i]) = static_cast<float>(optimizer_->step_count(names_[i]));
      for (std::size_t s = 0; s < scalar_ptrs[i].size() && s < scalar_names.size(); ++s) {
        const auto [address, float32] = scalar_ptrs[i][s];
        if (!address) continue;
        const double value = optimizer_->scalar_state(names_[i], scalar_names[s]);
        if (float32) {
          *reinterpret_cast<float*>(address) = static_cast<float>(value);
        } else {
          *reinterpret_cast<double*>(address) = value;
        }
      }
    }
    return stepped;
  }

  // Seconds of each of `repeats` steps timed in C++ (steady_clock around Optimizer::step(), no Python in
  // the loop), over whatever gradients and state are attached now: bench/python_step.py compares the
  // Python step with this, the same step of the same optimizer from C++.
  std::vector<double> time_steps(int repeats) {
    std::vector<double> seconds;
    py::gil_scoped_release release;
    for (int r = 0; r < repeats; ++r) {
      const auto start = std::chrono::steady_clock::now();
      optimizer_->step();
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return seconds;
  }

  // The NumPy optimizers' step: gradients were attached when the parameters were given.
  bool plain_step() {
    py::gil_scoped_release release;
    return optimizer_->step();
  }

 private:
  std::unique_ptr<Optimizer> optimizer_;
  std::vector<std::string> names_;
  std::vector<std::size_t> numel_;
  std::vector<DType> dtype_;
  std::vector<std::uintptr_t> grads_;
  std::vector<std::size_t> group_of_;
};

// One slot's values of one parameter, copied into a Python buffer-like (bytes) with its layout; the
// Python half wraps it as a NumPy array.
py::tuple state_bytes(Engine& engine, std::size_t index, const std::string& slot) {
  Optimizer& opt = engine.optimizer();
  const SlotLayout layout = opt.state_layout(engine.name(index), slot);
  py::bytes data;
  visit_any_dtype(layout.dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto values = opt.state<T>(engine.name(index), slot);
    data = py::bytes(reinterpret_cast<const char*>(values.data()), values.size_bytes());
  });
  return py::make_tuple(data, layout.shape, std::string(dtype_name(layout.dtype)));
}

py::dict info_of(const OptionInfo& info) {
  py::dict d;
  d["name"] = std::string(info.name);
  d["type"] = std::string(info.type_name());
  d["default"] = info.default_value;
  d["min"] = info.min;
  d["max"] = info.max;
  d["min_inclusive"] = info.min_inclusive;
  d["max_inclusive"] = info.max_inclusive;
  d["meaning"] = std::string(info.meaning);
  std::vector<std::string> choices(info.choices.begin(), info.choices.end());
  d["choices"] = choices;
  return d;
}

// An optimizer of the kind over one float parameter: what the registry knows about its slots.
struct Probe {
  float value[1] = {0.0f};
  float grad[1] = {0.0f};
  std::unique_ptr<Optimizer> optimizer;
  explicit Probe(const std::string& name)
      : optimizer(make_optimizer(name, {Parameter("probe", std::span<float>(value), std::span<float>(grad))})) {}

  // torch_slots() with `options` (checked, of this kind): the probe's group takes their values.
  std::vector<std::string> slots_used(const Options& options) {
    if (dynamic_cast<const Composite*>(optimizer.get())) return {};  // whose group 0 may run another rule
    Options& own = optimizer->group(0).options();
    for (const OptionInfo& info : options.info()) own.set(info.name, options.get(info.name));
    return torch_slots(*optimizer, 0);
  }
};

// ---- minimize -----------------------------------------------------------------------------------------

Method method_from(const std::string& name, const py::dict& options) {
  for (std::string_view known : second_order_method_names()) {
    if (known != name) continue;
    Method method = second_order_method(name);
    if (auto* lbfgs = std::get_if<LBFGSOptions>(&method)) {
      for (const auto& [key, value] : options) {
        const auto k = key.cast<std::string>();
        if (k == "lr") lbfgs->lr = value.cast<double>();
        else if (k == "history_size") lbfgs->history_size = value.cast<int>();
        else throw NotFound("minimize: method lbfgs has no option '" + excerpt(k) + "' (lr, history_size)");
      }
    } else if (!options.empty()) {
      throw NotFound("minimize: method " + name + " takes no method options (use maxiter, gtol, ftol)");
    }
    return method;
  }
  FirstOrder first;
  first.optimizer = name;
  make_options(name);  // NotFound naming the method for an unknown name
  for (const auto& [key, value] : options) first.options[key.cast<std::string>()] = value.cast<double>();
  make_options(name, first.options);  // each override checked now, by name
  return first;
}

py::dict run_minimize(const py::function& fun, std::vector<double> x0, const std::string& method_name,
                      const py::dict& method_options, const std::optional<py::function>& hessp,
                      const std::optional<py::function>& hess, std::size_t maxiter, double gtol, double ftol,
                      const std::optional<py::function>& callback) {
  const std::size_t n = x0.size();
  auto to_list = [](std::span<const double> x) { return py::list(py::cast(std::vector<double>(x.begin(), x.end()))); };
  auto copy_into = [n](const py::object& values, std::span<double> out, const char* what) {
    const auto v = values.cast<std::vector<double>>();
    if (v.size() != n)
      throw InvalidArgument(std::string("minimize: ") + what + " has " + std::to_string(v.size()) +
                            " values for a point of dimension " + std::to_string(n));
    std::copy(v.begin(), v.end(), out.begin());
  };
  FunctionObjective::Hessian h;
  if (hess)
    h = [&](std::span<const double> x, std::span<double> out) {
      const auto rows = (*hess)(to_list(x)).cast<std::vector<std::vector<double>>>();
      if (rows.size() != n) throw InvalidArgument("minimize: hess returned " + std::to_string(rows.size()) + " rows");
      for (std::size_t r = 0; r < n; ++r) copy_into(py::cast(rows[r]), out.subspan(r * n, n), "a row of hess");
    };
  FunctionObjective::HessianVectorProduct hv;
  if (hessp)
    hv = [&](std::span<const double> x, std::span<const double> v, std::span<double> out) {
      copy_into((*hessp)(to_list(x), to_list(v)), out, "hessp's result");
    };
  FunctionObjective objective(
      n,
      [&](std::span<const double> x, std::span<double> grad) {
        const py::tuple result = fun(to_list(x));
        if (result.size() != 2) throw InvalidArgument("minimize: fun must return (value, gradient) with jac=True");
        copy_into(result[1], grad, "the gradient");
        return result[0].cast<double>();
      },
      h, hv);
  Stopping stopping;
  stopping.max_iterations = maxiter;
  stopping.gradient_tolerance = gtol;
  stopping.relative_tolerance = ftol;
  Observe observe;
  if (callback)
    observe.callback = [&](const IterationInfo& info) {
      if (info.iteration == 0) return true;
      const py::object r = (*callback)(to_list(info.x));
      return r.is_none() || !r.cast<bool>();  // SciPy: a callback returning True stops
    };
  const MinimizeResult r = minimize(objective, std::move(x0), method_from(method_name, method_options), stopping, observe);
  py::dict out;
  out["x"] = r.x;
  out["fun"] = r.value;
  out["grad_norm"] = r.gradient_norm;
  out["nit"] = r.iterations;
  out["nfev"] = r.function_evaluations;
  out["njev"] = r.gradient_evaluations;
  out["nhev"] = r.hessian_evaluations + r.hessian_vector_products;
  out["reason"] = std::string(to_string(r.reason));
  out["success"] = r.reason == StopReason::kGradientTolerance || r.reason == StopReason::kRelativeChange ||
                   r.reason == StopReason::kStepTolerance || r.reason == StopReason::kSmallDirectionalDerivative;
  return out;
}

}  // namespace
}  // namespace descent::python

PYBIND11_MODULE(_descent, m) {
  using namespace descent;
  using namespace descent::python;
  m.doc() = "descent's compiled core; use the descent package (descent.torch, descent.Adam, descent.minimize)";

  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const NotFound& e) {
      PyErr_SetString(PyExc_KeyError, e.what());
    } catch (const InvalidArgument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });

  m.def("optimizer_names", [] {
    std::vector<std::string> out;
    for (std::string_view name : optimizer_names()) out.emplace_back(name);
    return out;
  });
  m.def("kind_name", [](const std::string& name) { return std::string(make_options(name)->optimizer()); },
        "the optimizer's own spelling (\"AdamW\") of a registry name (\"adamw\")");
  m.def("option_info", [](const std::string& name) {
    py::list out;
    for (const OptionInfo& info : make_options(name)->info()) out.append(info_of(info));
    return out;
  });
  m.def("slot_names", [](const std::string& name) {
    Probe probe(name);
    std::vector<std::string> slots, scalars;
    for (auto s : probe.optimizer->slot_names()) slots.emplace_back(s);
    for (auto s : probe.optimizer->scalar_slot_names()) scalars.emplace_back(s);
    return py::make_tuple(slots, scalars);
  });
  m.def("check_options", [](const std::string& name, const py::dict& values) { return options_dict(*options_from(name, values)); },
        "the options with these values, each checked; raises ValueError or KeyError naming the bad one");
  m.def("slots_used", [](const std::string& name, const py::dict& values) {
    Probe probe(name);
    return probe.slots_used(*options_from(name, values));
  });

  py::class_<ParamSpec>(m, "ParamSpec")
      .def(py::init([](std::string name, std::uintptr_t value, std::uintptr_t grad, std::size_t numel,
                       std::string dtype, std::vector<std::int64_t> shape) {
             return ParamSpec{std::move(name), value, grad, numel, std::move(dtype), std::move(shape)};
           }),
           py::arg("name"), py::arg("value"), py::arg("grad"), py::arg("numel"), py::arg("dtype"), py::arg("shape"));

  py::class_<Engine>(m, "Engine")
      .def(py::init<const std::string&, const std::vector<std::pair<std::vector<ParamSpec>, py::dict>>&>())
      .def("__len__", &Engine::size)
      .def("name", &Engine::name)
      .def("slots_used", &Engine::slots_used)
      .def("state_layout", &Engine::state_layout)
      .def("bind", &Engine::bind, py::arg("index"), py::arg("slot"), py::arg("data"), py::arg("elements"),
           py::arg("dtype"), py::arg("holds_state"))
      .def("step", &Engine::step)
      .def("plain_step", &Engine::plain_step)
      .def("time_steps", &Engine::time_steps)
      .def("set_grads", &Engine::set_grads)
      .def("apply_changes", &Engine::apply_changes)
      .def("set_num_threads", [](Engine& e, std::size_t n) { e.optimizer().set_num_threads(n); })
      .def("num_threads", [](Engine& e) { return e.optimizer().num_threads(); })
      .def("set_nonfinite_policy",
           [](Engine& e, const std::string& policy) {
             if (policy == "raise") e.optimizer().set_nonfinite_policy(NonFinitePolicy::Raise);
             else if (policy == "skip") e.optimizer().set_nonfinite_policy(NonFinitePolicy::Skip);
             else if (policy == "propagate") e.optimizer().set_nonfinite_policy(NonFinitePolicy::Propagate);
             else throw InvalidArgument("nonfinite policy '" + excerpt(policy) + "' is none of raise, skip, propagate");
           })
      .def("set_step_count", [](Engine& e, std::size_t i, std::int64_t n) { e.optimizer().set_step_count(e.name(i), n); })
      .def("step_count", [](Engine& e, std::size_t i) { return e.optimizer().step_count(e.name(i)); })
      .def("set_scalar_state", [](Engine& e, std::size_t i, const std::string& slot, double v) {
             e.optimizer().set_scalar_state(e.name(i), slot, v);
           })
      .def("scalar_state", [](Engine& e, std::size_t i, const std::string& slot) {
             return e.optimizer().scalar_state(e.name(i), slot);
           })
      .def("has_state", [](Engine& e, std::size_t i, const std::string& slot) { return e.optimizer().has_state(e.name(i), slot); })
      .def("state", &state_bytes)
      .def("zero_grad", [](Engine& e) { e.optimizer().zero_grad(); })
      .def("num_groups", [](Engine& e) { return e.optimizer().num_groups(); })
      .def("options", [](Engine& e, std::size_t g) { return options_dict(e.optimizer().group(g).options()); })
      .def("save", [](Engine& e, const std::string& path) { save_checkpoint(path, e.optimizer().state_dict()); })
      .def("load", [](Engine& e, const std::string& path, bool strict) {
             const LoadReport report = e.optimizer().load_state_dict(load_checkpoint(path), strict);
             return py::make_tuple(report.missing, report.unexpected);
           }, py::arg("path"), py::arg("strict") = true);

  // Learning-rate schedules over an Engine (the NumPy optimizers); each keeps its engine alive.
  py::class_<Scheduler>(m, "Scheduler")
      .def("lr", &Scheduler::lr, py::arg("group") = 0)
      .def("last_step", &Scheduler::last_step);
  py::class_<LRScheduler, Scheduler>(m, "LRScheduler").def("step", &LRScheduler::step);
  m.def("StepLR", [](Engine& e, std::int64_t step_size, double gamma) {
          return std::unique_ptr<LRScheduler>(std::make_unique<StepLR>(e.optimizer(), step_size, gamma));
        }, py::keep_alive<0, 1>(), py::arg("engine"), py::arg("step_size"), py::arg("gamma") = 0.1);
  m.def("ExponentialLR", [](Engine& e, double gamma) {
          return std::unique_ptr<LRScheduler>(std::make_unique<ExponentialLR>(e.optimizer(), gamma));
        }, py::keep_alive<0, 1>(), py::arg("engine"), py::arg("gamma"));
  m.def("CosineAnnealingLR", [](Engine& e, std::int64_t t_max, double eta_min) {
          return std::unique_ptr<LRScheduler>(std::make_unique<CosineAnnealingLR>(e.optimizer(), t_max, eta_min));
        }, py::keep_alive<0, 1>(), py::arg("engine"), py::arg("T_max"), py::arg("eta_min") = 0.0);
  m.def("LinearLR", [](Engine& e, double start_factor, double end_factor, std::int64_t total_iters) {
          return std::unique_ptr<LRScheduler>(std::make_unique<LinearLR>(e.optimizer(), start_factor, end_factor, total_iters));
        }, py::keep_alive<0, 1>(), py::arg("engine"), py::arg("start_factor") = 1.0 / 3, py::arg("end_factor") = 1.0,
        py::arg("total_iters") = 5);

  m.def("second_order_methods", [] {
    std::vector<std::string> out;
    for (auto name : second_order_method_names()) out.emplace_back(name);
    return out;
  });
  m.def("minimize", &run_minimize, py::arg("fun"), py::arg("x0"), py::arg("method"), py::arg("method_options"),
        py::arg("hessp"), py::arg("hess"), py::arg("maxiter"), py::arg("gtol"), py::arg("ftol"), py::arg("callback"));
}
