// Learning-rate schedules with PyTorch's semantics (torch.optim.lr_scheduler, checked against
// PyTorch 1.13 by tests/test_schedule.cpp), and gradient clipping (torch.nn.utils.clip_grad_norm_ and
// clip_grad_value_).
//
// A schedule is attached to an optimizer when it is constructed and drives the learning rate of every
// parameter group that exists then, each from its own base lr: the group's options().lr() at that
// moment. As in PyTorch, construction already sets the lr for step 0, and every step() advances the
// count and sets every group's lr (group(i).options().set_lr()) for the new count:
//
//   descent::SGD sgd(params, descent::SGDOptions(0.1).momentum(0.9));
//   descent::CosineAnnealingLR schedule(sgd, /*T_max=*/100);     // lr = 0.1 now
//   for (int epoch = 0; epoch < 100; ++epoch) {
//     for (auto& batch : data) { compute_gradient(batch); sgd.step(); }
//     schedule.step();                                            // lr for epoch + 1
//   }
//
// Whether step() counts epochs or batches is the caller's choice (OneCycleLR is meant per batch).
//
// Closed forms. Most PyTorch schedulers are "chainable": step() multiplies the group's current lr by
// a ratio (get_lr()). Every schedule here instead computes the lr of step t directly from the base lr
// (PyTorch's _get_closed_form_lr(), or the formula its documentation gives), which is mathematically
// the same sequence when nothing else changes the lr, and has no accumulated rounding: the test
// replays PyTorch's chainable values and finds them equal within 1e-12 relative (the measured worst
// differences are in tests/test_schedule.cpp). The difference shows only if something else changes a
// group's lr between steps: PyTorch's chainable step() scales that change, descent's next step()
// overrides it. Rules:
//  - A schedule never changes anything but lr (and, for OneCycleLR, momentum or beta1). A step() that
//    would set an lr outside the option's range [0, inf) throws InvalidArgument and changes nothing.
//  - Groups added to the optimizer after the schedule was attached are not scheduled (PyTorch zips
//    param_groups with base_lrs, which ignores them too).
//  - PyTorch takes a group's base lr from group["initial_lr"], which the first scheduler attached to
//    an optimizer records; descent reads the group's lr when each schedule is attached, so attach one
//    schedule per optimizer, or combine them with SequentialLR, which gives every child the base lrs
//    of the first one, as PyTorch's initial_lr does.
//  - The optimizer must outlive its schedules, and stay at the same address (do not move it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "descent/optimizer.hpp"

namespace descent {

// What a checkpoint needs to resume a schedule (PyTorch's state_dict() without the arguments, which
// the code that builds the schedule provides again).
struct SchedulerState {
  std::int64_t last_step = 0;     // PyTorch's last_epoch
  std::vector<double> base_lrs;   // one per scheduled group
  std::vector<double> last_lrs;   // get_last_lr(): the lrs this schedule set last
  // ReduceLROnPlateau only (the others leave them at these values and ignore them):
  double best = 0.0;
  std::int64_t num_bad_epochs = 0;
  std::int64_t cooldown_counter = 0;
};

// What every schedule has. The concrete classes are below; LRScheduler is the base of those driven by
// the step count, ReduceLROnPlateau the one driven by a metric.
class Scheduler {
 public:
  virtual ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // "StepLR", "CosineAnnealingLR", ...: PyTorch's class name, which prefixes every error message.
  std::string_view name() const noexcept { return name_; }
  Optimizer& optimizer() const noexcept { return *optimizer_; }
  // The groups this schedule drives: those the optimizer had when the schedule was attached.
  std::size_t num_groups() const noexcept { return base_lrs_.size(); }

