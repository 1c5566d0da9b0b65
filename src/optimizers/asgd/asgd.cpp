// ASGD: averaged stochastic gradient descent (Polyak & Juditsky 1992, "Acceleration of Stochastic
// Approximation by Averaging"), with the step-size schedule Bottou recommends for averaged SGD
// ("Stochastic Gradient Descent Tricks", 2012), in torch.optim.ASGD's form. Per parameter, at step t:
//
//   g   = grad (+ weight_decay * w)                    (-grad when maximizing)
//   w   = w * (1 - lambd * eta_t)
//   w   = w - eta_t * g
//   ax  = ax + mu_t * (w - ax)        if mu_t != 1, else ax = w
//   eta_{t+1} = lr / (1 + lambd * lr * t)^alpha
//   mu_{t+1}  = 1 / max(1, t - t0)
//
// eta_1 = lr and mu_1 = 1 (set on the parameter's first step), so ax equals w through step t0 + 2 and from
// then on is the running mean of the iterates since that step (step t0 + 2 + k averages k + 1 of them).
// ax is the estimate the method is named for; the parameters themselves hold the plain SGD iterate.
//
// Bitwise as PyTorch 1.13's default single-tensor path (_single_tensor_asgd): torch keeps eta and mu in
// float32 scalar tensors (torch.tensor(python float)) whatever the parameter's type, so descent rounds
// them to float too before keeping them in its double scalar slots; eta and mu are per-parameter
// scalars, as torch's are per-parameter tensors. torch counts the step in a float32 tensor, which stops
// at 2^24: the schedules agree up to that step.
#include "descent/optimizers/asgd.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "kernels/kernels.hpp"
#include "optimizers/asgd/asgd_reference.hpp"
#include "lowbit/state.hpp"
#include "optimizers/common.hpp"
#include "optimizers/registry.hpp"

namespace descent {
namespace {

constexpr std::array<OptionInfo, ASGDOptions::kCount> kFields{{
    detail::lr_option(1e-2),
    detail::real_option("lambd", 1e-4, 0.0, detail::kInf, true, false,
                        "decay term: w shrinks by 1 - lambd * eta, and eta_t = lr / (1 + lambd * lr * t)^alpha"),
    detail::real_option("alpha", 0.75, 0.0, detail::kInf, true, false, "power of the step-size decay eta_t"),
    detail::real_option("t0", 1e6, 0.0, detail::kInf, true, true,
                        "averaging starts after step t0 (before, the average is the iterate; inf: never)"),
    detail::weight_decay_option(0.0, "L2 penalty: weight_decay * w is added to the gradient"),
    detail::maximize_option(),
    lowbit::bfloat16_state_dtype_option(),
    lowbit::stochastic_rounding_option(),
}};

constexpr std::array<SlotSpec, 1> kSlots{{{"ax", 0.0, lowbit::moment_layout}}};
constexpr std::array<ScalarSlotSpec, 2> kScalarSlots{{{"eta", 0.0, SlotCheck::NonNegative},
                                                      {"mu", 1.0, SlotCheck::Positive}}};

// torch stores eta and mu with torch.tensor(value): a float32 scalar.
double as_torch_scalar(double value) { return static_cast<double>(static_cast<float>(value)); }

}  // namespace

std::span<const OptionInfo> ASGDOptions::fields() { return kFields; }

ASGDOptions::ASGDOptions(double lr) : Options("ASGD", kFields) { this->lr(lr); }

ASGD::ASGD(std::vector<Parameter> params, const ASGDOptions& defaults)
    : OptimizerWith(kSlots, kScalarSlots, std::move(params), defaults) {}

std::uint32_t ASGD::slots_needed(const Options&) const { return 1u << kAx; }

void ASGD::plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) {
  const auto& o = static_cast<const ASGDOptions&>(options);
  for (Record* r : records) {
    lowbit::check_unchanged(name(), r->param, r->slots[kAx].layout.dtype, o.state_dtype());
    if (r->slots[kAx].layout.dtype == DType::BFloat16) {
      bool created = false;
      bfloat16* ax = slot<bfloat16>(*r, kAx, &created);
      if (created) {  // torch's first eta and mu, as in the float path below
        r->scalars[kEta] = as_torch_scalar(o.lr());
        r->scalars[kMu] = 1.0;
      }
      const auto s = reference::ASGDStep::make(o, r->step, r->scalars[kEta], r->scalars[kMu]);
      std::array<lowbit::StateRef, 3> slots{};
      slots[0] = lowbit::state_ref(ax, nullptr, true, o.stochastic_rounding(), r->param.name(), r->step, kAx);
      float* p = r->param.value<float>().data();
      const float* g = r->param.grad<float>().data();
      tasks.push_back({lowbit::float_state_task(StateDType::BFloat16, slots, 1, [=](std::size_t b, std::size_t n, float** state) {
                         kernels::asgd(s, p + b, g + b, state[0], n);
                       }),
                       r->param.size()});
      continue;
    }
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      bool created = false;
      T* ax = slot<T>(*r, kAx, &created);
      if (created) {  // torch creates eta = lr and mu = 1 with the rest of the state, on the first step
        r->scalars[kEta] = as_torch_scalar(o.lr());
        r->scalars[kMu] = 1.0;
      }
      const auto s = reference::ASGDStep::make(o, r->step, r->scalars[kEta], r->scalars[kMu]);
      T* p = r->param.value<T>().data();
      const T* g = r->param.grad<T>().data();
      tasks.push_back({[=](std::size_t b, std::size_t e) { kernels::asgd(s, p + b, g + b, ax + b, e - b); },
                       r->param.size()});
    });
  }
}

