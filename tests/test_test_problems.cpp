// The test-problem suite: every problem's analytic gradient and Hessian against finite differences, its
// minimizers and minimum, and the logistic regression's terms.
//
// Bounds. check_gradient and check_hessian compare with central differences of step eps^(1/3) ~ 6e-6
// (scaled by max(1, |x_i|)), whose error is ~ h^2 |f'''| / 6 + eps |f| / h: about 1e-10 times the size of
// f and its derivatives, and at worst ~ 1e-7 on these problems inside their views (Beale's y^3 terms and
// Rastrigin's 40 pi^2 curvature make the largest third and fourth derivatives, ~ 1e4). The errors are
// relative above 1 and absolute below, and the bound is 1e-6: a wrong term, even a small one, is far
// above it. Minimizers: f within 1e-12 (1 + |f*|) of the minimum, and |grad| < 1e-8 (the irrational
// minimizers, rounded to doubles, leave gradients of ~ 1e-14).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "descent/error.hpp"
#include "descent/minimize/derivatives.hpp"
#include "descent/minimize/objective.hpp"
#include "descent/minimize/test_problems.hpp"
#include "support/expect_throw.hpp"

namespace descent {
namespace {


constexpr double kDerivativeBound = 1e-6;
// f of the default logistic regression at w = (0.7, -1.3, 2.1, 0.4, -0.9), computed once.
constexpr double kPinnedLoss = 1.3731944317279616;

// Deterministic points, the same on every platform (std:: distributions are implementation-defined).
class Points {
 public:
  explicit Points(std::uint64_t seed) : state_(seed) {}
  double uniform(double low, double high) {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;  // Knuth's MMIX LCG
    return low + (high - low) * static_cast<double>(state_ >> 11) * 0x1.0p-53;
  }
  // A point in the view: even coordinates in [x_min, x_max], odd ones in [y_min, y_max].
  std::vector<double> in_view(const TestProblem& p) {
    std::vector<double> x(p.objective->dimension());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = i % 2 == 0 ? uniform(p.view[0], p.view[1]) : uniform(p.view[2], p.view[3]);
    return x;
  }

 private:
  std::uint64_t state_;
};

bool in_view(const TestProblem& p, const std::vector<double>& x) {
  const double y = x.size() > 1 ? x[1] : p.view[2];
  return p.view[0] <= x[0] && x[0] <= p.view[1] && p.view[2] <= y && y <= p.view[3];
}

std::vector<double> dense_hessian(const Objective& f, std::span<const double> x) {
  std::vector<double> h(f.dimension() * f.dimension());
  f.hessian(x, h);
  return h;
}

double relative_error(double a, double n) { return std::abs(a - n) / std::max({1.0, std::abs(a), std::abs(n)}); }

struct Case {
  std::string name;
  std::size_t dimension;
};

std::vector<Case> cases() {
  std::vector<Case> all;
  for (std::string_view name : test_problem_names()) {
    all.push_back({std::string(name), 0});
    if (name == "sphere" || name == "quadratic" || name == "rosenbrock" || name == "styblinski-tang" ||
        name == "rastrigin" || name == "ackley" || name == "logistic-regression") {
      all.push_back({std::string(name), 5});
    }
  }
  return all;
}

class EveryProblem : public testing::TestWithParam<Case> {};

TEST_P(EveryProblem, IsWellFormed) {
  const TestProblem p = make_test_problem(GetParam().name, GetParam().dimension);
  const std::size_t n = p.objective->dimension();
  EXPECT_EQ(p.name, GetParam().name);
  EXPECT_EQ(n, GetParam().dimension == 0 ? (p.name == "logistic-regression" ? 5u : 2u) : GetParam().dimension);
  EXPECT_FALSE(p.description.empty());
  EXPECT_EQ(p.description.find('\n'), std::string::npos);
  EXPECT_TRUE(p.objective->has_hessian());
  ASSERT_EQ(p.start.size(), n);
  EXPECT_LT(p.view[0], p.view[1]);
  EXPECT_LT(p.view[2], p.view[3]);
  EXPECT_TRUE(in_view(p, p.start));
  for (const auto& minimizer : p.minimizers) {
    ASSERT_EQ(minimizer.size(), n);
    EXPECT_TRUE(in_view(p, minimizer));
  }
  if (p.name == "saddle") {
    EXPECT_TRUE(p.minimizers.empty());
    EXPECT_EQ(p.minimum, -std::numeric_limits<double>::infinity());
  } else if (p.name == "logistic-regression") {
    EXPECT_TRUE(p.minimizers.empty());
    EXPECT_TRUE(std::isnan(p.minimum));
  } else {
    EXPECT_EQ(p.minimizers.size(), p.name == "himmelblau" ? 4u : 1u);
  }
}

TEST_P(EveryProblem, DerivativesMatchFiniteDifferences) {
  const TestProblem p = make_test_problem(GetParam().name, GetParam().dimension);
  const Objective& f = *p.objective;
  const std::size_t n = f.dimension();
  Points random(0x7e57);
  std::vector<std::vector<double>> points{p.start};
  for (int k = 0; k < 3; ++k) points.push_back(random.in_view(p));
  for (const auto& x : points) {
    SCOPED_TRACE(testing::Message() << "x[0] = " << x[0]);
    const derivatives::DerivativeCheck gradient = derivatives::check_gradient(f, x);
    EXPECT_LT(gradient.worst_relative_error, kDerivativeBound)
        << "coordinate " << gradient.worst_index << ": " << gradient.analytic << " vs " << gradient.numeric;
    const derivatives::DerivativeCheck hessian = derivatives::check_hessian(f, x);
    EXPECT_LT(hessian.worst_relative_error, kDerivativeBound)
        << "entry " << hessian.worst_index << ": " << hessian.analytic << " vs " << hessian.numeric;

    const std::vector<double> h = dense_hessian(f, x);
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < i; ++j) EXPECT_EQ(h[i * n + j], h[j * n + i]) << i << ", " << j;
    }
    // The objective's own H v (analytic, sometimes without forming H) against the dense H times v, and the
    // finite-difference product against both.
    const std::vector<double> v = random.in_view(p);
    std::vector<double> hv(n);
    f.hessian_vector_product(x, v, hv);
    const std::vector<double> numeric_hv = derivatives::hessian_vector_product(f, x, v);
    for (std::size_t i = 0; i < n; ++i) {
      double expected = 0.0;
      for (std::size_t j = 0; j < n; ++j) expected += h[i * n + j] * v[j];
      EXPECT_LT(relative_error(expected, hv[i]), 1e-12) << "row " << i;
      EXPECT_LT(relative_error(expected, numeric_hv[i]), kDerivativeBound) << "row " << i;
    }
  }
}

