// Learning-rate schedules and gradient clipping: the formulas are in include/descent/schedule.hpp.
//
// Every schedule evaluates its closed form with the operations in the order PyTorch's own closed
// forms (_get_closed_form_lr) or get_lr() write them, e.g. (pi * t) / T_max, not pi * (t / T_max),
// so that the only differences from PyTorch's chainable values are the roundings its recursion
// accumulates (tests/test_schedule.cpp measures them).
#include "descent/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <utility>

#include "clip_norm.hpp"
#include "descent/error.hpp"

namespace descent {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr std::int64_t kMaxCount = std::numeric_limits<std::int64_t>::max();

bool finite_at_least(double value, double min) { return std::isfinite(value) && value >= min; }

double as_double(std::int64_t value) { return static_cast<double>(value); }

// PyTorch's OneCycleLR._annealing_cos and _annealing_linear.
double anneal(AnnealStrategy strategy, double start, double end, double pct) {
  if (strategy == AnnealStrategy::Cos) {
    const double cos_out = std::cos(std::numbers::pi * pct) + 1.0;
    return end + (start - end) / 2.0 * cos_out;
  }
  return (end - start) * pct + start;
}

// The range row of a group's option (its validation table), for checks before anything is set.
const OptionInfo& option_info(const Options& options, std::string_view name) {
  for (const auto& info : options.info()) {
    if (info.name == name) return info;
  }
  throw NotFound(std::string(options.optimizer()) + " has no option '" + std::string(name) + "'");
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Scheduler

Scheduler::Scheduler(Optimizer& optimizer, std::string_view name) : optimizer_(&optimizer), name_(name) {
  base_lrs_.reserve(optimizer.num_groups());
  for (std::size_t g = 0; g < optimizer.num_groups(); ++g) base_lrs_.push_back(optimizer.group(g).options().lr());
  last_lrs_ = base_lrs_;
}

Scheduler::~Scheduler() = default;

double Scheduler::lr(std::size_t group) const {
  if (group >= last_lrs_.size()) {
    throw NotFound(std::string(name_) + ": no group " + std::to_string(group) + " (it drives " +
                   std::to_string(last_lrs_.size()) + ")");
  }
  return last_lrs_[group];
}

SchedulerState Scheduler::state() const {
  SchedulerState state;
  state.last_step = last_step_;
  state.base_lrs = base_lrs_;
  state.last_lrs = last_lrs_;
  return state;
}

void Scheduler::fail(const std::string& message) const { throw InvalidArgument(std::string(name_) + ": " + message); }

void Scheduler::fail_range(std::string_view argument, double value, std::string_view range) const {
  fail("argument '" + std::string(argument) + "' = " + format_number(value) + " is out of range: must be in " +
       std::string(range));
}

void Scheduler::set_lrs(std::span<const double> lrs, std::int64_t step) {
  for (std::size_t g = 0; g < lrs.size(); ++g) {
    const OptionInfo& info = option_info(optimizer_->group(g).options(), "lr");
    if (!info.contains(lrs[g])) {
      fail("the lr of group " + std::to_string(g) + " at step " + std::to_string(step) + " would be " +
           format_number(lrs[g]) + ", outside the lr option's range " + info.range_text());
    }
  }
  for (std::size_t g = 0; g < lrs.size(); ++g) {
    optimizer_->group(g).options().set_lr(lrs[g]);
    last_lrs_[g] = lrs[g];
  }
}

void Scheduler::check_state_sizes(const SchedulerState& state) const {
  if (state.base_lrs.size() != num_groups()) {
    fail("the state holds " + std::to_string(state.base_lrs.size()) + " base lrs, but the schedule drives " +
         std::to_string(num_groups()) + " groups");
  }
  if (!state.last_lrs.empty() && state.last_lrs.size() != num_groups()) {
    fail("the state holds " + std::to_string(state.last_lrs.size()) + " last lrs, but the schedule drives " +
         std::to_string(num_groups()) + " groups");
  }
  if (state.last_step < 0) fail_range("last_step", as_double(state.last_step), "[0, inf)");
  for (const double lr : state.base_lrs) {
    if (!finite_at_least(lr, 0.0)) fail_range("base_lrs", lr, "[0, inf)");
  }
}

// ---------------------------------------------------------------------------------------------------
// LRScheduler

LRScheduler::LRScheduler(Optimizer& optimizer, std::string_view name) : Scheduler(optimizer, name) {}

void LRScheduler::step() {
  if (last_step_ == kMaxCount) fail("the step count cannot grow beyond " + std::to_string(kMaxCount));
  apply(last_step_ + 1);
  ++last_step_;
}

double LRScheduler::lr_at(std::int64_t step, std::size_t group) const {
  if (step < 0) fail_range("step", as_double(step), "[0, inf)");
  if (group >= num_groups()) {
    throw NotFound(std::string(name_) + ": no group " + std::to_string(group) + " (it drives " +
                   std::to_string(num_groups()) + ")");
  }
  return compute(step, group);
}

void LRScheduler::apply(std::int64_t step) {
  std::vector<double> lrs(num_groups());
  for (std::size_t g = 0; g < lrs.size(); ++g) lrs[g] = compute(step, g);
  set_lrs(lrs, step);
}

void LRScheduler::rebase(std::span<const double> base_lrs) { base_lrs_.assign(base_lrs.begin(), base_lrs.end()); }

void LRScheduler::load_state(const SchedulerState& state) {
  check_state_sizes(state);
  const std::vector<double> old_base = base_lrs_;
  rebase(state.base_lrs);
  try {
    apply(state.last_step);
  } catch (...) {
    rebase(old_base);
    throw;
  }
  last_step_ = state.last_step;
}

// ---------------------------------------------------------------------------------------------------
// The closed forms

ConstantLR::ConstantLR(Optimizer& optimizer, double factor, std::int64_t total_iters)
    : LRScheduler(optimizer, "ConstantLR"), factor_(factor), total_iters_(total_iters) {
  if (!(factor >= 0.0 && factor <= 1.0)) fail_range("factor", factor, "[0, 1]");
  if (total_iters < 1) fail_range("total_iters", as_double(total_iters), "[1, inf)");
  start();
}

double ConstantLR::compute(std::int64_t step, std::size_t group) const {
  return step < total_iters_ ? base_lrs_[group] * factor_ : base_lrs_[group];
}

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LRScheduler(optimizer, "StepLR"), step_size_(step_size), gamma_(gamma) {
  if (step_size < 1) fail_range("step_size", as_double(step_size), "[1, inf)");
  if (!(std::isfinite(gamma) && gamma > 0.0)) fail_range("gamma", gamma, "(0, inf)");
  start();
}

double StepLR::compute(std::int64_t step, std::size_t group) const {
  return base_lrs_[group] * std::pow(gamma_, as_double(step / step_size_));
}

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma)
    : LRScheduler(optimizer, "MultiStepLR"), milestones_(std::move(milestones)), gamma_(gamma) {
  for (const std::int64_t m : milestones_) {
    if (m < 0) fail_range("milestones", as_double(m), "[0, inf)");
  }
  if (!(std::isfinite(gamma) && gamma > 0.0)) fail_range("gamma", gamma, "(0, inf)");
  std::sort(milestones_.begin(), milestones_.end());
  start();
}

double MultiStepLR::compute(std::int64_t step, std::size_t group) const {
  const auto passed = std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin();
  return base_lrs_[group] * std::pow(gamma_, static_cast<double>(passed));
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma) : LRScheduler(optimizer, "ExponentialLR"), gamma_(gamma) {
  if (!(std::isfinite(gamma) && gamma > 0.0)) fail_range("gamma", gamma, "(0, inf)");
  start();
}

double ExponentialLR::compute(std::int64_t step, std::size_t group) const {
  return base_lrs_[group] * std::pow(gamma_, as_double(step));
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, std::int64_t T_max, double eta_min)
    : LRScheduler(optimizer, "CosineAnnealingLR"), t_max_(T_max), eta_min_(eta_min) {
  if (T_max < 1) fail_range("T_max", as_double(T_max), "[1, inf)");
  if (!finite_at_least(eta_min, 0.0)) fail_range("eta_min", eta_min, "[0, inf)");
  start();
}

double CosineAnnealingLR::compute(std::int64_t step, std::size_t group) const {
  const double cosine = std::cos(std::numbers::pi * as_double(step) / as_double(t_max_));
  return eta_min_ + (base_lrs_[group] - eta_min_) * (1.0 + cosine) / 2.0;
}

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(Optimizer& optimizer, std::int64_t T_0, std::int64_t T_mult,
                                                         double eta_min)
    : LRScheduler(optimizer, "CosineAnnealingWarmRestarts"), t_0_(T_0), t_mult_(T_mult), eta_min_(eta_min) {
  if (T_0 < 1) fail_range("T_0", as_double(T_0), "[1, inf)");
  if (T_mult < 1) fail_range("T_mult", as_double(T_mult), "[1, inf)");
  if (!finite_at_least(eta_min, 0.0)) fail_range("eta_min", eta_min, "[0, inf)");
  start();
}

std::pair<std::int64_t, std::int64_t> CosineAnnealingWarmRestarts::cycle_at(std::int64_t step) const {
  if (step < 0) fail_range("step", as_double(step), "[0, inf)");
  if (t_mult_ == 1) return {step % t_0_, t_0_};
  // PyTorch's step(): T_cur += 1; when T_cur >= T_i, T_cur -= T_i and T_i *= T_mult. Cycles grow
  // geometrically, so this loop runs O(log step) times.
  std::int64_t t_cur = step;
  std::int64_t t_i = t_0_;
  while (t_cur >= t_i) {
    t_cur -= t_i;
    if (t_i > kMaxCount / t_mult_) {  // the next cycle is longer than any step count can reach
      t_i = kMaxCount;
      break;
    }
    t_i *= t_mult_;
  }
  return {t_cur, t_i};
}

double CosineAnnealingWarmRestarts::compute(std::int64_t step, std::size_t group) const {
  const auto [t_cur, t_i] = cycle_at(step);
  const double cosine = std::cos(std::numbers::pi * as_double(t_cur) / as_double(t_i));
  return eta_min_ + (base_lrs_[group] - eta_min_) * (1.0 + cosine) / 2.0;
}

LinearLR::LinearLR(Optimizer& optimizer, double start_factor, double end_factor, std::int64_t total_iters)
    : LRScheduler(optimizer, "LinearLR"), start_factor_(start_factor), end_factor_(end_factor), total_iters_(total_iters) {
  if (!(start_factor > 0.0 && start_factor <= 1.0)) fail_range("start_factor", start_factor, "(0, 1]");
  if (!(end_factor >= 0.0 && end_factor <= 1.0)) fail_range("end_factor", end_factor, "[0, 1]");
  if (total_iters < 1) fail_range("total_iters", as_double(total_iters), "[1, inf)");
  start();
}

double LinearLR::compute(std::int64_t step, std::size_t group) const {
  const double progress = as_double(std::min(total_iters_, step));
  return base_lrs_[group] * (start_factor_ + (end_factor_ - start_factor_) * progress / as_double(total_iters_));
}

PolynomialLR::PolynomialLR(Optimizer& optimizer, std::int64_t total_iters, double power)
    : LRScheduler(optimizer, "PolynomialLR"), total_iters_(total_iters), power_(power) {
  if (total_iters < 1) fail_range("total_iters", as_double(total_iters), "[1, inf)");
  if (!finite_at_least(power, 0.0)) fail_range("power", power, "[0, inf)");
  start();
}

double PolynomialLR::compute(std::int64_t step, std::size_t group) const {
  const double remaining = 1.0 - as_double(std::min(total_iters_, step)) / as_double(total_iters_);
  return base_lrs_[group] * std::pow(remaining, power_);
}

// ---------------------------------------------------------------------------------------------------
// OneCycleLR

namespace {
enum LrKind : int { kInitialLr = 0, kMaxLr = 1, kMinLr = 2 };
}

OneCycleLR::OneCycleLR(Optimizer& optimizer, const OneCycleLRConfig& config)
    : LRScheduler(optimizer, "OneCycleLR"), config_(config) {
  const std::size_t groups = num_groups();
  if (config.max_lr.size() != 1 && config.max_lr.size() != groups) {
    fail("argument 'max_lr' holds " + std::to_string(config.max_lr.size()) + " values: give one, or one per group (" +
         std::to_string(groups) + ")");
  }
  for (const double v : config.max_lr) {
    if (!(std::isfinite(v) && v > 0.0)) fail_range("max_lr", v, "(0, inf)");
  }
  if (config.total_steps < 1) fail_range("total_steps", as_double(config.total_steps), "[1, inf)");
  if (!(config.pct_start > 0.0 && config.pct_start < 1.0)) fail_range("pct_start", config.pct_start, "(0, 1)");
  if (!(std::isfinite(config.div_factor) && config.div_factor > 0.0)) {
    fail_range("div_factor", config.div_factor, "(0, inf)");
  }
  if (!(std::isfinite(config.final_div_factor) && config.final_div_factor > 0.0)) {
    fail_range("final_div_factor", config.final_div_factor, "(0, inf)");
  }
  if (config.anneal_strategy != AnnealStrategy::Cos && config.anneal_strategy != AnnealStrategy::Linear) {
    fail("argument 'anneal_strategy' must be Cos or Linear");
  }
  if (config.cycle_momentum) {
    if (!(config.base_momentum >= 0.0 && config.base_momentum < 1.0)) {
      fail_range("base_momentum", config.base_momentum, "[0, 1)");
    }
    if (!(config.max_momentum >= 0.0 && config.max_momentum < 1.0)) {
      fail_range("max_momentum", config.max_momentum, "[0, 1)");
    }
    const Options& options = optimizer.group(0).options();
    momentum_option_ = options.has("beta1") ? "beta1" : options.has("momentum") ? "momentum" : "";
    if (momentum_option_.empty()) {
      fail("cycle_momentum needs an optimizer with a 'beta1' or 'momentum' option, which " +
           std::string(optimizer.name()) + " lacks: set cycle_momentum = false");
    }
    for (std::size_t g = 0; g < groups; ++g) {
      const auto& info = option_info(optimizer.group(g).options(), momentum_option_);
      for (const double v : {config.base_momentum, config.max_momentum}) {
        if (!info.contains(v)) {
          fail("momentum " + format_number(v) + " is outside the range " + info.range_text() + " of " +
               std::string(optimizer.name()) + "'s option '" + std::string(momentum_option_) + "'");
        }
      }
    }
  }

  // PyTorch's phase boundaries, in the same floating-point expressions.
  const double total = as_double(config.total_steps);
  const double warmup_end = config.pct_start * total - 1.0;
  if (warmup_end == 0.0) {
    fail("pct_start * total_steps = " + format_number(config.pct_start * total) +
         " gives a warm-up phase of no steps (PyTorch divides by zero there): choose pct_start != 1 / total_steps");
  }
  if (config.three_phase) {
    phases_ = {{warmup_end, kInitialLr, kMaxLr, true, false},
               {2.0 * config.pct_start * total - 2.0, kMaxLr, kInitialLr, false, true},
               {total - 1.0, kInitialLr, kMinLr, true, true}};
  } else {
    phases_ = {{warmup_end, kInitialLr, kMaxLr, true, false}, {total - 1.0, kMaxLr, kMinLr, false, true}};
  }

  max_lrs_.resize(groups);
  min_lrs_.resize(groups);
  for (std::size_t g = 0; g < groups; ++g) {
    max_lrs_[g] = config.max_lr.size() == 1 ? config.max_lr[0] : config.max_lr[g];
    base_lrs_[g] = max_lrs_[g] / config.div_factor;  // PyTorch's initial_lr, which it uses as base_lrs
    min_lrs_[g] = base_lrs_[g] / config.final_div_factor;
  }
  start();
}

OneCycleLR::Value OneCycleLR::value_at(std::int64_t step, std::size_t group) const {
  if (step > config_.total_steps) {
    throw Error("OneCycleLR: step " + std::to_string(step) + " is past the end of the schedule (total_steps = " +
                std::to_string(config_.total_steps) + ": step() may be called total_steps times)");
  }
  // Step total_steps, one past the last one, holds the last values (PyTorch extrapolates there).
  const double s = as_double(std::min(step, config_.total_steps - 1));
  const double lrs[3] = {base_lrs_[group], max_lrs_[group], min_lrs_[group]};
  double start_step = 0.0;
  for (std::size_t i = 0; i < phases_.size(); ++i) {
    const Phase& phase = phases_[i];
    if (s <= phase.end_step || i + 1 == phases_.size()) {
      const double pct = (s - start_step) / (phase.end_step - start_step);
      Value value{anneal(config_.anneal_strategy, lrs[phase.start_lr], lrs[phase.end_lr], pct),
                  std::numeric_limits<double>::quiet_NaN()};
      if (config_.cycle_momentum) {
        const double from = phase.start_at_max_momentum ? config_.max_momentum : config_.base_momentum;
        const double to = phase.end_at_max_momentum ? config_.max_momentum : config_.base_momentum;
        value.momentum = anneal(config_.anneal_strategy, from, to, pct);
      }
      return value;
    }
    start_step = phase.end_step;
  }
  throw Error("OneCycleLR: internal: no phase");  // unreachable: the last phase takes every step
}

double OneCycleLR::compute(std::int64_t step, std::size_t group) const { return value_at(step, group).lr; }

double OneCycleLR::momentum_at(std::int64_t step, std::size_t group) const {
  if (step < 0) fail_range("step", as_double(step), "[0, inf)");
  if (group >= num_groups()) {
    throw NotFound("OneCycleLR: no group " + std::to_string(group) + " (it drives " + std::to_string(num_groups()) + ")");
  }
  return value_at(step, group).momentum;
}

void OneCycleLR::apply(std::int64_t step) {
  std::vector<double> lrs(num_groups()), momenta(num_groups());
  for (std::size_t g = 0; g < lrs.size(); ++g) {
    const Value value = value_at(step, g);
    lrs[g] = value.lr;
    momenta[g] = value.momentum;
  }
  if (config_.cycle_momentum) {
    for (std::size_t g = 0; g < momenta.size(); ++g) {
      const auto& info = option_info(optimizer_->group(g).options(), momentum_option_);
      if (!info.contains(momenta[g])) {
        fail("the " + std::string(momentum_option_) + " of group " + std::to_string(g) + " at step " +
             std::to_string(step) + " would be " + format_number(momenta[g]) + ", outside its range " +
             info.range_text());
      }
    }
  }
  set_lrs(lrs, step);
  if (config_.cycle_momentum) {
    for (std::size_t g = 0; g < momenta.size(); ++g) optimizer_->group(g).options().set(momentum_option_, momenta[g]);
  }
}

void OneCycleLR::rebase(std::span<const double>) {}  // its lrs come from max_lr, as in PyTorch

// ---------------------------------------------------------------------------------------------------
// SequentialLR

SequentialLR::SequentialLR(Optimizer& optimizer, std::vector<std::unique_ptr<LRScheduler>> children,
                           std::vector<std::int64_t> milestones)
    : LRScheduler(optimizer, "SequentialLR"), children_(std::move(children)), milestones_(std::move(milestones)) {
  try {
    if (children_.empty()) fail("needs at least one schedule");
    for (std::size_t i = 0; i < children_.size(); ++i) {
      if (!children_[i]) fail("schedule " + std::to_string(i) + " is null");
      if (children_[i]->optimizer_ != &optimizer) fail("schedule " + std::to_string(i) + " drives another optimizer");
      if (children_[i]->num_groups() != num_groups()) {
        fail("schedule " + std::to_string(i) + " drives " + std::to_string(children_[i]->num_groups()) +
             " groups, the optimizer has " + std::to_string(num_groups()));
      }
    }
    if (milestones_.size() + 1 != children_.size()) {
      fail("needs one milestone fewer than schedules: " + std::to_string(children_.size()) + " schedules, " +
           std::to_string(milestones_.size()) + " milestones");
    }
    for (std::size_t i = 0; i < milestones_.size(); ++i) {
      if (milestones_[i] < 1) fail_range("milestones", as_double(milestones_[i]), "[1, inf)");
      if (i > 0 && milestones_[i] <= milestones_[i - 1]) {
        fail("argument 'milestones' must be strictly increasing: " + std::to_string(milestones_[i - 1]) +
             " is followed by " + std::to_string(milestones_[i]));
      }
    }
  } catch (const InvalidArgument&) {
    // The children's constructions set lrs: give the groups back the lrs the first one found.
    if (!children_.empty() && children_[0] && children_[0]->optimizer_ == &optimizer &&
        children_[0]->num_groups() <= optimizer.num_groups()) {
      for (std::size_t g = 0; g < children_[0]->num_groups(); ++g) {
        optimizer.group(g).options().set_lr(children_[0]->base_lrs_[g]);
      }
    }
    throw;
  }
  const std::vector<double> base(children_[0]->base_lrs_);
  rebase(base);
  start();
}

std::pair<std::size_t, std::int64_t> SequentialLR::locate(std::int64_t step) const {
  const auto index =
      static_cast<std::size_t>(std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin());
  return {index, index == 0 ? step : step - milestones_[index - 1]};
}

double SequentialLR::compute(std::int64_t step, std::size_t group) const {
  const auto [index, local] = locate(step);
  return children_[index]->compute(local, group);
}

void SequentialLR::apply(std::int64_t step) {
  const auto [index, local] = locate(step);
  LRScheduler& child = *children_[index];
  child.apply(local);
  child.last_step_ = local;
  last_lrs_ = child.last_lrs_;
}

void SequentialLR::rebase(std::span<const double> base_lrs) {
  LRScheduler::rebase(base_lrs);
  for (auto& child : children_) child->rebase(base_lrs);
}

std::unique_ptr<SequentialLR> make_warmup_cosine(Optimizer& optimizer, std::int64_t warmup_steps,
                                                 std::int64_t total_steps, double warmup_start_factor,
                                                 double eta_min) {
  // Checked before the children exist, so that a bad argument changes no lr.
  auto bad = [](std::string_view argument, double value, std::string_view range) {
    throw InvalidArgument("make_warmup_cosine: argument '" + std::string(argument) + "' = " + format_number(value) +
                          " is out of range: must be in " + std::string(range));
  };
  if (warmup_steps < 1) bad("warmup_steps", as_double(warmup_steps), "[1, inf)");
  if (total_steps <= warmup_steps) bad("total_steps", as_double(total_steps), "(warmup_steps, inf)");
  if (!(warmup_start_factor > 0.0 && warmup_start_factor <= 1.0)) bad("warmup_start_factor", warmup_start_factor, "(0, 1]");
  if (!finite_at_least(eta_min, 0.0)) bad("eta_min", eta_min, "[0, inf)");
  std::vector<std::unique_ptr<LRScheduler>> children;
  children.push_back(std::make_unique<LinearLR>(optimizer, warmup_start_factor, 1.0, warmup_steps));
  children.push_back(std::make_unique<CosineAnnealingLR>(optimizer, total_steps - warmup_steps, eta_min));
  return std::make_unique<SequentialLR>(optimizer, std::move(children), std::vector<std::int64_t>{warmup_steps});
}

// ---------------------------------------------------------------------------------------------------
// ReduceLROnPlateau

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const ReduceLROnPlateauConfig& config)
    : Scheduler(optimizer, "ReduceLROnPlateau"), config_(config) {
  if (config.mode != PlateauMode::Min && config.mode != PlateauMode::Max) fail("argument 'mode' must be Min or Max");
  if (config.threshold_mode != ThresholdMode::Rel && config.threshold_mode != ThresholdMode::Abs) {
    fail("argument 'threshold_mode' must be Rel or Abs");
  }
  if (!(config.factor >= 0.0 && config.factor < 1.0)) fail_range("factor", config.factor, "[0, 1)");
  if (config.patience < 0) fail_range("patience", as_double(config.patience), "[0, inf)");
  if (config.mode == PlateauMode::Min && config.threshold_mode == ThresholdMode::Rel) {
    // best * (1 - threshold) with best = +inf at the start: threshold 1 would make it NaN, and more
    // would flip the comparison.
    if (!(config.threshold >= 0.0 && config.threshold < 1.0)) {
      fail_range("threshold", config.threshold, "[0, 1) (mode Min, threshold_mode Rel)");
    }
  } else if (!finite_at_least(config.threshold, 0.0)) {
    fail_range("threshold", config.threshold, "[0, inf)");
  }
  if (config.cooldown < 0) fail_range("cooldown", as_double(config.cooldown), "[0, inf)");
  if (config.min_lr.size() != 1 && config.min_lr.size() != num_groups()) {
    fail("argument 'min_lr' holds " + std::to_string(config.min_lr.size()) + " values: give one, or one per group (" +
         std::to_string(num_groups()) + ")");
  }
  for (const double v : config.min_lr) {
    if (!finite_at_least(v, 0.0)) fail_range("min_lr", v, "[0, inf)");
  }
  if (!finite_at_least(config.eps, 0.0)) fail_range("eps", config.eps, "[0, inf)");
  min_lrs_.resize(num_groups());
  for (std::size_t g = 0; g < num_groups(); ++g) min_lrs_[g] = config.min_lr.size() == 1 ? config.min_lr[0] : config.min_lr[g];
  best_ = config.mode == PlateauMode::Min ? kInf : -kInf;
}

