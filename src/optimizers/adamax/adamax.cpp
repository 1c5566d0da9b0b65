// Adamax (Kingma & Ba 2015, Algorithm 2), in PyTorch's form (eps inside the max):
//
//   g = grad (+ weight_decay * w)                      (-grad when maximizing)
//   m = beta1 * m + (1 - beta1) * g
//   u = max(beta2 * u, |g| + eps)
//   w = w - lr / (1 - beta1^t) * m / u
#include "descent/optimizers/adamax.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "lowbit/state.hpp"
#include "optimizers/common.hpp"
#include "kernels/kernels.hpp"
#include "optimizers/adamax/adamax_reference.hpp"
#include "optimizers/registry.hpp"

namespace descent {
namespace {

constexpr std::array<OptionInfo, AdamaxOptions::kCount> kFields{{
    detail::lr_option(2e-3),
    detail::beta1_option(),
    detail::real_option("beta2", 0.999, 0.0, 1.0, true, false, "decay rate of the infinity-norm estimate"),
    detail::eps_option(1e-8, "added to |g| inside the max, so the divisor is never zero"),
    detail::weight_decay_option(0.0, "L2 penalty: weight_decay * w is added to the gradient"),
    detail::maximize_option(),
    lowbit::bfloat16_state_dtype_option(),
    lowbit::stochastic_rounding_option(),
}};

constexpr std::array<SlotSpec, 2> kSlots{{{"exp_avg", 0.0, lowbit::moment_layout}, {"exp_inf", 0.0, lowbit::moment_layout, SlotCheck::NonNegative}}};

}  // namespace

std::span<const OptionInfo> AdamaxOptions::fields() { return kFields; }

AdamaxOptions::AdamaxOptions(double lr) : Options("Adamax", kFields) { this->lr(lr); }

Adamax::Adamax(std::vector<Parameter> params, const AdamaxOptions& defaults)
    : OptimizerWith(kSlots, {}, std::move(params), defaults) {}

std::uint32_t Adamax::slots_needed(const Options&) const { return 1u << kExpAvg | 1u << kExpInf; }

void Adamax::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const AdamaxOptions&>(options);
  for (Record* r : records) {
    lowbit::check_unchanged(name(), r->param, r->slots[kExpAvg].layout.dtype, o.state_dtype());
    if (r->slots[kExpAvg].layout.dtype == DType::BFloat16) {
      const auto s = reference::AdamaxStep::make(o, r->step);
      std::array<lowbit::StateRef, 3> slots{};
      slots[0] = lowbit::state_ref(slot<bfloat16>(*r, kExpAvg), nullptr, true, o.stochastic_rounding(), r->param.name(), r->step, kExpAvg);
      slots[1] = lowbit::state_ref(slot<bfloat16>(*r, kExpInf), nullptr, false, o.stochastic_rounding(), r->param.name(), r->step, kExpInf);
      float* p = r->param.value<float>().data();
      const float* g = r->param.grad<float>().data();
      tasks.push_back({lowbit::float_state_task(StateDType::BFloat16, slots, 2, [=](std::size_t b, std::size_t n, float** state) {
                         kernels::adamax(s, p + b, g + b, state[0], state[1], n);
                       }),
                       r->param.size()});
      continue;
    }
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const auto s = reference::AdamaxStep::make(o, r->step);
      T* p = r->param.value<T>().data();
      const T* g = r->param.grad<T>().data();
      T* m = slot<T>(*r, kExpAvg);
      T* u = slot<T>(*r, kExpInf);
      tasks.push_back({[=](std::size_t b, std::size_t e) { kernels::adamax(s, p + b, g + b, m + b, u + b, e - b); },
                       r->param.size()});
    });
  }
}

namespace reference {

AdamaxStep AdamaxStep::make(const AdamaxOptions& o, std::int64_t step) {
  return {o.beta1(), o.beta2(), o.eps(), o.weight_decay(), o.lr() / detail::bias_correction(o.beta1(), step),
          o.maximize()};
}

template <class T>
void adamax(const AdamaxStep& s, T* param, const T* grad, T* exp_avg, T* exp_inf, std::size_t n) {
  const T beta1 = static_cast<T>(s.beta1), one_minus_beta1 = static_cast<T>(1.0 - s.beta1);
  const T beta2 = static_cast<T>(s.beta2);
  const T eps = static_cast<T>(s.eps);
  const T weight_decay = static_cast<T>(s.weight_decay);
  const T neg_clr = static_cast<T>(-s.clr);
  for (std::size_t i = 0; i < n; ++i) {
    const T g = detail::effective_grad(grad[i], param[i], s.maximize, weight_decay);
    exp_avg[i] = detail::ema(exp_avg[i], g, beta1, one_minus_beta1);
    exp_inf[i] = detail::nan_max(exp_inf[i] * beta2, std::abs(g) + eps);
    param[i] = param[i] + neg_clr * exp_avg[i] / exp_inf[i];
  }
}

template void adamax<float>(const AdamaxStep&, float*, const float*, float*, float*, std::size_t);
template void adamax<double>(const AdamaxStep&, double*, const double*, double*, double*, std::size_t);

}  // namespace reference
}  // namespace descent

// The registration: the factory's entry, the CLI's presets with their training learning rates, and how
// bench/compare.sh measures the step.
namespace descent::registry {
namespace {

constexpr OptimizerPreset kPresets[] = {{"adamax", "adamax", {}, "Adamax", 2e-3}};
constexpr MemoryPass kRoof[] = {{1, 3}};  // g read; w, exp_avg and exp_inf updated
constexpr Entry kEntries[] = {entry<Adamax, AdamaxOptions>("adamax", kPresets, {{}, kRoof})};

}  // namespace

std::span<const Entry> adamax() { return kEntries; }

}  // namespace descent::registry
