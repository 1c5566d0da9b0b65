// LAMB (You et al. 2020, Algorithm 2, the ICLR 2020 version, with bias correction), per parameter tensor:
//
//   g = grad                                          (-grad when maximizing)
//   m = beta1 * m + (1 - beta1) * g,    v = beta2 * v + (1 - beta2) * g^2
//   r = (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)      (bias_correction off: m / (sqrt(v) + eps))
//   u = r + weight_decay * w                          (decoupled decay, inside the trust ratio)
//   ratio = phi(||w||) / ||u||,  phi(z) = min(max(z, weight_norm_min), weight_norm_max)   (1 if phi(||w||) or ||u|| is 0)
//   w = w - lr * ratio * u
//
// Excluded groups use u = r and ratio 1: Adam. The first arXiv versions of the paper omit the bias
// correction; the final version includes it and notes it is optional, so it is an option, on by default.
// ||u|| needs every element before any is updated: pass 1 updates the moments and sums u^2; pass 2
// recomputes u from the stored moments (bit-identical) and applies it, so no buffer of u is needed.
//
// state_dtype bfloat16: pass 1 updates float32 copies of the moments and sums u^2 without storing them;
// pass 2 updates them again from the stored bfloat16 values (bit-identical), applies u and stores the
// moments rounded. So a step is the float32 rule's followed by rounding the moments, as for the other
// rules, at the cost of updating the moments twice.
#include "descent/optimizers/lamb.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "lowbit/state.hpp"
#include "optimizers/common.hpp"
#include "kernels/kernels.hpp"
#include "optimizers/lamb/lamb_reference.hpp"
#include "optimizers/registry.hpp"