bool ReduceLROnPlateau::is_better(double metric) const noexcept {
  const bool rel = config_.threshold_mode == ThresholdMode::Rel;
  if (config_.mode == PlateauMode::Min) {
    return rel ? metric < best_ * (1.0 - config_.threshold) : metric < best_ - config_.threshold;
  }
  return rel ? metric > best_ * (config_.threshold + 1.0) : metric > best_ + config_.threshold;
}

void ReduceLROnPlateau::step(double metric) {
  if (last_step_ == kMaxCount) fail("the step count cannot grow beyond " + std::to_string(kMaxCount));
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else if (num_bad_epochs_ < kMaxCount) {
    ++num_bad_epochs_;
  }
  if (in_cooldown()) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs during a cooldown do not count
  }
  if (num_bad_epochs_ > config_.patience) {
    for (std::size_t g = 0; g < num_groups(); ++g) {
      Options& options = optimizer_->group(g).options();
      const double old_lr = options.lr();
      const double new_lr = std::max(old_lr * config_.factor, min_lrs_[g]);
      if (old_lr - new_lr > config_.eps) options.set_lr(new_lr);
    }
    cooldown_counter_ = config_.cooldown;
    num_bad_epochs_ = 0;
  }
  for (std::size_t g = 0; g < num_groups(); ++g) last_lrs_[g] = optimizer_->group(g).options().lr();
  ++last_step_;
}