TEST_P(EveryProblem, MinimizersReachTheMinimum) {
  const TestProblem p = make_test_problem(GetParam().name, GetParam().dimension);
  std::vector<double> g(p.objective->dimension());
  for (const auto& minimizer : p.minimizers) {
    const double f = p.objective->evaluate(minimizer, g);
    EXPECT_NEAR(f, p.minimum, 1e-12 * (1.0 + std::abs(p.minimum)));
    for (double gi : g) EXPECT_LT(std::abs(gi), 1e-8);
  }
  // Nothing in the view is below the minimum.
  Points random(0xb0770);
  for (int k = 0; k < 20; ++k) {
    const std::vector<double> x = random.in_view(p);
    const double f = p.objective->evaluate(x, {});
    if (!std::isnan(p.minimum)) {
      EXPECT_GE(f, p.minimum);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(TestProblems, EveryProblem, testing::ValuesIn(cases()),
                         [](const testing::TestParamInfo<Case>& param_info) {
                           std::string label =
                               param_info.param.name + "_" + std::to_string(param_info.param.dimension);
                           std::replace(label.begin(), label.end(), '-', '_');
                           return label;
                         });

TEST(TestProblems, NamesAreTheDocumentedOnes) {
  const std::vector<std::string_view> names(test_problem_names().begin(), test_problem_names().end());
  const std::vector<std::string_view> expected{"sphere",     "quadratic",        "rosenbrock",      "beale",
                                               "booth",      "himmelblau",       "matyas",          "three-hump-camel",
                                               "styblinski-tang", "rastrigin",   "ackley",          "saddle",
                                               "logistic-regression"};
  EXPECT_EQ(names, expected);
}

TEST(TestProblems, CustomaryStartsAndKnownValues) {
  EXPECT_EQ(make_test_problem("rosenbrock").start, (std::vector<double>{-1.2, 1.0}));
  EXPECT_EQ(make_test_problem("rosenbrock", 5).start, (std::vector<double>{-1.2, 1.0, -1.2, 1.0, -1.2}));
  EXPECT_EQ(make_test_problem("beale").start, (std::vector<double>{1.0, 1.0}));
  EXPECT_EQ(make_test_problem("quadratic").start, (std::vector<double>{100.0, 1.0}));
  // f at the classic start: Rosenbrock 24.2 (Moré, Garbow & Hillstrom 1981), Beale 14.203125.
  EXPECT_NEAR(make_test_problem("rosenbrock").objective->evaluate(std::vector<double>{-1.2, 1.0}, {}), 24.2, 1e-12);
  EXPECT_NEAR(make_test_problem("beale").objective->evaluate(std::vector<double>{1.0, 1.0}, {}), 14.203125, 1e-12);
  // Styblinski-Tang's minimum per coordinate, as given in the literature.
  for (std::size_t n : {2u, 5u, 9u}) {
    const TestProblem p = make_test_problem("styblinski-tang", n);
    EXPECT_NEAR(p.minimum, -39.16616570377142 * static_cast<double>(n), 1e-12 * 40.0 * static_cast<double>(n));
  }
}

TEST(TestProblems, RosenbrockInManyDimensions) {
  const TestProblem p = make_test_problem("rosenbrock", 1000);
  ASSERT_EQ(p.objective->dimension(), 1000u);
  EXPECT_LT(derivatives::check_gradient(*p.objective, p.start).worst_relative_error, kDerivativeBound);
  std::vector<double> g(1000);
  EXPECT_EQ(p.objective->evaluate(p.minimizers.at(0), g), 0.0);
  EXPECT_TRUE(std::all_of(g.begin(), g.end(), [](double gi) { return gi == 0.0; }));
}

TEST(TestProblems, AckleyAtItsNonDifferentiableMinimum) {
  const TestProblem p = make_test_problem("ackley", 3);
  const std::vector<double> origin(3, 0.0);
  std::vector<double> g(3, 1.0);
  EXPECT_EQ(p.objective->evaluate(origin, g), 0.0);
  EXPECT_EQ(g, origin);  // the minimum-norm subgradient
  std::vector<double> h(9);
  EXPECT_THROW_WITH(p.objective->hessian(origin, h), InvalidArgument, "origin");
  // Close to it the formulas stay finite.
  const std::vector<double> near{1e-200, -1e-200, 0.0};
  EXPECT_TRUE(std::isfinite(p.objective->evaluate(near, g)));
  EXPECT_TRUE(std::all_of(g.begin(), g.end(), [](double gi) { return std::isfinite(gi); }));
}

TEST(TestProblems, QuadraticEigenvaluesSpanOneToTheConditionNumber) {
  const TestProblem p = make_quadratic(7, 1e4);
  const std::size_t n = 7;
  const std::vector<double> h = dense_hessian(*p.objective, p.start);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      if (i != j) {
        EXPECT_EQ(h[i * n + j], 0.0);
      }
    }
  }
  EXPECT_EQ(h[0], 1.0);
  EXPECT_EQ(h[n * n - 1], 1e4);
  for (std::size_t i = 1; i < n; ++i) {
    EXPECT_GT(h[i * n + i], h[(i - 1) * n + i - 1]);
    EXPECT_NEAR(h[i * n + i] / h[(i - 1) * n + i - 1], std::pow(1e4, 1.0 / 6.0), 1e-12);  // geometric
  }
  // Every gradient component at the start is the condition number.
  std::vector<double> g(n);
  p.objective->evaluate(p.start, g);
  for (double gi : g) EXPECT_NEAR(gi, 1e4, 1e-8);

  const TestProblem line = make_test_problem("quadratic", 1);
  EXPECT_EQ(dense_hessian(*line.objective, line.start), std::vector<double>{1.0});
  EXPECT_EQ(dense_hessian(*make_quadratic(4, 1.0).objective, std::vector<double>(4, 0.0))[15], 1.0);
}

TEST(TestProblems, LogisticRegressionTermsAddUp) {
  const TestProblem p = make_test_problem("logistic-regression");
  const auto f = std::dynamic_pointer_cast<const SeparableObjective>(p.objective);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->num_terms(), 200u);
  ASSERT_EQ(f->dimension(), 5u);
  const std::vector<double> w{0.7, -1.3, 2.1, 0.4, -0.9};

  // evaluate() is evaluate_terms() over every term.
  std::vector<std::size_t> all(200);
  std::iota(all.begin(), all.end(), std::size_t{0});
  std::vector<double> g_full(5), g_terms(5);
  const double full = f->evaluate(w, g_full);
  EXPECT_EQ(f->evaluate_terms(w, all, g_terms), full);
  EXPECT_EQ(g_terms, g_full);

  // A partition into three unequal parts: the size-weighted mean of the parts' means is the whole.
  std::vector<std::vector<std::size_t>> parts(3);
  for (std::size_t i = 0; i < 200; ++i) parts[i % 7 == 0 ? 0 : (i % 2 == 0 ? 1 : 2)].push_back(i);
  double weighted = 0.0;
  std::vector<double> weighted_gradient(5, 0.0), g_part(5);
  for (const auto& part : parts) {
    const double share = static_cast<double>(part.size()) / 200.0;
    weighted += share * f->evaluate_terms(w, part, g_part);
    for (std::size_t j = 0; j < 5; ++j) weighted_gradient[j] += share * g_part[j];
  }
  EXPECT_NEAR(weighted, full, 1e-13 * std::abs(full));
  for (std::size_t j = 0; j < 5; ++j) EXPECT_NEAR(weighted_gradient[j], g_full[j], 1e-13 * (1.0 + std::abs(g_full[j])));

  // A subset's gradient against finite differences of the subset's mean.
  const std::vector<std::size_t> subset = parts[0];
  const FunctionObjective partial(5, [&](std::span<const double> x, std::span<double> g) {
    return f->evaluate_terms(x, subset, g);
  });
  EXPECT_LT(derivatives::check_gradient(partial, w).worst_relative_error, kDerivativeBound);
  EXPECT_LT(derivatives::check_gradient(*f, w).worst_relative_error, kDerivativeBound);

  // At w = 0 every term is log 2 (their mean, to the rounding of a 200-term sum).
  EXPECT_NEAR(f->evaluate(std::vector<double>(5, 0.0), {}), std::log(2.0), 1e-14);
}

