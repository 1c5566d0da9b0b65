// The finite-difference toolbox against closed forms, on
//
//   f(x) = sin(x0) exp(x1) + x0^3 x1 + x1 x2^2
//
// whose derivatives are written out below. Bounds follow from the error orders in derivatives.hpp: the
// first-derivative estimates (step eps^(1/3) ~ 6e-6) have truncation h^2 |f'''| / 6 ~ 1e-10 and rounding
// eps |f| / h ~ 1e-10 for values of f and its derivatives of order 10, so they are checked to 1e-8 (relative
// above 1, absolute below); the second directional derivative from values (step eps^(1/4) ~ 1e-4) has error
// ~ eps |f| / h^2 + h^2 |f''''| / 12 ~ 1e-7, so it is checked to 1e-6. Explicit steps are checked exactly on
// polynomials whose difference quotients are known in closed form.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "descent/error.hpp"
#include "descent/minimize/derivatives.hpp"
#include "descent/minimize/objective.hpp"
#include "support/expect_throw.hpp"

namespace descent {
namespace {


double value(std::span<const double> x) {
  return std::sin(x[0]) * std::exp(x[1]) + x[0] * x[0] * x[0] * x[1] + x[1] * x[2] * x[2];
}

std::vector<double> exact_gradient(std::span<const double> x) {
  const double e = std::exp(x[1]);
  return {std::cos(x[0]) * e + 3.0 * x[0] * x[0] * x[1], std::sin(x[0]) * e + x[0] * x[0] * x[0] + x[2] * x[2],
          2.0 * x[1] * x[2]};
}

std::vector<double> exact_hessian(std::span<const double> x) {
  const double e = std::exp(x[1]);
  const double h00 = -std::sin(x[0]) * e + 6.0 * x[0] * x[1], h01 = std::cos(x[0]) * e + 3.0 * x[0] * x[0];
  const double h11 = std::sin(x[0]) * e, h12 = 2.0 * x[2], h22 = 2.0 * x[1];
  return {h00, h01, 0.0, h01, h11, h12, 0.0, h12, h22};
}

double value_and_gradient(std::span<const double> x, std::span<double> g) {
  if (!g.empty()) std::ranges::copy(exact_gradient(x), g.begin());
  return value(x);
}

void hessian_into(std::span<const double> x, std::span<double> h) { std::ranges::copy(exact_hessian(x), h.begin()); }

FunctionObjective closed_form() { return FunctionObjective(3, value_and_gradient, hessian_into); }

// |a - n| / max(1, |a|, |n|), the toolbox's own measure.
double relative_error(double a, double n) { return std::abs(a - n) / std::max({1.0, std::abs(a), std::abs(n)}); }

const std::vector<std::vector<double>> kPoints{{0.3, -0.7, 1.1}, {-1.4, 0.9, -0.4}, {2.5, 1.7, 3.0}, {0.0, 0.0, 0.0}};
const std::vector<double> kDirection{0.6, -1.3, 2.2};

TEST(Derivatives, GradientMatchesClosedForm) {
  const FunctionObjective f = closed_form();
  for (const auto& x : kPoints) {
    const std::vector<double> numeric = derivatives::gradient(f, x), exact = exact_gradient(x);
    for (std::size_t i = 0; i < 3; ++i) EXPECT_LT(relative_error(exact[i], numeric[i]), 1e-8) << "coordinate " << i;
  }
}

TEST(Derivatives, DirectionalDerivativesMatchClosedForm) {
  const FunctionObjective f = closed_form();
  for (const auto& x : kPoints) {
    const std::vector<double> g = exact_gradient(x), h = exact_hessian(x);
    double slope = 0.0, curvature = 0.0;
    for (std::size_t i = 0; i < 3; ++i) {
      slope += g[i] * kDirection[i];
      for (std::size_t j = 0; j < 3; ++j) curvature += kDirection[i] * h[i * 3 + j] * kDirection[j];
    }
    EXPECT_LT(relative_error(slope, derivatives::directional_derivative(f, x, kDirection)), 1e-8);
    EXPECT_LT(relative_error(curvature, derivatives::second_directional_derivative(f, x, kDirection)), 1e-6);
    // Not normalised: doubling v doubles the slope and quadruples the curvature.
    const std::vector<double> twice{2 * kDirection[0], 2 * kDirection[1], 2 * kDirection[2]};
    EXPECT_LT(relative_error(2.0 * slope, derivatives::directional_derivative(f, x, twice)), 1e-8);
    EXPECT_LT(relative_error(4.0 * curvature, derivatives::second_directional_derivative(f, x, twice)), 1e-6);
  }
  const std::vector<double> zero(3, 0.0);
  EXPECT_EQ(derivatives::directional_derivative(f, kPoints[0], zero), 0.0);
  EXPECT_EQ(derivatives::second_directional_derivative(f, kPoints[0], zero), 0.0);
}

TEST(Derivatives, HessianAndProductMatchClosedForm) {
  const FunctionObjective f = closed_form();
  for (const auto& x : kPoints) {
    const std::vector<double> numeric = derivatives::hessian(f, x), exact = exact_hessian(x);
    ASSERT_EQ(numeric.size(), 9u);
    for (std::size_t k = 0; k < 9; ++k) EXPECT_LT(relative_error(exact[k], numeric[k]), 1e-8) << "entry " << k;
    for (std::size_t i = 0; i < 3; ++i) {
      for (std::size_t j = 0; j < 3; ++j) EXPECT_EQ(numeric[i * 3 + j], numeric[j * 3 + i]);  // exactly symmetric
    }
    const std::vector<double> hv = derivatives::hessian_vector_product(f, x, kDirection);
    for (std::size_t i = 0; i < 3; ++i) {
      double expected = 0.0;
      for (std::size_t j = 0; j < 3; ++j) expected += exact[i * 3 + j] * kDirection[j];
      EXPECT_LT(relative_error(expected, hv[i]), 1e-8) << "row " << i;
    }
  }
  EXPECT_EQ(derivatives::hessian_vector_product(f, kPoints[0], std::vector<double>(3, 0.0)),
            std::vector<double>(3, 0.0));
}

// Explicit steps are used as given. For f = x^3 the central quotient is exactly 3x^2 + h^2, and for x^4 the
// second difference is 12x^2 + 2h^2; with x = 1 and h a power of 2 every operation below is exact.
TEST(Derivatives, ExplicitStepsAreUsed) {
  const FunctionObjective cube(1, [](std::span<const double> x, std::span<double> g) {
    if (!g.empty()) g[0] = 3.0 * x[0] * x[0];
    return x[0] * x[0] * x[0];
  });
  const FunctionObjective quartic(1, [](std::span<const double> x, std::span<double> g) {
    if (!g.empty()) g[0] = 4.0 * x[0] * x[0] * x[0];
    return x[0] * x[0] * x[0] * x[0];
  });
  const std::vector<double> one{1.0}, two{2.0};
  EXPECT_EQ(derivatives::gradient(cube, one, 0.5)[0], 3.25);
  // The step is in t of x + t v: t = 0.25 along v = 2 moves x by 0.5, and d/dt f = v f'(x) = 2 (3 + 0.25).
  EXPECT_EQ(derivatives::directional_derivative(cube, one, two, 0.25), 6.5);
  EXPECT_EQ(derivatives::second_directional_derivative(quartic, one, std::vector<double>{1.0}, 0.5), 12.5);
  // The Hessian differences the gradient 4x^3: (4 (1.5)^3 - 4 (0.5)^3) / 1 = 12 + 4 h^2 = 13.
  EXPECT_EQ(derivatives::hessian(quartic, one, 0.5)[0], 13.0);
  EXPECT_EQ(derivatives::hessian_vector_product(quartic, one, std::vector<double>{1.0}, 0.5)[0], 13.0);
}

TEST(Derivatives, ChecksPassOnCorrectDerivatives) {
  const FunctionObjective f = closed_form();
  for (const auto& x : kPoints) {
    EXPECT_LT(derivatives::check_gradient(f, x).worst_relative_error, 1e-8);
    EXPECT_LT(derivatives::check_hessian(f, x).worst_relative_error, 1e-8);
  }
}

TEST(Derivatives, ChecksPointAtAWrongCoordinate) {
  // The gradient's coordinate 1 is off by 1e-3 (a forgotten term, say): small, but far above the FD error.
  const FunctionObjective wrong_gradient(3, [](std::span<const double> x, std::span<double> g) {
    const double f = value_and_gradient(x, g);
    if (!g.empty()) g[1] += 1e-3;
    return f;
  });
  const std::vector<double> x = kPoints[0];
  const derivatives::DerivativeCheck check = derivatives::check_gradient(wrong_gradient, x);
  EXPECT_EQ(check.worst_index, 1u);
  EXPECT_GT(check.worst_relative_error, 1e-4);
  EXPECT_EQ(check.analytic, exact_gradient(x)[1] + 1e-3);
  EXPECT_LT(relative_error(check.numeric, exact_gradient(x)[1]), 1e-8);

  // The Hessian's entry (1, 2) only (row-major index 5), with its mirror (2, 1) left right.
  const FunctionObjective wrong_hessian(3, value_and_gradient, [](std::span<const double> p, std::span<double> h) {
    hessian_into(p, h);
    h[5] *= 1.5;
  });
  const derivatives::DerivativeCheck hessian_check = derivatives::check_hessian(wrong_hessian, x);
  EXPECT_EQ(hessian_check.worst_index, 5u);
  EXPECT_GT(hessian_check.worst_relative_error, 0.1);

  // A NaN is the worst error of all.
  const FunctionObjective nan_gradient(3, [](std::span<const double> p, std::span<double> g) {
    const double f = value_and_gradient(p, g);
    if (!g.empty()) g[2] = std::nan("");
    return f;
  });
  const derivatives::DerivativeCheck nan_check = derivatives::check_gradient(nan_gradient, x);
  EXPECT_EQ(nan_check.worst_index, 2u);
  EXPECT_TRUE(std::isnan(nan_check.worst_relative_error));
}

TEST(Derivatives, RejectsBadInput) {
  const FunctionObjective f = closed_form();
  const std::vector<double> two(2, 1.0), three(3, 1.0), four(4, 1.0);
  EXPECT_THROW_WITH(derivatives::gradient(f, two), InvalidArgument, "x has length 2 but the objective's dimension is 3");
  EXPECT_THROW_WITH(derivatives::hessian(f, four), InvalidArgument, "x has length 4 but the objective's dimension is 3");
  EXPECT_THROW_WITH(derivatives::directional_derivative(f, three, two), InvalidArgument,
                    "direction has length 2 but the objective's dimension is 3");
  EXPECT_THROW_WITH(derivatives::second_directional_derivative(f, two, three), InvalidArgument,
                    "x has length 2 but the objective's dimension is 3");
  EXPECT_THROW_WITH(derivatives::hessian_vector_product(f, three, four), InvalidArgument,
                    "v has length 4 but the objective's dimension is 3");
  EXPECT_THROW_WITH(derivatives::check_gradient(f, four), InvalidArgument, "length 4");
  EXPECT_THROW_WITH(derivatives::check_hessian(f, two), InvalidArgument, "length 2");
  EXPECT_THROW_WITH(derivatives::gradient(f, three, -1e-3), InvalidArgument, "step = -0.001");
  EXPECT_THROW_WITH(derivatives::hessian(f, three, std::nan("")), InvalidArgument, "step = nan");

  const FunctionObjective no_hessian(3, value_and_gradient);
  EXPECT_THROW_WITH(derivatives::check_hessian(no_hessian, three), NotFound, "no Hessian");
}

// Closed forms: the eigenvalues of these 2 x 2 matrices are known.
TEST(Derivatives, PositiveDefiniteByCholesky) {
  EXPECT_TRUE(derivatives::positive_definite(std::vector<double>{2, 1, 1, 2}, 2));    // eigenvalues 1, 3
  EXPECT_FALSE(derivatives::positive_definite(std::vector<double>{1, 2, 2, 1}, 2));   // -1, 3: a saddle
  EXPECT_FALSE(derivatives::positive_definite(std::vector<double>{1, 1, 1, 1}, 2));   // 0, 2: semidefinite
  EXPECT_FALSE(derivatives::positive_definite(std::vector<double>{-1, 0, 0, -2}, 2));  // a maximum
  EXPECT_FALSE(derivatives::positive_definite(std::vector<double>{std::nan(""), 0, 0, 1}, 2));
  EXPECT_THROW_WITH(derivatives::positive_definite(std::vector<double>{1, 0, 0}, 2), InvalidArgument,
                    "the matrix has 3 entries, not n * n = 4");
}

}  // namespace
}  // namespace descent
