// Adadelta (Zeiler 2012): steps scaled by the ratio of running RMS of past updates to running RMS of gradients.
// The update rule is in src/optimizers/adadelta/adadelta.cpp and docs/optimizers.md.
#pragma once

#include "descent/optimizer.hpp"
#include "descent/state_dtype.hpp"

namespace descent {

class AdadeltaOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kRho, kEps, kWeightDecay, kMaximize, kStateDtype, kStochasticRounding, kCount };
  static std::span<const OptionInfo> fields();

  explicit AdadeltaOptions(double lr = 1.0);

  double lr() const noexcept { return value(kLr); }
  AdadeltaOptions& lr(double v) { assign(kLr, v); return *this; }
  double rho() const noexcept { return value(kRho); }
  AdadeltaOptions& rho(double v) { assign(kRho, v); return *this; }
  double eps() const noexcept { return value(kEps); }
  AdadeltaOptions& eps(double v) { assign(kEps, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  AdadeltaOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  AdadeltaOptions& maximize(bool v) { assign(kMaximize, v); return *this; }

  // The state's dtype, float32 or bfloat16 (docs/optimizers.md, "State dtypes"); fixed once the group is added.
  StateDType state_dtype() const noexcept { return static_cast<StateDType>(choice_index(kStateDtype)); }
  AdadeltaOptions& state_dtype(StateDType v) { assign_choice(kStateDtype, kStateDTypeNames[static_cast<int>(v)]); return *this; }
  bool stochastic_rounding() const noexcept { return flag(kStochasticRounding); }
  AdadeltaOptions& stochastic_rounding(bool v) { assign(kStochasticRounding, v); return *this; }
  std::unique_ptr<Options> clone() const override { return std::make_unique<AdadeltaOptions>(*this); }
};

class Adadelta final : public OptimizerWith<AdadeltaOptions> {
 public:
  enum Slot : std::size_t { kSquareAvg, kAccDelta };
  explicit Adadelta(std::vector<Parameter> params, const AdadeltaOptions& defaults = AdadeltaOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
