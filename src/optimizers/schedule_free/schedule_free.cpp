// Schedule-Free SGD and AdamW (Defazio, Yang, Mehta, Mishchenko, Khaled, Cutkosky 2024, "The Road Less
// Scheduled", NeurIPS 2024, Algorithm 1 and its AdamW form), in the paper's x/z form:
//
//   y_t     = (1 - beta) z_t + beta x_t                 the parameters while training; g_t is taken here
//   d_t     = g_t + weight_decay * y_t                  SGD
//   v_t     = beta2 v_{t-1} + (1 - beta2) g_t^2         AdamW ...
//   d_t     = g_t / (sqrt(v_t) + eps) + weight_decay * y_t   ... decay at y, after normalisation
//   z_{t+1} = z_t - gamma_t d_t
//   x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}       x: the average evaluated
//   y_{t+1} = (1 - beta) z_{t+1} + beta x_{t+1}
//
// with z_1 = x_1 = y_1 (the parameters at the first step), the step size warmed up linearly,
// gamma_t = lr * min(1, t / warmup_steps) (AdamW: times sqrt(1 - beta2^t), in place of bias correction),
// and the averaging weights c_{t+1} = w_t / sum_{i<=t} w_i, w_t = t^r * lr_max^weight_lr_power, lr_max the
// largest gamma so far (the authors' code, facebookresearch/schedule_free; c = 0 while the sum is 0).
//
// The authors' code keeps y in the parameters and only z, recovering x = (y - (1 - beta) z) / beta at
// eval(); descent keeps x as a slot too (one more array per parameter) so that eval mode is an exact swap
// of x and y (Averaging, as EMA's) and y is recomputed from z and x at every step instead of drifting by
// rounding. tests/reference/generate_sign_and_schedule_free.py checks that both forms give the same
// trajectory (float64, relative 1e-9).
//
// state_dtype bfloat16 keeps z (and v) in bfloat16, read back to float32 block by block, updated by the
// float32 rule and stored rounded; x stays in the parameters' dtype, because eval() swaps it with them.
// On the first step z starts from the parameters' float32 values (rounded only when stored).
#include "descent/optimizers/schedule_free.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "kernels/kernels.hpp"
#include "lowbit/state.hpp"
#include "optimizers/common.hpp"
#include "optimizers/registry.hpp"
#include "optimizers/schedule_free/schedule_free_reference.hpp"

