// RMSprop (Hinton, Lecture 6e, 2012): steps scaled by a running RMS of the gradient; optionally centered
// (Graves 2013) and with momentum. The update rule is in src/optimizers/rmsprop/rmsprop.cpp and docs/optimizers.md.
#pragma once

#include "descent/optimizer.hpp"
#include "descent/state_dtype.hpp"

namespace descent {

class RMSpropOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kAlpha, kEps, kWeightDecay, kMomentum, kCentered, kMaximize,
               kStateDtype, kStochasticRounding, kCount };
  static std::span<const OptionInfo> fields();

  explicit RMSpropOptions(double lr = 1e-2);

  double lr() const noexcept { return value(kLr); }
  RMSpropOptions& lr(double v) { assign(kLr, v); return *this; }
  double alpha() const noexcept { return value(kAlpha); }
  RMSpropOptions& alpha(double v) { assign(kAlpha, v); return *this; }
  double eps() const noexcept { return value(kEps); }
  RMSpropOptions& eps(double v) { assign(kEps, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  RMSpropOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  double momentum() const noexcept { return value(kMomentum); }
  RMSpropOptions& momentum(double v) { assign(kMomentum, v); return *this; }
  bool centered() const noexcept { return flag(kCentered); }
  RMSpropOptions& centered(bool v) { assign(kCentered, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  RMSpropOptions& maximize(bool v) { assign(kMaximize, v); return *this; }
  // The state's dtype (docs/optimizers.md, "State dtypes"); fixed once the group is added.
  StateDType state_dtype() const noexcept { return static_cast<StateDType>(choice_index(kStateDtype)); }
  RMSpropOptions& state_dtype(StateDType v) { assign_choice(kStateDtype, kStateDTypeNames[static_cast<int>(v)]); return *this; }
  bool stochastic_rounding() const noexcept { return flag(kStochasticRounding); }
  RMSpropOptions& stochastic_rounding(bool v) { assign(kStochasticRounding, v); return *this; }

  // centered needs float32 state: square_avg - grad_avg^2 can turn negative once both are rounded.
  void validate() const override;

  std::unique_ptr<Options> clone() const override { return std::make_unique<RMSpropOptions>(*this); }
};

class RMSprop final : public OptimizerWith<RMSpropOptions> {
 public:
  // The *_absmax slots hold int8 state's block scales (src/lowbit/state.hpp); empty otherwise.
  enum Slot : std::size_t { kSquareAvg, kMomentumBuffer, kGradAvg, kSquareAvgAbsmax, kMomentumBufferAbsmax, kGradAvgAbsmax };
  explicit RMSprop(std::vector<Parameter> params, const RMSpropOptions& defaults = RMSpropOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
