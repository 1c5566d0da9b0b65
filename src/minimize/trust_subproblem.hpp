// The trust-region subproblem: minimize the model m(p) = g.p + p.Hp/2 subject to ||p|| <= radius,
// solved three ways (the method is in trust_region.cpp). Internal; the tests call these directly.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <vector>

namespace descent::detail {

struct TrustStep {
  std::vector<double> p;
  double model_change = 0.0;   // m(p) = g.p + p.Hp/2: the decrease the model predicts (negative)
  bool on_boundary = false;    // p was stopped by the radius (the radius may grow)
  std::size_t inner_iterations = 0;  // CG or Lanczos steps, or factorizations
};

// v -> H v.
using HessianTimes = std::function<void(std::span<const double> v, std::span<double> hv)>;

// Steihaug-Toint CG (Nocedal & Wright, Algorithm 7.2) from p = 0: stops when the residual ||Hp + g||
// falls below `tolerance`, when the next iterate would leave the region (p is then cut at the boundary),
// or at a direction d of non-positive curvature, which it follows to the boundary (of the two points
// where the line p + t d meets it, the one with the lower model value).
TrustStep steihaug_cg(std::span<const double> g, const HessianTimes& hessian, double radius, double tolerance,
                      std::size_t max_iterations);

// More & Sorensen (1983; Nocedal & Wright, Algorithm 4.3) on a dense symmetric row-major H: p solves
// (H + lambda I) p = -g with H + lambda I positive semidefinite, lambda >= 0 and lambda (radius - ||p||) = 0.
// lambda is found by safeguarded Newton steps on 1/||p(lambda)|| = 1/radius, each one Cholesky
// factorization. Ends when lambda = 0 gives an interior step, when | ||p|| - radius | <= boundary_tolerance
// * radius, or in the hard case (g nearly orthogonal to the eigenvectors of H's smallest eigenvalue, so that
// ||p(lambda)|| < radius for every admissible lambda) with p + tau z on the boundary, z an approximate
// eigenvector of that eigenvalue (LINPACK's estimate), once tau^2 z.(H + lambda I)z <= hard_case_tolerance
// (p.(H + lambda I)p + lambda radius^2). Then m(p) is within a factor of the minimum (More & Sorensen,
// Theorem 3.4): m(p) <= (1 - s)^2 m*, s = max of the two tolerances as they use them.
TrustStep exact_dense(std::span<const double> h, std::span<const double> g, double radius,
                      double boundary_tolerance, double hard_case_tolerance);

// The same on a symmetric tridiagonal matrix (diagonal, and off-diagonal of one entry less): each
// factorization costs O(n). What GLTR solves on its Lanczos matrix.
TrustStep exact_tridiagonal(std::span<const double> diagonal, std::span<const double> off_diagonal,
                            std::span<const double> g, double radius, double boundary_tolerance,
                            double hard_case_tolerance);

// GLTR (Gould, Lucidi, Roma & Toint 1999): Lanczos from g builds an orthonormal basis Q_k of the Krylov
// space span{g, Hg, ..., H^(k-1) g} and the tridiagonal T_k = Q_k^T H Q_k; the model is minimized exactly
// over that space (exact_tridiagonal on T_k), which is the CG point while that is interior and positive
// definite, and unlike Steihaug's CG keeps improving along the boundary after reaching it. Stops when the
// residual of the subspace solution, beta_(k+1) |h_k| = ||(H + lambda I) p + g||, is below `tolerance` (an
// interior solution) or `boundary_tolerance` (one on the boundary), or the space is invariant.
// The basis is re-orthogonalized (classical Gram-Schmidt, twice) so that ||Q h|| = ||h||.
TrustStep gltr(std::span<const double> g, const HessianTimes& hessian, double radius, double tolerance,
               double boundary_tolerance, std::size_t max_iterations);

}  // namespace descent::detail
