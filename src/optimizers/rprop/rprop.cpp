// Rprop (Riedmiller & Braun 1993, "A Direct Adaptive Method for Faster Backpropagation Learning: The
// RPROP Algorithm", the variant without weight-backtracking), in torch.optim.Rprop's form, per element:
//
//   g = grad                                           (-grad when maximizing)
//   f = etaplus    if g * prev > 0                     (same sign as last step: grow)
//       etaminus   if g * prev < 0                     (the sign flipped: a minimum was jumped, shrink)
//       1          otherwise (a zero, or a NaN product)
//   step_size = clamp(step_size * f, step_size_min, step_size_max)
//   g = 0          where f == etaminus                 (no move after a flip, and no flip next time)
//   w = w - sign(g) * step_size
//   prev = g
//
// step_size starts at lr and prev at 0. Bitwise as PyTorch 1.13's default single-tensor path
// (_single_tensor_rprop): the product g * prev is rounded in the parameter's type (so an underflow to 0
// counts as "no sign information"), sign(NaN) is 0, and the factor, the clamp bounds and the mask test
// use the options rounded to that type. The step count is kept but not used by the rule.
#include "descent/optimizers/rprop.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "descent/error.hpp"
#include "kernels/kernels.hpp"
#include "lowbit/state.hpp"
#include "optimizers/common.hpp"
#include "optimizers/registry.hpp"
#include "optimizers/rprop/rprop_reference.hpp"

namespace descent {
namespace {

constexpr std::array<OptionInfo, RpropOptions::kCount> kFields{{
    detail::lr_option(1e-2),
    detail::real_option("etaminus", 0.5, 0.0, 1.0, false, false,
                        "step size factor after the gradient's sign flipped (torch's etas[0])"),
    detail::real_option("etaplus", 1.2, 1.0, detail::kInf, false, false,
                        "step size factor while the gradient keeps its sign (torch's etas[1])"),
    detail::real_option("step_size_min", 1e-6, 0.0, detail::kInf, true, false,
                        "smallest step size (torch's step_sizes[0])"),
    detail::real_option("step_size_max", 50.0, 0.0, detail::kInf, true, true,
                        "largest step size (torch's step_sizes[1]; inf: no limit)"),
    detail::maximize_option(),
    lowbit::bfloat16_state_dtype_option(),
    lowbit::stochastic_rounding_option(),
}};

constexpr std::array<SlotSpec, 2> kSlots{{{"prev", 0.0, lowbit::moment_layout}, {"step_size", 0.0, lowbit::moment_layout, SlotCheck::NonNegative}}};

}  // namespace

std::span<const OptionInfo> RpropOptions::fields() { return kFields; }

RpropOptions::RpropOptions(double lr) : Options("Rprop", kFields) { this->lr(lr); }

void RpropOptions::validate() const {
  if (step_size_min() > step_size_max()) {
    fail("step_size_min = " + format_number(step_size_min()) + " is larger than step_size_max = " +
         format_number(step_size_max()));
  }
}

Rprop::Rprop(std::vector<Parameter> params, const RpropOptions& defaults)
    : OptimizerWith(kSlots, {}, std::move(params), defaults) {}

std::uint32_t Rprop::slots_needed(const Options&) const { return 1u << kPrev | 1u << kStepSize; }

void Rprop::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const RpropOptions&>(options);
  const auto s = reference::RpropStep::make(o);
  for (Record* r : records) {
    lowbit::check_unchanged(name(), r->param, r->slots[kPrev].layout.dtype, o.state_dtype());
    if (r->slots[kPrev].layout.dtype == DType::BFloat16) {
      bfloat16* prev = slot<bfloat16>(*r, kPrev);
      bool created = false;
      bfloat16* step_size = slot<bfloat16>(*r, kStepSize, &created);
      if (created) std::fill_n(step_size, r->param.size(), to_bfloat16(static_cast<float>(o.lr())));
      std::array<lowbit::StateRef, 3> slots{};
      slots[0] = lowbit::state_ref(prev, nullptr, true, o.stochastic_rounding(), r->param.name(), r->step, kPrev);
      slots[1] = lowbit::state_ref(step_size, nullptr, false, o.stochastic_rounding(), r->param.name(), r->step, kStepSize);
      float* p = r->param.value<float>().data();
      const float* g = r->param.grad<float>().data();
      tasks.push_back({lowbit::float_state_task(StateDType::BFloat16, slots, 2, [=](std::size_t b, std::size_t n, float** state) {
                         kernels::rprop(s, p + b, g + b, state[0], state[1], n);
                       }),
                       r->param.size()});
      continue;
    }
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* p = r->param.value<T>().data();
      const T* g = r->param.grad<T>().data();
      T* prev = slot<T>(*r, kPrev);
      bool created = false;
      T* step_size = slot<T>(*r, kStepSize, &created);
      // torch fills step_size with the group's lr when it creates the state (the first step).
      if (created) std::fill_n(step_size, r->param.size(), static_cast<T>(o.lr()));
      tasks.push_back({[=](std::size_t b, std::size_t e) { kernels::rprop(s, p + b, g + b, prev + b, step_size + b, e - b); },
                       r->param.size()});
    });
  }
}

namespace reference {

RpropStep RpropStep::make(const RpropOptions& o) {
  return {o.etaminus(), o.etaplus(), o.step_size_min(), o.step_size_max(), o.maximize()};
}

template <class T>
void rprop(const RpropStep& s, T* param, const T* grad, T* prev, T* step_size, std::size_t n) {
  const T etaplus = static_cast<T>(s.etaplus);
  const T etaminus = static_cast<T>(s.etaminus);  // what torch's mask compares with
  const T shrink = shrink_factor<T>(s.etaminus);
  const T lo = static_cast<T>(s.step_size_min), hi = static_cast<T>(s.step_size_max);
  for (std::size_t i = 0; i < n; ++i) {
    T g = s.maximize ? -grad[i] : grad[i];
    const T product = g * prev[i];
    const T factor = product > T(0) ? etaplus : product < T(0) ? shrink : T(1);
    // torch's clamp_(min, max): min(max(x, lo), hi) with std's argument order, so a NaN stays NaN.
    const T grown = step_size[i] * factor;
    const T at_least = grown < lo ? lo : grown;
    step_size[i] = hi < at_least ? hi : at_least;
    if (factor == etaminus) g = T(0);
    // torch.sign: (0 < g) - (g < 0), so +0 for zeros and NaN; then addcmul_(sign, step_size, value=-1).
    const T sign = static_cast<T>(static_cast<int>(T(0) < g) - static_cast<int>(g < T(0)));
    param[i] = param[i] + (T(-1) * sign) * step_size[i];
    prev[i] = g;
  }
}

template void rprop<float>(const RpropStep&, float*, const float*, float*, float*, std::size_t);
template void rprop<double>(const RpropStep&, double*, const double*, double*, double*, std::size_t);

}  // namespace reference
}  // namespace descent

// The registration: the factory's entry, the CLI's presets with their training learning rates, and how
// bench/compare.sh measures the step.
namespace descent::registry {
namespace {

constexpr OptimizerPreset kPresets[] = {{"rprop", "rprop", {}, "Rprop (sign-based, per-element step sizes)", 1e-3}};
constexpr MemoryPass kRoof[] = {{1, 3}};  // g read; w, prev and step_size updated
constexpr Entry kEntries[] = {entry<Rprop, RpropOptions>("rprop", kPresets, {{}, kRoof})};

}  // namespace

std::span<const Entry> rprop() { return kEntries; }

}  // namespace descent::registry
