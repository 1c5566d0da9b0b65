// RMSprop (Hinton, Neural Networks for Machine Learning, lecture 6e), centered variant (Graves 2013,
// "Generating Sequences With Recurrent Neural Networks"):
//
//   g          = grad (+ weight_decay * w)             (-grad when maximizing)
//   square_avg = alpha * square_avg + (1 - alpha) * g^2
//   grad_avg   = alpha * grad_avg + (1 - alpha) * g    (centered only)
//   avg        = sqrt(square_avg - grad_avg^2) + eps   (centered)   or   sqrt(square_avg) + eps
//   buf        = momentum * buf + g / avg;  w = w - lr * buf          (momentum > 0)
//   w          = w - lr * g / avg                                     (otherwise)
//
// state_dtype bfloat16 or int8: the slots are read back to float32 block by block, updated by the float32
// rule above and stored again (int8: square_avg with the unsigned dynamic map, the others with the signed
// one; src/lowbit/state.hpp).
#include "descent/optimizers/rmsprop.hpp"

#include <array>
#include <cmath>
#include <string>

#include "optimizers/common.hpp"
#include "kernels/kernels.hpp"
#include "lowbit/state.hpp"
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
    lowbit::state_dtype_option(),
    lowbit::stochastic_rounding_option(),
}};

constexpr std::array<SlotSpec, 6> kSlots{{
    {"square_avg", 0.0, lowbit::moment_layout, SlotCheck::NonNegative},
    {"momentum_buffer", 0.0, lowbit::moment_layout},
    {"grad_avg", 0.0, lowbit::moment_layout},
    {"square_avg_absmax", 0.0, lowbit::absmax_layout, SlotCheck::NonNegative},
    {"momentum_buffer_absmax", 0.0, lowbit::absmax_layout, SlotCheck::NonNegative},
    {"grad_avg_absmax", 0.0, lowbit::absmax_layout, SlotCheck::NonNegative},
}};

}  // namespace

std::span<const OptionInfo> RMSpropOptions::fields() { return kFields; }

RMSpropOptions::RMSpropOptions(double lr) : Options("RMSprop", kFields) { this->lr(lr); }

void RMSpropOptions::validate() const {
  if (centered() && state_dtype() != StateDType::Float32) {
    fail("centered = true needs state_dtype = float32 (state_dtype = " + std::string(choice_name(kStateDtype)) +
         "): square_avg - grad_avg^2 can turn negative once both are rounded");
  }
}

RMSprop::RMSprop(std::vector<Parameter> params, const RMSpropOptions& defaults)
    : OptimizerWith(kSlots, {}, std::move(params), defaults) {}

std::uint32_t RMSprop::slots_needed(const Options& options) const {
  const auto& o = static_cast<const RMSpropOptions&>(options);
  const std::uint32_t used = 1u << kSquareAvg | (o.momentum() > 0.0 ? 1u << kMomentumBuffer : 0u) | (o.centered() ? 1u << kGradAvg : 0u);
  return o.state_dtype() == StateDType::Int8 ? used | used << kSquareAvgAbsmax : used;
}

void RMSprop::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const RMSpropOptions&>(options);
  const auto s = reference::RMSpropStep::make(o);
  for (Record* r : records) {
    lowbit::check_unchanged(name(), r->param, r->slots[kSquareAvg].layout.dtype, o.state_dtype());
    if (const StateDType low = lowbit::lowbit_of(r->slots[kSquareAvg].layout.dtype); low != StateDType::Float32) {
      // The slots in use, in slot order: square_avg, then momentum_buffer and grad_avg when they are used.
      std::array<lowbit::StateRef, 3> slots{};
      std::size_t count = 0;
      const std::uint64_t seed = lowbit::name_seed(r->param.name());
      for (const std::size_t k : {kSquareAvg, kMomentumBuffer, kGradAvg}) {
        if (!(slots_needed(o) >> k & 1u)) continue;
        lowbit::StateRef& ref = slots[count++];
        ref.is_signed = k != kSquareAvg;
        ref.rounding = {o.stochastic_rounding(), lowbit::rounding_key(seed, r->step, static_cast<std::uint32_t>(k))};
        if (low == StateDType::Int8) {
          ref.data = slot<std::uint8_t>(*r, k);
          ref.absmax = slot<float>(*r, k + kSquareAvgAbsmax);
        } else {
          ref.data = slot<bfloat16>(*r, k);
        }
      }
      float* p = r->param.value<float>().data();
      const float* g = r->param.grad<float>().data();
      const bool has_buf = o.momentum() > 0.0, centered = o.centered();
      tasks.push_back({[=](std::size_t b, std::size_t e) {
                         auto at = lowbit::advanced(slots, low, b);
                         kernels::rmsprop_lowbit(s, low, has_buf, centered, p + b, g + b, at.data(), count,
                                                 static_cast<std::uint32_t>(b), e - b);
                       },
                       r->param.size()});
      continue;
    }
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

void rmsprop_lowbit(const RMSpropStep& s, StateDType dtype, bool has_buf, bool centered, float* param,
                    const float* grad, lowbit::StateRef* slots, std::size_t count, std::uint32_t first, std::size_t n) {
  lowbit::reference::with_float_state(dtype, n, first, slots, count, [&](std::size_t b, std::size_t len, float** state) {
    rmsprop<float>(s, param + b, grad + b, state[0], has_buf ? state[1] : nullptr,
                   centered ? state[has_buf ? 2 : 1] : nullptr, len);
  });
}

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
