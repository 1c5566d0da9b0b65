// LARS (You, Gitman, Ginsburg 2017, "Large Batch Training of Convolutional Networks", Algorithm 1):
// SGD with momentum whose step for each parameter tensor is scaled by a layer-wise trust ratio
// trust_coefficient * ||w|| / (||g|| + weight_decay * ||w|| + eps), or 1 when either norm is zero.
// The update rule is in src/optimizers/lars/lars.cpp and docs/optimizers.md.
#pragma once

#include "descent/optimizer.hpp"
#include "descent/state_dtype.hpp"

namespace descent {

class LARSOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kMomentum, kNesterov, kWeightDecay, kTrustCoefficient, kEps, kExclude, kMaximize, kStateDtype, kStochasticRounding, kCount };
  static std::span<const OptionInfo> fields();

  explicit LARSOptions(double lr = 1.0);

  double lr() const noexcept { return value(kLr); }
  LARSOptions& lr(double v) { assign(kLr, v); return *this; }
  double momentum() const noexcept { return value(kMomentum); }
  LARSOptions& momentum(double v) { assign(kMomentum, v); return *this; }
  bool nesterov() const noexcept { return flag(kNesterov); }
  LARSOptions& nesterov(bool v) { assign(kNesterov, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  LARSOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  double trust_coefficient() const noexcept { return value(kTrustCoefficient); }
  LARSOptions& trust_coefficient(double v) { assign(kTrustCoefficient, v); return *this; }
  double eps() const noexcept { return value(kEps); }
  LARSOptions& eps(double v) { assign(kEps, v); return *this; }
  // Excluded groups (biases, 1-D norm weights) take plain momentum SGD steps: no trust ratio, no weight decay.
  bool exclude() const noexcept { return flag(kExclude); }
  LARSOptions& exclude(bool v) { assign(kExclude, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  LARSOptions& maximize(bool v) { assign(kMaximize, v); return *this; }

  // The state's dtype, float32 or bfloat16 (docs/optimizers.md, "State dtypes"); fixed once the group is added.
  StateDType state_dtype() const noexcept { return static_cast<StateDType>(choice_index(kStateDtype)); }
  LARSOptions& state_dtype(StateDType v) { assign_choice(kStateDtype, kStateDTypeNames[static_cast<int>(v)]); return *this; }
  bool stochastic_rounding() const noexcept { return flag(kStochasticRounding); }
  LARSOptions& stochastic_rounding(bool v) { assign(kStochasticRounding, v); return *this; }
  void validate() const override;  // Nesterov needs momentum > 0
  std::unique_ptr<Options> clone() const override { return std::make_unique<LARSOptions>(*this); }
};

class LARS final : public OptimizerWith<LARSOptions> {
 public:
  enum Slot : std::size_t { kMomentumBuffer };
  explicit LARS(std::vector<Parameter> params, const LARSOptions& defaults = LARSOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
