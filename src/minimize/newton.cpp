// Newton's method with a shifted Cholesky factorization, and Newton-CG (truncated Newton).
//
// Newton (Nocedal & Wright, Algorithm 3.3, "Cholesky with added multiple of the identity"): solve
// (H + tau I) p = -g with tau = 0 when H is positive definite; otherwise tau starts at
// max(-min_i H_ii + beta, beta) and doubles until the factorization succeeds. H + tau I is then positive
// definite, so p is a descent direction even at a saddle, where plain Newton would step toward the
// saddle point. An Armijo backtracking search from the full step (alpha = 1) keeps the quadratic
// convergence near a minimum.
//
// Newton-CG (Nocedal & Wright, Algorithm 7.1): conjugate gradients on H p = -g, stopped when the residual
// falls below min(0.5, sqrt(||g||)) ||g|| (superlinear convergence) or at the first direction of
// non-positive curvature; only Hessian-vector products are used.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "descent/error.hpp"
#include "descent/minimize/derivatives.hpp"
#include "minimize/cholesky.hpp"
#include "minimize/driver.hpp"

namespace descent::detail {
namespace {

double dot(std::span<const double> a, std::span<const double> b) {
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

// Backtracks from alpha = 1 along the descent direction p until the Armijo condition holds; a
// non-finite trial value counts as too far. Returns false when no step is accepted.
struct Trial {
  std::vector<double> x, grad;
  double value = 0.0;
};
bool armijo_search(Driver& driver, std::span<const double> p, double armijo, double backtrack, int max_backtracks,
                   Trial& trial) {
  const auto x = driver.x();
  const double f = driver.value();
  const double slope = dot(driver.gradient(), p);
  trial.x.resize(x.size());
  trial.grad.resize(x.size());
  double alpha = 1.0;
  for (int attempt = 0; attempt <= max_backtracks; ++attempt, alpha *= backtrack) {
    for (std::size_t i = 0; i < x.size(); ++i) trial.x[i] = x[i] + alpha * p[i];
    trial.value = driver.evaluate(trial.x, trial.grad);
    if (finite(trial.value, trial.grad) && trial.value <= f + armijo * alpha * slope) return true;
  }
  return false;
}

}  // namespace

MinimizeResult run_newton(Driver& driver, const Objective& objective, const NewtonOptions& options) {
  if (!objective.has_hessian()) {
    throw InvalidArgument("minimize: Newton's method needs an objective with a Hessian (has_hessian() is false); "
                          "Newton-CG needs only Hessian-vector products");
  }
  if (auto stop = driver.start()) return driver.finish(*stop);
  const std::size_t n = objective.dimension();
  std::vector<double> h(n * n), shifted(n * n), minus_g(n);
  Trial trial;
  for (;;) {
    objective.hessian(driver.x(), h);
    driver.count_hessian();
    if (!finite(0.0, h)) return driver.finish(StopReason::kNonFinite);
    double min_diagonal = h[0], max_diagonal = std::abs(h[0]);
    for (std::size_t i = 0; i < n; ++i) {
      min_diagonal = std::min(min_diagonal, h[i * n + i]);
      max_diagonal = std::max(max_diagonal, std::abs(h[i * n + i]));
    }
    const double beta = options.shift_floor * std::max(1.0, max_diagonal);
    double tau = min_diagonal > 0.0 ? 0.0 : -min_diagonal + beta;
    for (;;) {
      shifted = h;
      for (std::size_t i = 0; i < n; ++i) shifted[i * n + i] += tau;
      if (cholesky(shifted, n)) break;
      tau = std::max(2.0 * tau, beta);
      if (!std::isfinite(tau)) return driver.finish(StopReason::kNonFinite);
    }
    const auto g = driver.gradient();
    for (std::size_t i = 0; i < n; ++i) minus_g[i] = -g[i];
    const std::vector<double> p = cholesky_solve(shifted, n, minus_g);
    if (!armijo_search(driver, p, options.armijo, options.backtrack, options.max_backtracks, trial)) {
      return driver.finish(StopReason::kLineSearchFailed);
    }
    if (auto stop = driver.advance(trial.x, trial.value, trial.grad)) return driver.finish(*stop);
  }
}

MinimizeResult run_newton_cg(Driver& driver, const Objective& objective, const NewtonCGOptions& options) {
  if (auto stop = driver.start()) return driver.finish(*stop);
  const std::size_t n = objective.dimension();
  const std::size_t max_cg = options.max_cg_iterations > 0 ? static_cast<std::size_t>(options.max_cg_iterations) : n;
  const bool analytic = objective.has_hessian_vector_product();
  std::vector<double> z(n), r(n), d(n), hd(n), p(n);
  Trial trial;
  for (;;) {
    const auto x = driver.x();
    const auto g = driver.gradient();
    const double g_norm = norm2(g);
    const double tolerance = std::min(0.5, std::sqrt(g_norm)) * g_norm;
    std::fill(z.begin(), z.end(), 0.0);
    std::copy(g.begin(), g.end(), r.begin());
    for (std::size_t i = 0; i < n; ++i) d[i] = -r[i];
    double rr = dot(r, r);
    bool have_direction = false;
    for (std::size_t j = 0; j < max_cg; ++j) {
      if (analytic) {
        objective.hessian_vector_product(x, d, hd);
      } else {  // (g(x + h d) - g(x - h d)) / 2h: two gradient evaluations, counted as such
        hd = derivatives::hessian_vector_product(driver.counted(), x, d);
      }
      driver.count_hessian_vector_product();
      const double curvature = dot(d, hd);
      if (!(curvature > 0.0)) {  // non-positive curvature (or NaN): take what CG has, or steepest descent
        if (j == 0) {
          // Steepest descent scaled by |g|^2 / |d^T H d|, the length the curvature along -g suggests
          // (as SciPy's Newton-CG does), rather than the raw gradient, whose length has no meaning here.
          const double scale = curvature < 0.0 ? rr / -curvature : 1.0;
          for (std::size_t i = 0; i < n; ++i) p[i] = -scale * g[i];
        } else {
          p = z;
        }
        have_direction = true;
        break;
      }
      const double alpha = rr / curvature;
      for (std::size_t i = 0; i < n; ++i) {
        z[i] += alpha * d[i];
        r[i] += alpha * hd[i];
      }
      const double rr_next = dot(r, r);
      if (std::sqrt(rr_next) < tolerance) {
        p = z;
        have_direction = true;
        break;
      }
      const double beta = rr_next / rr;
      rr = rr_next;
      for (std::size_t i = 0; i < n; ++i) d[i] = -r[i] + beta * d[i];
    }
    if (!have_direction) p = z;
    if (!finite(0.0, p)) return driver.finish(StopReason::kNonFinite);
    if (!armijo_search(driver, p, options.armijo, options.backtrack, options.max_backtracks, trial)) {
      return driver.finish(StopReason::kLineSearchFailed);
    }
    if (auto stop = driver.advance(trial.x, trial.value, trial.grad)) return driver.finish(*stop);
  }
}

}  // namespace descent::detail