TEST(TestProblems, LogisticRegressionDataIsFixed) {
  const LogisticRegression a(50, 3, 0.1), b(50, 3, 0.1);
  EXPECT_TRUE(std::ranges::equal(a.inputs(), b.inputs()));
  EXPECT_TRUE(std::ranges::equal(a.labels(), b.labels()));
  for (double y : a.labels()) EXPECT_TRUE(y == 1.0 || y == -1.0);
  EXPECT_TRUE(std::ranges::count(a.labels(), 1.0) > 0 && std::ranges::count(a.labels(), -1.0) > 0);
  // Pinned: the generator is plain integer arithmetic and additions, so the data, and f here, are the same on
  // every platform (to the rounding of exp and log1p in the loss).
  const TestProblem p = make_test_problem("logistic-regression");
  const std::vector<double> w{0.7, -1.3, 2.1, 0.4, -0.9};
  EXPECT_NEAR(p.objective->evaluate(w, {}), kPinnedLoss, 1e-12);
}

TEST(TestProblems, RejectBadInput) {
  EXPECT_THROW_WITH(make_test_problem("beale", 3), InvalidArgument, "dimension 3");
  EXPECT_THROW_WITH(make_test_problem("saddle", 1), InvalidArgument, "dimension 1");
  EXPECT_THROW_WITH(make_test_problem("rosenbrock", 1), InvalidArgument, "dimension 1");
  EXPECT_THROW_WITH(make_test_problem("ackley", 1), InvalidArgument, "dimension 1");
  EXPECT_THROW_WITH(make_test_problem("rosenbrok"), NotFound, "unknown test problem 'rosenbrok'");
  EXPECT_THROW_WITH(make_test_problem("rosenbrok"), NotFound, "sphere, quadratic, rosenbrock");
  EXPECT_THROW_WITH(make_quadratic(0, 10.0), InvalidArgument, "dimension 0");
  EXPECT_THROW_WITH(make_quadratic(3, 0.5), InvalidArgument, "condition number 0.5");
  EXPECT_THROW_WITH(make_quadratic(3, std::nan("")), InvalidArgument, "condition number nan");
  EXPECT_THROW_WITH(make_quadratic(1, 3.0), InvalidArgument, "condition number 3");
  EXPECT_THROW_WITH(make_logistic_regression(0, 5, 1e-2), InvalidArgument, "samples = 0");
  EXPECT_THROW_WITH(make_logistic_regression(10, 5, -1.0), InvalidArgument, "l2 = -1");

  const TestProblem p = make_test_problem("rosenbrock", 3);
  std::vector<double> g(3);
  EXPECT_THROW_WITH(p.objective->evaluate(std::vector<double>(2, 0.0), g), InvalidArgument, "x has length 2");
  std::vector<double> long_gradient(4);
  EXPECT_THROW_WITH(p.objective->evaluate(std::vector<double>(3, 0.0), long_gradient), InvalidArgument,
                    "grad has length 4");
  const auto logistic = std::dynamic_pointer_cast<const SeparableObjective>(make_test_problem("logistic-regression").objective);
  const std::vector<double> w(5, 0.0);
  EXPECT_THROW_WITH(logistic->evaluate_terms(w, std::vector<std::size_t>{3, 200}, {}), InvalidArgument, "term 200");
  EXPECT_THROW_WITH(logistic->evaluate_terms(w, std::vector<std::size_t>{}, {}), InvalidArgument, "empty");
}

}  // namespace
}  // namespace descent