namespace descent {
namespace {

constexpr std::array<OptionInfo, LAMBOptions::kCount> kFields{{
    detail::lr_option(1e-3),
    detail::beta1_option(),
    detail::beta2_option(),
    detail::eps_option(1e-6, "added to the root of the second moment"),
    detail::weight_decay_option(1e-2, "decoupled decay, added to the Adam direction inside the trust ratio"),
    detail::bool_option("bias_correction", true, "divide the moments by (1 - beta^t), as in the paper's final version"),
    detail::real_option("weight_norm_min", 0.0, 0.0, detail::kInf, true, false, "lower clamp of ||w|| in the trust ratio"),
    detail::real_option("weight_norm_max", detail::kInf, 0.0, detail::kInf, false, true,
                        "upper clamp of ||w|| in the trust ratio (inf: no clamp)"),
    detail::exclude_option(),
    detail::maximize_option(),
    lowbit::bfloat16_state_dtype_option(),
    lowbit::stochastic_rounding_option(),
}};

constexpr std::array<SlotSpec, 2> kSlots{{{"exp_avg", 0.0, lowbit::moment_layout}, {"exp_avg_sq", 0.0, lowbit::moment_layout, SlotCheck::NonNegative}}};

// u for one element, from the already-updated moments: the same expression in both passes.
template <class T>
inline T direction(T exp_avg, T exp_avg_sq, T param, T bias_correction1, T bias_correction2, T eps, T weight_decay) {
  const T r = (exp_avg / bias_correction1) / (std::sqrt(exp_avg_sq / bias_correction2) + eps);
  return weight_decay != T(0) ? r + weight_decay * param : r;
}

}  // namespace

std::span<const OptionInfo> LAMBOptions::fields() { return kFields; }

LAMBOptions::LAMBOptions(double lr) : Options("LAMB", kFields) { this->lr(lr); }

void LAMBOptions::validate() const {
  if (weight_norm_min() > weight_norm_max()) {
    fail("weight_norm_min = " + format_number(weight_norm_min()) + " is larger than weight_norm_max = " +
         format_number(weight_norm_max()));
  }
}

LAMB::LAMB(std::vector<Parameter> params, const LAMBOptions& defaults)
    : OptimizerWith(kSlots, {}, std::move(params), defaults) {}

std::uint32_t LAMB::slots_needed(const Options&) const { return 1u << kExpAvg | 1u << kExpAvgSq; }

void LAMB::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const LAMBOptions&>(options);
  std::vector<reference::LAMBStep> steps;
  for (Record* r : records) {
    steps.push_back(reference::LAMBStep::make(o, r->step));
    lowbit::check_unchanged(name(), r->param, r->slots[kExpAvg].layout.dtype, o.state_dtype());
    // created here, on the calling thread, before the parallel passes
    if (r->slots[kExpAvg].layout.dtype == DType::BFloat16) {
      (void)slot<bfloat16>(*r, kExpAvg);
      (void)slot<bfloat16>(*r, kExpAvgSq);
      continue;
    }
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      (void)slot<T>(*r, kExpAvg);
      (void)slot<T>(*r, kExpAvgSq);
    });
  }
  // ||w|| before the step, then the moments' update with ||u|| (pass 1), both summed chunk by chunk.
  std::vector<double> weight_sq(records.size(), 0.0);
  if (!o.exclude()) {
    weight_sq = parallel_sum(records, [&](std::size_t i, std::size_t b, std::size_t e) {
      const Parameter& p = records[i]->param;
      return visit_dtype(p.dtype(), [&](auto tag) {
        using T = decltype(tag);
        return kernels::sum_of_squares(p.value<T>().data() + b, e - b);
      });
    });
  }
  const std::vector<double> direction_sq = parallel_sum(records, [&](std::size_t i, std::size_t b, std::size_t e) {
    Record& r = *records[i];
    if (r.slots[kExpAvg].layout.dtype == DType::BFloat16) {  // the moments' float32 copies, discarded
      thread_local std::vector<float> m, v;
      m.resize(e - b);
      v.resize(e - b);
      lowbit::kernels::from_bfloat16(reinterpret_cast<const std::uint16_t*>(slot<bfloat16>(r, kExpAvg) + b), e - b, m.data());
      lowbit::kernels::from_bfloat16(reinterpret_cast<const std::uint16_t*>(slot<bfloat16>(r, kExpAvgSq) + b), e - b, v.data());
      return kernels::lamb_moments(steps[i], r.param.value<float>().data() + b, r.param.grad<float>().data() + b,
                                   m.data(), v.data(), e - b);
    }
    return visit_dtype(r.param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      return kernels::lamb_moments(steps[i], r.param.value<T>().data() + b, r.param.grad<T>().data() + b,
                                      slot<T>(r, kExpAvg) + b, slot<T>(r, kExpAvgSq) + b, e - b);
    });
  });
  for (std::size_t i = 0; i < records.size(); ++i) {
    Record* r = records[i];
    if (r->slots[kExpAvg].layout.dtype == DType::BFloat16) {
      const auto s = steps[i];
      const double scaled_lr = reference::LAMBStep::scaled_lr(o, weight_sq[i], direction_sq[i]);
      std::array<lowbit::StateRef, 3> slots{};
      slots[0] = lowbit::state_ref(slot<bfloat16>(*r, kExpAvg), nullptr, true, o.stochastic_rounding(), r->param.name(),
                                   r->step, kExpAvg);
      slots[1] = lowbit::state_ref(slot<bfloat16>(*r, kExpAvgSq), nullptr, false, o.stochastic_rounding(),
                                   r->param.name(), r->step, kExpAvgSq);
      float* p = r->param.value<float>().data();
      const float* g = r->param.grad<float>().data();
      tasks.push_back({lowbit::float_state_task(StateDType::BFloat16, slots, 2, [=](std::size_t b, std::size_t n, float** state) {
                         (void)kernels::lamb_moments(s, p + b, g + b, state[0], state[1], n);
                         kernels::lamb_apply(s, scaled_lr, p + b, state[0], state[1], n);
                       }),
                       r->param.size()});
      continue;
    }
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const auto s = steps[i];
      const double scaled_lr = reference::LAMBStep::scaled_lr(o, weight_sq[i], direction_sq[i]);
      T* p = r->param.value<T>().data();
      const T* m = slot<T>(*r, kExpAvg);
      const T* v = slot<T>(*r, kExpAvgSq);
      tasks.push_back({[=](std::size_t b, std::size_t e) { kernels::lamb_apply(s, scaled_lr, p + b, m + b, v + b, e - b); },
                       r->param.size()});
    });
  }
}

