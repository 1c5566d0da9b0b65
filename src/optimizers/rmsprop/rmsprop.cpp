// RMSprop (Hinton, Neural Networks for Machine Learning, lecture 6e), centered variant (Graves 2013,
// "Generating Sequences With Recurrent Neural Networks"):
//
//   g          = grad (+ weight_decay * w)             (-grad when maximizing)
//   square_avg = alpha * square_avg + (1 - alpha) * g^2
//   grad_avg   = alpha * grad_avg + (1 - alpha) * g    (centered only)
//   avg        = sqrt(square_avg - grad_avg^2) + eps   (centered)   or   sqrt(square_avg) + eps
//   buf        = momentum * buf + g / avg;  w = w - lr * buf          (momentum > 0)
//   w          = w - lr * g / avg                                     (otherwise)
#include "descent/optimizers/rmsprop.hpp"

#include <array>
#include <cmath>

#include "optimizers/common.hpp"
#include "kernels/kernels.hpp"
#include "optimizers/rmsprop/rmsprop_reference.hpp"
#include "optimizers/registry.hpp"

namespace descent {
namespace {

constexpr std::array<OptionInfo, RMSpropOptions::kCount> kFields{{
    detail::lr_option(1e-2),
    detail::real_option("alpha", 0.99, 0.0, 1.0, true, true, "decay rate of the squared-gradient average"),
    detail::eps_option(1e-8, "added to the root of the average, for numerical stability"),
    detail::weight_decay_option(0.0, "L2 penalty: weight_decay * w is added to the gradient"),
    detail::momentum_option(0.0),
    detail::bool_option("centered", false, "divide by the estimated standard deviation (subtract the squared mean gradient)"),
    detail::maximize_option(),
}};

constexpr std::array<SlotSpec, 3> kSlots{{{"square_avg", 0.0, nullptr, SlotCheck::NonNegative}, {"momentum_buffer", 0.0}, {"grad_avg", 0.0}}};

}  // namespace

std::span<const OptionInfo> RMSpropOptions::fields() { return kFields; }

RMSpropOptions::RMSpropOptions(double lr) : Options("RMSprop", kFields) { this->lr(lr); }

RMSprop::RMSprop(std::vector<Parameter> params, const RMSpropOptions& defaults)
    : OptimizerWith(kSlots, {}, std::move(params), defaults) {}

std::uint32_t RMSprop::slots_needed(const Options& options) const {
  const auto& o = static_cast<const RMSpropOptions&>(options);
  return 1u << kSquareAvg | (o.momentum() > 0.0 ? 1u << kMomentumBuffer : 0u) | (o.centered() ? 1u << kGradAvg : 0u);
}

void RMSprop::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const RMSpropOptions&>(options);
  const auto s = reference::RMSpropStep::make(o);
  for (Record* r : records) {
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* p = r->param.value<T>().data();
      const T* g = r->param.grad<T>().data();
      T* square_avg = slot<T>(*r, kSquareAvg);
      T* buf = o.momentum() > 0.0 ? slot<T>(*r, kMomentumBuffer) : nullptr;
      T* grad_avg = o.centered() ? slot<T>(*r, kGradAvg) : nullptr;
      tasks.push_back({[=](std::size_t b, std::size_t e) {
                         kernels::rmsprop(s, p + b, g + b, square_avg + b, buf ? buf + b : nullptr,
                                             grad_avg ? grad_avg + b : nullptr, e - b);
                       },
                       r->param.size()});
    });
  }
}

namespace reference {

RMSpropStep RMSpropStep::make(const RMSpropOptions& o) {
  return {o.lr(), o.alpha(), o.eps(), o.weight_decay(), o.momentum(), o.centered(), o.maximize()};
}

template <class T>
void rmsprop(const RMSpropStep& s, T* param, const T* grad, T* square_avg, T* momentum_buffer, T* grad_avg,
             std::size_t n) {
  const T neg_lr = static_cast<T>(-s.lr);
  const T alpha = static_cast<T>(s.alpha);
  const T one_minus_alpha = static_cast<T>(1.0 - s.alpha);
  const T eps = static_cast<T>(s.eps);
  const T weight_decay = static_cast<T>(s.weight_decay);
  const T momentum = static_cast<T>(s.momentum);
  for (std::size_t i = 0; i < n; ++i) {
    const T g = detail::effective_grad(grad[i], param[i], s.maximize, weight_decay);
    square_avg[i] = detail::ema_sq(square_avg[i], g, alpha, one_minus_alpha);
    T avg;
    if (grad_avg != nullptr) {
      grad_avg[i] = detail::ema(grad_avg[i], g, alpha, one_minus_alpha);
      avg = std::sqrt(std::fma(-grad_avg[i], grad_avg[i], square_avg[i]));
    } else {
      avg = std::sqrt(square_avg[i]);
    }
    avg = avg + eps;
    if (momentum_buffer != nullptr) {
      momentum_buffer[i] = momentum_buffer[i] * momentum + g / avg;
      param[i] = detail::add_scaled(param[i], neg_lr, momentum_buffer[i]);
    } else {
      param[i] = param[i] + neg_lr * g / avg;
    }
  }
}

template void rmsprop<float>(const RMSpropStep&, float*, const float*, float*, float*, float*, std::size_t);
template void rmsprop<double>(const RMSpropStep&, double*, const double*, double*, double*, double*, std::size_t);

}  // namespace reference
}  // namespace descent

// The registration: the factory's entry, the CLI's presets with their training learning rates, and how
// bench/compare.sh measures the step.
namespace descent::registry {
namespace {

constexpr OptimizerPreset kPresets[] = {{"rmsprop", "rmsprop", {}, "RMSprop (alpha 0.99)", 1e-3}};
constexpr MemoryPass kRoof[] = {{1, 2}};  // g read; w and square_avg updated
constexpr Entry kEntries[] = {entry<RMSprop, RMSpropOptions>("rmsprop", kPresets, {{}, kRoof})};

}  // namespace

std::span<const Entry> rmsprop() { return kEntries; }

}  // namespace descent::registry
