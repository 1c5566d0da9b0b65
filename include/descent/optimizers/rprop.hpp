// Rprop (Riedmiller & Braun 1993): resilient backpropagation, one adaptive step size per element that
// grows while the gradient keeps its sign and shrinks when it flips; only the gradient's sign moves the
// weight. The update rule is in src/optimizers/rprop/rprop.cpp and docs/optimizers.md.
#pragma once

#include "descent/optimizer.hpp"
#include "descent/state_dtype.hpp"

namespace descent {

class RpropOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kEtaMinus, kEtaPlus, kStepSizeMin, kStepSizeMax, kMaximize, kStateDtype, kStochasticRounding, kCount };
  static std::span<const OptionInfo> fields();

  explicit RpropOptions(double lr = 1e-2);

  // The initial step size: read when a parameter's "step_size" slot is created (its first step), as
  // torch.optim.Rprop does; later changes (a schedule) do not touch the step sizes already adapted.
  double lr() const noexcept { return value(kLr); }
  RpropOptions& lr(double v) { assign(kLr, v); return *this; }
  double etaminus() const noexcept { return value(kEtaMinus); }
  double etaplus() const noexcept { return value(kEtaPlus); }
  // torch's etas = (etaminus, etaplus): the factors a step size is multiplied by after a sign change / no change.
  RpropOptions& etas(double etaminus, double etaplus) { assign_pair(kEtaMinus, etaminus, kEtaPlus, etaplus); return *this; }
  double step_size_min() const noexcept { return value(kStepSizeMin); }
  double step_size_max() const noexcept { return value(kStepSizeMax); }
  // torch's step_sizes = (min, max): the range every step size is clamped to.
  RpropOptions& step_sizes(double min, double max) { assign_pair(kStepSizeMin, min, kStepSizeMax, max); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  RpropOptions& maximize(bool v) { assign(kMaximize, v); return *this; }

  // The state's dtype, float32 or bfloat16 (docs/optimizers.md, "State dtypes"); fixed once the group is added.
  StateDType state_dtype() const noexcept { return static_cast<StateDType>(choice_index(kStateDtype)); }
  RpropOptions& state_dtype(StateDType v) { assign_choice(kStateDtype, kStateDTypeNames[static_cast<int>(v)]); return *this; }
  bool stochastic_rounding() const noexcept { return flag(kStochasticRounding); }
  RpropOptions& stochastic_rounding(bool v) { assign(kStochasticRounding, v); return *this; }
  void validate() const override;  // step_size_min <= step_size_max

  std::unique_ptr<Options> clone() const override { return std::make_unique<RpropOptions>(*this); }
};

class Rprop final : public OptimizerWith<RpropOptions> {
 public:
  // torch's state names: "prev" (the last gradient, zeroed where its sign flipped) and "step_size".
  enum Slot : std::size_t { kPrev, kStepSize };
  explicit Rprop(std::vector<Parameter> params, const RpropOptions& defaults = RpropOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
