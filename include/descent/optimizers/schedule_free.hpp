// Schedule-Free SGD and AdamW (Defazio, Yang, Mehta, Mishchenko, Khaled, Cutkosky 2024, "The Road Less
// Scheduled"): no learning-rate schedule; the weights used for evaluation, x, are an average of the
// iterates z, and the gradient is taken at y, an interpolation of the two. The rule is in
// src/optimizers/schedule_free/schedule_free.cpp and docs/optimizers.md.
//
// The parameters hold y while training. For evaluation, use_average(true) (or eval()) swaps x into them
// and use_average(false) (or train()) swaps y back, bit for bit: the Averaging mechanism of EMA
// (descent/compose.hpp). step() refuses while x is in the parameters.
//
//   descent::AdamWScheduleFree opt(params, descent::AdamWScheduleFreeOptions(2.5e-3).warmup_steps(100));
//   for (...) { fill gradients at the parameters (y); opt.step(); }
//   opt.eval(); evaluate(); opt.train();
#pragma once

#include <cstdint>

#include "descent/compose.hpp"
#include "descent/optimizer.hpp"
#include "descent/state_dtype.hpp"

namespace descent {

class SGDScheduleFreeOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kMomentum, kWeightDecay, kWarmupSteps, kR, kWeightLrPower, kMaximize, kStateDtype, kStochasticRounding, kCount };
  static std::span<const OptionInfo> fields();

  explicit SGDScheduleFreeOptions(double lr = 1.0);

  double lr() const noexcept { return value(kLr); }
  SGDScheduleFreeOptions& lr(double v) { assign(kLr, v); return *this; }
  double momentum() const noexcept { return value(kMomentum); }
  SGDScheduleFreeOptions& momentum(double v) { assign(kMomentum, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  SGDScheduleFreeOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  std::int64_t warmup_steps() const noexcept { return integer(kWarmupSteps); }
  SGDScheduleFreeOptions& warmup_steps(std::int64_t v) { assign(kWarmupSteps, static_cast<double>(v)); return *this; }
  double r() const noexcept { return value(kR); }
  SGDScheduleFreeOptions& r(double v) { assign(kR, v); return *this; }
  double weight_lr_power() const noexcept { return value(kWeightLrPower); }
  SGDScheduleFreeOptions& weight_lr_power(double v) { assign(kWeightLrPower, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  SGDScheduleFreeOptions& maximize(bool v) { assign(kMaximize, v); return *this; }

  // The state's dtype (float32 or bfloat16) (docs/optimizers.md, "State dtypes"); fixed once the group is added.
  StateDType state_dtype() const noexcept { return static_cast<StateDType>(choice_index(kStateDtype)); }
  SGDScheduleFreeOptions& state_dtype(StateDType v) { assign_choice(kStateDtype, kStateDTypeNames[static_cast<int>(v)]); return *this; }
  bool stochastic_rounding() const noexcept { return flag(kStochasticRounding); }
  SGDScheduleFreeOptions& stochastic_rounding(bool v) { assign(kStochasticRounding, v); return *this; }
  std::unique_ptr<Options> clone() const override { return std::make_unique<SGDScheduleFreeOptions>(*this); }
};

class AdamWScheduleFreeOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kBeta1, kBeta2, kEps, kWeightDecay, kWarmupSteps, kR, kWeightLrPower, kMaximize, kStateDtype, kStochasticRounding, kCount };
  static std::span<const OptionInfo> fields();

  explicit AdamWScheduleFreeOptions(double lr = 0.0025);

  double lr() const noexcept { return value(kLr); }
  AdamWScheduleFreeOptions& lr(double v) { assign(kLr, v); return *this; }
  double beta1() const noexcept { return value(kBeta1); }
  double beta2() const noexcept { return value(kBeta2); }
  AdamWScheduleFreeOptions& betas(double beta1, double beta2) { assign_pair(kBeta1, beta1, kBeta2, beta2); return *this; }
  double eps() const noexcept { return value(kEps); }
  AdamWScheduleFreeOptions& eps(double v) { assign(kEps, v); return *this; }
  double weight_decay() const noexcept { return value(kWeightDecay); }
  AdamWScheduleFreeOptions& weight_decay(double v) { assign(kWeightDecay, v); return *this; }
  std::int64_t warmup_steps() const noexcept { return integer(kWarmupSteps); }
  AdamWScheduleFreeOptions& warmup_steps(std::int64_t v) { assign(kWarmupSteps, static_cast<double>(v)); return *this; }
  double r() const noexcept { return value(kR); }
  AdamWScheduleFreeOptions& r(double v) { assign(kR, v); return *this; }
  double weight_lr_power() const noexcept { return value(kWeightLrPower); }
  AdamWScheduleFreeOptions& weight_lr_power(double v) { assign(kWeightLrPower, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  AdamWScheduleFreeOptions& maximize(bool v) { assign(kMaximize, v); return *this; }

  // The state's dtype (float32 or bfloat16) (docs/optimizers.md, "State dtypes"); fixed once the group is added.
  StateDType state_dtype() const noexcept { return static_cast<StateDType>(choice_index(kStateDtype)); }
  AdamWScheduleFreeOptions& state_dtype(StateDType v) { assign_choice(kStateDtype, kStateDTypeNames[static_cast<int>(v)]); return *this; }
  bool stochastic_rounding() const noexcept { return flag(kStochasticRounding); }
  AdamWScheduleFreeOptions& stochastic_rounding(bool v) { assign(kStochasticRounding, v); return *this; }
  std::unique_ptr<Options> clone() const override { return std::make_unique<AdamWScheduleFreeOptions>(*this); }
};

// What both share: the x slot swapped in for evaluation, the refusal to step in eval mode, and the mode in
// checkpoints (metadata "schedule_free_eval_mode"; a checkpoint taken in eval mode must hold the
// parameters' values, as EMA's does).
template <class OptionsT>
class ScheduleFree : public OptimizerWith<OptionsT>, public Averaging {
 public:
  void use_average(bool on) override;
  bool using_average() const noexcept override { return swap_.on(); }
  // The schedulefree package's names: eval() puts x in the parameters, train() puts y back.
  void eval() { use_average(true); }
  void train() { use_average(false); }

 protected:
  using Record = Optimizer::Record;
  ScheduleFree(std::span<const SlotSpec> slots, std::span<const ScalarSlotSpec> scalar_slots,
               std::vector<Parameter> params, const OptionsT& defaults, std::size_t x_slot);

 private:
  void check_step() const override { swap_.check_step(); }
  void save_extra(StateDict& dict) const override { swap_.save(dict); }
  std::function<void()> load_extra(const StateDict& dict) override;

  std::size_t x_slot_;
  detail::AverageSwap swap_;
};

class SGDScheduleFree final : public ScheduleFree<SGDScheduleFreeOptions> {
 public:
  enum Slot : std::size_t { kZ, kX };
  enum ScalarSlot : std::size_t { kLrMax, kWeightSum };
  explicit SGDScheduleFree(std::vector<Parameter> params, const SGDScheduleFreeOptions& defaults = SGDScheduleFreeOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

class AdamWScheduleFree final : public ScheduleFree<AdamWScheduleFreeOptions> {
 public:
  enum Slot : std::size_t { kZ, kExpAvgSq, kX };
  enum ScalarSlot : std::size_t { kLrMax, kWeightSum };
  explicit AdamWScheduleFree(std::vector<Parameter> params,
                             const AdamWScheduleFreeOptions& defaults = AdamWScheduleFreeOptions());

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

}  // namespace descent
