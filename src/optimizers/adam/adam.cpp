// Adam (Kingma & Ba 2015, Algorithm 1), AMSGrad (Reddi et al. 2018) and AdamW (Loshchilov & Hutter 2019):
//
//   g   = grad (+ weight_decay * w for Adam's L2)      (-grad when maximizing)
//   w   = (1 - lr * weight_decay) * w                  (AdamW only: decoupled decay)
//   m   = beta1 * m + (1 - beta1) * g
//   v   = beta2 * v + (1 - beta2) * g^2
//   v'  = max(v', v) and use v' for v                  (amsgrad)
//   w   = w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//
// Without bias correction both (1 - beta^t) factors are 1: the uncorrected Adam, whose first steps are
// lr * g / (|g| sqrt(1 - beta2) / (1 - beta1)) -- about 3 * lr for the default betas instead of lr.
// eps is added after the bias correction of sqrt(v), as in PyTorch (the paper writes it the same way).
//
// state_dtype bfloat16 or int8 (Dettmers et al. 2021, "8-bit Optimizers via Block-wise Quantization",
// Algorithm 1 with Adam as the update): each block of 256 elements is read back to float32, updated by the
// float32 rule above -- the same code -- and stored again (int8: m with the signed map, v and v' with the
// unsigned one). The parameter's update uses the float32 moments before they are stored.
//
// bfloat16 parameters (bf16_params: kahan, master or none; src/lowbit/bf16_params.hpp): the same float32
// rule runs on a float32 parameter p32 formed from the bfloat16 one (plus its compensation, or its master
// copy) with float(grad), then p32 is rounded back. The moments are float32 (state_dtype float32), or
// bfloat16/int8 as above: the two block loops nest.
#include "descent/optimizers/adam.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "optimizers/common.hpp"
#include "kernels/kernels.hpp"
#include "lowbit/bf16_params.hpp"
#include "lowbit/state.hpp"
#include "optimizers/adam/adam_reference.hpp"
#include "optimizers/registry.hpp"

