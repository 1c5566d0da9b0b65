// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"): the sign of an interpolation
// between the momentum and the gradient, with decoupled weight decay. One state slot ("exp_avg"), half
// of Adam's, in float32, bfloat16 or int8 (state_dtype; int8 adds its block scales, "exp_avg_absmax").
// The update rule is in src/optimizers/lion/lion.cpp and docs/optimizers.md.
#pragma once

#include "descent/optimizer.hpp"
#include "descent/state_dtype.hpp"

namespace descent {

class LionOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kBeta1, kBeta2, kWeightDecay, kMaximize, kStateDtype, kStochasticRounding, kCount };
  static std::span<const OptionInfo> fields();

  explicit LionOptions(double lr = 1e-4);

  double lr() const noexcept { return value(kLr); }
  LionOptions& lr(double v) { assign(kLr, v); return *this; }
  double beta1() const noexcept { return value(kBeta1); }
  double beta2() const noexcept { return value(kBeta2); }
  LionOptions& betas(double beta1, double beta2) { assign_pair(kBeta1, beta1, kBeta2, beta2); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  LionOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  LionOptions& maximize(bool v) { assign(kMaximize, v); return *this; }

  // The state's dtype (docs/optimizers.md, "State dtypes"); fixed once the group is added.
  StateDType state_dtype() const noexcept { return static_cast<StateDType>(choice_index(kStateDtype)); }
  LionOptions& state_dtype(StateDType v) { assign_choice(kStateDtype, kStateDTypeNames[static_cast<int>(v)]); return *this; }
  bool stochastic_rounding() const noexcept { return flag(kStochasticRounding); }
  LionOptions& stochastic_rounding(bool v) { assign(kStochasticRounding, v); return *this; }
  std::unique_ptr<Options> clone() const override { return std::make_unique<LionOptions>(*this); }
};

class Lion final : public OptimizerWith<LionOptions> {
 public:
  enum Slot : std::size_t { kExpAvg, kExpAvgAbsmax };
  explicit Lion(std::vector<Parameter> params, const LionOptions& defaults = LionOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
