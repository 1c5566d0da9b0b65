// The trust-region subproblem solvers; what each does and where it comes from is in the header.
#include "minimize/trust_subproblem.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "minimize/cholesky.hpp"

namespace descent::detail {
namespace {

double dot(std::span<const double> a, std::span<const double> b) {
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

double norm(std::span<const double> v) { return std::sqrt(dot(v, v)); }

// The two t (t1 <= t2) where ||p + t d|| = radius, for p inside the sphere (so t1 <= 0 <= t2), by the
// cancellation-free form of the quadratic formula.
std::pair<double, double> boundary_roots(std::span<const double> p, std::span<const double> d, double radius) {
  const double a = dot(d, d);
  const double b = 2.0 * dot(p, d);
  const double c = dot(p, p) - radius * radius;
  const double root = std::sqrt(std::max(b * b - 4.0 * a * c, 0.0));
  const double q = -0.5 * (b + std::copysign(root, b));
  if (q == 0.0) return {0.0, 0.0};
  const double t1 = q / a, t2 = c / q;
  return {std::min(t1, t2), std::max(t1, t2)};
}

// ---- More-Sorensen on any symmetric matrix that can factor M + lambda I -------------------------------
//
// A matrix type provides: size(); min_diagonal(); gershgorin(lower, upper) (the bounds of the Gershgorin
// discs); frobenius(); infinity_norm(); factor(lambda) (Cholesky L L^T of M + lambda I; false when not
// positive definite); pivot(k) = L_kk; below(k, w) = sum_(j<k) L_kj w_j; above(k, x) = sum_(j>k) L_jk x_j;
// quadratic(p) = p^T M p.

template <class Matrix>
void forward(const Matrix& m, std::span<const double> b, std::span<double> y) {  // L y = b
  for (std::size_t k = 0; k < b.size(); ++k) y[k] = (b[k] - m.below(k, y)) / m.pivot(k);
}

template <class Matrix>
void backward(const Matrix& m, std::span<const double> y, std::span<double> x) {  // L^T x = y
  for (std::size_t k = y.size(); k-- > 0;) x[k] = (y[k] - m.above(k, x)) / m.pivot(k);
}

// A unit z with z^T (M + lambda I) z = ||L^T z||^2 small: LINPACK's estimate of the smallest singular
// value of L^T (Cline, Moler, Stewart & Wilkinson 1979): solve L w = e with each e_k = +-1 chosen to make
// |w_k| grow, then L^T v = w; z = v / ||v|| and ||L^T z|| = ||w|| / ||v||. Returns ||L^T z||^2.
template <class Matrix>
double smallest_direction(const Matrix& m, std::vector<double>& z) {
  const std::size_t n = m.size();
  std::vector<double> w(n);
  for (std::size_t k = 0; k < n; ++k) {
    const double partial = m.below(k, w);
    w[k] = ((partial > 0.0 ? -1.0 : 1.0) - partial) / m.pivot(k);
  }
  z.assign(n, 0.0);
  backward(m, w, z);
  const double length = norm(z);
  for (double& e : z) e /= length;
  const double ratio = norm(w) / length;
  return ratio * ratio;
}

template <class Matrix>
double model(const Matrix& m, std::span<const double> g, std::span<const double> p) {
  return dot(g, p) + 0.5 * m.quadratic(p);
}

template <class Matrix>
TrustStep more_sorensen(Matrix& m, std::span<const double> g, double radius, double boundary_tolerance,
                        double hard_case_tolerance) {
  const std::size_t n = g.size();
  TrustStep step;
  const double g_norm = norm(g);
  double disc_lower = 0.0, disc_upper = 0.0;
  m.gershgorin(disc_lower, disc_upper);
  const double matrix_norm = std::min(m.frobenius(), m.infinity_norm());
  // lambda* lies in [lower, upper] (More & Sorensen, sec. 3; the Gershgorin discs bound the eigenvalues).
  double lower = std::max({0.0, -m.min_diagonal(), g_norm / radius - std::min(disc_upper, matrix_norm)});
  double upper = std::max(0.0, g_norm / radius + std::min(-disc_lower, matrix_norm));
  const auto inside = [&] { return std::max(std::sqrt(lower * upper), lower + 0.01 * (upper - lower)); };
  double lambda = lower == 0.0 ? 0.0 : inside();

  std::vector<double> minus_g(n), p(n), y(n), q(n), z;
  for (std::size_t i = 0; i < n; ++i) minus_g[i] = -g[i];
  std::vector<double> last_p;  // the last step found (a factorization that succeeded)
  const auto finish = [&](std::vector<double> result, bool boundary) {
    step.p = std::move(result);
    step.on_boundary = boundary;
    step.model_change = model(m, g, step.p);
    return step;
  };
  constexpr int kMaxFactorizations = 300;  // safeguarded Newton converges in a handful; bisection bounds the rest
  for (int attempt = 0; attempt < kMaxFactorizations; ++attempt) {
    ++step.inner_iterations;
    if (!m.factor(lambda)) {  // M + lambda I is not positive definite: lambda* > lambda
      lower = std::max(lower, lambda);
      if (!(upper - lower > 4.0 * std::numeric_limits<double>::epsilon() * std::max(1.0, upper))) break;
      lambda = inside();
      continue;
    }
    forward(m, minus_g, y);
    backward(m, y, p);
    const double p_norm = norm(p);
    last_p = p;
    if (lambda == 0.0 && p_norm <= radius) return finish(p, false);  // the Newton step, interior
    if (std::abs(p_norm - radius) <= boundary_tolerance * radius) return finish(p, true);
    if (p_norm < radius) {  // lambda > lambda*: the hard case may be near
      upper = std::min(upper, lambda);
      const double z_curvature = smallest_direction(m, z);  // z^T (M + lambda I) z
      lower = std::max(lower, lambda - z_curvature);
      // Complete p to the boundary along z, by the root of smaller magnitude, which lowers the model.
      const auto [t1, t2] = boundary_roots(p, z, radius);
      const double tau = std::abs(t1) < std::abs(t2) ? t1 : t2;
      const double p_curvature = -dot(g, p);  // p^T (M + lambda I) p, since (M + lambda I) p = -g
      if (tau * tau * z_curvature <= hard_case_tolerance * (p_curvature + lambda * radius * radius)) {
        for (std::size_t i = 0; i < n; ++i) p[i] += tau * z[i];
        return finish(p, true);
      }
    } else {
      lower = std::max(lower, lambda);
    }
    // Newton's step on 1/||p(lambda)|| - 1/radius = 0, with ||q||^2 = p^T (M + lambda I)^-1 p, q = L^-1 p.
    forward(m, p, q);
    const double ratio = p_norm / norm(q);
    const double next = lambda + ratio * ratio * (p_norm - radius) / radius;
    lambda = next > lower && next <= upper ? next : inside();
    if (!(upper - lower > 4.0 * std::numeric_limits<double>::epsilon() * std::max(1.0, upper)) && attempt > 0) {
      lambda = upper;
    }
  }
  // Not converged to the tolerances (or lambda pinned to -lambda_min in rounding): the last step found,
  // cut to the region, else the Cauchy direction to the boundary.
  if (!last_p.empty()) {
    const double p_norm = norm(last_p);
    if (p_norm > radius) {
      for (double& e : last_p) e *= radius / p_norm;
    }
    return finish(std::move(last_p), p_norm >= radius);
  }
  std::vector<double> descent_step(n);
  for (std::size_t i = 0; i < n; ++i) descent_step[i] = -radius * g[i] / g_norm;
  return finish(std::move(descent_step), true);
}

class DenseSymmetric {
 public:
  DenseSymmetric(std::span<const double> h, std::size_t n) : h_(h), n_(n), l_(n * n) {}
  std::size_t size() const { return n_; }
  double min_diagonal() const {
    double out = h_[0];
    for (std::size_t i = 0; i < n_; ++i) out = std::min(out, h_[i * n_ + i]);
    return out;
  }
  void gershgorin(double& lower, double& upper) const {
    lower = std::numeric_limits<double>::infinity();
    upper = -lower;
    for (std::size_t i = 0; i < n_; ++i) {
      double radius = 0.0;
      for (std::size_t j = 0; j < n_; ++j) radius += j == i ? 0.0 : std::abs(h_[i * n_ + j]);
      lower = std::min(lower, h_[i * n_ + i] - radius);
      upper = std::max(upper, h_[i * n_ + i] + radius);
    }
  }
  double frobenius() const { return norm(h_); }
  double infinity_norm() const {
    double out = 0.0;
    for (std::size_t i = 0; i < n_; ++i) {
      double row = 0.0;
      for (std::size_t j = 0; j < n_; ++j) row += std::abs(h_[i * n_ + j]);
      out = std::max(out, row);
    }
    return out;
  }
  bool factor(double lambda) {
    l_.assign(h_.begin(), h_.end());
    for (std::size_t i = 0; i < n_; ++i) l_[i * n_ + i] += lambda;
    return cholesky(l_, n_);
  }
  double pivot(std::size_t k) const { return l_[k * n_ + k]; }
  double below(std::size_t k, std::span<const double> w) const {
    double sum = 0.0;
    for (std::size_t j = 0; j < k; ++j) sum += l_[k * n_ + j] * w[j];
    return sum;
  }
  double above(std::size_t k, std::span<const double> x) const {
    double sum = 0.0;
    for (std::size_t j = k + 1; j < n_; ++j) sum += l_[j * n_ + k] * x[j];
    return sum;
  }
  double quadratic(std::span<const double> p) const {
    double sum = 0.0;
    for (std::size_t i = 0; i < n_; ++i) sum += p[i] * dot(h_.subspan(i * n_, n_), p);
    return sum;
  }

 private:
  std::span<const double> h_;
  std::size_t n_;
  std::vector<double> l_;  // lower triangle of the last factorization
};

class SymmetricTridiagonal {
 public:
  SymmetricTridiagonal(std::span<const double> diagonal, std::span<const double> off)
      : a_(diagonal), b_(off), d_(diagonal.size()), e_(diagonal.size()) {}
  std::size_t size() const { return a_.size(); }
  double min_diagonal() const { return *std::min_element(a_.begin(), a_.end()); }
  void gershgorin(double& lower, double& upper) const {
    lower = std::numeric_limits<double>::infinity();
    upper = -lower;
    for (std::size_t i = 0; i < a_.size(); ++i) {
      const double radius = (i > 0 ? std::abs(b_[i - 1]) : 0.0) + (i < b_.size() ? std::abs(b_[i]) : 0.0);
      lower = std::min(lower, a_[i] - radius);
      upper = std::max(upper, a_[i] + radius);
    }
  }
  double frobenius() const { return std::sqrt(dot(a_, a_) + 2.0 * dot(b_, b_)); }
  double infinity_norm() const {
    double out = 0.0;
    for (std::size_t i = 0; i < a_.size(); ++i) {
      out = std::max(out, std::abs(a_[i]) + (i > 0 ? std::abs(b_[i - 1]) : 0.0) +
                              (i < b_.size() ? std::abs(b_[i]) : 0.0));
    }
    return out;
  }
  bool factor(double lambda) {  // L is lower bidiagonal: d_ on the diagonal, e_[k] = L_(k, k-1)
    for (std::size_t k = 0; k < a_.size(); ++k) {
      e_[k] = k > 0 ? b_[k - 1] / d_[k - 1] : 0.0;
      const double pivot = a_[k] + lambda - e_[k] * e_[k];
      if (!(pivot > 0.0) || !std::isfinite(pivot)) return false;
      d_[k] = std::sqrt(pivot);
    }
    return true;
  }
  double pivot(std::size_t k) const { return d_[k]; }
  double below(std::size_t k, std::span<const double> w) const { return k > 0 ? e_[k] * w[k - 1] : 0.0; }
  double above(std::size_t k, std::span<const double> x) const {
    return k + 1 < a_.size() ? e_[k + 1] * x[k + 1] : 0.0;
  }
  double quadratic(std::span<const double> p) const {
    double sum = 0.0;
    for (std::size_t i = 0; i < a_.size(); ++i) sum += a_[i] * p[i] * p[i];
    for (std::size_t i = 0; i < b_.size(); ++i) sum += 2.0 * b_[i] * p[i] * p[i + 1];
    return sum;
  }

 private:
  std::span<const double> a_, b_;
  std::vector<double> d_, e_;
};

}  // namespace

TrustStep steihaug_cg(std::span<const double> g, const HessianTimes& hessian, double radius, double tolerance,
                      std::size_t max_iterations) {
  const std::size_t n = g.size();
  TrustStep step;
  step.p.assign(n, 0.0);
  std::vector<double> r(g.begin(), g.end()), d(n), hd(n), next(n);  // r = H p + g, the model's gradient at p
  for (std::size_t i = 0; i < n; ++i) d[i] = -r[i];
  double rr = dot(r, r);
  if (std::sqrt(rr) <= tolerance) return step;
  // Moves p to p + t d, with the model's change along the line: t r.d + t^2 d.Hd / 2.
  const auto move = [&](double t, double slope, double curvature) {
    for (std::size_t i = 0; i < n; ++i) step.p[i] += t * d[i];
    step.model_change += t * slope + 0.5 * t * t * curvature;
  };
  for (std::size_t j = 0; j < max_iterations; ++j) {
    hessian(d, hd);
    ++step.inner_iterations;
    const double curvature = dot(d, hd);
    const double slope = dot(r, d);
    if (!(curvature > 0.0)) {  // m is unbounded below along d: go to the boundary, to the lower of its two points
      const auto [t1, t2] = boundary_roots(step.p, d, radius);
      const auto change = [&](double t) { return t * slope + 0.5 * t * t * curvature; };
      move(change(t1) < change(t2) ? t1 : t2, slope, curvature);
      step.on_boundary = true;
      return step;
    }
    const double alpha = rr / curvature;
    for (std::size_t i = 0; i < n; ++i) next[i] = step.p[i] + alpha * d[i];
    if (norm(next) >= radius) {  // the CG point is outside: stop where the path leaves the region
      move(boundary_roots(step.p, d, radius).second, slope, curvature);
      step.on_boundary = true;
      return step;
    }
    move(alpha, slope, curvature);
    for (std::size_t i = 0; i < n; ++i) r[i] += alpha * hd[i];
    const double rr_next = dot(r, r);
    if (std::sqrt(rr_next) < tolerance) return step;
    const double beta = rr_next / rr;
    rr = rr_next;
    for (std::size_t i = 0; i < n; ++i) d[i] = -r[i] + beta * d[i];
  }
  return step;
}

TrustStep exact_dense(std::span<const double> h, std::span<const double> g, double radius,
                      double boundary_tolerance, double hard_case_tolerance) {
  DenseSymmetric matrix(h, g.size());
  return more_sorensen(matrix, g, radius, boundary_tolerance, hard_case_tolerance);
}

TrustStep exact_tridiagonal(std::span<const double> diagonal, std::span<const double> off_diagonal,
                            std::span<const double> g, double radius, double boundary_tolerance,
                            double hard_case_tolerance) {
  SymmetricTridiagonal matrix(diagonal, off_diagonal);
  return more_sorensen(matrix, g, radius, boundary_tolerance, hard_case_tolerance);
}

TrustStep gltr(std::span<const double> g, const HessianTimes& hessian, double radius, double tolerance,
               double boundary_tolerance, std::size_t max_iterations) {
  const std::size_t n = g.size();
  const double g_norm = norm(g);
  std::vector<std::vector<double>> basis;  // Q: the Lanczos vectors
  std::vector<double> alphas, betas, q(n), hq(n), w(n), reduced_g;
  for (std::size_t i = 0; i < n; ++i) q[i] = g[i] / g_norm;
  double scale = 0.0;  // a running bound on ||T||, for the test of an invariant subspace
  TrustStep reduced;
  std::size_t products = 0;
  for (std::size_t k = 0; k < std::max<std::size_t>(max_iterations, 1); ++k) {
    basis.push_back(q);
    hessian(q, hq);
    ++products;
    const double alpha = dot(q, hq);
    alphas.push_back(alpha);
    for (std::size_t i = 0; i < n; ++i) w[i] = hq[i] - alpha * q[i] - (k > 0 ? betas.back() * basis[k - 1][i] : 0.0);
    for (int pass = 0; pass < 2; ++pass) {  // "twice is enough" (Parlett)
      for (const auto& v : basis) {
        const double c = dot(v, w);
        for (std::size_t i = 0; i < n; ++i) w[i] -= c * v[i];
      }
    }
    const double beta = norm(w);
    scale = std::max(scale, std::abs(alpha) + beta + (betas.empty() ? 0.0 : betas.back()));
    reduced_g.assign(k + 1, 0.0);
    reduced_g[0] = g_norm;
    // The subspace problem is small and its matrix tridiagonal: solve it tightly.
    reduced = exact_tridiagonal(alphas, betas, reduced_g, radius, 1e-8, 1e-8);
    const bool invariant = beta <= 64.0 * std::numeric_limits<double>::epsilon() * scale;
    const double residual = beta * std::abs(reduced.p.back());
    if (invariant || residual <= (reduced.on_boundary ? boundary_tolerance : tolerance) || k + 1 >= max_iterations ||
        k + 1 >= n) {
      break;
    }
    betas.push_back(beta);
    for (std::size_t i = 0; i < n; ++i) q[i] = w[i] / beta;
  }
  TrustStep step;
  step.p.assign(n, 0.0);
  for (std::size_t j = 0; j < reduced.p.size(); ++j) {
    for (std::size_t i = 0; i < n; ++i) step.p[i] += reduced.p[j] * basis[j][i];
  }
  step.model_change = reduced.model_change;
  step.on_boundary = reduced.on_boundary;
  step.inner_iterations = products;
  return step;
}

}  // namespace descent::detail
