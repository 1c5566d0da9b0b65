// LARS (You, Gitman, Ginsburg 2017, Algorithm 1), per parameter tensor w with gradient g:
//
//   ratio = trust_coefficient * ||w|| / (||g|| + weight_decay * ||w|| + eps)    (1 if ||w|| or ||g|| is 0)
//   d     = g + weight_decay * w                                                (-g when maximizing)
//   buf   = momentum * buf + lr * ratio * d                                     (buf starts at 0)
//   w     = w - buf           or, with Nesterov,   w = w - (momentum * buf + lr * ratio * d)
//   (momentum 0: w = w - lr * ratio * d)
//
// Excluded groups use ratio 1 and no weight decay: momentum SGD. The denominator is the paper's
// ||g|| + weight_decay * ||w|| (as in NVIDIA Apex's LARC); optax uses ||g + weight_decay * w|| instead.
#include "descent/optimizers/lars.hpp"

#include <array>
#include <cmath>

#include "lowbit/state.hpp"
#include "optimizers/common.hpp"
#include "kernels/kernels.hpp"
#include "optimizers/lars/lars_reference.hpp"
#include "optimizers/registry.hpp"

namespace descent {
namespace {

constexpr std::array<OptionInfo, LARSOptions::kCount> kFields{{
    detail::lr_option(1.0),
    detail::momentum_option(0.9),
    detail::bool_option("nesterov", false, "Nesterov momentum (needs momentum > 0)"),
    detail::weight_decay_option(0.0, "L2 penalty, inside the trust ratio's denominator and the step"),
    detail::real_option("trust_coefficient", 1e-3, 0.0, detail::kInf, false, false,
                        "eta: how far one step may move a layer, relative to its weight norm"),
    detail::eps_option(0.0, "added to the trust ratio's denominator"),
    detail::exclude_option(),
    detail::maximize_option(),
    lowbit::bfloat16_state_dtype_option(),
    lowbit::stochastic_rounding_option(),
}};

constexpr std::array<SlotSpec, 1> kSlots{{{"momentum_buffer", 0.0, lowbit::moment_layout}}};

}  // namespace

std::span<const OptionInfo> LARSOptions::fields() { return kFields; }

LARSOptions::LARSOptions(double lr) : Options("LARS", kFields) { this->lr(lr); }

void LARSOptions::validate() const {
  if (nesterov() && momentum() <= 0.0) fail("nesterov = true needs momentum > 0 (momentum = " + format_number(momentum()) + ")");
}

LARS::LARS(std::vector<Parameter> params, const LARSOptions& defaults)
    : OptimizerWith(kSlots, {}, std::move(params), defaults) {}

std::uint32_t LARS::slots_needed(const Options& options) const {
  return static_cast<const LARSOptions&>(options).momentum() != 0.0 ? 1u << kMomentumBuffer : 0u;
}

void LARS::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const LARSOptions&>(options);
  // The norms of every weight and gradient first (before any update), summed chunk by chunk.
  const auto norms_of = [&](bool of_grad) {
    return parallel_sum(records, [&](std::size_t i, std::size_t b, std::size_t e) {
      const Parameter& p = records[i]->param;
      return visit_dtype(p.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* x = of_grad ? p.grad<T>().data() : p.value<T>().data();
        return kernels::sum_of_squares(x + b, e - b);
      });
    });
  };
  std::vector<double> weight_sq(records.size(), 0.0), grad_sq(records.size(), 0.0);
  if (!o.exclude()) {
    weight_sq = norms_of(false);
    grad_sq = norms_of(true);
  }
  for (std::size_t i = 0; i < records.size(); ++i) {
    Record* r = records[i];
    lowbit::check_unchanged(name(), r->param, r->slots[kMomentumBuffer].layout.dtype, o.state_dtype());
    if (r->slots[kMomentumBuffer].layout.dtype == DType::BFloat16 && o.momentum() != 0.0) {
      const auto s = reference::LARSStep::make(o, std::sqrt(weight_sq[i]), std::sqrt(grad_sq[i]));
      std::array<lowbit::StateRef, 3> slots{};
      slots[0] = lowbit::state_ref(slot<bfloat16>(*r, kMomentumBuffer), nullptr, true, o.stochastic_rounding(),
                                   r->param.name(), r->step, kMomentumBuffer);
      float* p = r->param.value<float>().data();
      const float* g = r->param.grad<float>().data();
      tasks.push_back({lowbit::float_state_task(StateDType::BFloat16, slots, 1, [=](std::size_t b, std::size_t n, float** state) {
                         kernels::lars(s, p + b, g + b, state[0], n);
                       }),
                       r->param.size()});
      continue;
    }
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const auto s = reference::LARSStep::make(o, std::sqrt(weight_sq[i]), std::sqrt(grad_sq[i]));
      T* p = r->param.value<T>().data();
      const T* g = r->param.grad<T>().data();
      T* buf = o.momentum() != 0.0 ? slot<T>(*r, kMomentumBuffer) : nullptr;
      tasks.push_back({[=](std::size_t b, std::size_t e) { kernels::lars(s, p + b, g + b, buf ? buf + b : nullptr, e - b); },
                       r->param.size()});
    });
  }
}

namespace reference {

LARSStep LARSStep::make(const LARSOptions& o, double weight_norm, double grad_norm) {
  if (o.exclude()) return {o.lr(), 0.0, o.momentum(), o.nesterov(), o.maximize()};
  const double ratio = detail::trust_ratio(weight_norm, grad_norm, o.trust_coefficient() * weight_norm,
                                           grad_norm + o.weight_decay() * weight_norm + o.eps());
  return {o.lr() * ratio, o.weight_decay(), o.momentum(), o.nesterov(), o.maximize()};
}

template <class T>
void lars(const LARSStep& s, T* param, const T* grad, T* momentum_buffer, std::size_t n) {
  const T scaled_lr = static_cast<T>(s.scaled_lr);
  const T weight_decay = static_cast<T>(s.weight_decay);
  const T momentum = static_cast<T>(s.momentum);
  for (std::size_t i = 0; i < n; ++i) {
    const T scaled = scaled_lr * detail::effective_grad(grad[i], param[i], s.maximize, weight_decay);
    if (momentum_buffer != nullptr) {
      momentum_buffer[i] = momentum * momentum_buffer[i] + scaled;
      param[i] = param[i] - (s.nesterov ? momentum * momentum_buffer[i] + scaled : momentum_buffer[i]);
    } else {
      param[i] = param[i] - scaled;
    }
  }
}

template void lars<float>(const LARSStep&, float*, const float*, float*, std::size_t);
template void lars<double>(const LARSStep&, double*, const double*, double*, std::size_t);

}  // namespace reference
}  // namespace descent

// The registration: the factory's entry, the CLI's presets with their training learning rates, and how
// bench/compare.sh measures the step.
namespace descent::registry {
namespace {

constexpr OptimizerPreset kPresets[] = {{"lars", "lars", {}, "LARS, momentum 0.9, trust coefficient 0.001", 5.0}};
constexpr MemoryPass kRoof[] = {{2, 0}, {1, 2}};  // norms of w and g; then g read, w and the momentum buffer updated
constexpr Entry kEntries[] = {entry<LARS, LARSOptions>("lars", kPresets, {{}, kRoof})};

}  // namespace

std::span<const Entry> lars() { return kEntries; }

}  // namespace descent::registry