namespace descent {
namespace {

template <bool Decoupled>
constexpr std::array<OptionInfo, AdamOptions::kCount> make_fields() {
  return {{
      detail::lr_option(1e-3),
      detail::beta1_option(),
      detail::beta2_option(),
      detail::eps_option(1e-8, "added to the root of the second moment (after its bias correction)"),
      Decoupled ? detail::weight_decay_option(1e-2, "decoupled decay: w is multiplied by (1 - lr * weight_decay) each step")
                : detail::weight_decay_option(0.0, "L2 penalty: weight_decay * w is added to the gradient"),
      detail::bool_option("amsgrad", false, "AMSGrad: divide by the running maximum of the second moment"),
      detail::maximize_option(),
      detail::bool_option("bias_correction", true, "divide the moments by (1 - beta^t); off gives the uncorrected Adam"),
      lowbit::state_dtype_option(),
      lowbit::stochastic_rounding_option(),
      lowbit::bf16_params_option(),
  }};
}

constexpr auto kAdamFields = make_fields<false>();
constexpr auto kAdamWFields = make_fields<true>();
constexpr std::array<SlotSpec, 8> kSlots{{
    {"exp_avg", 0.0, lowbit::moment_layout},
    {"exp_avg_sq", 0.0, lowbit::moment_layout, SlotCheck::NonNegative},
    {"max_exp_avg_sq", 0.0, lowbit::moment_layout, SlotCheck::NonNegative},
    {"exp_avg_absmax", 0.0, lowbit::absmax_layout, SlotCheck::NonNegative},
    {"exp_avg_sq_absmax", 0.0, lowbit::absmax_layout, SlotCheck::NonNegative},
    {"max_exp_avg_sq_absmax", 0.0, lowbit::absmax_layout, SlotCheck::NonNegative},
    {"master_param", 0.0, lowbit::master_param_layout},
    {"kahan_compensation", 0.0, lowbit::kahan_compensation_layout},
}};

}  // namespace

template <bool Decoupled>
std::span<const OptionInfo> AdamFamilyOptions<Decoupled>::fields() {
  return Decoupled ? std::span<const OptionInfo>(kAdamWFields) : std::span<const OptionInfo>(kAdamFields);
}

template <bool Decoupled>
AdamFamilyOptions<Decoupled>::AdamFamilyOptions(double lr) : Options(Decoupled ? "AdamW" : "Adam", fields()) {
  this->lr(lr);
}

template <bool Decoupled>
AdamFamily<Decoupled>::AdamFamily(std::vector<Parameter> params, const AdamFamilyOptions<Decoupled>& defaults)
    : OptimizerWith<AdamFamilyOptions<Decoupled>>(kSlots, {}, std::move(params), defaults) {}

template <bool Decoupled>
std::uint32_t AdamFamily<Decoupled>::slots_needed(const Options& options) const {
  const auto& o = static_cast<const AdamFamilyOptions<Decoupled>&>(options);
  const std::uint32_t moments = 1u << kExpAvg | 1u << kExpAvgSq | (o.amsgrad() ? 1u << kMaxExpAvgSq : 0u);
  const std::uint32_t compensation = o.bf16_params() == BF16Params::Master  ? 1u << kMasterParam
                                     : o.bf16_params() == BF16Params::Kahan ? 1u << kKahanCompensation
                                                                            : 0u;
  return (o.state_dtype() == StateDType::Int8 ? moments | moments << kExpAvgAbsmax : moments) | compensation;
}

template <bool Decoupled>
void AdamFamily<Decoupled>::plan(const Options& options, std::span<Optimizer::Record* const> records,
                                 std::vector<Optimizer::Task>& tasks) {
  const auto& o = static_cast<const AdamFamilyOptions<Decoupled>&>(options);
  for (Optimizer::Record* r : records) {
    lowbit::check_unchanged(this->name(), r->param, r->slots[kExpAvg].layout.dtype, o.state_dtype());
    if (r->param.dtype() == DType::BFloat16) {
      plan_bf16_params(o, *r, lowbit::lowbit_of(r->slots[kExpAvg].layout.dtype), tasks);
      continue;
    }
    if (const StateDType low = lowbit::lowbit_of(r->slots[kExpAvg].layout.dtype); low != StateDType::Float32) {
      plan_lowbit(o, *r, low, tasks);
      continue;
    }
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const auto s = reference::AdamStep::make(o, r->step);
      T* p = r->param.template value<T>().data();
      const T* g = r->param.template grad<T>().data();
      T* m = this->template slot<T>(*r, kExpAvg);
      T* v = this->template slot<T>(*r, kExpAvgSq);
      T* vmax = o.amsgrad() ? this->template slot<T>(*r, kMaxExpAvgSq) : nullptr;
      tasks.push_back({[=](std::size_t b, std::size_t e) {
                         kernels::adam(s, p + b, g + b, m + b, v + b, vmax ? vmax + b : nullptr, e - b);
                       },
                       r->param.size()});
    });
  }
}

template <bool Decoupled>
std::array<lowbit::StateRef, 3> AdamFamily<Decoupled>::lowbit_slots(const AdamFamilyOptions<Decoupled>& o,
                                                                    Optimizer::Record& r, StateDType dtype) {
  const std::size_t count = o.amsgrad() ? 3 : 2;
  const std::uint64_t seed = lowbit::name_seed(r.param.name());
  std::array<lowbit::StateRef, 3> slots{};
  for (std::size_t k = 0; k < count; ++k) {
    slots[k].is_signed = k == kExpAvg;
    slots[k].rounding = {o.stochastic_rounding(), lowbit::rounding_key(seed, r.step, static_cast<std::uint32_t>(k))};
    if (dtype == StateDType::Int8) {
      slots[k].data = this->template slot<std::uint8_t>(r, k);
      slots[k].absmax = this->template slot<float>(r, kExpAvgAbsmax + k);
    } else {
      slots[k].data = this->template slot<bfloat16>(r, k);
    }
  }
  return slots;
}

template <bool Decoupled>
void AdamFamily<Decoupled>::plan_lowbit(const AdamFamilyOptions<Decoupled>& o, Optimizer::Record& r, StateDType dtype,
                                        std::vector<Optimizer::Task>& tasks) {
  const auto s = reference::AdamStep::make(o, r.step);
  float* p = r.param.template value<float>().data();
  const float* g = r.param.template grad<float>().data();
  const std::size_t count = o.amsgrad() ? 3 : 2;
  const std::array<lowbit::StateRef, 3> slots = lowbit_slots(o, r, dtype);
  tasks.push_back({[=](std::size_t b, std::size_t e) {
                     auto at = lowbit::advanced(slots, dtype, b);
                     kernels::adam_lowbit(s, dtype, p + b, g + b, at.data(), count, static_cast<std::uint32_t>(b), e - b);
                   },
                   r.param.size()});
}

