// Adamax (Kingma & Ba 2015, section 7.1): Adam with the infinity norm in place of the second moment.
// The update rule is in src/optimizers/adamax/adamax.cpp and docs/optimizers.md.
#pragma once

#include "descent/optimizer.hpp"
#include "descent/state_dtype.hpp"

namespace descent {

class AdamaxOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kBeta1, kBeta2, kEps, kWeightDecay, kMaximize, kStateDtype, kStochasticRounding, kCount };
  static std::span<const OptionInfo> fields();

  explicit AdamaxOptions(double lr = 2e-3);

  double lr() const noexcept { return value(kLr); }
  AdamaxOptions& lr(double v) { assign(kLr, v); return *this; }
  double beta1() const noexcept { return value(kBeta1); }
  double beta2() const noexcept { return value(kBeta2); }
  AdamaxOptions& betas(double beta1, double beta2) { assign_pair(kBeta1, beta1, kBeta2, beta2); return *this; }
  double eps() const noexcept { return value(kEps); }
  AdamaxOptions& eps(double v) { assign(kEps, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  AdamaxOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  AdamaxOptions& maximize(bool v) { assign(kMaximize, v); return *this; }

  // The state's dtype, float32 or bfloat16 (docs/optimizers.md, "State dtypes"); fixed once the group is added.
  StateDType state_dtype() const noexcept { return static_cast<StateDType>(choice_index(kStateDtype)); }
  AdamaxOptions& state_dtype(StateDType v) { assign_choice(kStateDtype, kStateDTypeNames[static_cast<int>(v)]); return *this; }
  bool stochastic_rounding() const noexcept { return flag(kStochasticRounding); }
  AdamaxOptions& stochastic_rounding(bool v) { assign(kStochasticRounding, v); return *this; }
  std::unique_ptr<Options> clone() const override { return std::make_unique<AdamaxOptions>(*this); }
};

class Adamax final : public OptimizerWith<AdamaxOptions> {
 public:
  enum Slot : std::size_t { kExpAvg, kExpInf };
  explicit Adamax(std::vector<Parameter> params, const AdamaxOptions& defaults = AdamaxOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