namespace descent {
namespace {

constexpr OptionInfo warmup_option() {
  return detail::int_option("warmup_steps", 0, 0.0, detail::kInf, true, false,
                            "steps of linear warmup of the step size (0: none)");
}
constexpr OptionInfo r_option() {
  return detail::real_option("r", 0.0, 0.0, detail::kInf, true, false,
                             "polynomial weighting of the average: step t weighs t^r");
}
constexpr OptionInfo weight_lr_power_option() {
  return detail::real_option("weight_lr_power", 2.0, 0.0, detail::kInf, true, false,
                             "the average weighs step t by lr_max^weight_lr_power (0: uniformly)");
}

constexpr std::array<OptionInfo, SGDScheduleFreeOptions::kCount> kSGDFields{{
    detail::lr_option(1.0),
    detail::real_option("momentum", 0.9, 0.0, 1.0, true, false,
                        "interpolation y = (1 - momentum) z + momentum x where the gradient is taken"),
    detail::weight_decay_option(0.0, "L2 penalty at y: weight_decay * y is added to the gradient"),
    warmup_option(),
    r_option(),
    weight_lr_power_option(),
    detail::maximize_option(),
    lowbit::bfloat16_state_dtype_option(),
    lowbit::stochastic_rounding_option(),
}};

constexpr std::array<OptionInfo, AdamWScheduleFreeOptions::kCount> kAdamWFields{{
    detail::lr_option(0.0025),
    detail::real_option("beta1", 0.9, 0.0, 1.0, true, false,
                        "interpolation y = (1 - beta1) z + beta1 x where the gradient is taken"),
    detail::beta2_option(),
    detail::eps_option(1e-8, "added to the root of the second moment"),
    detail::weight_decay_option(0.0, "at y, added to the normalised gradient"),
    warmup_option(),
    r_option(),
    weight_lr_power_option(),
    detail::maximize_option(),
    lowbit::bfloat16_state_dtype_option(),
    lowbit::stochastic_rounding_option(),
}};

// x is last: in eval mode it holds y (the swap), which is any finite value.
constexpr std::array<SlotSpec, 2> kSGDSlots{{{"z", 0.0, lowbit::moment_layout}, {"x", 0.0}}};
constexpr std::array<SlotSpec, 3> kAdamWSlots{{{"z", 0.0, lowbit::moment_layout},
                                                {"exp_avg_sq", 0.0, lowbit::moment_layout, SlotCheck::NonNegative},
                                                {"x", 0.0}}};
constexpr std::array<ScalarSlotSpec, 2> kScalars{
    {{"lr_max", 0.0, SlotCheck::NonNegative}, {"weight_sum", 0.0, SlotCheck::NonNegative}}};

// z and x start at the parameters' values (y_1 = z_1 = x_1): copied by the first step's tasks.
template <class T>
void start_at(bool created, const T* param, T* z, T* x, std::size_t begin, std::size_t end) {
  if (!created) return;
  std::copy(param + begin, param + end, z + begin);
  std::copy(param + begin, param + end, x + begin);
}

}  // namespace

std::span<const OptionInfo> SGDScheduleFreeOptions::fields() { return kSGDFields; }
SGDScheduleFreeOptions::SGDScheduleFreeOptions(double lr) : Options("SGDScheduleFree", kSGDFields) { this->lr(lr); }
std::span<const OptionInfo> AdamWScheduleFreeOptions::fields() { return kAdamWFields; }
AdamWScheduleFreeOptions::AdamWScheduleFreeOptions(double lr) : Options("AdamWScheduleFree", kAdamWFields) {
  this->lr(lr);
}

template <class OptionsT>
ScheduleFree<OptionsT>::ScheduleFree(std::span<const SlotSpec> slots, std::span<const ScalarSlotSpec> scalar_slots,
                                     std::vector<Parameter> params, const OptionsT& defaults, std::size_t x_slot)
    : OptimizerWith<OptionsT>(slots, scalar_slots, std::move(params), defaults),
      x_slot_(x_slot),
      swap_(defaults.optimizer(), "the averages x (eval mode)", "schedule_free_eval_mode") {}

template <class OptionsT>
void ScheduleFree<OptionsT>::use_average(bool on) {
  const auto use = this->exclusive_use(on ? "eval()" : "train()");
  swap_.set(on, this->records(), [this](Record& r) -> void* {
    if (!r.slots[x_slot_].ready) return nullptr;  // not stepped yet: x = y
    void* x = nullptr;
    visit_dtype(r.param.dtype(), [&](auto tag) { x = this->template slot<decltype(tag)>(r, x_slot_); });
    return x;
  });
}

template <class OptionsT>
std::function<void()> ScheduleFree<OptionsT>::load_extra(const StateDict& dict) {
  const bool eval_mode = swap_.load(dict);
  return [this, eval_mode] { swap_.commit(eval_mode); };
}

template class ScheduleFree<SGDScheduleFreeOptions>;
template class ScheduleFree<AdamWScheduleFreeOptions>;

SGDScheduleFree::SGDScheduleFree(std::vector<Parameter> params, const SGDScheduleFreeOptions& defaults)
    : ScheduleFree(kSGDSlots, kScalars, std::move(params), defaults, kX) {}

std::uint32_t SGDScheduleFree::slots_needed(const Options&) const { return 1u << kZ | 1u << kX; }

void SGDScheduleFree::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const SGDScheduleFreeOptions&>(options);
  for (Record* r : records) {
    auto s = reference::ScheduleFreeStep::make(o.lr(), o.warmup_steps(), o.r(), o.weight_lr_power(), 1.0, r->step,
                                               r->scalars[kLrMax], r->scalars[kWeightSum]);
    s.beta = o.momentum();
    s.weight_decay = o.weight_decay();
    s.maximize = o.maximize();
    lowbit::check_unchanged(name(), r->param, r->slots[kZ].layout.dtype, o.state_dtype());
    if (r->slots[kZ].layout.dtype == DType::BFloat16) {
      bool created = false;
      std::array<lowbit::StateRef, 3> slots{};
      slots[0] = lowbit::state_ref(slot<bfloat16>(*r, kZ, &created), nullptr, true, o.stochastic_rounding(),
                                   r->param.name(), r->step, kZ);
      float* p = r->param.value<float>().data();
      const float* g = r->param.grad<float>().data();
      float* x = slot<float>(*r, kX);
      tasks.push_back({lowbit::float_state_task(StateDType::BFloat16, slots, 1, [=](std::size_t b, std::size_t n, float** state) {
                         if (created) {  // z_1 = x_1 = y_1 in float32
                           std::copy(p + b, p + b + n, state[0]);
                           std::copy(p + b, p + b + n, x + b);
                         }
                         kernels::sgd_schedule_free(s, p + b, g + b, state[0], x + b, n);
                       }),
                       r->param.size()});
      continue;
    }
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* p = r->param.value<T>().data();
      const T* g = r->param.grad<T>().data();
      bool created = false;
      T* z = slot<T>(*r, kZ, &created);
      T* x = slot<T>(*r, kX);
      tasks.push_back({[=](std::size_t b, std::size_t e) {
                         start_at(created, p, z, x, b, e);
                         kernels::sgd_schedule_free(s, p + b, g + b, z + b, x + b, e - b);
                       },
                       r->param.size()});
    });
  }
}