template <bool Decoupled>
void AdamFamily<Decoupled>::plan_bf16_params(const AdamFamilyOptions<Decoupled>& o, Optimizer::Record& r,
                                             StateDType dtype, std::vector<Optimizer::Task>& tasks) {
  lowbit::check_bf16_params_unchanged(this->name(), r.param, o.bf16_params(), r.slots[kMasterParam].elements,
                                      r.slots[kKahanCompensation].elements);
  const auto s = reference::AdamStep::make(o, r.step);
  lowbit::BF16ParamRef param{r.param.template value<bfloat16>().data(), r.param.template grad<bfloat16>().data()};
  if (o.bf16_params() == BF16Params::Master) {
    bool created = false;
    param.master = this->template slot<float>(r, kMasterParam, &created);
    if (created) {
      for (std::size_t i = 0; i < r.param.size(); ++i) param.master[i] = to_float(param.param[i]);
    }
  } else if (o.bf16_params() == BF16Params::Kahan) {
    param.compensation = this->template slot<bfloat16>(r, kKahanCompensation);
  }
  const std::size_t count = o.amsgrad() ? 3 : 2;
  if (dtype == StateDType::Float32) {
    float* m = this->template slot<float>(r, kExpAvg);
    float* v = this->template slot<float>(r, kExpAvgSq);
    float* vmax = o.amsgrad() ? this->template slot<float>(r, kMaxExpAvgSq) : nullptr;
    tasks.push_back({[=](std::size_t b, std::size_t e) {
                       lowbit::with_float_params(param.advanced(b), e - b,
                                                 [&](std::size_t i, std::size_t len, float* p32, float* g32) {
                                                   const std::size_t at = b + i;
                                                   kernels::adam(s, p32, g32, m + at, v + at,
                                                                 vmax ? vmax + at : nullptr, len);
                                                 });
                     },
                     r.param.size()});
    return;
  }
  const std::array<lowbit::StateRef, 3> slots = lowbit_slots(o, r, dtype);
  tasks.push_back({[=](std::size_t b, std::size_t e) {
                     auto at = lowbit::advanced(slots, dtype, b);
                     // Both loops cut at the same 256-element blocks: the inner one sees one block.
                     lowbit::reference::with_float_state(
                         dtype, e - b, static_cast<std::uint32_t>(b), at.data(), count,
                         [&](std::size_t i, std::size_t len, float** state) {
                           lowbit::with_float_params(param.advanced(b + i), len,
                                                     [&](std::size_t, std::size_t n, float* p32, float* g32) {
                                                       kernels::adam(s, p32, g32, state[0], state[1],
                                                                     count == 3 ? state[2] : nullptr, n);
                                                     });
                         });
                   },
                   r.param.size()});
}

template class AdamFamilyOptions<false>;
template class AdamFamilyOptions<true>;
template class AdamFamily<false>;
template class AdamFamily<true>;