  // The lr this schedule set last for `group` (PyTorch's get_last_lr()[group]). Throws NotFound for a
  // group it does not drive.
  double lr(std::size_t group = 0) const;
  std::span<const double> last_lrs() const noexcept { return last_lrs_; }
  // Each group's lr when the schedule was attached (PyTorch's base_lrs).
  std::span<const double> base_lrs() const noexcept { return base_lrs_; }
  // Number of step() calls since construction (PyTorch's last_epoch: 0 right after construction).
  std::int64_t last_step() const noexcept { return last_step_; }

  // Saves and restores the counters (and the base lrs, so that a schedule re-attached to a restored
  // optimizer, whose lr is no longer the base lr, resumes correctly). load_state() validates the
  // state, then sets every group's lr from it; it throws InvalidArgument and changes nothing when the
  // state does not fit (another number of groups, a negative count, ...).
  virtual SchedulerState state() const;
  virtual void load_state(const SchedulerState& state) = 0;

 protected:
  Scheduler(Optimizer& optimizer, std::string_view name);
  Scheduler(Scheduler&&) noexcept = default;
  Scheduler& operator=(Scheduler&&) noexcept = default;

  // Throws InvalidArgument "<name>: <message>".
  [[noreturn]] void fail(const std::string& message) const;
  // Throws InvalidArgument "<name>: argument '<argument>' = <value> is out of range: must be in <range>".
  [[noreturn]] void fail_range(std::string_view argument, double value, std::string_view range) const;
  // Checks every lr against the lr option's range [0, inf) (naming the group and step), then sets them
  // all, so that a bad value changes nothing.
  void set_lrs(std::span<const double> lrs, std::int64_t step);
  void check_state_sizes(const SchedulerState& state) const;

  Optimizer* optimizer_;
  std::string_view name_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lrs_;
  std::int64_t last_step_ = 0;
};

// Schedules whose lr is a function of the step count: step() takes no argument.
class LRScheduler : public Scheduler {
 public:
  // Advances the count and sets every group's lr (and what else the schedule sets) for it. Throws, and
  // changes nothing, when the new lr is out of range or the schedule has ended (OneCycleLR).
  void step();

  // The lr the schedule gives `group` at step count `step` (>= 0), without changing anything.
  double lr_at(std::int64_t step, std::size_t group = 0) const;

  void load_state(const SchedulerState& state) override;

 protected:
  LRScheduler(Optimizer& optimizer, std::string_view name);
  // Every constructor calls this last, once its arguments are validated: sets the lrs of step 0.
  void start() { apply(0); }
  // Sets the optimizer's values for step count `step`: by default every group's lr = compute().
  virtual void apply(std::int64_t step);
  // The lr of `group` at `step`; step >= 0 and group < num_groups() are checked by the caller.
  virtual double compute(std::int64_t step, std::size_t group) const = 0;
  // Replaces the base lrs (SequentialLR gives its children the first child's).
  virtual void rebase(std::span<const double> base_lrs);

 private:
  friend class SequentialLR;
};

// PyTorch's ConstantLR: lr = base_lr * factor for the steps before total_iters, base_lr from then on
// (a constant warm-up). factor = 1 gives a plain constant schedule. factor in [0, 1], total_iters >= 1.
// PyTorch 1.13 accepts factor = 0 but then divides by zero at step total_iters (its chainable form
// multiplies by 1 / factor there); descent's closed form returns base_lr, as PyTorch's documentation says.
class ConstantLR final : public LRScheduler {
 public:
  explicit ConstantLR(Optimizer& optimizer, double factor = 1.0 / 3, std::int64_t total_iters = 5);
  double factor() const noexcept { return factor_; }
  std::int64_t total_iters() const noexcept { return total_iters_; }

 private:
  double compute(std::int64_t step, std::size_t group) const override;
  double factor_;
  std::int64_t total_iters_;
};

// PyTorch's StepLR: lr = base_lr * gamma^floor(step / step_size). step_size >= 1, gamma > 0 (finite).
class StepLR final : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);
  std::int64_t step_size() const noexcept { return step_size_; }
  double gamma() const noexcept { return gamma_; }

 private:
  double compute(std::int64_t step, std::size_t group) const override;
  std::int64_t step_size_;
  double gamma_;
};