AdamWScheduleFree::AdamWScheduleFree(std::vector<Parameter> params, const AdamWScheduleFreeOptions& defaults)
    : ScheduleFree(kAdamWSlots, kScalars, std::move(params), defaults, kX) {}

std::uint32_t AdamWScheduleFree::slots_needed(const Options&) const {
  return 1u << kZ | 1u << kExpAvgSq | 1u << kX;
}

void AdamWScheduleFree::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const AdamWScheduleFreeOptions&>(options);
  for (Record* r : records) {
    const double lr_scale = std::sqrt(detail::bias_correction(o.beta2(), r->step));
    auto s = reference::ScheduleFreeStep::make(o.lr(), o.warmup_steps(), o.r(), o.weight_lr_power(), lr_scale,
                                               r->step, r->scalars[kLrMax], r->scalars[kWeightSum]);
    s.beta = o.beta1();
    s.beta2 = o.beta2();
    s.eps = o.eps();
    s.weight_decay = o.weight_decay();
    s.maximize = o.maximize();
    lowbit::check_unchanged(name(), r->param, r->slots[kZ].layout.dtype, o.state_dtype());
    if (r->slots[kZ].layout.dtype == DType::BFloat16) {
      bool created = false;
      std::array<lowbit::StateRef, 3> slots{};
      slots[0] = lowbit::state_ref(slot<bfloat16>(*r, kZ, &created), nullptr, true, o.stochastic_rounding(),
                                   r->param.name(), r->step, kZ);
      slots[1] = lowbit::state_ref(slot<bfloat16>(*r, kExpAvgSq), nullptr, false, o.stochastic_rounding(),
                                   r->param.name(), r->step, kExpAvgSq);
      float* p = r->param.value<float>().data();
      const float* g = r->param.grad<float>().data();
      float* x = slot<float>(*r, kX);
      tasks.push_back({lowbit::float_state_task(StateDType::BFloat16, slots, 2, [=](std::size_t b, std::size_t n, float** state) {
                         if (created) {  // z_1 = x_1 = y_1 in float32
                           std::copy(p + b, p + b + n, state[0]);
                           std::copy(p + b, p + b + n, x + b);
                         }
                         kernels::adamw_schedule_free(s, p + b, g + b, state[0], state[1], x + b, n);
                       }),
                       r->param.size()});
      continue;
    }
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* p = r->param.value<T>().data();
      const T* g = r->param.grad<T>().data();
      bool created = false;
      T* z = slot<T>(*r, kZ, &created);
      T* v = slot<T>(*r, kExpAvgSq);
      T* x = slot<T>(*r, kX);
      tasks.push_back({[=](std::size_t b, std::size_t e) {
                         start_at(created, p, z, x, b, e);
                         kernels::adamw_schedule_free(s, p + b, g + b, z + b, v + b, x + b, e - b);
                       },
                       r->param.size()});
    });
  }
}

