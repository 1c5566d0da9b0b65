// Adagrad (Duchi, Hazan, Singer 2011), PyTorch's form with learning-rate decay:
//
//   g   = grad (+ weight_decay * w)                    (-grad when maximizing)
//   clr = lr / (1 + (t - 1) * lr_decay)
//   sum = sum + g^2                                    (sum starts at initial_accumulator_value)
//   w   = w - clr * g / (sqrt(sum) + eps)
#include "descent/optimizers/adagrad.hpp"

#include <array>
#include <cmath>

#include "lowbit/state.hpp"
#include "optimizers/common.hpp"
#include "kernels/kernels.hpp"
#include "optimizers/adagrad/adagrad_reference.hpp"
#include "optimizers/registry.hpp"

namespace descent {
namespace {

constexpr std::array<OptionInfo, AdagradOptions::kCount> kFields{{
    detail::lr_option(1e-2),
    detail::real_option("lr_decay", 0.0, 0.0, detail::kInf, true, false, "the step t uses lr / (1 + (t - 1) * lr_decay)"),
    detail::weight_decay_option(0.0, "L2 penalty: weight_decay * w is added to the gradient"),
    detail::real_option("initial_accumulator_value", 0.0, 0.0, detail::kInf, true, false,
                        "starting value of the sum of squared gradients"),
    detail::eps_option(1e-10, "added to the root of the sum, for numerical stability"),
    detail::maximize_option(),
    lowbit::bfloat16_state_dtype_option(),
    lowbit::stochastic_rounding_option(),
}};

constexpr std::array<SlotSpec, 1> kSlots{{{"sum", 0.0, lowbit::moment_layout, SlotCheck::NonNegative}}};

}  // namespace

std::span<const OptionInfo> AdagradOptions::fields() { return kFields; }

AdagradOptions::AdagradOptions(double lr) : Options("Adagrad", kFields) { this->lr(lr); }

Adagrad::Adagrad(std::vector<Parameter> params, const AdagradOptions& defaults)
    : OptimizerWith(kSlots, {}, std::move(params), defaults) {}

std::uint32_t Adagrad::slots_needed(const Options&) const { return 1u << kSum; }

void Adagrad::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const AdagradOptions&>(options);
  for (Record* r : records) {
    lowbit::check_unchanged(name(), r->param, r->slots[kSum].layout.dtype, o.state_dtype());
    if (r->slots[kSum].layout.dtype == DType::BFloat16) {
      bool created = false;
      bfloat16* sum = slot<bfloat16>(*r, kSum, &created);
      if (created) std::fill_n(sum, r->param.size(), to_bfloat16(static_cast<float>(o.initial_accumulator_value())));
      const auto s = reference::AdagradStep::make(o, r->step);
      std::array<lowbit::StateRef, 3> slots{};
      slots[0] = lowbit::state_ref(sum, nullptr, false, o.stochastic_rounding(), r->param.name(), r->step, kSum);
      float* p = r->param.value<float>().data();
      const float* g = r->param.grad<float>().data();
      tasks.push_back({lowbit::float_state_task(StateDType::BFloat16, slots, 1, [=](std::size_t b, std::size_t n, float** state) {
                         kernels::adagrad(s, p + b, g + b, state[0], n);
                       }),
                       r->param.size()});
      continue;
    }
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      bool created = false;
      T* sum = slot<T>(*r, kSum, &created);
      if (created) std::fill_n(sum, r->param.size(), static_cast<T>(o.initial_accumulator_value()));
      const auto s = reference::AdagradStep::make(o, r->step);
      T* p = r->param.value<T>().data();
      const T* g = r->param.grad<T>().data();
      tasks.push_back({[=](std::size_t b, std::size_t e) { kernels::adagrad(s, p + b, g + b, sum + b, e - b); },
                       r->param.size()});
    });
  }
}

namespace reference {

AdagradStep AdagradStep::make(const AdagradOptions& o, std::int64_t step) {
  const double clr = o.lr() / (1.0 + static_cast<double>(step - 1) * o.lr_decay());
  return {clr, o.weight_decay(), o.eps(), o.maximize()};
}

template <class T>
void adagrad(const AdagradStep& s, T* param, const T* grad, T* sum, std::size_t n) {
  const T neg_clr = static_cast<T>(-s.clr);
  const T weight_decay = static_cast<T>(s.weight_decay);
  const T eps = static_cast<T>(s.eps);
  for (std::size_t i = 0; i < n; ++i) {
    const T g = detail::effective_grad(grad[i], param[i], s.maximize, weight_decay);
    sum[i] = std::fma(g, g, sum[i]);  // sum.addcmul_(g, g)
    const T std_dev = std::sqrt(sum[i]) + eps;
    param[i] = param[i] + neg_clr * g / std_dev;
  }
}

template void adagrad<float>(const AdagradStep&, float*, const float*, float*, std::size_t);
template void adagrad<double>(const AdagradStep&, double*, const double*, double*, std::size_t);

}  // namespace reference
}  // namespace descent

// The registration: the factory's entry, the CLI's presets with their training learning rates, and how
// bench/compare.sh measures the step.
namespace descent::registry {
namespace {

constexpr OptimizerPreset kPresets[] = {{"adagrad", "adagrad", {}, "Adagrad", 0.01}};
constexpr MemoryPass kRoof[] = {{1, 2}};  // g read; w and sum updated
constexpr Entry kEntries[] = {entry<Adagrad, AdagradOptions>("adagrad", kPresets, {{}, kRoof})};

}  // namespace

std::span<const Entry> adagrad() { return kEntries; }

}  // namespace descent::registry
