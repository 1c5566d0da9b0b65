// Trust-region Newton: the three subproblem solvers on small models whose solutions are known in closed
// form (or from the scalar secular equation, solved here by bisection), then the methods on problems.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "descent/error.hpp"
#include "descent/minimize/derivatives.hpp"
#include "descent/minimize/minimize.hpp"
#include "descent/minimize/test_problems.hpp"
#include "minimize/trust_subproblem.hpp"

namespace descent {
namespace {

using detail::TrustStep;

double model(const std::vector<double>& h, const std::vector<double>& g, const std::vector<double>& p) {
  const std::size_t n = g.size();
  double value = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    value += g[i] * p[i];
    for (std::size_t j = 0; j < n; ++j) value += 0.5 * p[i] * h[i * n + j] * p[j];
  }
  return value;
}

double norm(const std::vector<double>& v) {
  double sum = 0.0;
  for (const double e : v) sum += e * e;
  return std::sqrt(sum);
}

detail::HessianTimes times(const std::vector<double>& h) {
  return [&h](std::span<const double> v, std::span<double> hv) {
    const std::size_t n = v.size();
    for (std::size_t i = 0; i < n; ++i) {
      hv[i] = 0.0;
      for (std::size_t j = 0; j < n; ++j) hv[i] += h[i * n + j] * v[j];
    }
  };
}

// The three solvers, tightly: CG and Lanczos to a residual of 1e-14, More-Sorensen to 1e-12 of the radius.
struct Solutions {
  TrustStep cg, exact, krylov;
};
Solutions solve_all(const std::vector<double>& h, const std::vector<double>& g, double radius) {
  return {detail::steihaug_cg(g, times(h), radius, 1e-14, 50), detail::exact_dense(h, g, radius, 1e-12, 1e-12),
          detail::gltr(g, times(h), radius, 1e-14, 1e-14, 50)};
}

// For a diagonal H, the boundary solution is p_i = -g_i / (h_i + lambda) with ||p(lambda)|| = radius:
// ||p(lambda)|| decreases on (max(0, -min h_i), inf), so bisection finds lambda.
std::vector<double> diagonal_boundary_solution(const std::vector<double>& diagonal, const std::vector<double>& g,
                                               double radius) {
  double low = 0.0;
  for (const double d : diagonal) low = std::max(low, -d);
  const auto length = [&](double lambda) {
    double sum = 0.0;
    for (std::size_t i = 0; i < g.size(); ++i) sum += std::pow(g[i] / (diagonal[i] + lambda), 2);
    return std::sqrt(sum);
  };
  double high = low + 1.0;
  while (length(high) > radius) high = 2.0 * high + 1.0;
  for (int k = 0; k < 200; ++k) {
    const double mid = 0.5 * (low + high);
    (length(mid) > radius ? low : high) = mid;
  }
  std::vector<double> p(g.size());
  for (std::size_t i = 0; i < g.size(); ++i) p[i] = -g[i] / (diagonal[i] + high);
  return p;
}

void expect_near(const std::vector<double>& a, const std::vector<double>& b, double tolerance, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], tolerance) << what << " [" << i << "]";
}

TEST(TrustSubproblem, InteriorNewtonStep) {
  // H = [[4, 1], [1, 3]], H^-1 = [[3, -1], [-1, 4]] / 11: p = -H^-1 g = -(1, 7) / 11 for g = (1, 2).
  const std::vector<double> h{4, 1, 1, 3}, g{1, 2};
  const std::vector<double> newton{-1.0 / 11, -7.0 / 11};
  const Solutions s = solve_all(h, g, 10.0);
  for (const TrustStep* step : {&s.cg, &s.exact, &s.krylov}) {
    expect_near(step->p, newton, 1e-12, "interior");
    EXPECT_FALSE(step->on_boundary);
    EXPECT_NEAR(step->model_change, -0.5 * (1.0 / 11 + 14.0 / 11), 1e-12);  // g.p / 2 at the Newton step
  }
}

