// descent::TorchLBFGS (include/descent/torch.hpp): descent::LBFGS (descent::minimize) driven by a torch
// closure. The parameters are one flat float64 vector; the objective copies a point into the tensors,
// calls the closure and copies the gradients out.
#include <ATen/core/grad_mode.h>
#include <c10/core/GradMode.h>
#include <c10/core/ScalarType.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <utility>

#include "descent/error.hpp"
#include "descent/minimize/lbfgs.hpp"
#include "descent/minimize/objective.hpp"
#include "descent/torch.hpp"
#include "tensor_checks.hpp"

namespace descent {

namespace {

constexpr std::string_view kWho = "descent::TorchLBFGS: ";

std::string why_not_parameter(const at::Tensor& t) {
  std::string why = torch_detail::refusal(t, at::ScalarType::Undefined);  // (float32 or float64 pass)
  if (why.empty() && t.scalar_type() != at::kDouble) {
    // float32 is refused rather than run in double: the closure would then see the point rounded to
    // float32, not the iterate L-BFGS reasons about (docs/torch.md).
    why = std::string("has dtype ") + c10::toString(t.scalar_type()) +
          "; TorchLBFGS runs in float64: convert the model with .to(torch::kDouble)";
  }
  if (why.empty() && !t.requires_grad()) why = "does not require grad";
  if (why.empty() && !t.is_leaf()) why = "is not a leaf tensor (it is computed from others)";
  return why;
}

int to_int(std::int64_t value, const char* option) {
  if (value < 1 || value > INT_MAX) {
    throw InvalidArgument(std::string(kWho) + "option '" + option + "' = " + std::to_string(value) +
                          " is out of range: must be an integer in [1, " + std::to_string(INT_MAX) + "]");
  }
  return static_cast<int>(value);
}

// descent's options from torch's names; the ranges are checked by LBFGSOptions::validate().
LBFGSOptions to_descent(const TorchLBFGSOptions& o) {
  LBFGSOptions d;
  d.lr = o.lr();
  d.max_iter = to_int(o.max_iter(), "max_iter");
  d.max_eval = to_int(o.max_eval().value_or(o.max_iter() * 5 / 4), "max_eval");
  d.tolerance_grad = o.tolerance_grad();
  d.tolerance_change = o.tolerance_change();
  d.history_size = to_int(o.history_size(), "history_size");
  if (!o.line_search_fn().has_value()) {
    d.line_search = LineSearch::None;
  } else if (*o.line_search_fn() == "strong_wolfe") {
    d.line_search = LineSearch::StrongWolfe;
  } else {
    throw InvalidArgument(std::string(kWho) + "option 'line_search_fn' = \"" + *o.line_search_fn() +
                          "\" is not supported: only \"strong_wolfe\" (or none)");
  }
  d.validate();
  return d;
}

}  // namespace

struct TorchLBFGS::Impl final : Objective {
  std::vector<std::string> names;
  std::vector<at::Tensor> params;
  std::size_t n = 0;
  std::optional<LBFGS> lbfgs;  // refers to *this as its objective

  // Set for the duration of one step():
  const LossClosure* closure = nullptr;
  mutable at::Tensor first_loss;
  mutable int evaluations = 0;

  std::size_t dimension() const override { return n; }

  // Writes x into the parameter tensors, as torch's _add_grad / _set_param do in place.
  void write(std::span<const double> x) const {
    std::size_t offset = 0;
    for (const at::Tensor& p : params) {
      const auto count = static_cast<std::size_t>(p.numel());
      std::memcpy(p.data_ptr<double>(), x.data() + offset, count * sizeof(double));
      p.unsafeGetTensorImpl()->bump_version();  // changed in place, as torch's in-place updates mark it
      offset += count;
    }
  }

  double evaluate(std::span<const double> x, std::span<double> grad) const override {
    write(x);
    at::Tensor loss;
    {
      at::AutoGradMode enable_grad(true);
      loss = (*closure)();
    }
    if (!loss.defined() || loss.numel() != 1) {
      throw InvalidArgument(std::string(kWho) + "the closure returned " +
                            (loss.defined() ? "a tensor of " + std::to_string(loss.numel()) + " elements"
                                            : std::string("an undefined tensor")) +
                            ", not the loss (one number)");
    }
    std::size_t offset = 0;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const at::Tensor& p = params[i];
      const auto count = static_cast<std::size_t>(p.numel());
      const at::Tensor g = p.grad();
      if (!g.defined()) {
        std::fill_n(grad.begin() + static_cast<std::ptrdiff_t>(offset), count, 0.0);  // torch: zeros
      } else {
        std::string why = torch_detail::refusal(g, at::kDouble);
        if (why.empty() && g.numel() != p.numel()) {
          why = "has " + std::to_string(g.numel()) + " elements, its parameter " + std::to_string(p.numel());
        }
        if (!why.empty()) throw InvalidArgument(std::string(kWho) + "gradient of '" + names[i] + "' " + why);
        std::memcpy(grad.data() + offset, g.data_ptr<double>(), count * sizeof(double));
      }
      offset += count;
    }
    const double value = loss.item<double>();
    if (evaluations++ == 0) first_loss = loss;
    return value;
  }
};

TorchLBFGS::TorchLBFGS(const NamedTensors& named_parameters, const TorchLBFGSOptions& options)
    : TorchLBFGS(std::vector<std::pair<std::string, at::Tensor>>(named_parameters.pairs()), options) {}