namespace reference {

LAMBStep LAMBStep::make(const LAMBOptions& o, std::int64_t step) {
  const bool corrected = o.bias_correction();
  return {o.beta1(),
          o.beta2(),
          o.eps(),
          o.exclude() ? 0.0 : o.weight_decay(),
          corrected ? detail::bias_correction(o.beta1(), step) : 1.0,
          corrected ? detail::bias_correction(o.beta2(), step) : 1.0,
          o.maximize()};
}

double LAMBStep::scaled_lr(const LAMBOptions& o, double weight_sq, double direction_sq) {
  if (o.exclude()) return o.lr();
  const double weight_norm = std::min(std::max(std::sqrt(weight_sq), o.weight_norm_min()), o.weight_norm_max());
  const double direction_norm = std::sqrt(direction_sq);
  return o.lr() * detail::trust_ratio(weight_norm, direction_norm, weight_norm, direction_norm);
}

template <class T>
double lamb_moments(const LAMBStep& s, const T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::size_t n) {
  const detail::AdamMoments<T> moments(s.beta1, s.beta2);
  const T bias_correction1 = static_cast<T>(s.bias_correction1);
  const T bias_correction2 = static_cast<T>(s.bias_correction2);
  const T eps = static_cast<T>(s.eps);
  const T weight_decay = static_cast<T>(s.weight_decay);
  double direction_sq = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const T g = s.maximize ? -grad[i] : grad[i];
    moments.update(exp_avg[i], exp_avg_sq[i], g);
    const double u = direction(exp_avg[i], exp_avg_sq[i], param[i], bias_correction1, bias_correction2, eps, weight_decay);
    direction_sq += u * u;
  }
  return direction_sq;
}

template <class T>
void lamb_apply(const LAMBStep& s, double scaled_lr, T* param, const T* exp_avg, const T* exp_avg_sq, std::size_t n) {
  const T bias_correction1 = static_cast<T>(s.bias_correction1);
  const T bias_correction2 = static_cast<T>(s.bias_correction2);
  const T eps = static_cast<T>(s.eps);
  const T weight_decay = static_cast<T>(s.weight_decay);
  const T step = static_cast<T>(scaled_lr);
  for (std::size_t i = 0; i < n; ++i) {
    param[i] = param[i] - step * direction(exp_avg[i], exp_avg_sq[i], param[i], bias_correction1, bias_correction2,
                                           eps, weight_decay);
  }
}

template double lamb_moments<float>(const LAMBStep&, const float*, const float*, float*, float*, std::size_t);
template double lamb_moments<double>(const LAMBStep&, const double*, const double*, double*, double*, std::size_t);
template void lamb_apply<float>(const LAMBStep&, double, float*, const float*, const float*, std::size_t);
template void lamb_apply<double>(const LAMBStep&, double, double*, const double*, const double*, std::size_t);

}  // namespace reference
}  // namespace descent

// The registration: the factory's entry, the CLI's presets with their training learning rates, and how
// bench/compare.sh measures the step.
namespace descent::registry {
namespace {

constexpr OptimizerPreset kPresets[] = {{"lamb", "lamb", {}, "LAMB, weight decay 0.01", 1e-3}};
// norm of w; moments (w, g read; exp_avg, exp_avg_sq updated); apply (moments read, w updated)
constexpr MemoryPass kRoof[] = {{1, 0}, {2, 2}, {2, 1}};
constexpr Entry kEntries[] = {entry<LAMB, LAMBOptions>("lamb", kPresets, {{}, kRoof})};

}  // namespace

std::span<const Entry> lamb() { return kEntries; }

}  // namespace descent::registry