namespace reference {

ASGDStep ASGDStep::make(const ASGDOptions& o, std::int64_t step, double& eta, double& mu) {
  const ASGDStep s{1.0 - o.lambd() * eta, -eta, mu, o.weight_decay(), mu != 1.0, o.maximize()};
  const double t = static_cast<double>(step);
  eta = as_torch_scalar(o.lr() / std::pow(1.0 + o.lambd() * o.lr() * t, o.alpha()));
  mu = as_torch_scalar(1.0 / std::max(1.0, t - o.t0()));
  return s;
}

template <class T>
void asgd(const ASGDStep& s, T* param, const T* grad, T* ax, std::size_t n) {
  const T decay = static_cast<T>(s.decay);
  const T neg_eta = static_cast<T>(s.neg_eta);
  const T mu = static_cast<T>(s.mu);
  const T weight_decay = static_cast<T>(s.weight_decay);
  for (std::size_t i = 0; i < n; ++i) {
    const T g = detail::effective_grad(grad[i], param[i], s.maximize, weight_decay);
    const T w = detail::add_scaled(param[i] * decay, neg_eta, g);  // param.mul_(decay).add_(g, alpha=-eta)
    param[i] = w;
    ax[i] = s.average ? ax[i] + (w - ax[i]) * mu : w;  // ax.add_(param.sub(ax).mul(mu))
  }
}

template void asgd<float>(const ASGDStep&, float*, const float*, float*, std::size_t);
template void asgd<double>(const ASGDStep&, double*, const double*, double*, std::size_t);

}  // namespace reference
}  // namespace descent

// The registration: the factory's entry, the CLI's presets with their training learning rates, and how
// bench/compare.sh measures the step.
namespace descent::registry {
namespace {

constexpr OptimizerPreset kPresets[] = {{"asgd", "asgd", {}, "ASGD (averaging after step t0 = 1e6)", 0.1}};
// Measured with averaging on (t0 = 0), the rule's full pass; bench/torch_step.py gives torch the same.
constexpr std::pair<std::string_view, double> kBenchmarkOptions[] = {{"t0", 0.0}};
constexpr MemoryPass kRoof[] = {{1, 2}};  // g read; w and ax updated
constexpr Entry kEntries[] = {entry<ASGD, ASGDOptions>("asgd", kPresets, {kBenchmarkOptions, kRoof})};

}  // namespace

std::span<const Entry> asgd() { return kEntries; }

}  // namespace descent::registry