namespace reference {

ScheduleFreeStep ScheduleFreeStep::make(double lr, std::int64_t warmup_steps, double r, double weight_lr_power,
                                        double lr_scale, std::int64_t step, double& lr_max, double& weight_sum) {
  const double t = static_cast<double>(step);
  const double warmup = warmup_steps > 0 ? std::min(1.0, t / static_cast<double>(warmup_steps)) : 1.0;
  const double gamma = lr * warmup * lr_scale;
  lr_max = std::max(lr_max, gamma);
  const double weight = std::pow(t, r) * std::pow(lr_max, weight_lr_power);
  weight_sum += weight;
  const double ckp1 = weight_sum > 0.0 ? weight / weight_sum : 0.0;
  return {gamma, ckp1, 0.0, 0.0, 0.0, 0.0, false};
}

// x + c (z - x) and z + beta (x - z): the averages, each with one rounding of the product-sum.
template <class T>
inline T toward(T from, T to, T weight) {
  return std::fma(weight, to - from, from);
}

template <class T>
void sgd_schedule_free(const ScheduleFreeStep& s, T* param, const T* grad, T* z, T* x, std::size_t n) {
  const T neg_lr = static_cast<T>(-s.lr), ckp1 = static_cast<T>(s.ckp1), beta = static_cast<T>(s.beta);
  const T weight_decay = static_cast<T>(s.weight_decay);
  for (std::size_t i = 0; i < n; ++i) {
    const T d = detail::effective_grad(grad[i], param[i], s.maximize, weight_decay);
    z[i] = detail::add_scaled(z[i], neg_lr, d);
    x[i] = toward(x[i], z[i], ckp1);
    param[i] = toward(z[i], x[i], beta);
  }
}

template <class T>
void adamw_schedule_free(const ScheduleFreeStep& s, T* param, const T* grad, T* z, T* exp_avg_sq, T* x,
                         std::size_t n) {
  const T neg_lr = static_cast<T>(-s.lr), ckp1 = static_cast<T>(s.ckp1), beta = static_cast<T>(s.beta);
  const T beta2 = static_cast<T>(s.beta2), one_minus_beta2 = static_cast<T>(1.0 - s.beta2);
  const T eps = static_cast<T>(s.eps), weight_decay = static_cast<T>(s.weight_decay);
  const bool decays = weight_decay != T(0);
  for (std::size_t i = 0; i < n; ++i) {
    const T g = s.maximize ? -grad[i] : grad[i];
    exp_avg_sq[i] = detail::ema_sq(exp_avg_sq[i], g, beta2, one_minus_beta2);
    const T normalised = g / (std::sqrt(exp_avg_sq[i]) + eps);
    const T d = decays ? detail::add_scaled(normalised, weight_decay, param[i]) : normalised;
    z[i] = detail::add_scaled(z[i], neg_lr, d);
    x[i] = toward(x[i], z[i], ckp1);
    param[i] = toward(z[i], x[i], beta);
  }
}

template void sgd_schedule_free<float>(const ScheduleFreeStep&, float*, const float*, float*, float*, std::size_t);
template void sgd_schedule_free<double>(const ScheduleFreeStep&, double*, const double*, double*, double*,
                                        std::size_t);
template void adamw_schedule_free<float>(const ScheduleFreeStep&, float*, const float*, float*, float*, float*,
                                         std::size_t);
template void adamw_schedule_free<double>(const ScheduleFreeStep&, double*, const double*, double*, double*,
                                          double*, std::size_t);

}  // namespace reference
}  // namespace descent

// The registration: the factory's entries, the CLI's presets with their training learning rates, and how
// bench/compare.sh measures the step.
namespace descent::registry {
namespace {

// Training rates: the best after one epoch of the Fashion-MNIST MLP (784-256-10, batch 128, seed 1) of
// SGD 0.1, 0.3, 1, 2, 3 (79.6%, 82.7%, 85.7%, 85.4%, 84.7%) and AdamW 1e-3, 2.5e-3, 5e-3, 1e-2 (84.0%,
// 85.7%, 86.6%, 86.9%; 5e-3 kept, a margin for longer runs).
constexpr OptimizerPreset kSGDPresets[] = {
    {"sgdschedulefree", "sgdschedulefree", {}, "Schedule-Free SGD, momentum 0.9 (eval at x)", 1.0}};
constexpr OptimizerPreset kAdamWPresets[] = {
    {"adamwschedulefree", "adamwschedulefree", {}, "Schedule-Free AdamW (0.9, 0.999) (eval at x)", 5e-3}};
constexpr MemoryPass kSGDRoof[] = {{1, 3}};    // g read; w (y), z and x updated
constexpr MemoryPass kAdamWRoof[] = {{1, 4}};  // g read; w (y), z, exp_avg_sq and x updated
constexpr Entry kEntries[] = {
    entry<SGDScheduleFree, SGDScheduleFreeOptions>("sgdschedulefree", kSGDPresets, {{}, kSGDRoof}),
    entry<AdamWScheduleFree, AdamWScheduleFreeOptions>("adamwschedulefree", kAdamWPresets, {{}, kAdamWRoof})};

}  // namespace

std::span<const Entry> schedule_free() { return kEntries; }

}  // namespace descent::registry