TEST(TrustSubproblem, BoundaryWithPositiveCurvature) {
  // The Newton step (-1, -0.1) is longer than 0.5.
  const std::vector<double> h{1, 0, 0, 10}, g{1, 1};
  const double radius = 0.5;
  const std::vector<double> solution = diagonal_boundary_solution({1, 10}, g, radius);
  const Solutions s = solve_all(h, g, radius);
  expect_near(s.exact.p, solution, 1e-10, "exact");
  expect_near(s.krylov.p, solution, 1e-10, "krylov (the Krylov space is all of R^2)");
  EXPECT_TRUE(s.exact.on_boundary);
  EXPECT_NEAR(s.exact.model_change, model(h, g, solution), 1e-12);
  // Steihaug's CG stops where its path leaves the region: on the boundary, at least the Cauchy decrease.
  EXPECT_NEAR(norm(s.cg.p), radius, 1e-12);
  EXPECT_TRUE(s.cg.on_boundary);
  const double gg = 2.0, ghg = 11.0, tau = std::min(1.0, std::pow(gg, 1.5) / (radius * ghg));
  const std::vector<double> cauchy{-tau * radius / std::sqrt(gg), -tau * radius / std::sqrt(gg)};
  EXPECT_LE(model(h, g, s.cg.p), model(h, g, cauchy) + 1e-15);
  EXPECT_GE(model(h, g, s.cg.p), model(h, g, solution) - 1e-15);
  EXPECT_NEAR(s.cg.model_change, model(h, g, s.cg.p), 1e-12);
}

TEST(TrustSubproblem, NegativeCurvature) {
  // H = diag(-2, 1): the model is unbounded below, so the solution is on the boundary with lambda > 2.
  const std::vector<double> h{-2, 0, 0, 1}, g{1, 1};
  const double radius = 1.5;
  const std::vector<double> solution = diagonal_boundary_solution({-2, 1}, g, radius);
  const Solutions s = solve_all(h, g, radius);
  expect_near(s.exact.p, solution, 1e-10, "exact");
  expect_near(s.krylov.p, solution, 1e-10, "krylov");
  // CG's first direction -g has curvature -2 + 1 < 0: it follows it to the boundary.
  const double r = radius / std::sqrt(2.0);
  expect_near(s.cg.p, {-r, -r}, 1e-14, "steihaug");
  EXPECT_TRUE(s.cg.on_boundary);
  EXPECT_NEAR(s.cg.model_change, model(h, g, s.cg.p), 1e-12);
  EXPECT_LT(model(h, g, s.exact.p), model(h, g, s.cg.p));
}

TEST(TrustSubproblem, HardCase) {
  // H = diag(-1, 1), g = (0, 1): g has no component along the eigenvector e1 of the eigenvalue -1, so
  // lambda* = 1 and p(1) = (0, -1/2) is shorter than the radius 2: p* = (+-sqrt(4 - 1/4), -1/2), with
  // m* = -1/2 + (-(15/4) + 1/4) / 2 = -2.25.
  const std::vector<double> h{-1, 0, 0, 1}, g{0, 1};
  const double radius = 2.0;
  const Solutions s = solve_all(h, g, radius);
  EXPECT_NEAR(std::abs(s.exact.p[0]), std::sqrt(3.75), 1e-6);
  EXPECT_NEAR(s.exact.p[1], -0.5, 1e-6);
  EXPECT_NEAR(s.exact.model_change, -2.25, 1e-6);
  EXPECT_TRUE(s.exact.on_boundary);
  // With the default tolerances (SciPy's: 0.1, 0.2), More & Sorensen's guarantee: within (1 - 0.2)^2 of m*.
  const TrustStep loose = detail::exact_dense(h, g, radius, 0.1, 0.2);
  EXPECT_LE(loose.model_change, 0.64 * -2.25);
  EXPECT_LE(norm(loose.p), 1.1 * radius);
  // CG and Lanczos only see the Krylov space span{g} = span{e2}, which misses e1: both stop at the minimum
  // over it, p = (0, -1), m = -1/2 (GLTR's known limitation in the hard case; the outer iteration's next
  // gradient has an e1 component again).
  expect_near(s.cg.p, {0.0, -1.0}, 1e-14, "steihaug");
  expect_near(s.krylov.p, {0.0, -1.0}, 1e-14, "krylov");
}

