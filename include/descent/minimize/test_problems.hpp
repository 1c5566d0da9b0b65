// Classic test problems for function minimization, each with its value, gradient and analytic dense
// Hessian, its customary starting point, every known global minimizer and a window to plot it in.
//
//   auto p = descent::make_test_problem("rosenbrock", 10);   // the chained 10-D Rosenbrock
//   std::vector<double> g(p.objective->dimension());
//   double f0 = p.objective->evaluate(p.start, g);
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "descent/minimize/objective.hpp"

namespace descent {

struct TestProblem {
  std::string name;                             // "rosenbrock"
  std::string description;                      // one line, with the formula
  std::shared_ptr<const Objective> objective;   // value, gradient and analytic dense Hessian
  std::vector<double> start;                    // the customary starting point
  std::vector<std::vector<double>> minimizers;  // every known global minimizer; empty where f is unbounded
                                                // below or the minimizer has no closed form
  double minimum;                               // f at the minimizers: -infinity where f is unbounded below,
                                                // NaN where it is not known in closed form
  std::array<double, 4> view;                   // x_min, x_max, y_min, y_max: a contour-plot window (for
                                                // n-D problems, the box of the first two coordinates)
};

// sphere, quadratic, rosenbrock, beale, booth, himmelblau, matyas, three-hump-camel, styblinski-tang,
// rastrigin, ackley, saddle, logistic-regression.
std::span<const std::string_view> test_problem_names();

// Builds a problem; dimension 0 means its default (2, or 5 features for logistic-regression).
// sphere and quadratic accept any dimension >= 1; rosenbrock, styblinski-tang, rastrigin and ackley any
// dimension >= 2; logistic-regression any number of features >= 1 (200 samples, l2 = 1e-2); the others are
// 2-D only. A dimension a problem does not accept throws InvalidArgument naming it; an unknown name throws
// NotFound listing the known ones.
//
// Where a function is not differentiable: ackley at the origin (its minimizer) is a cone point. There its
// gradient is given as 0 (the minimum-norm subgradient, so stationarity tests succeed at the minimum) and
// hessian() throws InvalidArgument, since the curvature across every ray through the origin is unbounded.
TestProblem make_test_problem(std::string_view name, std::size_t dimension = 0);

// The quadratic 0.5 * sum_i a_i x_i^2 with a_i = condition_number^(i / (n - 1)): geometrically spaced from
// exactly 1 to exactly condition_number. Needs dimension >= 1 and a finite condition_number >= 1 (exactly
// 1 when dimension is 1, the only condition number a 1x1 matrix has). The start x_i = condition_number / a_i
// is Boyd & Vandenberghe's (condition_number, 1) in 2-D.
TestProblem make_quadratic(std::size_t dimension, double condition_number);

// L2-regularized logistic regression without intercept on a generated, linearly separable data set:
//
//   f(w) = (1/N) sum_i [ log(1 + exp(-y_i <w, a_i>)) + 0.5 * l2 * ||w||^2 ],   y_i in {-1, +1}
//
// Each term carries the penalty, so the mean over any subset of terms is an unbiased estimate of f and the
// size-weighted mean over a partition is f itself. The data (see the class) depends only on `samples` and
// `features`: it is bit-for-bit the same on every platform.
class LogisticRegression final : public SeparableObjective {
 public:
  // samples >= 1, features >= 1, l2 >= 0 and finite; InvalidArgument naming the value otherwise.
  LogisticRegression(std::size_t samples, std::size_t features, double l2);

  std::size_t dimension() const override { return features_; }
  std::size_t num_terms() const override { return samples_; }
  double evaluate(std::span<const double> w, std::span<double> grad) const override;
  double evaluate_terms(std::span<const double> w, std::span<const std::size_t> terms,
                        std::span<double> grad) const override;
  bool has_hessian() const override { return true; }
  void hessian(std::span<const double> w, std::span<double> h) const override;
  // (1/N) sum_i s_i <a_i, v> a_i + l2 v in O(N n), without forming the Hessian.
  void hessian_vector_product(std::span<const double> w, std::span<const double> v,
                              std::span<double> hv) const override;

  // Row-major samples x features: the inputs a_i.
  std::span<const double> inputs() const { return inputs_; }
  // The labels y_i, each -1 or +1.
  std::span<const double> labels() const { return labels_; }
  double l2() const { return l2_; }

 private:
  std::size_t samples_, features_;
  double l2_;
  std::vector<double> inputs_, labels_;
  std::vector<std::size_t> all_terms_;
};

// The logistic-regression problem around a LogisticRegression (its objective; reach the SeparableObjective
// with std::dynamic_pointer_cast<const SeparableObjective>). Start: w = 0, where f = log 2. The minimizer has
// no closed form: minimizers is empty and minimum is NaN. The view is [-R, R]^2 with R = sqrt(2 log(2) / l2),
// a bound on ||w*|| (0.5 l2 ||w*||^2 <= f(w*) <= f(0) = log 2), and [-1, 1]^2 when l2 is 0.
TestProblem make_logistic_regression(std::size_t samples = 200, std::size_t features = 5, double l2 = 1e-2);

}  // namespace descent
