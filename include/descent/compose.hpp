// Optimizers that compose: one optimizer over groups that run different rules, and wrappers that change
// how the parameters are presented around any base optimizer.
//
//   // LARS for the weight matrices, AdamW for biases and norms: one step(), one state_dict().
//   std::vector<std::unique_ptr<descent::Optimizer>> parts;
//   parts.push_back(std::make_unique<descent::LARS>(matrices, descent::LARSOptions(0.1)));
//   parts.push_back(std::make_unique<descent::AdamW>(vectors, descent::AdamWOptions(1e-3)));
//   descent::Composite opt(std::move(parts));
//   descent::StepLR schedule(opt, 30);              // schedules apply to every group, each from its own lr
//
//   // An optimizer that keeps an average of the weights for evaluation (EMA, ScheduleFreeSGD,
// ScheduleFreeAdamW): use_average(true) swaps the averages into the parameters' memory, use_average(false)
// swaps the trained values back (bit for bit); step() refuses while the averages are in, and checkpoints
// record which values are in the parameters. A training loop evaluates through this interface
// (descent::nn::train does).
class Averaging {
 public:
  // Does nothing when already in that state; parameters that have not stepped yet keep their values.
  virtual void use_average(bool on) = 0;
  virtual bool using_average() const noexcept = 0;

 protected:
  ~Averaging() = default;
};

// An exponential moving average of the weights around any optimizer, swapped in for evaluation.
//   descent::EMA ema(std::make_unique<descent::Adam>(params), 0.999);
//   ema.step();  ...  ema.use_average(true); evaluate(); ema.use_average(false);
#pragma once

#include <memory>
#include <vector>

#include "descent/detail/average_swap.hpp"
#include "descent/optimizer.hpp"

namespace descent {

// Runs each group with the rule its options belong to. Built from optimizers already holding their
// parameters, groups and options (and any state they have): the Composite takes them all over, groups
// in the parts' order; add_param_group() later takes options of any of the parts' kinds. Parameter names
// must be unique across the parts and no memory may be shared (checked before any part is taken apart).
// The Composite has its own engine and non-finite policy (one thread per core, Raise): set them on it.
// Checkpoints save each group's rule; the kind is "Composite".
class Composite final : public Optimizer {
 public:
  explicit Composite(std::vector<std::unique_ptr<Optimizer>> parts);
  Composite(Composite&&) noexcept = default;
  Composite& operator=(Composite&&) noexcept = default;

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
};

// An optimizer that keeps an average of the weights for evaluation (EMA, ScheduleFreeSGD,
// ScheduleFreeAdamW): use_average(true) swaps the averages into the parameters' memory, use_average(false)
// swaps the trained values back (bit for bit); step() refuses while the averages are in, and checkpoints
// record which values are in the parameters. A training loop evaluates through this interface
// (descent::nn::train does).
class Averaging {
 public:
  // Does nothing when already in that state; parameters that have not stepped yet keep their values.
  virtual void use_average(bool on) = 0;
  virtual bool using_average() const noexcept = 0;

 protected:
  ~Averaging() = default;
};

// An exponential moving average of the parameters (Polyak averaging, as torch.optim.swa_utils'
// AveragedModel keeps one with an EMA averaging function): after every step of the base optimizer, for
// each parameter that stepped,
//   average <- average + (1 - decay) * (param - average),   initialised to the parameter at its first step.
// use_average(true) swaps the averages into the parameters' memory (for evaluation), use_average(false)
// swaps the trained values back; step() refuses to run while the averages are in. The average is the
// slot "ema" of every parameter; checkpoints save it, the decay and which values are in the parameters.
class EMA final : public Optimizer, public Averaging {
 public:
  explicit EMA(std::unique_ptr<Optimizer> base, double decay = 0.999);
  EMA(EMA&&) noexcept = default;
  EMA& operator=(EMA&&) noexcept = default;

  double decay() const noexcept { return decay_; }
  // Throws InvalidArgument for a decay outside [0, 1).
  void set_decay(double decay);
  void use_average(bool on) override;
  bool using_average() const noexcept override { return swap_.on(); }

 private:
  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override;
  std::uint32_t slots_needed(const Options& options) const override;
  void check_step() const override;
  void after_step(std::span<Record* const> records) override;
  void save_extra(StateDict& dict) const override;
  std::function<void()> load_extra(const StateDict& dict) override;

  double decay_;
  detail::AverageSwap swap_{"EMA", "the averages", "ema_average_in_parameters"};
};

}  // namespace descent