// PyTorch's MultiStepLR: lr = base_lr * gamma^(number of milestones <= step). Milestones are step
// counts >= 0 in any order; a repeated milestone counts as many times as it appears (PyTorch keeps
// them in a Counter). gamma > 0 (finite).
class MultiStepLR final : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma = 0.1);
  std::span<const std::int64_t> milestones() const noexcept { return milestones_; }  // sorted
  double gamma() const noexcept { return gamma_; }

 private:
  double compute(std::int64_t step, std::size_t group) const override;
  std::vector<std::int64_t> milestones_;
  double gamma_;
};

// PyTorch's ExponentialLR: lr = base_lr * gamma^step. gamma > 0 (finite).
class ExponentialLR final : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);
  double gamma() const noexcept { return gamma_; }

 private:
  double compute(std::int64_t step, std::size_t group) const override;
  double gamma_;
};

// PyTorch's CosineAnnealingLR (SGDR's annealing without restarts):
//   lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2,
// which after T_max keeps following the cosine back up (period 2 T_max), as PyTorch's does.
// PyTorch's get_lr() computes this recursively, lr_t = (1 + cos(pi t/T)) / (1 + cos(pi (t-1)/T)) *
// (lr_{t-1} - eta_min) + eta_min, with an additive step where the denominator is 0; the two agree
// mathematically, descent implements the closed form (PyTorch's _get_closed_form_lr()). Over 120
// steps of 7 reference cases the recursion differs from it by at most 2.6e-14 relative, drifting with
// the step count (T_max = 10: 0.10000000000000205 at step 120 where the closed form gives 0.1). T_max >= 1,
// eta_min >= 0 (finite; above base_lr the schedule rises instead, as in PyTorch).
class CosineAnnealingLR final : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min = 0.0);
  std::int64_t T_max() const noexcept { return t_max_; }
  double eta_min() const noexcept { return eta_min_; }

 private:
  double compute(std::int64_t step, std::size_t group) const override;
  std::int64_t t_max_;
  double eta_min_;
};

// PyTorch's CosineAnnealingWarmRestarts (SGDR): cycles of T_0, T_0 T_mult, T_0 T_mult^2, ... steps;
// inside a cycle of length T_i, at T_cur steps from its start,
//   lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2.
// T_cur and T_i are found from the step count with integer arithmetic, exactly as PyTorch's
// step() increments them. T_0 >= 1, T_mult >= 1 (integers, as PyTorch requires), eta_min >= 0.
class CosineAnnealingWarmRestarts final : public LRScheduler {
 public:
  CosineAnnealingWarmRestarts(Optimizer& optimizer, std::int64_t T_0, std::int64_t T_mult = 1, double eta_min = 0.0);
  std::int64_t T_0() const noexcept { return t_0_; }
  std::int64_t T_mult() const noexcept { return t_mult_; }
  double eta_min() const noexcept { return eta_min_; }
  // T_cur and T_i at a step count.
  std::pair<std::int64_t, std::int64_t> cycle_at(std::int64_t step) const;

 private:
  double compute(std::int64_t step, std::size_t group) const override;
  std::int64_t t_0_;
  std::int64_t t_mult_;
  double eta_min_;
};

// PyTorch's LinearLR, the linear warm-up (or decay): the factor moves linearly from start_factor at
// step 0 to end_factor at total_iters and stays there:
//   lr = base_lr * (start_factor + (end_factor - start_factor) * min(step, total_iters) / total_iters).
// start_factor in (0, 1], end_factor in [0, 1], total_iters >= 1. PyTorch 1.13 accepts
// start_factor = 0 but its chainable form divides by zero at step 1 (later versions reject it too).
class LinearLR final : public LRScheduler {
 public:
  explicit LinearLR(Optimizer& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0,
                    std::int64_t total_iters = 5);
  double start_factor() const noexcept { return start_factor_; }
  double end_factor() const noexcept { return end_factor_; }
  std::int64_t total_iters() const noexcept { return total_iters_; }