TEST(TrustSubproblem, HardCaseRotated) {
  // H = Q diag(-1, 1, 3) Q^T with Q a rotation, g = Q (0, 1, 1): lambda* = 1, p(1) = Q (0, -1/2, -1/4) has
  // length sqrt(0.3125) < 1, so p* = Q (+-sqrt(1 - 0.3125), -1/2, -1/4) and m* = -0.75 + (-0.6875 + 0.25 +
  // 0.1875) / 2 = -0.875.
  const double c = std::cos(0.7), s = std::sin(0.7), c2 = std::cos(-1.1), s2 = std::sin(-1.1);
  // Q = R_xy(0.7) R_yz(-1.1), written out column by column.
  const double q[3][3] = {{c, -s * c2, s * s2}, {s, c * c2, -c * s2}, {0.0, s2, c2}};
  const double eigenvalues[3] = {-1.0, 1.0, 3.0}, g_eigen[3] = {0.0, 1.0, 1.0};
  std::vector<double> h(9, 0.0), g(3, 0.0);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 3; ++k) h[i * 3 + j] += q[i][k] * eigenvalues[k] * q[j][k];
      g[i] += q[i][j] * g_eigen[j];
    }
  }
  const TrustStep step = detail::exact_dense(h, g, 1.0, 1e-12, 1e-12);
  EXPECT_NEAR(step.model_change, -0.875, 1e-6);
  EXPECT_NEAR(norm(step.p), 1.0, 1e-6);
  double along_negative = 0.0;  // the component along Q e1
  for (int i = 0; i < 3; ++i) along_negative += q[i][0] * step.p[i];
  EXPECT_NEAR(std::abs(along_negative), std::sqrt(1.0 - 0.3125), 1e-6);
}

TEST(TrustSubproblem, TridiagonalMatchesDense) {
  // The tridiagonal solver (GLTR's inner one) against the dense one on the same indefinite matrix.
  const std::vector<double> diagonal{2.0, -1.0, 3.0, 0.5}, off{1.0, -0.5, 2.0}, g{0.3, -1.0, 0.2, 0.7};
  std::vector<double> dense(16, 0.0);
  for (int i = 0; i < 4; ++i) dense[i * 4 + i] = diagonal[i];
  for (int i = 0; i < 3; ++i) dense[i * 4 + i + 1] = dense[(i + 1) * 4 + i] = off[i];
  for (const double radius : {0.1, 1.0, 10.0}) {
    const TrustStep a = detail::exact_tridiagonal(diagonal, off, g, radius, 1e-12, 1e-12);
    const TrustStep b = detail::exact_dense(dense, g, radius, 1e-12, 1e-12);
    expect_near(a.p, b.p, 1e-9, "tridiagonal against dense");
    EXPECT_NEAR(a.model_change, model(dense, g, a.p), 1e-12);
  }
}

// ---- the methods ------------------------------------------------------------------------------------------

const char* const kTrustMethods[] = {"trust-ncg", "trust-exact", "trust-krylov"};

TEST(TrustRegion, LeavesTheSaddleWithinFiveIterations) {
  // At (1e-3, 1e-3) on x^2 - y^2 the gradient is tiny and the Hessian indefinite: the steps follow the
  // negative curvature to the boundary of a radius that doubles while the model predicts well.
  const TestProblem p = make_test_problem("saddle");
  for (const char* name : kTrustMethods) {
    Stopping stopping;
    stopping.max_iterations = 5;
    const MinimizeResult r = minimize(*p.objective, {1e-3, 1e-3}, second_order_method(name), stopping);
    EXPECT_EQ(r.reason, StopReason::kMaxIterations) << name;
    EXPECT_GT(std::abs(r.x[1]), 1.0) << name << ": still near the saddle, y = " << r.x[1];
    EXPECT_LT(r.value, -1.0) << name;
  }
}

TEST(TrustRegion, Rosenbrock) {
  for (const std::size_t n : {std::size_t{2}, std::size_t{100}}) {
    const TestProblem p = make_test_problem("rosenbrock", n);
    for (const char* name : kTrustMethods) {
      Stopping stopping;
      stopping.gradient_tolerance = 1e-9;
      const MinimizeResult r = minimize(*p.objective, p.start, second_order_method(name), stopping);
      std::printf("%s on %zu-d rosenbrock: %zu iterations, %zu evaluations, %zu Hessians, %zu products\n", name, n,
                  r.iterations, r.function_evaluations, r.hessian_evaluations, r.hessian_vector_products);
      EXPECT_EQ(r.reason, StopReason::kGradientTolerance) << name << " n = " << n;
      // A minimizer: (1, ..., 1), or for n = 100 possibly the local minimum near (-1, 1, ..., 1).
      std::vector<double> h(n * n);
      p.objective->hessian(r.x, h);
      EXPECT_TRUE(derivatives::positive_definite(h, n)) << name << " n = " << n;
      if (r.value < 1e-12) {
        double worst = 0.0;
        for (const double xi : r.x) worst = std::max(worst, std::abs(xi - 1.0));
        EXPECT_LT(worst, 1e-7) << name << " n = " << n;
      } else {
        EXPECT_EQ(n, 100u) << name << " ended at f = " << r.value;
        EXPECT_NEAR(r.x[0], -1.0, 0.05) << name;
      }
      // One evaluation per iteration, plus the start and the rejected trials.
      EXPECT_GE(r.function_evaluations, r.iterations + 1);
    }
  }
}