TorchLBFGS::TorchLBFGS(const std::vector<at::Tensor>& parameters, const TorchLBFGSOptions& options)
    : TorchLBFGS(
          [&] {
            std::vector<std::pair<std::string, at::Tensor>> named;
            for (std::size_t i = 0; i < parameters.size(); ++i) {
              named.emplace_back("param_groups.0." + std::to_string(i), parameters[i]);
            }
            return named;
          }(),
          options) {}

TorchLBFGS::TorchLBFGS(const std::vector<std::pair<std::string, at::Tensor>>& named_parameters,
                       const TorchLBFGSOptions& options)
    : torch::optim::Optimizer(std::vector<torch::optim::OptimizerParamGroup>{}, std::make_unique<TorchLBFGSOptions>(options)),
      impl_(std::make_unique<Impl>()) {
  if (named_parameters.empty()) throw InvalidArgument(std::string(kWho) + "no parameters");
  for (const auto& [name, t] : named_parameters) {
    const std::string why = why_not_parameter(t);
    if (!why.empty()) throw InvalidArgument(std::string(kWho) + "parameter '" + name + "' " + why);
  }
  TorchLBFGSOptions fixed = options;
  // As torch::optim::LBFGS's constructor: an unset max_eval becomes max_iter * 5 / 4 once, here.
  if (!fixed.max_eval().has_value()) fixed.max_eval(fixed.max_iter() * 5 / 4);
  const LBFGSOptions descent_options = to_descent(fixed);
  std::vector<at::Tensor> tensors;
  for (const auto& [name, t] : named_parameters) {
    impl_->names.push_back(name);
    impl_->params.push_back(t);
    impl_->n += static_cast<std::size_t>(t.numel());
    tensors.push_back(t);
  }
  impl_->lbfgs.emplace(*impl_, descent_options);
  defaults_ = std::make_unique<TorchLBFGSOptions>(fixed);
  torch::optim::Optimizer::add_param_group(torch::optim::OptimizerParamGroup(std::move(tensors), std::make_unique<TorchLBFGSOptions>(fixed)));
}

TorchLBFGS::~TorchLBFGS() = default;

std::int64_t TorchLBFGS::iterations() const noexcept { return impl_->lbfgs->iterations(); }
std::int64_t TorchLBFGS::function_evaluations() const noexcept { return impl_->lbfgs->function_evaluations(); }

at::Tensor TorchLBFGS::step(LossClosure closure) {
  Impl& impl = *impl_;
  // Everything that can be checked before the first evaluation is, so that a refusal changes nothing.
  if (!closure) throw InvalidArgument(std::string(kWho) + "step() needs a closure (L-BFGS evaluates the loss)");
  const auto& group_params = param_groups_.size() == 1 ? param_groups_[0].params() : std::vector<at::Tensor>{};
  bool same = param_groups_.size() == 1 && group_params.size() == impl.params.size();
  for (std::size_t i = 0; same && i < impl.params.size(); ++i) {
    same = group_params[i].unsafeGetTensorImpl() == impl.params[i].unsafeGetTensorImpl();
  }
  if (!same) {
    throw InvalidArgument(std::string(kWho) +
                          "the parameter groups changed (add_param_group / add_parameters): L-BFGS runs one "
                          "fixed group, as torch::optim::LBFGS does");
  }
  std::size_t n = 0;
  for (std::size_t i = 0; i < impl.params.size(); ++i) {
    const std::string why = why_not_parameter(impl.params[i]);
    if (!why.empty()) throw InvalidArgument(std::string(kWho) + "parameter '" + impl.names[i] + "' " + why);
    n += static_cast<std::size_t>(impl.params[i].numel());
  }
  if (n != impl.n) {
    throw InvalidArgument(std::string(kWho) + "the parameters now hold " + std::to_string(n) + " values, not " +
                          std::to_string(impl.n) + " (a tensor was resized)");
  }
  const auto* options = dynamic_cast<const TorchLBFGSOptions*>(&param_groups_[0].options());
  if (options == nullptr) throw InvalidArgument(std::string(kWho) + "the group's options are not TorchLBFGSOptions");
  impl.lbfgs->set_options(to_descent(*options));

  std::vector<double> x(n);
  std::size_t offset = 0;
  for (const at::Tensor& p : impl.params) {
    std::memcpy(x.data() + offset, p.data_ptr<double>(), static_cast<std::size_t>(p.numel()) * sizeof(double));
    offset += static_cast<std::size_t>(p.numel());
  }
  const std::vector<double> entry = x;

  impl.closure = &closure;
  impl.evaluations = 0;
  impl.first_loss = at::Tensor();
  try {
    impl.lbfgs->step(x);
  } catch (...) {
    impl.closure = nullptr;
    impl.write(entry);
    // A failure in the first evaluation leaves descent::LBFGS's state as it was (lbfgs.hpp); a later one
    // leaves it mid-iteration, so it starts afresh.
    if (impl.evaluations > 0) {
      const LBFGSOptions options_now = impl.lbfgs->options();  // (emplace destroys the old object first)
      impl.lbfgs.emplace(impl, options_now);
    }
    throw;
  }
  impl.closure = nullptr;
  impl.write(x);
  return std::exchange(impl.first_loss, at::Tensor());
}

void TorchLBFGS::save(torch::serialize::OutputArchive& /*archive*/) const {
  throw Error(std::string(kWho) + "torch's archives are not supported (the L-BFGS history is not saved)");
}
void TorchLBFGS::load(torch::serialize::InputArchive& /*archive*/) {
  throw Error(std::string(kWho) + "torch's archives are not supported (the L-BFGS history is not saved)");
}

}  // namespace descent