 private:
  double compute(std::int64_t step, std::size_t group) const override;
  double start_factor_;
  double end_factor_;
  std::int64_t total_iters_;
};

// PyTorch's PolynomialLR: lr = base_lr * (1 - min(step, total_iters) / total_iters)^power, 0 from
// total_iters on (for power > 0). total_iters >= 1, power >= 0 (finite).
class PolynomialLR final : public LRScheduler {
 public:
  explicit PolynomialLR(Optimizer& optimizer, std::int64_t total_iters = 5, double power = 1.0);
  std::int64_t total_iters() const noexcept { return total_iters_; }
  double power() const noexcept { return power_; }

 private:
  double compute(std::int64_t step, std::size_t group) const override;
  std::int64_t total_iters_;
  double power_;
};

enum class AnnealStrategy : unsigned char { Cos, Linear };

// OneCycleLR's arguments, PyTorch's names and defaults: OneCycleLR(sgd, {.max_lr = {0.5}, .total_steps = 1000}).
struct OneCycleLRConfig {
  std::vector<double> max_lr;        // one value for every group, or one per group; each > 0 (finite)
  std::int64_t total_steps = 0;      // >= 1 (PyTorch's epochs * steps_per_epoch is the caller's product)
  double pct_start = 0.3;            // in (0, 1): the fraction of the steps spent raising the lr
  AnnealStrategy anneal_strategy = AnnealStrategy::Cos;
  bool cycle_momentum = true;        // cycle momentum (SGD, RMSprop, LARS) or beta1 (Adam, ...) inversely
  double base_momentum = 0.85;       // in [0, 1): the momentum at the peak lr
  double max_momentum = 0.95;        // in [0, 1): the momentum at the start and the end
  double div_factor = 25.0;          // > 0: initial_lr = max_lr / div_factor
  double final_div_factor = 1e4;     // > 0: min_lr = initial_lr / final_div_factor
  bool three_phase = false;          // warm up, come back down to initial_lr symmetrically, then anneal to min_lr
};

// PyTorch's OneCycleLR (Smith & Topin, super-convergence), stepped once per batch. The lr starts at
// initial_lr = max_lr / div_factor (whatever the group's lr was: these are its base lrs), rises to
// max_lr over the first pct_start * total_steps steps, then anneals to min_lr = initial_lr /
// final_div_factor at step total_steps - 1 (three_phase: first back to initial_lr, symmetrically,
// then to min_lr), each phase by a half cosine or linearly. Phase boundaries are PyTorch's, in
// floating point: phase 1 ends at step pct_start * total_steps - 1, phase 2 at total_steps - 1
// (three_phase: 2 pct_start total_steps - 2 and total_steps - 1), and step s of a phase from a to b
// anneals with pct = (s - a) / (b - a).
//
// Momentum: like PyTorch, with cycle_momentum (the default) OneCycleLR also cycles the momentum
// inversely to the lr, from max_momentum down to base_momentum at the peak and back up; descent does
// this too, setting the group's option "beta1" when the optimizer has one (Adam, AdamW, NAdam, RAdam,
// Adamax, LAMB; PyTorch's betas[0]), otherwise "momentum" (SGD, RMSprop, LARS). An optimizer with
// neither (Adagrad, Adadelta) needs cycle_momentum = false, as in PyTorch. Setting momentum on an SGD
// built with momentum 0 turns momentum on, as in PyTorch.
//
// The end: PyTorch allows total_steps step() calls (the last one computes the lr of step total_steps,
// which the training loop that calls step() after every batch never uses) and raises on the next.
// There PyTorch extrapolates the last phase beyond its end (pct > 1), which with linear annealing gives
// a negative lr; descent instead holds the values of step total_steps - 1 (min_lr) there, and throws
// descent::Error, changing nothing, on a step() beyond total_steps.
//
// Invalid: pct_start * total_steps == 1, where PyTorch 1.13 divides by zero (a warm-up phase of length 0).
class OneCycleLR final : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, const OneCycleLRConfig& config);
  const OneCycleLRConfig& config() const noexcept { return config_; }
  // The momentum (or beta1) the schedule gives `group` at `step`; NaN without cycle_momentum.
  double momentum_at(std::int64_t step, std::size_t group = 0) const;
  // "beta1", "momentum", or empty without cycle_momentum.
  std::string_view momentum_option() const noexcept { return momentum_option_; }

 private:
  struct Value {
    double lr, momentum;
  };
  Value value_at(std::int64_t step, std::size_t group) const;
  double compute(std::int64_t step, std::size_t group) const override;
  void apply(std::int64_t step) override;
  void rebase(std::span<const double> base_lrs) override;

  OneCycleLRConfig config_;
  std::vector<double> max_lrs_;   // per group
  std::vector<double> min_lrs_;   // per group
  struct Phase {
    double end_step;
    int start_lr, end_lr;          // 0 initial_lr, 1 max_lr, 2 min_lr
    bool start_at_max_momentum, end_at_max_momentum;
  };
  std::vector<Phase> phases_;
  std::string_view momentum_option_;
};

