#include "minimize/driver.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "descent/error.hpp"

namespace descent::detail {

double norm2(std::span<const double> v) {
  double sum = 0.0;
  for (const double e : v) sum += e * e;
  return std::sqrt(sum);
}

bool finite(double value, std::span<const double> v) {
  return std::isfinite(value) && std::all_of(v.begin(), v.end(), [](double e) { return std::isfinite(e); });
}

std::size_t Driver::Counted::dimension() const { return driver_.objective_.dimension(); }

Driver::Driver(const Objective& objective, std::vector<double> x, const Stopping& stopping, const Observe& observe)
    : objective_(objective), stopping_(stopping), observe_(observe), counted_(*this), x_(std::move(x)) {
  stopping_.validate();
  if (x_.size() != objective.dimension()) {
    throw InvalidArgument("minimize: the start has " + std::to_string(x_.size()) +
                          " coordinates but the objective's dimension is " + std::to_string(objective.dimension()));
  }
  grad_.resize(x_.size());
  start_time_ = std::chrono::steady_clock::now();
}

double Driver::evaluate(std::span<const double> point, std::span<double> grad) {
  ++result_.function_evaluations;
  if (!grad.empty()) ++result_.gradient_evaluations;
  return objective_.evaluate(point, grad);
}

double Driver::evaluate_terms(const SeparableObjective& objective, std::span<const double> point,
                              std::span<const std::size_t> terms, std::span<double> grad) {
  ++result_.function_evaluations;
  if (!grad.empty()) ++result_.gradient_evaluations;
  return objective.evaluate_terms(point, terms, grad);
}

std::optional<StopReason> Driver::start() {
  std::vector<double> g(x_.size());
  const double f = evaluate(x_, g);
  return start(f, g);
}

std::optional<StopReason> Driver::start(double value, std::span<const double> grad) {
  value_ = value;
  std::copy(grad.begin(), grad.end(), grad_.begin());
  if (!finite(value, grad)) return StopReason::kNonFinite;
  previous_full_value_ = value;
  has_previous_full_value_ = true;
  const double gradient_norm = norm2(grad_);
  if (gradient_norm <= stopping_.gradient_tolerance) {
    (void)observe(value_, gradient_norm);
    return StopReason::kGradientTolerance;
  }
  return observe(value_, gradient_norm);
}

std::optional<StopReason> Driver::observe(double value, double gradient_norm) {
  if (observe_.record_trajectory) result_.trajectory.push_back({result_.iterations, x_, value, gradient_norm});
  if (observe_.callback &&
      !observe_.callback(IterationInfo{result_.iterations, x_, value, gradient_norm, result_.function_evaluations})) {
    return StopReason::kCallback;
  }
  return std::nullopt;
}

std::optional<StopReason> Driver::budget() {
  if (result_.iterations >= stopping_.max_iterations) return StopReason::kMaxIterations;
  if (result_.function_evaluations >= stopping_.max_evaluations) return StopReason::kMaxEvaluations;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time_).count();
  if (elapsed >= stopping_.time_budget_seconds) return StopReason::kTimeBudget;
  return std::nullopt;
}

std::optional<StopReason> Driver::advance(std::span<const double> x, double value, std::span<const double> grad,
                                          bool partial) {
  if (!finite(value, grad) || !finite(0.0, x)) return StopReason::kNonFinite;
  const double previous = value_;
  std::copy(x.begin(), x.end(), x_.begin());
  std::copy(grad.begin(), grad.end(), grad_.begin());
  value_ = value;
  ++result_.iterations;
  const double gradient_norm = norm2(grad_);
  if (!partial) {
    if (gradient_norm <= stopping_.gradient_tolerance) {
      (void)observe(value, gradient_norm);
      return StopReason::kGradientTolerance;
    }
    if (stopping_.relative_tolerance > 0.0 &&
        std::abs(value - previous) <= stopping_.relative_tolerance * std::max(std::abs(value), std::abs(previous))) {
      (void)observe(value, gradient_norm);
      return StopReason::kRelativeChange;
    }
  }
  if (auto stop = observe(value, gradient_norm)) return stop;
  return budget();
}

std::optional<StopReason> Driver::check_full() {
  std::vector<double> g(x_.size());
  const double f = evaluate(x_, g);
  if (!finite(f, g)) return StopReason::kNonFinite;
  if (norm2(g) <= stopping_.gradient_tolerance) return StopReason::kGradientTolerance;
  const double previous = previous_full_value_;
  previous_full_value_ = f;
  if (has_previous_full_value_ && stopping_.relative_tolerance > 0.0 &&
      std::abs(f - previous) <= stopping_.relative_tolerance * std::max(std::abs(f), std::abs(previous))) {
    return StopReason::kRelativeChange;
  }
  return std::nullopt;
}

MinimizeResult Driver::finish(StopReason reason, bool reevaluate) {
  if (reevaluate) {
    std::vector<double> g(x_.size());
    const double f = evaluate(x_, g);
    if (finite(f, g)) {
      value_ = f;
      grad_ = std::move(g);
    }
  }
  result_.x = x_;
  result_.value = value_;
  result_.gradient_norm = norm2(grad_);
  result_.reason = reason;
  return std::move(result_);
}

}  // namespace descent::detail
