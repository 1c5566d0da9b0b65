// NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam", Algorithm 2) with PyTorch's
// momentum schedule mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay)):
//
//   g   = grad (+ weight_decay * w)                    (-grad when maximizing)
//   P_t = mu_1 * ... * mu_t                            (state "mu_product", kept in double)
//   m   = beta1 * m + (1 - beta1) * g
//   v   = beta2 * v + (1 - beta2) * g^2
//   d   = sqrt(v) / sqrt(1 - beta2^t) + eps
//   w   = w - lr * (1 - mu_t) / (1 - P_t) * g / d - lr * mu_{t+1} / (1 - P_t * mu_{t+1}) * m / d
//
// PyTorch 1.13's default single-tensor NAdam uses P_t * mu_t * mu_{t+1} in the last denominator
// (mu_t counted twice; fixed in PyTorch 2.0 by PR #92699) and keeps P_t in float32. descent follows the
// paper; the reference trajectories come from 1.13's foreach NAdam, which is correct, with P_t in float64.
#include "descent/optimizers/nadam.hpp"

#include <array>
#include <cmath>

#include "lowbit/state.hpp"
#include "optimizers/common.hpp"
#include "kernels/kernels.hpp"
#include "optimizers/nadam/nadam_reference.hpp"
#include "optimizers/registry.hpp"

namespace descent {
namespace {

constexpr std::array<OptionInfo, NAdamOptions::kCount> kFields{{
    detail::lr_option(2e-3),
    detail::beta1_option(),
    detail::beta2_option(),
    detail::eps_option(1e-8, "added to the root of the second moment (after its bias correction)"),
    detail::weight_decay_option(0.0, "L2 penalty: weight_decay * w is added to the gradient"),
    detail::real_option("momentum_decay", 4e-3, 0.0, detail::kInf, true, false,
                        "psi in mu_t = beta1 * (1 - 0.5 * 0.96^(t * psi)): how fast momentum warms up"),
    detail::maximize_option(),
    lowbit::bfloat16_state_dtype_option(),
    lowbit::stochastic_rounding_option(),
}};

constexpr std::array<SlotSpec, 2> kSlots{{{"exp_avg", 0.0, lowbit::moment_layout}, {"exp_avg_sq", 0.0, lowbit::moment_layout, SlotCheck::NonNegative}}};
constexpr std::array<ScalarSlotSpec, 1> kScalarSlots{{{"mu_product", 1.0, SlotCheck::Positive}}};

double momentum_at(const NAdamOptions& o, std::int64_t step) {
  return o.beta1() * (1.0 - 0.5 * std::pow(0.96, static_cast<double>(step) * o.momentum_decay()));
}

}  // namespace

std::span<const OptionInfo> NAdamOptions::fields() { return kFields; }

NAdamOptions::NAdamOptions(double lr) : Options("NAdam", kFields) { this->lr(lr); }

NAdam::NAdam(std::vector<Parameter> params, const NAdamOptions& defaults)
    : OptimizerWith(kSlots, kScalarSlots, std::move(params), defaults) {}

std::uint32_t NAdam::slots_needed(const Options&) const { return 1u << kExpAvg | 1u << kExpAvgSq; }

void NAdam::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const NAdamOptions&>(options);
  for (Record* r : records) {
    lowbit::check_unchanged(name(), r->param, r->slots[kExpAvg].layout.dtype, o.state_dtype());
    if (r->slots[kExpAvg].layout.dtype == DType::BFloat16) {
      const auto s = reference::NAdamStep::make(o, r->step, r->scalars[kMuProduct]);
      std::array<lowbit::StateRef, 3> slots{};
      slots[0] = lowbit::state_ref(slot<bfloat16>(*r, kExpAvg), nullptr, true, o.stochastic_rounding(), r->param.name(), r->step, kExpAvg);
      slots[1] = lowbit::state_ref(slot<bfloat16>(*r, kExpAvgSq), nullptr, false, o.stochastic_rounding(), r->param.name(), r->step, kExpAvgSq);
      float* p = r->param.value<float>().data();
      const float* g = r->param.grad<float>().data();
      tasks.push_back({lowbit::float_state_task(StateDType::BFloat16, slots, 2, [=](std::size_t b, std::size_t n, float** state) {
                         kernels::nadam(s, p + b, g + b, state[0], state[1], n);
                       }),
                       r->param.size()});
      continue;
    }
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const auto s = reference::NAdamStep::make(o, r->step, r->scalars[kMuProduct]);
      T* p = r->param.value<T>().data();
      const T* g = r->param.grad<T>().data();
      T* m = slot<T>(*r, kExpAvg);
      T* v = slot<T>(*r, kExpAvgSq);
      tasks.push_back({[=](std::size_t b, std::size_t e) { kernels::nadam(s, p + b, g + b, m + b, v + b, e - b); },
                       r->param.size()});
    });
  }
}

namespace reference {

NAdamStep NAdamStep::make(const NAdamOptions& o, std::int64_t step, double& mu_product) {
  const double mu = momentum_at(o, step);
  const double mu_next = momentum_at(o, step + 1);
  mu_product *= mu;
  const double mu_product_next = mu_product * mu_next;
  return {
      o.beta1(),
      o.beta2(),
      o.eps(),
      o.weight_decay(),
      std::sqrt(detail::bias_correction(o.beta2(), step)),
      -o.lr() * (1.0 - mu) / (1.0 - mu_product),
      -o.lr() * mu_next / (1.0 - mu_product_next),
      o.maximize(),
  };
}

template <class T>
void nadam(const NAdamStep& s, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::size_t n) {
  const detail::AdamMoments<T> moments(s.beta1, s.beta2);
  const T eps = static_cast<T>(s.eps);
  const T weight_decay = static_cast<T>(s.weight_decay);
  const T bias_correction2_sqrt = static_cast<T>(s.bias_correction2_sqrt);
  const T grad_coefficient = static_cast<T>(s.grad_coefficient);
  const T exp_avg_coefficient = static_cast<T>(s.exp_avg_coefficient);
  for (std::size_t i = 0; i < n; ++i) {
    const T g = detail::effective_grad(grad[i], param[i], s.maximize, weight_decay);
    moments.update(exp_avg[i], exp_avg_sq[i], g);
    const T denom = std::sqrt(exp_avg_sq[i]) / bias_correction2_sqrt + eps;
    param[i] = param[i] + grad_coefficient * g / denom;
    param[i] = param[i] + exp_avg_coefficient * exp_avg[i] / denom;
  }
}

template void nadam<float>(const NAdamStep&, float*, const float*, float*, float*, std::size_t);
template void nadam<double>(const NAdamStep&, double*, const double*, double*, double*, std::size_t);

}  // namespace reference
}  // namespace descent

// The registration: the factory's entry, the CLI's presets with their training learning rates, and how
// bench/compare.sh measures the step.
namespace descent::registry {
namespace {

constexpr OptimizerPreset kPresets[] = {{"nadam", "nadam", {}, "NAdam", 2e-3}};
constexpr MemoryPass kRoof[] = {{1, 3}};  // g read; w, exp_avg and exp_avg_sq updated
constexpr Entry kEntries[] = {entry<NAdam, NAdamOptions>("nadam", kPresets, {{}, kRoof})};

}  // namespace

std::span<const Entry> nadam() { return kEntries; }

}  // namespace descent::registry
