// RAdam (Liu et al. 2020, "On the Variance of the Adaptive Learning Rate and Beyond"): Adam whose adaptive
// step is switched on, and rectified, only once the variance estimate is tractable (rho_t > 5).
// The update rule is in src/optimizers/radam/radam.cpp and docs/optimizers.md.
#pragma once

#include "descent/optimizer.hpp"
#include "descent/state_dtype.hpp"

namespace descent {

class RAdamOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kBeta1, kBeta2, kEps, kWeightDecay, kMaximize, kStateDtype, kStochasticRounding, kCount };
  static std::span<const OptionInfo> fields();

  explicit RAdamOptions(double lr = 1e-3);

  double lr() const noexcept { return value(kLr); }
  RAdamOptions& lr(double v) { assign(kLr, v); return *this; }
  double beta1() const noexcept { return value(kBeta1); }
  double beta2() const noexcept { return value(kBeta2); }
  RAdamOptions& betas(double beta1, double beta2) { assign_pair(kBeta1, beta1, kBeta2, beta2); return *this; }
  double eps() const noexcept { return value(kEps); }
  RAdamOptions& eps(double v) { assign(kEps, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  RAdamOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  RAdamOptions& maximize(bool v) { assign(kMaximize, v); return *this; }

  // The state's dtype, float32 or bfloat16 (docs/optimizers.md, "State dtypes"); fixed once the group is added.
  StateDType state_dtype() const noexcept { return static_cast<StateDType>(choice_index(kStateDtype)); }
  RAdamOptions& state_dtype(StateDType v) { assign_choice(kStateDtype, kStateDTypeNames[static_cast<int>(v)]); return *this; }
  bool stochastic_rounding() const noexcept { return flag(kStochasticRounding); }
  RAdamOptions& stochastic_rounding(bool v) { assign(kStochasticRounding, v); return *this; }
  std::unique_ptr<Options> clone() const override { return std::make_unique<RAdamOptions>(*this); }
};

class RAdam final : public OptimizerWith<RAdamOptions> {
 public:
  enum Slot : std::size_t { kExpAvg, kExpAvgSq };
  explicit RAdam(std::vector<Parameter> params, const RAdamOptions& defaults = RAdamOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