// PyTorch's SequentialLR: child i drives the steps from milestones[i-1] (0 for the first child) up to
// milestones[i], counting its own steps from 0 at its milestone, so that SequentialLR over
// {LinearLR(opt, 0.1, 1.0, 5), CosineAnnealingLR(opt, 95)} with milestones {5} is a 5-step linear
// warm-up followed by cosine annealing (make_warmup_cosine() below builds exactly that). Every child must be attached to `optimizer`
// and is constructed before the SequentialLR, in order (each construction sets the lr of its step 0;
// the SequentialLR then gives every child the base lrs of the first one, as PyTorch's initial_lr
// does, and sets the lrs of step 0). milestones: children.size() - 1 strictly increasing values >= 1.
// OneCycleLR children keep their own lrs (max_lr / div_factor), as in PyTorch.
class SequentialLR final : public LRScheduler {
 public:
  SequentialLR(Optimizer& optimizer, std::vector<std::unique_ptr<LRScheduler>> children,
               std::vector<std::int64_t> milestones);
  std::size_t num_children() const noexcept { return children_.size(); }
  const LRScheduler& child(std::size_t index) const { return *children_.at(index); }
  std::span<const std::int64_t> milestones() const noexcept { return milestones_; }

 private:
  std::pair<std::size_t, std::int64_t> locate(std::int64_t step) const;  // child, its local step
  double compute(std::int64_t step, std::size_t group) const override;
  void apply(std::int64_t step) override;
  void rebase(std::span<const double> base_lrs) override;

  std::vector<std::unique_ptr<LRScheduler>> children_;
  std::vector<std::int64_t> milestones_;
};

// The warm-up-then-cosine schedule most training recipes use: LinearLR from warmup_start_factor to 1
// over warmup_steps, then CosineAnnealingLR down to eta_min over the remaining total_steps -
// warmup_steps (a SequentialLR of the two). warmup_steps >= 1, total_steps > warmup_steps.
std::unique_ptr<SequentialLR> make_warmup_cosine(Optimizer& optimizer, std::int64_t warmup_steps,
                                                 std::int64_t total_steps, double warmup_start_factor = 0.1,
                                                 double eta_min = 0.0);

enum class PlateauMode : unsigned char { Min, Max };
enum class ThresholdMode : unsigned char { Rel, Abs };