SchedulerState ReduceLROnPlateau::state() const {
  SchedulerState state = Scheduler::state();
  state.best = best_;
  state.num_bad_epochs = num_bad_epochs_;
  state.cooldown_counter = cooldown_counter_;
  return state;
}

void ReduceLROnPlateau::load_state(const SchedulerState& state) {
  check_state_sizes(state);
  if (state.last_lrs.size() != num_groups()) {
    fail("the state holds " + std::to_string(state.last_lrs.size()) + " last lrs, but the schedule drives " +
         std::to_string(num_groups()) + " groups");
  }
  if (std::isnan(state.best)) fail_range("best", state.best, "[-inf, inf]");
  if (state.num_bad_epochs < 0) fail_range("num_bad_epochs", as_double(state.num_bad_epochs), "[0, inf)");
  if (state.cooldown_counter < 0) fail_range("cooldown_counter", as_double(state.cooldown_counter), "[0, inf)");
  set_lrs(state.last_lrs, state.last_step);  // validates every lr before setting any
  base_lrs_ = state.base_lrs;
  last_step_ = state.last_step;
  best_ = state.best;
  num_bad_epochs_ = state.num_bad_epochs;
  cooldown_counter_ = state.cooldown_counter;
}

// ---------------------------------------------------------------------------------------------------
// Gradient clipping

