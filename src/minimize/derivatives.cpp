// Central finite differences. The step choices and their error orders are in the header.
#include "descent/minimize/derivatives.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <string>

#include "descent/error.hpp"
#include "minimize/cholesky.hpp"

namespace descent::derivatives {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();
// eps^(1/3) and eps^(1/4): the steps that balance truncation and rounding (see the header).
const double kFirstDerivativeScale = std::cbrt(kEps);
const double kSecondDerivativeScale = std::sqrt(std::sqrt(kEps));

void require_length(const char* function, const char* what, std::size_t length, std::size_t dimension) {
  if (length != dimension) {
    throw InvalidArgument(std::string("derivatives::") + function + ": " + what + " has length " +
                          std::to_string(length) + " but the objective's dimension is " + std::to_string(dimension));
  }
}

void require_step(const char* function, double step) {
  if (!(step >= 0.0) || !std::isfinite(step)) {
    throw InvalidArgument(std::string("derivatives::") + function + ": step = " + format_number(step) +
                          " must be finite and >= 0 (0 = automatic)");
  }
}

double coordinate_step(double step, double scale, double xi) {
  return step > 0.0 ? step : scale * std::max(1.0, std::abs(xi));
}

double norm2(std::span<const double> v) {
  // Scaled so that no square overflows or underflows.
  double largest = 0.0;
  for (double vi : v) largest = std::max(largest, std::abs(vi));
  if (largest == 0.0 || !std::isfinite(largest)) return largest;
  double sum = 0.0;
  for (double vi : v) sum += (vi / largest) * (vi / largest);
  return largest * std::sqrt(sum);
}

// The increment of t for a move x + t v: the point moves by about scale * max(1, ||x||_inf).
double direction_step(double step, double scale, std::span<const double> x, std::span<const double> v) {
  if (step > 0.0) return step;
  double largest = 1.0;
  for (double xi : x) largest = std::max(largest, std::abs(xi));
  return scale * largest / norm2(v);
}

bool is_zero(std::span<const double> v) {
  return std::all_of(v.begin(), v.end(), [](double vi) { return vi == 0.0; });
}

// x + t v into `out`.
void move(std::span<const double> x, double t, std::span<const double> v, std::vector<double>& out) {
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = x[i] + t * v[i];
}

double relative_error(double analytic, double numeric) {
  return std::abs(analytic - numeric) / std::max({1.0, std::abs(analytic), std::abs(numeric)});
}

DerivativeCheck compare(std::span<const double> analytic, std::span<const double> numeric) {
  DerivativeCheck worst{0.0, 0, analytic.empty() ? 0.0 : analytic[0], numeric.empty() ? 0.0 : numeric[0]};
  for (std::size_t i = 0; i < analytic.size(); ++i) {
    const double error = relative_error(analytic[i], numeric[i]);
    // Written so that a NaN error replaces a finite one and is never replaced.
    if (error > worst.worst_relative_error || (std::isnan(error) && !std::isnan(worst.worst_relative_error))) {
      worst = {error, i, analytic[i], numeric[i]};
    }
  }
  return worst;
}

// f(x + t v) and f(x - t v): the two values every central difference along v needs.
std::pair<double, double> values_along(const Objective& f, std::span<const double> x, double t,
                                       std::span<const double> direction) {
  std::vector<double> point(x.size());
  move(x, t, direction, point);
  const double forward = f.evaluate(point, {});
  move(x, -t, direction, point);
  return {forward, f.evaluate(point, {})};
}

}  // namespace

bool positive_definite(std::span<const double> matrix, std::size_t n) {
  if (matrix.size() != n * n) {
    throw InvalidArgument("positive_definite: the matrix has " + std::to_string(matrix.size()) +
                          " entries, not n * n = " + std::to_string(n * n));
  }
  std::vector<double> factor(matrix.begin(), matrix.end());
  return detail::cholesky(factor, n);
}

std::vector<double> gradient(const Objective& f, std::span<const double> x, double step) {
  const std::size_t n = f.dimension();
  require_length("gradient", "x", x.size(), n);
  require_step("gradient", step);
  std::vector<double> point(x.begin(), x.end()), g(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double h = coordinate_step(step, kFirstDerivativeScale, x[i]);
    const double forward = x[i] + h, backward = x[i] - h;
    point[i] = forward;
    const double f_forward = f.evaluate(point, {});
    point[i] = backward;
    const double f_backward = f.evaluate(point, {});
    point[i] = x[i];
    g[i] = (f_forward - f_backward) / (forward - backward);
  }
  return g;
}

