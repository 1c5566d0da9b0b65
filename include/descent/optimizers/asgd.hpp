// ASGD (Polyak & Juditsky 1992; Bottou 2012's schedule): SGD with a decaying step size and a running
// average of the iterates, the average being the estimate. The update rule is in
// src/optimizers/asgd/asgd.cpp and docs/optimizers.md.
#pragma once

#include "descent/optimizer.hpp"
#include "descent/state_dtype.hpp"

namespace descent {

class ASGDOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kLambd, kAlpha, kT0, kWeightDecay, kMaximize, kStateDtype, kStochasticRounding, kCount };
  static std::span<const OptionInfo> fields();

  explicit ASGDOptions(double lr = 1e-2);

  double lr() const noexcept { return value(kLr); }
  ASGDOptions& lr(double v) { assign(kLr, v); return *this; }
  double lambd() const noexcept { return value(kLambd); }
  ASGDOptions& lambd(double v) { assign(kLambd, v); return *this; }
  double alpha() const noexcept { return value(kAlpha); }
  ASGDOptions& alpha(double v) { assign(kAlpha, v); return *this; }
  double t0() const noexcept { return value(kT0); }
  ASGDOptions& t0(double v) { assign(kT0, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  ASGDOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  ASGDOptions& maximize(bool v) { assign(kMaximize, v); return *this; }

  // The state's dtype, float32 or bfloat16 (docs/optimizers.md, "State dtypes"); fixed once the group is added.
  StateDType state_dtype() const noexcept { return static_cast<StateDType>(choice_index(kStateDtype)); }
  ASGDOptions& state_dtype(StateDType v) { assign_choice(kStateDtype, kStateDTypeNames[static_cast<int>(v)]); return *this; }
  bool stochastic_rounding() const noexcept { return flag(kStochasticRounding); }
  ASGDOptions& stochastic_rounding(bool v) { assign(kStochasticRounding, v); return *this; }
  std::unique_ptr<Options> clone() const override { return std::make_unique<ASGDOptions>(*this); }
};

class ASGD final : public OptimizerWith<ASGDOptions> {
 public:
  // torch's state names: "ax" (the averaged iterate), and the per-parameter scalars "eta" (the step size
  // the next step uses) and "mu" (the weight the next step gives the new iterate in the average).
  enum Slot : std::size_t { kAx };
  enum ScalarSlot : std::size_t { kEta, kMu };
  explicit ASGD(std::vector<Parameter> params, const ASGDOptions& defaults = ASGDOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
