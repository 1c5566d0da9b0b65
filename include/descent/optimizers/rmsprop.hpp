// RMSprop (Hinton, Lecture 6e, 2012): steps scaled by a running RMS of the gradient; optionally centered
// (Graves 2013) and with momentum. The update rule is in src/optimizers/rmsprop/rmsprop.cpp and docs/optimizers.md.
#pragma once

#include "descent/optimizer.hpp"

namespace descent {

class RMSpropOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kAlpha, kEps, kWeightDecay, kMomentum, kCentered, kMaximize, kCount };
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

  std::unique_ptr<Options> clone() const override { return std::make_unique<RMSpropOptions>(*this); }
};

class RMSprop final : public OptimizerWith<RMSpropOptions> {
 public:
  enum Slot : std::size_t { kSquareAvg, kMomentumBuffer, kGradAvg };
  explicit RMSprop(std::vector<Parameter> params, const RMSpropOptions& defaults = RMSpropOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
