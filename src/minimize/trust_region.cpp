// Trust-region Newton (Nocedal & Wright, Algorithm 4.1) around the three subproblem solvers of
// trust_subproblem.hpp, with the textbook's radius update (that of SciPy's trust-region methods too):
// radius / 4 after a poor step (ratio < 1/4), twice the radius (up to max_radius) after a good one
// (ratio > 3/4) that reached the boundary. Shrinking to ||p|| / 4 instead, which avoids re-solving the same
// subproblem after a rejected interior step, was tried and cost more evaluations on the convergence table's
// problems (443 -> 543 for trust-ncg on rosenbrock-100), so it is not used.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "descent/error.hpp"
#include "descent/minimize/derivatives.hpp"
#include "minimize/driver.hpp"
#include "minimize/trust_subproblem.hpp"

namespace descent::detail {

MinimizeResult run_trust_region(Driver& driver, const Objective& objective, const TrustRegionOptions& options) {
  const bool exact = options.solver == TrustRegionSolver::kExact;
  if (exact && !objective.has_hessian()) {
    throw InvalidArgument("minimize: trust-exact needs an objective with a Hessian (has_hessian() is false); "
                          "trust-ncg and trust-krylov need only Hessian-vector products");
  }
  if (auto stop = driver.start()) return driver.finish(*stop);
  const std::size_t n = objective.dimension();
  const std::size_t max_inner =
      options.max_inner_iterations > 0 ? static_cast<std::size_t>(options.max_inner_iterations) : n;
  const bool analytic = objective.has_hessian_vector_product();
  std::vector<double> h(exact ? n * n : 0), trial(n), trial_grad(n);
  bool hessian_current = false;  // h is the Hessian at driver.x()
  // H(x) v at the current point: the objective's, else central differences of gradients (2 evaluations,
  // counted as such), with the step of the derivatives toolbox.
  const HessianTimes hessian_times = [&](std::span<const double> v, std::span<double> hv) {
    if (analytic) {
      objective.hessian_vector_product(driver.x(), v, hv);
    } else {
      const std::vector<double> product = derivatives::hessian_vector_product(driver.counted(), driver.x(), v);
      std::copy(product.begin(), product.end(), hv.begin());
    }
    driver.count_hessian_vector_product();
  };
  double radius = options.initial_radius;
  for (;;) {
    const auto x = driver.x();
    const auto g = driver.gradient();
    const double g_norm = norm2(g);
    TrustStep step;
    if (exact) {
      if (!hessian_current) {
        objective.hessian(x, h);
        driver.count_hessian();
        if (!finite(0.0, h)) return driver.finish(StopReason::kNonFinite);
        hessian_current = true;
      }
      step = exact_dense(h, g, radius, options.boundary_tolerance, options.hard_case_tolerance);
    } else {
      // The inexact-Newton forcing term of Newton-CG: a relative residual of min(0.5, sqrt(||g||)) (which
      // gives superlinear convergence). GLTR, which unlike CG can improve a step on the boundary, asks a
      // relative residual of min(0.05, 0.1 ||g||) there: measured on the convergence table's problems,
      // min(0.5, ||g||) cost 2 more evaluations on matyas and three-hump-camel and 88 more on
      // rosenbrock-100, 0.3 min(0.5, ||g||) 2 more on the quadratic, 0.01 min(0.5, ||g||) one more there.
      const double tolerance = std::min(0.5, std::sqrt(g_norm)) * g_norm;
      const double boundary_tolerance = std::min(0.05, 0.1 * g_norm) * g_norm;
      step = options.solver == TrustRegionSolver::kSteihaugCG
                 ? steihaug_cg(g, hessian_times, radius, tolerance, max_inner)
                 : gltr(g, hessian_times, radius, tolerance, boundary_tolerance, max_inner);
    }
    if (!finite(step.model_change, step.p)) return driver.finish(StopReason::kNonFinite);
    if (!(step.model_change < 0.0)) return driver.finish(StopReason::kNoModelDecrease);
    for (std::size_t i = 0; i < n; ++i) trial[i] = x[i] + step.p[i];
    const double value = driver.evaluate(trial, trial_grad);
    // The ratio of actual to predicted decrease, both raised by 10 eps max(1, |f|) (Conn, Gould & Toint,
    // Trust-Region Methods, sec. 17.4.2): once both are below what f's rounding can resolve, near a
    // minimizer, the ratio tends to 1 rather than to noise, and the step is taken. A non-finite trial
    // counts as a failed step: the radius shrinks and x stays.
    const double resolution = 10.0 * std::numeric_limits<double>::epsilon() * std::max(1.0, std::abs(driver.value()));
    const double ratio = finite(value, trial_grad)
                             ? (driver.value() - value + resolution) / (-step.model_change + resolution)
                             : -std::numeric_limits<double>::infinity();
    if (ratio < 0.25) {
      radius *= 0.25;
    } else if (ratio > 0.75 && step.on_boundary) {
      radius = std::min(2.0 * radius, options.max_radius);
    }
    if (ratio > options.accept) {
      hessian_current = false;
      if (auto stop = driver.advance(trial, value, trial_grad)) return driver.finish(*stop);
    } else {
      if (auto stop = driver.budget()) return driver.finish(*stop);
      // A radius below the spacing of doubles near x cannot move x any more.
      double x_scale = 1.0;
      for (const double e : x) x_scale = std::max(x_scale, std::abs(e));
      if (!(radius > std::numeric_limits<double>::epsilon() * x_scale)) {
        return driver.finish(StopReason::kNoModelDecrease);
      }
    }
  }
}

}  // namespace descent::detail