namespace {

// Calls fn(span<T>) for the gradient of every parameter that has one, in parameter order.
template <class F>
void for_each_grad(Optimizer& optimizer, F&& fn) {
  for (std::size_t i = 0; i < optimizer.num_parameters(); ++i) {
    const Parameter& p = optimizer.parameter(i);
    if (!p.has_grad()) continue;
    visit_dtype(p.dtype(), [&](auto tag) {
      using T = decltype(tag);
      fn(p.grad<T>());
    });
  }
}

// Clipping computes in the gradients' own float32 or float64: a bfloat16 gradient is refused before any
// gradient is touched.
void check_float_gradients(Optimizer& optimizer, std::string_view function) {
  for (std::size_t i = 0; i < optimizer.num_parameters(); ++i) {
    const Parameter& p = optimizer.parameter(i);
    if (p.has_grad() && p.dtype() == DType::BFloat16) {
      throw InvalidArgument(std::string(function) + ": the gradient of '" + excerpt(p.name()) +
                            "' is bfloat16; clipping takes float32 or float64 gradients; nothing was changed");
    }
  }
}

[[noreturn]] void clip_fail(std::string_view function, std::string_view argument, double value, std::string_view range) {
  throw InvalidArgument(std::string(function) + ": argument '" + std::string(argument) + "' = " + format_number(value) +
                        " is out of range: must be " + std::string(range));
}

}  // namespace