namespace reference {

template <bool Decoupled>
AdamStep AdamStep::make(const AdamFamilyOptions<Decoupled>& o, std::int64_t step) {
  const bool corrected = o.bias_correction();
  return {
      o.beta1(),
      o.beta2(),
      o.eps(),
      Decoupled ? 0.0 : o.weight_decay(),
      Decoupled ? detail::decoupled_decay_factor(o.lr(), o.weight_decay()) : 1.0,
      corrected ? o.lr() / detail::bias_correction(o.beta1(), step) : o.lr(),
      corrected ? std::sqrt(detail::bias_correction(o.beta2(), step)) : 1.0,
      o.amsgrad(),
      o.maximize(),
  };
}

template AdamStep AdamStep::make<false>(const AdamOptions&, std::int64_t);
template AdamStep AdamStep::make<true>(const AdamWOptions&, std::int64_t);

template <class T>
void adam(const AdamStep& s, T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, std::size_t n) {
  const detail::AdamMoments<T> moments(s.beta1, s.beta2);
  const T eps = static_cast<T>(s.eps);
  const T l2 = static_cast<T>(s.l2);
  const T decay_factor = static_cast<T>(s.decay_factor);
  const bool decoupled = s.decay_factor != 1.0;
  const T neg_step_size = static_cast<T>(-s.step_size);
  const T bias_correction2_sqrt = static_cast<T>(s.bias_correction2_sqrt);
  for (std::size_t i = 0; i < n; ++i) {
    const T g = detail::effective_grad(grad[i], param[i], s.maximize, l2);
    if (decoupled) param[i] = param[i] * decay_factor;
    moments.update(exp_avg[i], exp_avg_sq[i], g);
    T second = exp_avg_sq[i];
    if (max_exp_avg_sq != nullptr) second = max_exp_avg_sq[i] = detail::nan_max(max_exp_avg_sq[i], exp_avg_sq[i]);
    const T denom = std::sqrt(second) / bias_correction2_sqrt + eps;
    param[i] = param[i] + neg_step_size * exp_avg[i] / denom;
  }
}

template void adam<float>(const AdamStep&, float*, const float*, float*, float*, float*, std::size_t);

void adam_lowbit(const AdamStep& s, StateDType dtype, float* param, const float* grad, lowbit::StateRef* slots,
                 std::size_t count, std::uint32_t first, std::size_t n) {
  lowbit::reference::with_float_state(dtype, n, first, slots, count, [&](std::size_t b, std::size_t len, float** state) {
    adam<float>(s, param + b, grad + b, state[0], state[1], count == 3 ? state[2] : nullptr, len);
  });
}
template void adam<double>(const AdamStep&, double*, const double*, double*, double*, double*, std::size_t);

}  // namespace reference
}  // namespace descent

// The registration: the factory's entry, the CLI's presets with their training learning rates, and how
// bench/compare.sh measures the step.
namespace descent::registry {
namespace {

constexpr std::pair<std::string_view, double> kNoBiasCorrection[] = {{"bias_correction", 0.0}};
constexpr std::pair<std::string_view, double> kBFloat16State[] = {{"state_dtype", 1.0}};  // kStateDTypeNames[1]
constexpr std::pair<std::string_view, double> kInt8State[] = {{"state_dtype", 2.0}};
constexpr std::pair<std::string_view, double> kBF16Kahan[] = {{"bf16_params", 0.0}};  // kBF16ParamsNames[0]
constexpr std::pair<std::string_view, double> kBF16Master[] = {{"bf16_params", 1.0}};
constexpr std::pair<std::string_view, double> kBF16None[] = {{"bf16_params", 2.0}};
constexpr OptimizerPreset kAdamPresets[] = {
    {"adam", "adam", {}, "Adam (0.9, 0.999) with bias correction", 1e-3},
    {"adam-nobc", "adam", kNoBiasCorrection, "Adam without bias correction (large first steps)", 1e-3},
    {"adam-bf16", "adam", kBFloat16State, "Adam with bfloat16 moments (4 bytes of state per parameter)", 1e-3},
    {"adam-int8", "adam", kInt8State, "Adam with 8-bit block-wise moments (Dettmers et al. 2021; 2.03 bytes)", 1e-3},
    // Parameters in bfloat16 (`descent train` keeps the model's weights and gradients in bfloat16).
    {"adam-bf16-kahan", "adam", kBF16Kahan, "Adam on bfloat16 parameters, Kahan-compensated (2 more bytes)", 1e-3, true},
    {"adam-bf16-master", "adam", kBF16Master, "Adam on bfloat16 parameters with a float32 master copy", 1e-3, true},
    {"adam-bf16-none", "adam", kBF16None, "Adam on bfloat16 parameters, rounded each step (no compensation)", 1e-3, true},
};
constexpr OptimizerPreset kAdamWPresets[] = {
    {"adamw", "adamw", {}, "AdamW, decoupled weight decay 0.01", 1e-3},
    {"adamw-int8", "adamw", kInt8State, "AdamW with 8-bit block-wise moments", 1e-3},
};
constexpr MemoryPass kRoof[] = {{1, 3}};  // g read; w, exp_avg and exp_avg_sq updated
constexpr Entry kEntries[] = {entry<Adam, AdamOptions>("adam", kAdamPresets, {{}, kRoof}),
                              entry<AdamW, AdamWOptions>("adamw", kAdamWPresets, {{}, kRoof})};

}  // namespace

std::span<const Entry> adam() { return kEntries; }

}  // namespace descent::registry
