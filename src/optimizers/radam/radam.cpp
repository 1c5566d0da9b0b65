// RAdam (Liu et al. 2020, Algorithm 2), in PyTorch's form:
//
//   g      = grad (+ weight_decay * w)                 (-grad when maximizing)
//   m      = beta1 * m + (1 - beta1) * g
//   v      = beta2 * v + (1 - beta2) * g^2
//   rho_inf = 2 / (1 - beta2) - 1,   rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
//   rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
//               w = w - lr * m / (1 - beta1^t) * sqrt(1 - beta2^t) / (sqrt(v) + eps) * r
//   otherwise:  w = w - lr * m / (1 - beta1^t)        (the variance is not yet tractable: momentum SGD)
//
// The paper switches at rho_t > 4; PyTorch (and so descent) at rho_t > 5. eps is added to sqrt(v) before
// the bias correction, unlike Adam.
#include "descent/optimizers/radam.hpp"

#include <array>
#include <cmath>

#include "lowbit/state.hpp"
#include "optimizers/common.hpp"
#include "kernels/kernels.hpp"
#include "optimizers/radam/radam_reference.hpp"
#include "optimizers/registry.hpp"

namespace descent {
namespace {

constexpr std::array<OptionInfo, RAdamOptions::kCount> kFields{{
    detail::lr_option(1e-3),
    detail::beta1_option(),
    detail::beta2_option(),
    detail::eps_option(1e-8, "added to the root of the second moment"),
    detail::weight_decay_option(0.0, "L2 penalty: weight_decay * w is added to the gradient"),
    detail::maximize_option(),
    lowbit::bfloat16_state_dtype_option(),
    lowbit::stochastic_rounding_option(),
}};

constexpr std::array<SlotSpec, 2> kSlots{{{"exp_avg", 0.0, lowbit::moment_layout}, {"exp_avg_sq", 0.0, lowbit::moment_layout, SlotCheck::NonNegative}}};

}  // namespace

std::span<const OptionInfo> RAdamOptions::fields() { return kFields; }

RAdamOptions::RAdamOptions(double lr) : Options("RAdam", kFields) { this->lr(lr); }

RAdam::RAdam(std::vector<Parameter> params, const RAdamOptions& defaults)
    : OptimizerWith(kSlots, {}, std::move(params), defaults) {}

std::uint32_t RAdam::slots_needed(const Options&) const { return 1u << kExpAvg | 1u << kExpAvgSq; }

void RAdam::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const RAdamOptions&>(options);
  for (Record* r : records) {
    lowbit::check_unchanged(name(), r->param, r->slots[kExpAvg].layout.dtype, o.state_dtype());
    if (r->slots[kExpAvg].layout.dtype == DType::BFloat16) {
      const auto s = reference::RAdamStep::make(o, r->step);
      std::array<lowbit::StateRef, 3> slots{};
      slots[0] = lowbit::state_ref(slot<bfloat16>(*r, kExpAvg), nullptr, true, o.stochastic_rounding(), r->param.name(), r->step, kExpAvg);
      slots[1] = lowbit::state_ref(slot<bfloat16>(*r, kExpAvgSq), nullptr, false, o.stochastic_rounding(), r->param.name(), r->step, kExpAvgSq);
      float* p = r->param.value<float>().data();
      const float* g = r->param.grad<float>().data();
      tasks.push_back({lowbit::float_state_task(StateDType::BFloat16, slots, 2, [=](std::size_t b, std::size_t n, float** state) {
                         kernels::radam(s, p + b, g + b, state[0], state[1], n);
                       }),
                       r->param.size()});
      continue;
    }
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const auto s = reference::RAdamStep::make(o, r->step);
      T* p = r->param.value<T>().data();
      const T* g = r->param.grad<T>().data();
      T* m = slot<T>(*r, kExpAvg);
      T* v = slot<T>(*r, kExpAvgSq);
      tasks.push_back({[=](std::size_t b, std::size_t e) { kernels::radam(s, p + b, g + b, m + b, v + b, e - b); },
                       r->param.size()});
    });
  }
}

namespace reference {

RAdamStep RAdamStep::make(const RAdamOptions& o, std::int64_t step) {
  const double t = static_cast<double>(step);
  const double bias_correction2 = detail::bias_correction(o.beta2(), step);
  const double rho_inf = 2.0 / (1.0 - o.beta2()) - 1.0;
  const double rho_t = rho_inf - 2.0 * t * std::pow(o.beta2(), t) / bias_correction2;
  const bool rectified = rho_t > 5.0;
  const double rectification =
      rectified ? std::sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t)) : 1.0;
  return {o.lr(),
          o.beta1(),
          o.beta2(),
          o.eps(),
          o.weight_decay(),
          detail::bias_correction(o.beta1(), step),
          std::sqrt(bias_correction2),
          rectified,
          rectification,
          o.maximize()};
}

template <class T>
void radam(const RAdamStep& s, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::size_t n) {
  const detail::AdamMoments<T> moments(s.beta1, s.beta2);
  const T eps = static_cast<T>(s.eps);
  const T weight_decay = static_cast<T>(s.weight_decay);
  const T lr = static_cast<T>(s.lr);
  const T bias_correction1 = static_cast<T>(s.bias_correction1);
  const T bias_correction2_sqrt = static_cast<T>(s.bias_correction2_sqrt);
  const T rectification = static_cast<T>(s.rectification);
  for (std::size_t i = 0; i < n; ++i) {
    const T g = detail::effective_grad(grad[i], param[i], s.maximize, weight_decay);
    moments.update(exp_avg[i], exp_avg_sq[i], g);
    const T corrected_exp_avg = exp_avg[i] / bias_correction1;
    if (s.rectified) {
      // PyTorch computes sqrt(1 - beta2^t) / denom as denom.reciprocal() * sqrt(1 - beta2^t) (Tensor.__rtruediv__).
      const T adaptive_lr = T(1) / (std::sqrt(exp_avg_sq[i]) + eps) * bias_correction2_sqrt;
      param[i] = param[i] - corrected_exp_avg * lr * adaptive_lr * rectification;
    } else {
      param[i] = param[i] - corrected_exp_avg * lr;
    }
  }
}

template void radam<float>(const RAdamStep&, float*, const float*, float*, float*, std::size_t);
template void radam<double>(const RAdamStep&, double*, const double*, double*, double*, std::size_t);

}  // namespace reference
}  // namespace descent

// The registration: the factory's entry, the CLI's presets with their training learning rates, and how
// bench/compare.sh measures the step.
namespace descent::registry {
namespace {

constexpr OptimizerPreset kPresets[] = {{"radam", "radam", {}, "RAdam", 1e-3}};
constexpr MemoryPass kRoof[] = {{1, 3}};  // g read; w, exp_avg and exp_avg_sq updated
constexpr Entry kEntries[] = {entry<RAdam, RAdamOptions>("radam", kPresets, {{}, kRoof})};

}  // namespace

std::span<const Entry> radam() { return kEntries; }

}  // namespace descent::registry
