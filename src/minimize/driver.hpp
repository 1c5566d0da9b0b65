// The loop every minimization method shares: counting evaluations, the stopping rules, the callback,
// the trajectory, and keeping the last finite point. Methods propose iterates; the driver accepts them.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <vector>

#include "descent/minimize/minimize.hpp"

namespace descent::detail {

class Driver {
 public:
  Driver(const Objective& objective, std::vector<double> x, const Stopping& stopping, const Observe& observe);

  // f and its gradient at `point`, counted.
  double evaluate(std::span<const double> point, std::span<double> grad);
  // The mean of some terms of a separable objective, counted as one function evaluation.
  double evaluate_terms(const SeparableObjective& objective, std::span<const double> point,
                        std::span<const std::size_t> terms, std::span<double> grad);
  // The objective seen through the driver, so that methods with their own loop (L-BFGS) are counted.
  const Objective& counted() const { return counted_; }
  void count_hessian() { ++result_.hessian_evaluations; }
  void count_hessian_vector_product() { ++result_.hessian_vector_products; }
  void count_epoch() { ++result_.epochs; }

  // Evaluates the start; a stop reason if the run is over before it began.
  std::optional<StopReason> start();
  // The same, from a value and gradient already computed at the start (L-BFGS evaluates it itself).
  std::optional<StopReason> start(double value, std::span<const double> grad);

  // Accepts the next iterate (copied in), unless f or g is not finite (then kNonFinite, and the last
  // finite point stays). Checks the stopping rules, records, calls back. With `partial` (a mini-batch
  // value), the rules on the gradient and the value change are left to check_full().
  std::optional<StopReason> advance(std::span<const double> x, double value, std::span<const double> grad,
                                    bool partial = false);
  // Mini-batch SGD: the gradient and value-change rules on a full evaluation at the current point.
  std::optional<StopReason> check_full();
  // The iteration, evaluation and time limits alone: for a method that evaluated a point it then
  // rejected (a trust-region step), which is no iteration but spent an evaluation.
  std::optional<StopReason> budget();

  const std::vector<double>& x() const { return x_; }
  double value() const { return value_; }
  std::span<const double> gradient() const { return grad_; }
  std::size_t iteration() const { return result_.iterations; }
  const Stopping& stopping() const { return stopping_; }

  // The result at the current point; a partial (mini-batch) run re-evaluates the whole objective.
  MinimizeResult finish(StopReason reason, bool reevaluate = false);

 private:
  class Counted final : public Objective {
   public:
    explicit Counted(Driver& driver) : driver_(driver) {}
    std::size_t dimension() const override;
    double evaluate(std::span<const double> x, std::span<double> grad) const override {
      return driver_.evaluate(x, grad);
    }

   private:
    Driver& driver_;
  };

  std::optional<StopReason> observe(double value, double gradient_norm);

  const Objective& objective_;
  Stopping stopping_;
  Observe observe_;
  Counted counted_;
  std::vector<double> x_, grad_;
  double value_ = 0.0;
  double previous_full_value_;
  bool has_previous_full_value_ = false;
  MinimizeResult result_;
  std::chrono::steady_clock::time_point start_time_;
};

double norm2(std::span<const double> v);
bool finite(double value, std::span<const double> v);

}  // namespace descent::detail
