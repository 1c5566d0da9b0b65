// minimize(): the convergence claims of Newton, Newton-CG, L-BFGS and the first-order optimizers,
// the stopping rules, the callback, and that a failing run ends on its last finite point.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "descent/error.hpp"
#include "descent/minimize/minimize.hpp"
#include "descent/minimize/test_problems.hpp"

namespace descent {
namespace {

TEST(Newton, RosenbrockFromTheStandardStartInAtMost30Iterations) {
  const TestProblem p = make_test_problem("rosenbrock");
  Stopping stopping;
  stopping.gradient_tolerance = 1e-10;
  const MinimizeResult r = minimize(*p.objective, p.start, NewtonOptions{}, stopping);
  std::printf("newton on rosenbrock from (-1.2, 1): %zu iterations, %zu evaluations, |g| = %.3g\n", r.iterations,
              r.function_evaluations, r.gradient_norm);
  EXPECT_EQ(r.reason, StopReason::kGradientTolerance);
  EXPECT_LT(r.gradient_norm, 1e-10);
  EXPECT_LE(r.iterations, 30u);
  EXPECT_NEAR(r.x[0], 1.0, 1e-8);
  EXPECT_NEAR(r.x[1], 1.0, 1e-8);
  EXPECT_EQ(r.hessian_evaluations, r.iterations);
}

TEST(Newton, LeavesTheSaddleOfXSquaredMinusYSquared) {
  // Plain Newton jumps straight onto the saddle point (0, 0): H^-1 g = x for this quadratic. The shifted
  // factorization turns the step downhill along y instead.
  const TestProblem p = make_test_problem("saddle");
  Stopping stopping;
  stopping.max_iterations = 8;
  const MinimizeResult r = minimize(*p.objective, {1e-3, 1e-3}, NewtonOptions{}, stopping);
  EXPECT_EQ(r.reason, StopReason::kMaxIterations);
  EXPECT_GT(std::abs(r.x[1]), 1.0) << "still near the saddle: y = " << r.x[1];
  EXPECT_LT(r.value, -1.0);
  EXPECT_LT(std::abs(r.x[0]), 1e-3);  // and x, a direction of positive curvature, went to its minimum
}

// From (-1.2, 1, -1.2, 1, ...) the iterates reach x ~ 0 within a few steps and must then follow the
// chained valley x_(i+1) = x_i^2 to (1, ..., 1), where the Hessian (about 202 I) allows only short Newton
// steps: about 2400 iterations (L-BFGS needs about 5000), a fraction of a second.
TEST(NewtonCG, Rosenbrock1000Dimensions) {
  const TestProblem p = make_test_problem("rosenbrock", 1000);
  Stopping stopping;
  stopping.gradient_tolerance = 1e-8;
  stopping.max_iterations = 5000;
  const MinimizeResult r = minimize(*p.objective, p.start, NewtonCGOptions{}, stopping);
  std::printf("newton-cg on 1000-d rosenbrock: %zu iterations, %zu Hessian-vector products, f = %.3g, |g| = %.3g\n",
              r.iterations, r.hessian_vector_products, r.value, r.gradient_norm);
  EXPECT_EQ(r.reason, StopReason::kGradientTolerance);
  double worst = 0.0;
  for (const double xi : r.x) worst = std::max(worst, std::abs(xi - 1.0));
  EXPECT_LT(worst, 1e-6);
  EXPECT_EQ(r.hessian_evaluations, 0u);  // Hessian-free
}

TEST(NewtonCG, WorksFromGradientsAloneByFiniteDifferences) {
  const TestProblem p = make_test_problem("rosenbrock");
  FunctionObjective gradient_only(2, [&](std::span<const double> x, std::span<double> g) {
    return p.objective->evaluate(x, g);
  });
  Stopping stopping;
  stopping.gradient_tolerance = 1e-7;
  const MinimizeResult r = minimize(gradient_only, p.start, NewtonCGOptions{}, stopping);
  EXPECT_EQ(r.reason, StopReason::kGradientTolerance);
  EXPECT_NEAR(r.x[0], 1.0, 1e-6);
  EXPECT_GT(r.gradient_evaluations, r.iterations + r.hessian_vector_products);  // 2 per product
}

TEST(LBFGS, MinimizeWithStrongWolfeOnRosenbrock) {
  const TestProblem p = make_test_problem("rosenbrock");
  LBFGSOptions options;
  options.line_search = LineSearch::StrongWolfe;
  options.tolerance_grad = 1e-12;
  options.tolerance_change = 0.0;  // L-BFGS's own tests off: the Stopping rule ends the run
  Stopping stopping;
  stopping.gradient_tolerance = 1e-9;
  const MinimizeResult r = minimize(*p.objective, p.start, options, stopping);
  EXPECT_EQ(r.reason, StopReason::kGradientTolerance) << to_string(r.reason);
  EXPECT_NEAR(r.x[0], 1.0, 1e-8);
  EXPECT_LT(r.function_evaluations, 100u);
}

TEST(FirstOrder, EveryOptimizerAsFullBatchGradientDescentOnAQuadratic) {
  const TestProblem p = make_quadratic(4, 10.0);
  const std::vector<double> start(4, 1.0);
  const std::vector<std::pair<std::string, double>> runs{{"sgd", 0.15}, {"adam", 0.05}, {"rmsprop", 0.01},
                                                         {"adagrad", 0.5}, {"nadam", 0.05}, {"lars", 20.0}};
  for (const auto& [name, lr] : runs) {
    Stopping stopping;
    stopping.max_iterations = 3000;
    stopping.gradient_tolerance = 1e-3;
    const MinimizeResult r = minimize(*p.objective, start, FirstOrder{name, {{"lr", lr}}}, stopping);
    EXPECT_EQ(r.reason, StopReason::kGradientTolerance) << name << ": " << to_string(r.reason);
    EXPECT_LT(r.value, 1e-5) << name;
  }
}

TEST(FirstOrder, MiniBatchSGDIsSeededAndCountsEpochs) {
  const TestProblem p = make_logistic_regression();
  const auto separable = std::dynamic_pointer_cast<const SeparableObjective>(p.objective);
  ASSERT_NE(separable, nullptr);
  const std::vector<double> start(p.objective->dimension(), 0.0);
  Stopping stopping;
  stopping.max_iterations = 10 * (separable->num_terms() / 16 + 1);  // about 10 epochs
  stopping.gradient_tolerance = 0.0;
  const auto run = [&](std::uint64_t seed) {
    return minimize(*p.objective, start, FirstOrder{"sgd", {{"lr", 0.5}, {"momentum", 0.9}}, 16, seed}, stopping);
  };
  const MinimizeResult a = run(7), b = run(7), c = run(8);
  EXPECT_EQ(a.x, b.x);  // same seed, same shuffles, same result
  EXPECT_NE(a.x, c.x);
  EXPECT_GE(a.epochs, 9u);
  std::vector<double> g(start.size());
  const double f0 = p.objective->evaluate(start, g);
  EXPECT_LT(a.value, 0.5 * f0) << "mini-batch SGD did not reduce the loss";
}

TEST(Minimize, CallbackSeesEveryIterationAndCanStop) {
  const TestProblem p = make_test_problem("sphere");
  std::vector<std::size_t> seen;
  Observe observe;
  observe.record_trajectory = true;
  observe.callback = [&](const IterationInfo& info) {
    seen.push_back(info.iteration);
    return info.iteration < 5;
  };
  const MinimizeResult r = minimize(*p.objective, p.start, FirstOrder{"sgd", {{"lr", 0.01}}}, {}, observe);
  EXPECT_EQ(r.reason, StopReason::kCallback);
  EXPECT_EQ(seen, (std::vector<std::size_t>{0, 1, 2, 3, 4, 5}));
  ASSERT_EQ(r.trajectory.size(), 6u);
  EXPECT_EQ(r.trajectory.front().x, p.start);
  EXPECT_EQ(r.trajectory.back().x, r.x);
}

TEST(Minimize, ANonFiniteValueEndsOnTheLastFinitePoint) {
  // f = exp(x^2) with lr 0.45 from x = 1: x = -1.45, then 9.10 (f = 1e36, still finite), then a step of
  // about -1e37 where exp overflows. The run must end at the second point, not at the overflow.
  FunctionObjective f(1, [](std::span<const double> x, std::span<double> g) {
    const double e = std::exp(x[0] * x[0]);
    g[0] = 2.0 * x[0] * e;
    return e;
  });
  const MinimizeResult r = minimize(f, {1.0}, FirstOrder{"sgd", {{"lr", 0.45}}});
  EXPECT_EQ(r.reason, StopReason::kNonFinite);
  EXPECT_EQ(r.iterations, 2u);
  const double x1 = 1.0 - 0.45 * 2.0 * std::exp(1.0);
  const double x2 = x1 - 0.45 * 2.0 * x1 * std::exp(x1 * x1);
  EXPECT_NEAR(r.x[0], x2, 1e-12 * std::abs(x2));
  EXPECT_TRUE(std::isfinite(r.value));
}

TEST(Minimize, StoppingRules) {
  const TestProblem p = make_test_problem("rosenbrock");
  Stopping by_change;
  by_change.relative_tolerance = 1e-3;
  by_change.gradient_tolerance = 0.0;
  EXPECT_EQ(minimize(*p.objective, p.start, FirstOrder{"sgd", {{"lr", 1e-4}}}, by_change).reason,
            StopReason::kRelativeChange);
  Stopping by_evaluations;
  by_evaluations.max_evaluations = 10;
  const MinimizeResult r = minimize(*p.objective, p.start, FirstOrder{"adam", {{"lr", 0.01}}}, by_evaluations);
  EXPECT_EQ(r.reason, StopReason::kMaxEvaluations);
  EXPECT_EQ(r.function_evaluations, 10u);
  Stopping by_time;
  by_time.time_budget_seconds = 1e-9;
  EXPECT_EQ(minimize(*p.objective, p.start, FirstOrder{"adam", {}}, by_time).reason, StopReason::kTimeBudget);
}

TEST(Minimize, BadInputIsRejectedWithTheValue) {
  const TestProblem p = make_test_problem("rosenbrock");
  try {
    minimize(*p.objective, {1.0, 2.0, 3.0}, NewtonOptions{});
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("the start has 3 coordinates but the objective's dimension is 2"),
              std::string::npos);
  }
  EXPECT_THROW(minimize(*p.objective, p.start, FirstOrder{"sgd", {}, 8}), InvalidArgument);  // not separable
  FunctionObjective no_hessian(1, [](std::span<const double> x, std::span<double> g) { g[0] = x[0]; return 0.0; });
  EXPECT_THROW(minimize(no_hessian, {1.0}, NewtonOptions{}), InvalidArgument);
  Stopping bad;
  bad.relative_tolerance = -1.0;
  EXPECT_THROW(minimize(*p.objective, p.start, NewtonOptions{}, bad), InvalidArgument);
  NewtonOptions bad_newton;
  bad_newton.backtrack = 1.5;
  EXPECT_THROW(minimize(*p.objective, p.start, bad_newton), InvalidArgument);
  EXPECT_THROW(minimize(*p.objective, p.start, FirstOrder{"adam", {{"beta1", 1.0}}}), InvalidArgument);
}

}  // namespace
}  // namespace descent
