// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2 weight decay.
// The update rule is in src/optimizers/sgd/sgd.cpp and docs/optimizers.md.
#pragma once

#include "descent/optimizer.hpp"
#include "descent/state_dtype.hpp"

namespace descent {

class SGDOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kMomentum, kDampening, kNesterov, kWeightDecay, kMaximize,
               kStateDtype, kStochasticRounding, kCount };
  static std::span<const OptionInfo> fields();

  // PyTorch requires the learning rate; descent defaults it to 0.01.
  explicit SGDOptions(double lr = 0.01);

  double lr() const noexcept { return value(kLr); }
  SGDOptions& lr(double v) { assign(kLr, v); return *this; }
  double momentum() const noexcept { return value(kMomentum); }
  SGDOptions& momentum(double v) { assign(kMomentum, v); return *this; }
  double dampening() const noexcept { return value(kDampening); }
  SGDOptions& dampening(double v) { assign(kDampening, v); return *this; }
  bool nesterov() const noexcept { return flag(kNesterov); }
  SGDOptions& nesterov(bool v) { assign(kNesterov, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  SGDOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  SGDOptions& maximize(bool v) { assign(kMaximize, v); return *this; }
  // The state's dtype (docs/optimizers.md, "State dtypes"); fixed once the group is added.
  StateDType state_dtype() const noexcept { return static_cast<StateDType>(choice_index(kStateDtype)); }
  SGDOptions& state_dtype(StateDType v) { assign_choice(kStateDtype, kStateDTypeNames[static_cast<int>(v)]); return *this; }
  bool stochastic_rounding() const noexcept { return flag(kStochasticRounding); }
  SGDOptions& stochastic_rounding(bool v) { assign(kStochasticRounding, v); return *this; }

  void validate() const override;  // Nesterov needs momentum > 0 and dampening 0
  std::unique_ptr<Options> clone() const override { return std::make_unique<SGDOptions>(*this); }
};

class SGD final : public OptimizerWith<SGDOptions> {
 public:
  enum Slot : std::size_t { kMomentumBuffer, kMomentumBufferAbsmax };  // absmax: int8 state's block scales
  explicit SGD(std::vector<Parameter> params, const SGDOptions& defaults = SGDOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