double directional_derivative(const Objective& f, std::span<const double> x, std::span<const double> direction,
                              double step) {
  const std::size_t n = f.dimension();
  require_length("directional_derivative", "x", x.size(), n);
  require_length("directional_derivative", "direction", direction.size(), n);
  require_step("directional_derivative", step);
  if (is_zero(direction)) return 0.0;
  const double t = direction_step(step, kFirstDerivativeScale, x, direction);
  const auto [f_forward, f_backward] = values_along(f, x, t, direction);
  return (f_forward - f_backward) / (2.0 * t);
}

double second_directional_derivative(const Objective& f, std::span<const double> x,
                                     std::span<const double> direction, double step) {
  const std::size_t n = f.dimension();
  require_length("second_directional_derivative", "x", x.size(), n);
  require_length("second_directional_derivative", "direction", direction.size(), n);
  require_step("second_directional_derivative", step);
  if (is_zero(direction)) return 0.0;
  const double t = direction_step(step, kSecondDerivativeScale, x, direction);
  const auto [f_forward, f_backward] = values_along(f, x, t, direction);
  const double f_center = f.evaluate(x, {});
  return (f_forward - 2.0 * f_center + f_backward) / (t * t);
}

std::vector<double> hessian(const Objective& f, std::span<const double> x, double step) {
  const std::size_t n = f.dimension();
  require_length("hessian", "x", x.size(), n);
  require_step("hessian", step);
  std::vector<double> point(x.begin(), x.end()), g_forward(n), g_backward(n), h(n * n);
  for (std::size_t j = 0; j < n; ++j) {
    const double hj = coordinate_step(step, kFirstDerivativeScale, x[j]);
    const double forward = x[j] + hj, backward = x[j] - hj;
    point[j] = forward;
    f.evaluate(point, g_forward);
    point[j] = backward;
    f.evaluate(point, g_backward);
    point[j] = x[j];
    for (std::size_t i = 0; i < n; ++i) h[i * n + j] = (g_forward[i] - g_backward[i]) / (forward - backward);
  }
  // (H + H^T) / 2, each pair computed once so that the result is exactly symmetric.
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const double mean = 0.5 * (h[i * n + j] + h[j * n + i]);
      h[i * n + j] = mean;
      h[j * n + i] = mean;
    }
  }
  return h;
}

std::vector<double> hessian_vector_product(const Objective& f, std::span<const double> x,
                                           std::span<const double> v, double step) {
  const std::size_t n = f.dimension();
  require_length("hessian_vector_product", "x", x.size(), n);
  require_length("hessian_vector_product", "v", v.size(), n);
  require_step("hessian_vector_product", step);
  std::vector<double> hv(n, 0.0);
  if (is_zero(v)) return hv;
  const double t = direction_step(step, kFirstDerivativeScale, x, v);
  std::vector<double> point(n), g_backward(n);
  move(x, t, v, point);
  f.evaluate(point, hv);
  move(x, -t, v, point);
  f.evaluate(point, g_backward);
  for (std::size_t i = 0; i < n; ++i) hv[i] = (hv[i] - g_backward[i]) / (2.0 * t);
  return hv;
}

DerivativeCheck check_gradient(const Objective& f, std::span<const double> x) {
  const std::size_t n = f.dimension();
  require_length("check_gradient", "x", x.size(), n);
  std::vector<double> analytic(n);
  f.evaluate(x, analytic);
  return compare(analytic, gradient(f, x));
}

DerivativeCheck check_hessian(const Objective& f, std::span<const double> x) {
  const std::size_t n = f.dimension();
  require_length("check_hessian", "x", x.size(), n);
  if (!f.has_hessian()) throw NotFound("derivatives::check_hessian: the objective has no Hessian (has_hessian() is false)");
  std::vector<double> analytic(n * n);
  f.hessian(x, analytic);
  return compare(analytic, hessian(f, x));
}

}  // namespace descent::derivatives