double clip_grad_norm(Optimizer& optimizer, double max_norm, double norm_type, bool error_if_nonfinite) {
  detail::check_clip_norm_arguments("clip_grad_norm", max_norm, norm_type);
  check_float_gradients(optimizer, "clip_grad_norm");
  detail::MaxAbs max_abs;
  bool any = false;
  for_each_grad(optimizer, [&](auto grad) {
    any = true;
    max_abs.add(grad);
  });
  if (!any) return 0.0;

  double total = max_abs.result();
  if (detail::norm_needs_sum(total, norm_type)) {
    const double scale = detail::norm_scale(total);
    double sum = 0.0;
    for_each_grad(optimizer, [&](auto grad) { detail::add_scaled_powers(grad, scale, norm_type, sum); });
    total = detail::norm_from_sum(sum, scale, norm_type);
  }
  if (error_if_nonfinite && !std::isfinite(total)) {
    throw InvalidArgument("clip_grad_norm: the total norm of order " + format_number(norm_type) +
                          " of the gradients is " + format_number(total) +
                          ", so they cannot be clipped (error_if_nonfinite is set)");
  }
  const double coef = detail::clip_coefficient(max_norm, total);
  if (detail::clip_applies(coef)) for_each_grad(optimizer, [&](auto grad) { detail::scale_gradient(grad, coef); });
  return total;
}

void clip_grad_value(Optimizer& optimizer, double clip_value) {
  if (!(clip_value >= 0.0)) clip_fail("clip_grad_value", "clip_value", clip_value, "in [0, inf]");
  check_float_gradients(optimizer, "clip_grad_value");
  for_each_grad(optimizer, [&](auto grad) {
    using T = typename decltype(grad)::value_type;
    // A bound beyond the type's range is infinite in it (converting it would be undefined behaviour).
    const T high = clip_value > static_cast<double>(std::numeric_limits<T>::max()) ? std::numeric_limits<T>::infinity()
                                                                                   : static_cast<T>(clip_value);
    const T low = -high;
    for (auto& x : grad) {
      if (x < low) {
        x = low;
      } else if (x > high) {
        x = high;
      }
    }
  });
}

}  // namespace descent