// ReduceLROnPlateau's arguments, PyTorch's names and defaults.
struct ReduceLROnPlateauConfig {
  PlateauMode mode = PlateauMode::Min;   // Min: lower metrics are better; Max: higher are
  double factor = 0.1;                   // in [0, 1): new_lr = max(lr * factor, min_lr)
  std::int64_t patience = 10;            // >= 0: bad epochs tolerated before reducing
  double threshold = 1e-4;               // >= 0 (finite; < 1 in Min/Rel, where best * (1 - threshold) is the bar)
  ThresholdMode threshold_mode = ThresholdMode::Rel;
  std::int64_t cooldown = 0;             // >= 0: steps after a reduction during which bad epochs are ignored
  std::vector<double> min_lr = {0.0};    // one for every group or one per group; each >= 0 (finite)
  double eps = 1e-8;                     // >= 0: a reduction smaller than this is skipped
};

// PyTorch's ReduceLROnPlateau: step(metric) once per epoch with the monitored value. A metric is an
// improvement when it beats best by the threshold:
//   Min/Rel: metric < best * (1 - threshold)   Min/Abs: metric < best - threshold
//   Max/Rel: metric > best * (1 + threshold)   Max/Abs: metric > best + threshold
// (best starts at +inf for Min, -inf for Max; the Rel bars assume positive metrics: for a negative
// best, PyTorch's and so descent's Min/Rel bar lies above best). An improvement sets best and
// num_bad_epochs = 0, anything else (NaN included) adds a bad epoch; during a cooldown bad epochs are
// reset to 0. When num_bad_epochs exceeds patience, every group's lr becomes max(lr * factor, min_lr)
// if that lowers it by more than eps, and the cooldown starts. The lr it reduces is the group's
// current lr (options().lr()), so changes made by others are kept. Construction changes no lr.
class ReduceLROnPlateau final : public Scheduler {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauConfig& config = {});
  // Records one epoch's metric, reducing the lrs when it is time.
  void step(double metric);

  const ReduceLROnPlateauConfig& config() const noexcept { return config_; }
  double best() const noexcept { return best_; }
  std::int64_t num_bad_epochs() const noexcept { return num_bad_epochs_; }
  std::int64_t cooldown_counter() const noexcept { return cooldown_counter_; }
  bool in_cooldown() const noexcept { return cooldown_counter_ > 0; }
  // Whether `metric` would count as an improvement now.
  bool is_better(double metric) const noexcept;

  SchedulerState state() const override;
  // Restores the counters, best and the last lrs, and sets the groups' lrs to those last lrs.
  void load_state(const SchedulerState& state) override;

 private:
  ReduceLROnPlateauConfig config_;
  std::vector<double> min_lrs_;   // per group
  double best_;
  std::int64_t num_bad_epochs_ = 0;
  std::int64_t cooldown_counter_ = 0;
};

// ---------------------------------------------------------------------------------------------------
// Gradient clipping, over every parameter of the optimizer that has a gradient (as PyTorch's
// functions over an iterable of parameters whose .grad is not None), float32 and float64 alike.

// PyTorch's clip_grad_norm_: the total norm of all the gradients viewed as one vector,
//   total = (sum over every element of |g|^p)^(1/p), or max |g| for norm_type = infinity,
// computed in double (whatever the gradients' type) and returned; when coef = max_norm / (total + 1e-6)
// is below 1 every gradient is multiplied by it (in the gradient's type, by coef rounded to it).
// Returns 0 and changes nothing without gradients. norm_type > 0 (finite) or +infinity; max_norm >= 0
// (+infinity never clips). A non-finite total norm (a NaN or infinite gradient) makes the gradients NaN
// or zero, as PyTorch's does, unless error_if_nonfinite, which throws InvalidArgument and changes nothing.
double clip_grad_norm(Optimizer& optimizer, double max_norm, double norm_type = 2.0, bool error_if_nonfinite = false);

// PyTorch's clip_grad_value_: clamps every gradient element to [-clip_value, clip_value] (NaN stays
// NaN). clip_value >= 0 (+infinity changes nothing).
void clip_grad_value(Optimizer& optimizer, double clip_value);

}  // namespace descent
