// Lion, EvoLved Sign Momentum (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms",
// Algorithm 2), as the authors' code applies it:
//
//   g = grad                                        (-grad when maximizing)
//   w = w * (1 - lr * weight_decay)                 decoupled decay, first
//   c = beta1 * m + (1 - beta1) * g                 the interpolation the update takes the sign of
//   w = w - lr * sign(c)                            sign(0) = 0
//   m = beta2 * m + (1 - beta2) * g                 the momentum, with its own (slower) rate
//
// Every coordinate moves by exactly lr (or not at all), so lr is typically 3-10x smaller than AdamW's and
// weight_decay 3-10x larger (paper, section 5).
//
// state_dtype bfloat16 or int8: the momentum is read back to float32 block by block, updated by the
// float32 rule above and stored again (int8: the signed dynamic map, as a first moment; src/lowbit/state.hpp).
#include "descent/optimizers/lion.hpp"

#include <array>

#include "kernels/kernels.hpp"
#include "lowbit/state.hpp"
#include "optimizers/common.hpp"
#include "optimizers/lion/lion_reference.hpp"
#include "optimizers/registry.hpp"

namespace descent {
namespace {

constexpr std::array<OptionInfo, LionOptions::kCount> kFields{{
    detail::lr_option(1e-4),
    detail::real_option("beta1", 0.9, 0.0, 1.0, true, false,
                        "weight of the momentum in the interpolation whose sign is the update"),
    detail::real_option("beta2", 0.99, 0.0, 1.0, true, false, "decay rate of the momentum"),
    detail::weight_decay_option(0.0, "decoupled: w *= 1 - lr * weight_decay before the update"),
    detail::maximize_option(),
    lowbit::state_dtype_option(),
    lowbit::stochastic_rounding_option(),
}};

constexpr std::array<SlotSpec, 2> kSlots{{{"exp_avg", 0.0, lowbit::moment_layout},
                                          {"exp_avg_absmax", 0.0, lowbit::absmax_layout, SlotCheck::NonNegative}}};

}  // namespace

std::span<const OptionInfo> LionOptions::fields() { return kFields; }

LionOptions::LionOptions(double lr) : Options("Lion", kFields) { this->lr(lr); }

Lion::Lion(std::vector<Parameter> params, const LionOptions& defaults)
    : OptimizerWith(kSlots, {}, std::move(params), defaults) {}

std::uint32_t Lion::slots_needed(const Options& options) const {
  const auto& o = static_cast<const LionOptions&>(options);
  return 1u << kExpAvg | (o.state_dtype() == StateDType::Int8 ? 1u << kExpAvgAbsmax : 0u);
}

void Lion::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const LionOptions&>(options);
  const auto s = reference::LionStep::make(o);
  for (Record* r : records) {
    lowbit::check_unchanged(name(), r->param, r->slots[kExpAvg].layout.dtype, o.state_dtype());
    if (const StateDType low = lowbit::lowbit_of(r->slots[kExpAvg].layout.dtype); low != StateDType::Float32) {
      const bool int8 = low == StateDType::Int8;
      std::array<lowbit::StateRef, 3> slots{};
      slots[0] = lowbit::state_ref(int8 ? static_cast<void*>(slot<std::uint8_t>(*r, kExpAvg)) : slot<bfloat16>(*r, kExpAvg),
                                   int8 ? slot<float>(*r, kExpAvgAbsmax) : nullptr, true, o.stochastic_rounding(),
                                   r->param.name(), r->step, kExpAvg);
      float* p = r->param.value<float>().data();
      const float* g = r->param.grad<float>().data();
      tasks.push_back({lowbit::float_state_task(low, slots, 1, [=](std::size_t b, std::size_t n, float** state) {
                         kernels::lion(s, p + b, g + b, state[0], n);
                       }),
                       r->param.size()});
      continue;
    }
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* p = r->param.value<T>().data();
      const T* g = r->param.grad<T>().data();
      T* m = slot<T>(*r, kExpAvg);
      tasks.push_back({[=](std::size_t b, std::size_t e) { kernels::lion(s, p + b, g + b, m + b, e - b); },
                       r->param.size()});
    });
  }
}

namespace reference {

LionStep LionStep::make(const LionOptions& o) {
  return {o.beta1(), o.beta2(), o.lr(), 1.0 - o.lr() * o.weight_decay(), o.maximize()};
}

// sign(c) with sign(0) = 0 and NaN kept (torch.sign's): 0 * c is a zero for a zero and NaN for a NaN.
template <class T>
inline T sign_of(T c) {
  return c > T(0) ? T(1) : (c < T(0) ? T(-1) : c * T(0));
}

template <class T>
void lion(const LionStep& s, T* param, const T* grad, T* exp_avg, std::size_t n) {
  const T beta1 = static_cast<T>(s.beta1), one_minus_beta1 = static_cast<T>(1.0 - s.beta1);
  const T beta2 = static_cast<T>(s.beta2), one_minus_beta2 = static_cast<T>(1.0 - s.beta2);
  const T neg_lr = static_cast<T>(-s.lr);
  const T decay_factor = static_cast<T>(s.decay_factor);
  const bool decays = s.decay_factor != 1.0;
  for (std::size_t i = 0; i < n; ++i) {
    const T g = s.maximize ? -grad[i] : grad[i];
    const T w = decays ? param[i] * decay_factor : param[i];
    const T c = detail::ema(exp_avg[i], g, beta1, one_minus_beta1);
    param[i] = w + neg_lr * sign_of(c);
    exp_avg[i] = detail::ema(exp_avg[i], g, beta2, one_minus_beta2);
  }
}

template void lion<float>(const LionStep&, float*, const float*, float*, std::size_t);
template void lion<double>(const LionStep&, double*, const double*, double*, std::size_t);

}  // namespace reference
}  // namespace descent

// The registration: the factory's entry, the CLI's presets with their training learning rates, and how
// bench/compare.sh measures the step.
namespace descent::registry {
namespace {

// Training rate 1e-3: the best of 1e-4, 3e-4, 1e-3, 3e-3 after one epoch of the Fashion-MNIST MLP
// (784-256-10, batch 128, seed 1: 81.7%, 84.3%, 85.7%, 85.0%).
constexpr std::pair<std::string_view, double> kBFloat16State[] = {{"state_dtype", 1.0}};  // kStateDTypeNames[1]
constexpr std::pair<std::string_view, double> kInt8State[] = {{"state_dtype", 2.0}};
constexpr OptimizerPreset kPresets[] = {
    {"lion", "lion", {}, "Lion (0.9, 0.99)", 1e-3},
    {"lion-bf16", "lion", kBFloat16State, "Lion with a bfloat16 momentum (2 bytes of state per parameter)", 1e-3},
    {"lion-int8", "lion", kInt8State, "Lion with an 8-bit block-wise momentum (Dettmers et al. 2021; 1.02 bytes)", 1e-3},
};
constexpr MemoryPass kRoof[] = {{1, 2}};  // g read; w and exp_avg updated
constexpr Entry kEntries[] = {entry<Lion, LionOptions>("lion", kPresets, {{}, kRoof})};

}  // namespace

std::span<const Entry> lion() { return kEntries; }

}  // namespace descent::registry