TEST(TrustRegion, ProductsFromGradientsAloneByFiniteDifferences) {
  const TestProblem p = make_test_problem("rosenbrock");
  FunctionObjective gradient_only(2, [&](std::span<const double> x, std::span<double> g) {
    return p.objective->evaluate(x, g);
  });
  for (const char* name : {"trust-ncg", "trust-krylov"}) {
    Stopping stopping;
    stopping.gradient_tolerance = 1e-7;
    const MinimizeResult r = minimize(gradient_only, p.start, second_order_method(name), stopping);
    EXPECT_EQ(r.reason, StopReason::kGradientTolerance) << name;
    EXPECT_NEAR(r.x[0], 1.0, 1e-6) << name;
    EXPECT_EQ(r.gradient_evaluations, r.function_evaluations);
    EXPECT_GE(r.function_evaluations, 2 * r.hessian_vector_products);  // two gradients per product
  }
  EXPECT_THROW((void)minimize(gradient_only, p.start, second_order_method("trust-exact")), InvalidArgument);
}

TEST(TrustRegion, NonFiniteTrialIsRejectedNotTaken) {
  // f = x - log x (NaN for x <= 0), minimum at x = 1. At x = 5, g = 0.8 and H = 0.04: the Newton step is
  // -20, to x = -15, where f is NaN. With a radius of 100 the first trial lands there and must be rejected.
  FunctionObjective f(1, [](std::span<const double> x, std::span<double> g) {
    if (x[0] <= 0.0) {
      if (!g.empty()) g[0] = std::nan("");
      return std::nan("");
    }
    if (!g.empty()) g[0] = 1.0 - 1.0 / x[0];
    return x[0] - std::log(x[0]);
  }, [](std::span<const double> x, std::span<double> h) { h[0] = 1.0 / (x[0] * x[0]); });
  for (const char* name : kTrustMethods) {
    TrustRegionOptions options = std::get<TrustRegionOptions>(second_order_method(name));
    options.initial_radius = 100.0;
    Stopping stopping;
    stopping.gradient_tolerance = 1e-10;
    const MinimizeResult r = minimize(f, {5.0}, options, stopping);
    EXPECT_EQ(r.reason, StopReason::kGradientTolerance) << name;
    EXPECT_NEAR(r.x[0], 1.0, 1e-9) << name;
    EXPECT_GT(r.function_evaluations, r.iterations + 1) << name << ": the NaN trial was evaluated and rejected";
  }
}

TEST(TrustRegion, OptionsAreChecked) {
  const TestProblem p = make_test_problem("sphere");
  const auto bad = [&](auto change) {
    TrustRegionOptions options;
    change(options);
    EXPECT_THROW((void)minimize(*p.objective, p.start, options), InvalidArgument);
  };
  bad([](TrustRegionOptions& o) { o.initial_radius = 0.0; });
  bad([](TrustRegionOptions& o) { o.initial_radius = std::nan(""); });
  bad([](TrustRegionOptions& o) { o.max_radius = 0.5; });
  bad([](TrustRegionOptions& o) { o.accept = 0.25; });
  bad([](TrustRegionOptions& o) { o.max_inner_iterations = -1; });
  bad([](TrustRegionOptions& o) { o.boundary_tolerance = 1.0; });
  bad([](TrustRegionOptions& o) { o.hard_case_tolerance = 0.0; });
}

TEST(SecondOrderMethods, EveryNameHasAMethod) {
  const TestProblem p = make_test_problem("booth");
  for (const std::string_view name : second_order_method_names()) {
    const MinimizeResult r = minimize(*p.objective, p.start, second_order_method(name));
    EXPECT_LT(r.value, 1e-12) << name;
  }
  EXPECT_THROW((void)second_order_method("trust"), NotFound);
}

}  // namespace
}  // namespace descent
