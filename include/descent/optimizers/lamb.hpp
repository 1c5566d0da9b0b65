// LAMB (You et al. 2020, "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
// Algorithm 2): an Adam direction plus decoupled weight decay, scaled per parameter tensor by the trust
// ratio phi(||w||) / ||adam_direction + weight_decay * w||, where phi clamps the weight norm to
// [weight_norm_min, weight_norm_max]; the ratio is 1 when phi(||w||) or the direction's norm is zero.
// The update rule is in src/optimizers/lamb/lamb.cpp; docs/optimizers.md says which paper version and why.
#pragma once

#include <limits>

#include "descent/optimizer.hpp"
#include "descent/state_dtype.hpp"

namespace descent {

class LAMBOptions final : public Options {
 public:
  enum Field : std::size_t {
    kLr, kBeta1, kBeta2, kEps, kWeightDecay, kBiasCorrection, kWeightNormMin, kWeightNormMax, kExclude, kMaximize, kStateDtype, kStochasticRounding, kCount
  };
  static std::span<const OptionInfo> fields();

  explicit LAMBOptions(double lr = 1e-3);

  double lr() const noexcept { return value(kLr); }
  LAMBOptions& lr(double v) { assign(kLr, v); return *this; }
  double beta1() const noexcept { return value(kBeta1); }
  double beta2() const noexcept { return value(kBeta2); }
  LAMBOptions& betas(double beta1, double beta2) { assign_pair(kBeta1, beta1, kBeta2, beta2); return *this; }
  double eps() const noexcept { return value(kEps); }
  LAMBOptions& eps(double v) { assign(kEps, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  LAMBOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  bool bias_correction() const noexcept { return flag(kBiasCorrection); }
  LAMBOptions& bias_correction(bool v) { assign(kBiasCorrection, v); return *this; }
  // phi(||w||) = min(max(||w||, weight_norm_min), weight_norm_max); the defaults (0, inf) make phi the identity.
  double weight_norm_min() const noexcept { return value(kWeightNormMin); }
  LAMBOptions& weight_norm_min(double v) { assign(kWeightNormMin, v); return *this; }
  double weight_norm_max() const noexcept { return value(kWeightNormMax); }
  LAMBOptions& weight_norm_max(double v) { assign(kWeightNormMax, v); return *this; }
  // Excluded groups (biases, 1-D norm weights) take plain Adam steps: no trust ratio, no weight decay.
  bool exclude() const noexcept { return flag(kExclude); }
  LAMBOptions& exclude(bool v) { assign(kExclude, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  LAMBOptions& maximize(bool v) { assign(kMaximize, v); return *this; }

  // The state's dtype, float32 or bfloat16 (docs/optimizers.md, "State dtypes"); fixed once the group is added.
  StateDType state_dtype() const noexcept { return static_cast<StateDType>(choice_index(kStateDtype)); }
  LAMBOptions& state_dtype(StateDType v) { assign_choice(kStateDtype, kStateDTypeNames[static_cast<int>(v)]); return *this; }
  bool stochastic_rounding() const noexcept { return flag(kStochasticRounding); }
  LAMBOptions& stochastic_rounding(bool v) { assign(kStochasticRounding, v); return *this; }
  void validate() const override;  // weight_norm_min <= weight_norm_max
  std::unique_ptr<Options> clone() const override { return std::make_unique<LAMBOptions>(*this); }
};

class LAMB final : public OptimizerWith<LAMBOptions> {
 public:
  enum Slot : std::size_t { kExpAvg, kExpAvgSq };
  explicit LAMB(std::vector<Parameter> params, const LAMBOptions& defaults = LAMBOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
