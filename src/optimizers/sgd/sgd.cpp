// SGD: plain gradient descent, with momentum (Polyak 1964; Sutskever et al. 2013) and Nesterov momentum.
//
//   d   = g (+ weight_decay * w)                       (-g when maximizing)
//   buf = d                          on the first step
//   buf = momentum * buf + (1 - dampening) * d         afterwards
//   d   = d + momentum * buf  (Nesterov)  or  buf
//   w   = w - lr * d
//
// state_dtype bfloat16 or int8: the momentum buffer is read back to float32 block by block, updated by
// the float32 rule above, and stored again (int8: the signed dynamic map; src/lowbit/state.hpp).
#include "descent/optimizers/sgd.hpp"

#include <array>

#include "optimizers/common.hpp"
#include "kernels/kernels.hpp"
#include "lowbit/state.hpp"
#include "optimizers/sgd/sgd_reference.hpp"
#include "optimizers/registry.hpp"

namespace descent {
namespace {

constexpr std::array<OptionInfo, SGDOptions::kCount> kFields{{
    detail::lr_option(0.01),
    detail::momentum_option(0.0),
    detail::real_option("dampening", 0.0, 0.0, 1.0, true, true, "fraction of the gradient held back from the momentum buffer"),
    detail::bool_option("nesterov", false, "Nesterov momentum: step along d + momentum * buf (needs momentum > 0, dampening 0)"),
    detail::weight_decay_option(0.0, "L2 penalty: weight_decay * w is added to the gradient"),
    detail::maximize_option(),
    lowbit::state_dtype_option(),
    lowbit::stochastic_rounding_option(),
}};

constexpr std::array<SlotSpec, 2> kSlots{{{"momentum_buffer", 0.0, lowbit::moment_layout},
                                          {"momentum_buffer_absmax", 0.0, lowbit::absmax_layout, SlotCheck::NonNegative}}};

}  // namespace

std::span<const OptionInfo> SGDOptions::fields() { return kFields; }

SGDOptions::SGDOptions(double lr) : Options("SGD", kFields) { this->lr(lr); }

void SGDOptions::validate() const {
  if (nesterov() && (momentum() <= 0.0 || dampening() != 0.0)) {
    fail("nesterov = true needs momentum > 0 and dampening = 0 (momentum = " + format_number(momentum()) +
         ", dampening = " + format_number(dampening()) + ")");
  }
}

SGD::SGD(std::vector<Parameter> params, const SGDOptions& defaults)
    : OptimizerWith(kSlots, {}, std::move(params), defaults) {}

std::uint32_t SGD::slots_needed(const Options& options) const {
  const auto& o = static_cast<const SGDOptions&>(options);
  if (o.momentum() == 0.0) return 0u;
  return 1u << kMomentumBuffer | (o.state_dtype() == StateDType::Int8 ? 1u << kMomentumBufferAbsmax : 0u);
}

void SGD::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const SGDOptions&>(options);
  for (Record* r : records) {
    lowbit::check_unchanged(name(), r->param, r->slots[kMomentumBuffer].layout.dtype, o.state_dtype());
    const StateDType low = lowbit::lowbit_of(r->slots[kMomentumBuffer].layout.dtype);
    if (low != StateDType::Float32 && o.momentum() != 0.0) {
      bool first = false;
      std::array<lowbit::StateRef, 3> slots{};
      slots[0].data = low == StateDType::Int8 ? static_cast<void*>(slot<std::uint8_t>(*r, kMomentumBuffer, &first))
                                              : static_cast<void*>(slot<bfloat16>(*r, kMomentumBuffer, &first));
      if (low == StateDType::Int8) slots[0].absmax = slot<float>(*r, kMomentumBufferAbsmax);
      slots[0].rounding = {o.stochastic_rounding(), lowbit::rounding_key(lowbit::name_seed(r->param.name()), r->step, 0)};
      const auto s = reference::SGDStep::make(o, first);
      float* p = r->param.value<float>().data();
      const float* g = r->param.grad<float>().data();
      tasks.push_back({[=](std::size_t b, std::size_t e) {
                         auto at = lowbit::advanced(slots, low, b);
                         kernels::sgd_lowbit(s, low, p + b, g + b, at.data(), 1, static_cast<std::uint32_t>(b), e - b);
                       },
                       r->param.size()});
      continue;
    }
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      bool first = false;
      T* buf = o.momentum() != 0.0 ? slot<T>(*r, kMomentumBuffer, &first) : nullptr;
      const auto s = reference::SGDStep::make(o, first);
      T* p = r->param.value<T>().data();
      const T* g = r->param.grad<T>().data();
      tasks.push_back({[=](std::size_t b, std::size_t e) { kernels::sgd(s, p + b, g + b, buf ? buf + b : nullptr, e - b); },
                       r->param.size()});
    });
  }
}

namespace reference {

SGDStep SGDStep::make(const SGDOptions& o, bool first) {
  return {o.lr(), o.momentum(), o.dampening(), o.weight_decay(), o.nesterov(), o.maximize(), first};
}

template <class T>
void sgd(const SGDStep& s, T* param, const T* grad, T* momentum_buffer, std::size_t n) {
  const T neg_lr = static_cast<T>(-s.lr);
  const T weight_decay = static_cast<T>(s.weight_decay);
  const T momentum = static_cast<T>(s.momentum);
  const T one_minus_dampening = static_cast<T>(1.0 - s.dampening);
  for (std::size_t i = 0; i < n; ++i) {
    T d = detail::effective_grad(grad[i], param[i], s.maximize, weight_decay);
    if (momentum_buffer != nullptr) {
      T& buf = momentum_buffer[i];
      buf = s.first ? d : detail::add_scaled(buf * momentum, one_minus_dampening, d);
      d = s.nesterov ? detail::add_scaled(d, momentum, buf) : buf;
    }
    param[i] = detail::add_scaled(param[i], neg_lr, d);
  }
}

template void sgd<float>(const SGDStep&, float*, const float*, float*, std::size_t);
template void sgd<double>(const SGDStep&, double*, const double*, double*, std::size_t);

void sgd_lowbit(const SGDStep& s, StateDType dtype, float* param, const float* grad, lowbit::StateRef* slots,
                std::size_t count, std::uint32_t first, std::size_t n) {
  lowbit::reference::with_float_state(dtype, n, first, slots, count, [&](std::size_t b, std::size_t len, float** state) {
    sgd<float>(s, param + b, grad + b, state[0], len);
  });
}

}  // namespace reference
}  // namespace descent

// The registration: the factory's entry, the CLI's presets with their training learning rates, and how
// bench/compare.sh measures the step.
namespace descent::registry {
namespace {

constexpr std::pair<std::string_view, double> kMomentum[] = {{"momentum", 0.9}};
constexpr std::pair<std::string_view, double> kNesterov[] = {{"momentum", 0.9}, {"nesterov", 1.0}};
constexpr OptimizerPreset kPresets[] = {
    {"gd", "sgd", {}, "gradient descent: w -= lr * g", 0.1},
    {"momentum", "sgd", kMomentum, "SGD with momentum 0.9", 0.01},
    {"nesterov", "sgd", kNesterov, "SGD with Nesterov momentum 0.9", 0.01},
};
constexpr MemoryPass kRoof[] = {{1, 2}};  // g read; w and the momentum buffer updated
constexpr Entry kEntries[] = {entry<SGD, SGDOptions>("sgd", kPresets, {kMomentum, kRoof})};

}  // namespace

std::span<const Entry> sgd() { return kEntries; }

}  // namespace descent::registry
