// Adagrad (Duchi, Hazan, Singer 2011): per-element steps scaled by the root of the summed squared gradients.
// The update rule is in src/optimizers/adagrad/adagrad.cpp and docs/optimizers.md.
#pragma once

#include "descent/optimizer.hpp"
#include "descent/state_dtype.hpp"

namespace descent {

class AdagradOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kLrDecay, kWeightDecay, kInitialAccumulatorValue, kEps, kMaximize, kStateDtype, kStochasticRounding, kCount };
  static std::span<const OptionInfo> fields();

  explicit AdagradOptions(double lr = 1e-2);

  double lr() const noexcept { return value(kLr); }
  AdagradOptions& lr(double v) { assign(kLr, v); return *this; }
  double lr_decay() const noexcept { return value(kLrDecay); }
  AdagradOptions& lr_decay(double v) { assign(kLrDecay, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  AdagradOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  // Read when a parameter's accumulator is created (its first step); later changes do not reset it.
  double initial_accumulator_value() const noexcept { return value(kInitialAccumulatorValue); }
  AdagradOptions& initial_accumulator_value(double v) { assign(kInitialAccumulatorValue, v); return *this; }
  double eps() const noexcept { return value(kEps); }
  AdagradOptions& eps(double v) { assign(kEps, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  AdagradOptions& maximize(bool v) { assign(kMaximize, v); return *this; }

  // The state's dtype, float32 or bfloat16 (docs/optimizers.md, "State dtypes"); fixed once the group is added.
  StateDType state_dtype() const noexcept { return static_cast<StateDType>(choice_index(kStateDtype)); }
  AdagradOptions& state_dtype(StateDType v) { assign_choice(kStateDtype, kStateDTypeNames[static_cast<int>(v)]); return *this; }
  bool stochastic_rounding() const noexcept { return flag(kStochasticRounding); }
  AdagradOptions& stochastic_rounding(bool v) { assign(kStochasticRounding, v); return *this; }
  std::unique_ptr<Options> clone() const override { return std::make_unique<AdagradOptions>(*this); }
};

class Adagrad final : public OptimizerWith<AdagradOptions> {
 public:
  enum Slot : std::size_t { kSum };
  explicit Adagrad(std::vector<Parameter> params, const AdagradOptions& defaults = AdagradOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
