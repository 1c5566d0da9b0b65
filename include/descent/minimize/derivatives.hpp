// Derivatives by central finite differences, and checks of an objective's analytic derivatives against
// them. Everything here is float64.
//
// Steps. Central differences have truncation error O(h^2) and rounding error O(eps / h) for a first
// derivative, and O(h^2) and O(eps / h^2) for a second derivative from function values, so the steps that
// balance the two are h ~ eps^(1/3) and h ~ eps^(1/4) in the scale of x (Nocedal & Wright, Numerical
// Optimization, 2nd ed., sec. 8.1). With eps the machine epsilon (2.2e-16) the automatic steps are
//
//   first derivatives (gradient, hessian, hessian_vector_product, directional_derivative):
//     h = eps^(1/3) * max(1, |x_i|)   ~ 6.1e-6: error ~ 1e-10 times the scale of f and its derivatives
//   second derivatives from values (second_directional_derivative):
//     h = eps^(1/4) * max(1, |x_i|)   ~ 1.2e-4: error ~ 1e-7 times that scale
//
// For a move along a direction v the step is in t, x + t v, with t = h(x) / ||v||_2 and
// h(x) = eps^(1/3 or 1/4) * max(1, ||x||_inf): the point moves by about h(x) whatever the length of v.
// Every function takes an explicit `step` instead (0 = automatic): the h of each coordinate for gradient
// and hessian, the increment of t for the directional ones. A coordinate step is taken as the difference
// of the representable points x_i + h and x_i - h, so that rounding of x_i +- h does not bias the quotient.
//
// Only Objective::evaluate() is called, except that hessian() and hessian_vector_product() difference
// the analytic gradient and the checks call the analytic derivative they check. Lengths that do not
// match f.dimension() throw InvalidArgument naming both lengths.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "descent/minimize/objective.hpp"

namespace descent::derivatives {

// The gradient of f at x: g_i = (f(x + h e_i) - f(x - h e_i)) / 2h, 2n evaluations.
std::vector<double> gradient(const Objective& f, std::span<const double> x, double step = 0);

// d/dt f(x + t v) at t = 0, that is <grad f(x), v>: v is not normalised, so the result scales with v
// (the derivative per unit length is this divided by ||v||). 0 when v is 0.
double directional_derivative(const Objective& f, std::span<const double> x, std::span<const double> direction,
                              double step = 0);

// d^2/dt^2 f(x + t v) at t = 0, that is v^T H(x) v, from three values of f:
// (f(x + t v) - 2 f(x) + f(x - t v)) / t^2. v is not normalised. 0 when v is 0.
double second_directional_derivative(const Objective& f, std::span<const double> x,
                                     std::span<const double> direction, double step = 0);

// The Hessian of f at x from its analytic gradient, row-major n x n: column j is
// (g(x + h e_j) - g(x - h e_j)) / 2h (2n gradient evaluations), then the result is symmetrized,
// H = (H + H^T) / 2, which is exactly symmetric.
std::vector<double> hessian(const Objective& f, std::span<const double> x, double step = 0);

// H(x) v from the analytic gradient: (g(x + t v) - g(x - t v)) / 2t, two gradient evaluations.
// v is not normalised (the product is linear in v). 0 when v is 0.
std::vector<double> hessian_vector_product(const Objective& f, std::span<const double> x,
                                           std::span<const double> v, double step = 0);

// The worst disagreement between an analytic derivative and its finite-difference estimate, with the
// relative error |a - n| / max(1, |a|, |n|): absolute for entries of magnitude below 1, relative above.
// A NaN in either value counts as the worst error (NaN).
struct DerivativeCheck {
  double worst_relative_error;
  std::size_t worst_index;  // the coordinate (gradient) or the row-major entry i * n + j (Hessian)
  double analytic;          // the two values at worst_index
  double numeric;
};

// Whether a symmetric row-major n x n matrix (a Hessian) is positive definite, by attempting its Cholesky
// factorization (the one Newton's method uses); a non-finite pivot counts as not. At a stationary point:
// true means a strict local minimum. Throws InvalidArgument when the span does not hold n x n entries.
bool positive_definite(std::span<const double> matrix, std::size_t n);

// f.evaluate()'s gradient against gradient(f, x).
DerivativeCheck check_gradient(const Objective& f, std::span<const double> x);

// f.hessian() against hessian(f, x) (which differences f's analytic gradient, so a wrong gradient shows up
// here too: run check_gradient first). Throws NotFound when f has no Hessian.
DerivativeCheck check_hessian(const Objective& f, std::span<const double> x);

}  // namespace descent::derivatives
