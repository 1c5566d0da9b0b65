// NAdam (Dozat 2016, "Incorporating Nesterov Momentum into Adam"), with PyTorch's momentum-decay schedule
// mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay)).
// descent follows the paper and PyTorch >= 2.0. PyTorch 1.13's default (single-tensor) NAdam multiplies
// mu_t into the next momentum product twice (fixed by pytorch PR #92699); see docs/optimizers.md.
// The update rule is in src/optimizers/nadam/nadam.cpp.
#pragma once

#include "descent/optimizer.hpp"
#include "descent/state_dtype.hpp"

namespace descent {

class NAdamOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kBeta1, kBeta2, kEps, kWeightDecay, kMomentumDecay, kMaximize, kStateDtype, kStochasticRounding, kCount };
  static std::span<const OptionInfo> fields();

  explicit NAdamOptions(double lr = 2e-3);

  double lr() const noexcept { return value(kLr); }
  NAdamOptions& lr(double v) { assign(kLr, v); return *this; }
  double beta1() const noexcept { return value(kBeta1); }
  double beta2() const noexcept { return value(kBeta2); }
  NAdamOptions& betas(double beta1, double beta2) { assign_pair(kBeta1, beta1, kBeta2, beta2); return *this; }
  double eps() const noexcept { return value(kEps); }
  NAdamOptions& eps(double v) { assign(kEps, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  NAdamOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  double momentum_decay() const noexcept { return value(kMomentumDecay); }
  NAdamOptions& momentum_decay(double v) { assign(kMomentumDecay, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  NAdamOptions& maximize(bool v) { assign(kMaximize, v); return *this; }

  // The state's dtype, float32 or bfloat16 (docs/optimizers.md, "State dtypes"); fixed once the group is added.
  StateDType state_dtype() const noexcept { return static_cast<StateDType>(choice_index(kStateDtype)); }
  NAdamOptions& state_dtype(StateDType v) { assign_choice(kStateDtype, kStateDTypeNames[static_cast<int>(v)]); return *this; }
  bool stochastic_rounding() const noexcept { return flag(kStochasticRounding); }
  NAdamOptions& stochastic_rounding(bool v) { assign(kStochasticRounding, v); return *this; }
  std::unique_ptr<Options> clone() const override { return std::make_unique<NAdamOptions>(*this); }
};

class NAdam final : public OptimizerWith<NAdamOptions> {
 public:
  enum Slot : std::size_t { kExpAvg, kExpAvgSq };
  enum ScalarSlot : std::size_t { kMuProduct };
  explicit NAdam(std::vector<Parameter> params, const NAdamOptions& defaults = NAdamOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
