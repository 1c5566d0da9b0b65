// Adadelta (Zeiler 2012, Algorithm 1), with PyTorch's learning-rate factor:
//
//   g          = grad (+ weight_decay * w)             (-grad when maximizing)
//   square_avg = rho * square_avg + (1 - rho) * g^2
//   delta      = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
//   acc_delta  = rho * acc_delta + (1 - rho) * delta^2
//   w          = w - lr * delta
#include "descent/optimizers/adadelta.hpp"

#include <array>
#include <cmath>

#include "lowbit/state.hpp"
#include "optimizers/common.hpp"
#include "kernels/kernels.hpp"
#include "optimizers/adadelta/adadelta_reference.hpp"
#include "optimizers/registry.hpp"

namespace descent {
namespace {

constexpr std::array<OptionInfo, AdadeltaOptions::kCount> kFields{{
    detail::lr_option(1.0),
    detail::real_option("rho", 0.9, 0.0, 1.0, true, true, "decay rate of the running averages"),
    detail::eps_option(1e-6, "added inside both square roots, for numerical stability"),
    detail::weight_decay_option(0.0, "L2 penalty: weight_decay * w is added to the gradient"),
    detail::maximize_option(),
    lowbit::bfloat16_state_dtype_option(),
    lowbit::stochastic_rounding_option(),
}};

constexpr std::array<SlotSpec, 2> kSlots{{{"square_avg", 0.0, lowbit::moment_layout, SlotCheck::NonNegative}, {"acc_delta", 0.0, lowbit::moment_layout, SlotCheck::NonNegative}}};

}  // namespace

std::span<const OptionInfo> AdadeltaOptions::fields() { return kFields; }

AdadeltaOptions::AdadeltaOptions(double lr) : Options("Adadelta", kFields) { this->lr(lr); }

Adadelta::Adadelta(std::vector<Parameter> params, const AdadeltaOptions& defaults)
    : OptimizerWith(kSlots, {}, std::move(params), defaults) {}

std::uint32_t Adadelta::slots_needed(const Options&) const { return 1u << kSquareAvg | 1u << kAccDelta; }

void Adadelta::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const AdadeltaOptions&>(options);
  const auto s = reference::AdadeltaStep::make(o);
  for (Record* r : records) {
    lowbit::check_unchanged(name(), r->param, r->slots[kSquareAvg].layout.dtype, o.state_dtype());
    if (r->slots[kSquareAvg].layout.dtype == DType::BFloat16) {
      std::array<lowbit::StateRef, 3> slots{};
      slots[0] = lowbit::state_ref(slot<bfloat16>(*r, kSquareAvg), nullptr, false, o.stochastic_rounding(), r->param.name(), r->step, kSquareAvg);
      slots[1] = lowbit::state_ref(slot<bfloat16>(*r, kAccDelta), nullptr, false, o.stochastic_rounding(), r->param.name(), r->step, kAccDelta);
      float* p = r->param.value<float>().data();
      const float* g = r->param.grad<float>().data();
      tasks.push_back({lowbit::float_state_task(StateDType::BFloat16, slots, 2, [=](std::size_t b, std::size_t n, float** state) {
                         kernels::adadelta(s, p + b, g + b, state[0], state[1], n);
                       }),
                       r->param.size()});
      continue;
    }
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* p = r->param.value<T>().data();
      const T* g = r->param.grad<T>().data();
      T* square_avg = slot<T>(*r, kSquareAvg);
      T* acc_delta = slot<T>(*r, kAccDelta);
      tasks.push_back({[=](std::size_t b, std::size_t e) {
                         kernels::adadelta(s, p + b, g + b, square_avg + b, acc_delta + b, e - b);
                       },
                       r->param.size()});
    });
  }
}

namespace reference {

AdadeltaStep AdadeltaStep::make(const AdadeltaOptions& o) {
  return {o.lr(), o.rho(), o.eps(), o.weight_decay(), o.maximize()};
}

template <class T>
void adadelta(const AdadeltaStep& s, T* param, const T* grad, T* square_avg, T* acc_delta, std::size_t n) {
  const T neg_lr = static_cast<T>(-s.lr);
  const T rho = static_cast<T>(s.rho);
  const T one_minus_rho = static_cast<T>(1.0 - s.rho);
  const T eps = static_cast<T>(s.eps);
  const T weight_decay = static_cast<T>(s.weight_decay);
  for (std::size_t i = 0; i < n; ++i) {
    const T g = detail::effective_grad(grad[i], param[i], s.maximize, weight_decay);
    square_avg[i] = detail::ema_sq(square_avg[i], g, rho, one_minus_rho);
    const T std_dev = std::sqrt(square_avg[i] + eps);
    const T delta = std::sqrt(acc_delta[i] + eps) / std_dev * g;
    acc_delta[i] = detail::ema_sq(acc_delta[i], delta, rho, one_minus_rho);
    param[i] = detail::add_scaled(param[i], neg_lr, delta);
  }
}

template void adadelta<float>(const AdadeltaStep&, float*, const float*, float*, float*, std::size_t);
template void adadelta<double>(const AdadeltaStep&, double*, const double*, double*, double*, std::size_t);

}  // namespace reference
}  // namespace descent

// The registration: the factory's entry, the CLI's presets with their training learning rates, and how
// bench/compare.sh measures the step.
namespace descent::registry {
namespace {

constexpr OptimizerPreset kPresets[] = {{"adadelta", "adadelta", {}, "Adadelta (rho 0.9)", 1.0}};
constexpr MemoryPass kRoof[] = {{1, 3}};  // g read; w, square_avg and acc_delta updated
constexpr Entry kEntries[] = {entry<Adadelta, AdadeltaOptions>("adadelta", kPresets, {{}, kRoof})};

}  // namespace

std::span<const Entry> adadelta() { return kEntries; }

}  // namespace descent::registry
