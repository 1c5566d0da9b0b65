// Test problems: formulas, derivatives, starts and minimizers.
//
// Sources. Rosenbrock (1960) and Beale (1958) with the starts of Moré, Garbow & Hillstrom, "Testing
// unconstrained optimization software", ACM TOMS 7(1), 1981 (problems 1 and 5; the n-D start repeats
// (-1.2, 1) as for their extended Rosenbrock, problem 21). The chained n-D Rosenbrock and its unique global
// minimizer: Shang & Qiu, "A note on the extended Rosenbrock function", Evol. Comput. 14(1), 2006. The
// quadratic's start: Boyd & Vandenberghe, Convex Optimization, 2004, sec. 9.3.2. Booth, Matyas, three-hump
// camel, Styblinski-Tang, Rastrigin and Ackley as in Jamil & Yang, "A literature survey of benchmark
// functions for global optimization problems", IJMMNO 4(2), 2013, which gives search domains but no starts:
// where the literature has no customary start, the comment at the problem says why this one.
#include "descent/minimize/test_problems.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numbers>
#include <string>
#include <utility>

#include "descent/error.hpp"
#include "random.hpp"

namespace descent {
namespace {

using Point = std::vector<double>;

constexpr double kPi = std::numbers::pi;
constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kNotKnown = std::numeric_limits<double>::quiet_NaN();

void require_length(std::string_view problem, const char* what, std::size_t length, std::size_t expected) {
  if (length != expected) {
    throw InvalidArgument(std::string(problem) + ": " + what + " has length " + std::to_string(length) +
                          " but must have length " + std::to_string(expected));
  }
}

// An objective from formulas: the value and (when grad is not empty) the gradient, the Hessian written
// into a zeroed n x n buffer, and optionally a Hessian-vector product cheaper than forming H. It checks
// the lengths, so the formulas need not.
class FormulaObjective final : public Objective {
 public:
  using ValueAndGradient = std::function<double(std::span<const double> x, std::span<double> grad)>;
  using Hessian = std::function<void(std::span<const double> x, std::span<double> h)>;
  using HessianVectorProduct =
      std::function<void(std::span<const double> x, std::span<const double> v, std::span<double> hv)>;

  FormulaObjective(std::string name, std::size_t dimension, ValueAndGradient value_and_gradient, Hessian hessian,
                   HessianVectorProduct hessian_vector_product = {})
      : name_(std::move(name)),
        dimension_(dimension),
        value_and_gradient_(std::move(value_and_gradient)),
        hessian_(std::move(hessian)),
        hessian_vector_product_(std::move(hessian_vector_product)) {}

  std::size_t dimension() const override { return dimension_; }

  double evaluate(std::span<const double> x, std::span<double> grad) const override {
    require_length(name_, "x", x.size(), dimension_);
    if (!grad.empty()) require_length(name_, "grad", grad.size(), dimension_);
    return value_and_gradient_(x, grad);
  }

  bool has_hessian() const override { return true; }

  void hessian(std::span<const double> x, std::span<double> h) const override {
    require_length(name_, "x", x.size(), dimension_);
    require_length(name_, "the Hessian buffer", h.size(), dimension_ * dimension_);
    std::fill(h.begin(), h.end(), 0.0);
    hessian_(x, h);
  }

  void hessian_vector_product(std::span<const double> x, std::span<const double> v,
                              std::span<double> hv) const override {
    require_length(name_, "x", x.size(), dimension_);
    require_length(name_, "v", v.size(), dimension_);
    require_length(name_, "hv", hv.size(), dimension_);
    if (hessian_vector_product_) {
      hessian_vector_product_(x, v, hv);
    } else {
      Objective::hessian_vector_product(x, v, hv);
    }
  }

 private:
  std::string name_;
  std::size_t dimension_;
  ValueAndGradient value_and_gradient_;
  Hessian hessian_;
  HessianVectorProduct hessian_vector_product_;
};

// f(x) = sum_i phi_i(x_i): a separable function, whose Hessian is diagonal.
struct CoordinateTerm {
  double value, slope, curvature;  // phi_i(x_i), phi_i'(x_i), phi_i''(x_i)
};
using CoordinateFunction = std::function<CoordinateTerm(std::size_t i, double xi)>;

std::shared_ptr<const Objective> coordinatewise(std::string name, std::size_t n, CoordinateFunction phi) {
  auto value_and_gradient = [n, phi](std::span<const double> x, std::span<double> g) {
    double sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const CoordinateTerm term = phi(i, x[i]);
      sum += term.value;
      if (!g.empty()) g[i] = term.slope;
    }
    return sum;
  };
  auto hessian = [n, phi](std::span<const double> x, std::span<double> h) {
    for (std::size_t i = 0; i < n; ++i) h[i * n + i] = phi(i, x[i]).curvature;
  };
  auto hessian_vector_product = [n, phi](std::span<const double> x, std::span<const double> v, std::span<double> hv) {
    for (std::size_t i = 0; i < n; ++i) hv[i] = phi(i, x[i]).curvature * v[i];
  };
  return std::make_shared<FormulaObjective>(std::move(name), n, value_and_gradient, hessian, hessian_vector_product);
}

// A 2-D objective from plain functions.
using PlanarValue = double (*)(std::span<const double> x, std::span<double> grad);
using PlanarHessian = void (*)(std::span<const double> x, std::span<double> h);
std::shared_ptr<const Objective> planar(std::string name, PlanarValue value_and_gradient, PlanarHessian hessian) {
  return std::make_shared<FormulaObjective>(std::move(name), 2, value_and_gradient, hessian);
}

// (a, b, a, b, ...) of length n: the n-D starts repeat a 2-D one.
Point alternating(std::size_t n, double a, double b) {
  Point x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = i % 2 == 0 ? a : b;
  return x;
}

std::string dimension_note(std::size_t n) { return "; n = " + std::to_string(n); }

// ---- n-D problems ---------------------------------------------------------------------------------

TestProblem sphere(std::size_t n) {
  auto phi = [](std::size_t, double x) { return CoordinateTerm{x * x, 2.0 * x, 2.0}; };
  // No customary start: (-3, 2), the one descent's comparison tool has always used, repeated.
  return {"sphere", "sum_i x_i^2: the round bowl" + dimension_note(n), coordinatewise("sphere", n, phi),
          alternating(n, -3.0, 2.0), {Point(n, 0.0)}, 0.0, {-4.0, 4.0, -3.0, 3.0}};
}

// Chained Rosenbrock: f = sum_{i<n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2. Its Hessian is tridiagonal:
// term i adds 1200 x_i^2 - 400 x_{i+1} + 2 at (i, i), -400 x_i at (i, i+1) and (i+1, i), 200 at (i+1, i+1).
TestProblem rosenbrock(std::size_t n) {
  auto value_and_gradient = [n](std::span<const double> x, std::span<double> g) {
    if (!g.empty()) std::fill(g.begin(), g.end(), 0.0);
    double sum = 0.0;
    for (std::size_t i = 0; i + 1 < n; ++i) {
      const double valley = x[i + 1] - x[i] * x[i], off_center = 1.0 - x[i];
      sum += 100.0 * valley * valley + off_center * off_center;
      if (!g.empty()) {
        g[i] += -400.0 * x[i] * valley - 2.0 * off_center;
        g[i + 1] += 200.0 * valley;
      }
    }
    return sum;
  };
  auto hessian = [n](std::span<const double> x, std::span<double> h) {
    for (std::size_t i = 0; i + 1 < n; ++i) {
      h[i * n + i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0;
      h[i * n + i + 1] = -400.0 * x[i];
      h[(i + 1) * n + i] = -400.0 * x[i];
      h[(i + 1) * n + i + 1] += 200.0;
    }
  };
  // The tridiagonal product in O(n), for Newton-CG on large n.
  auto hessian_vector_product = [n](std::span<const double> x, std::span<const double> v, std::span<double> hv) {
    std::fill(hv.begin(), hv.end(), 0.0);
    for (std::size_t i = 0; i + 1 < n; ++i) {
      hv[i] += (1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0) * v[i] - 400.0 * x[i] * v[i + 1];
      hv[i + 1] += -400.0 * x[i] * v[i] + 200.0 * v[i + 1];
    }
  };
  return {"rosenbrock",
          "Rosenbrock's banana valley, sum_{i<n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2" + dimension_note(n),
          std::make_shared<FormulaObjective>("rosenbrock", n, value_and_gradient, hessian, hessian_vector_product),
          alternating(n, -1.2, 1.0),
          {Point(n, 1.0)},
          0.0,
          {-2.0, 2.0, -1.0, 3.0}};
}

// Styblinski & Tang (1990): sum_i 0.5 (x_i^4 - 16 x_i^2 + 5 x_i), 2^n local minima, the global one with
// every x_i at the smaller root of 4 x^3 - 32 x + 5.
TestProblem styblinski_tang(std::size_t n) {
  constexpr double kRoot = -2.903534027771177;
  auto phi = [](std::size_t, double x) {
    const double x2 = x * x;
    return CoordinateTerm{0.5 * (x2 * x2 - 16.0 * x2 + 5.0 * x), 0.5 * (4.0 * x2 * x - 32.0 * x + 5.0),
                          6.0 * x2 - 16.0};
  };
  auto objective = coordinatewise("styblinski-tang", n, phi);
  const Point minimizer(n, kRoot);
  // f at the rounded minimizer (about -39.16616570377142 n), so that minimum is exactly what evaluate() gives.
  const double minimum = objective->evaluate(minimizer, {});
  // No customary start: the origin, the centre of the customary search box [-5, 5]^n.
  return {"styblinski-tang", "Styblinski-Tang, sum_i 0.5 (x_i^4 - 16 x_i^2 + 5 x_i)" + dimension_note(n),
          objective, Point(n, 0.0), {minimizer}, minimum, {-5.0, 5.0, -5.0, 5.0}};
}

// Rastrigin: 10 n + sum_i (x_i^2 - 10 cos(2 pi x_i)), written as sum_i x_i^2 + 20 sin^2(pi x_i), the same
// function, so that it is computed without cancellation near the lattice of local minima (f(0) = 0 exactly).
TestProblem rastrigin(std::size_t n) {
  auto phi = [](std::size_t, double x) {
    const double s = std::sin(kPi * x);
    return CoordinateTerm{x * x + 20.0 * s * s, 2.0 * x + 20.0 * kPi * std::sin(2.0 * kPi * x),
                          2.0 + 40.0 * kPi * kPi * std::cos(2.0 * kPi * x)};
  };
  // No customary start: a point off the lattice of local minima, in the basin of the one near (-3, 3),
  // inside the customary search box [-5.12, 5.12]^n.
  return {"rastrigin", "Rastrigin, 10 n + sum_i (x_i^2 - 10 cos(2 pi x_i))" + dimension_note(n),
          coordinatewise("rastrigin", n, phi), alternating(n, -3.3, 2.7), {Point(n, 0.0)}, 0.0,
          {-5.12, 5.12, -5.12, 5.12}};
}

// Ackley: 20 (1 - exp(-0.2 r)) + e - exp(c), with r = sqrt(mean x_i^2) and c = mean cos(2 pi x_i), the usual
// -20 exp(-0.2 r) - exp(c) + 20 + e regrouped so that f(0) is exactly 0.
//
// With u = x / r (so that sum u_i^2 = n) and E = exp(-0.2 r), C = exp(c):
//   grad_i = 4 E u_i / n + (2 pi / n) C sin(2 pi x_i)
//   H_ij   = (4 E / n) (delta_ij / r - u_i u_j (0.2 + 1 / r) / n)
//          + (4 pi^2 / n) C (delta_ij cos(2 pi x_i) - sin(2 pi x_i) sin(2 pi x_j) / n)
// At the origin r = 0 is a cone point: the first term has no gradient there (0 is given, the minimum-norm
// subgradient) and curvature ~ 1/r across every ray, so there is no Hessian.
struct AckleyRadius {
  double r;          // sqrt(mean x_i^2), 0 only at the origin
  double largest;    // max |x_i|, used to scale x without overflow or underflow
  double root_mean;  // sqrt(mean (x_i / largest)^2)
};

AckleyRadius ackley_radius(std::span<const double> x) {
  double largest = 0.0;
  for (double xi : x) largest = std::max(largest, std::abs(xi));
  if (largest == 0.0) return {0.0, 0.0, 0.0};
  double sum = 0.0;
  for (double xi : x) sum += (xi / largest) * (xi / largest);
  const double root_mean = std::sqrt(sum / static_cast<double>(x.size()));
  return {largest * root_mean, largest, root_mean};
}

TestProblem ackley(std::size_t n) {
  const double dn = static_cast<double>(n);
  auto value_and_gradient = [dn](std::span<const double> x, std::span<double> g) {
    const AckleyRadius radius = ackley_radius(x);
    double cos_sum = 0.0;
    for (double xi : x) cos_sum += std::cos(2.0 * kPi * xi);
    const double decay = std::exp(-0.2 * radius.r), ripple = std::exp(cos_sum / dn);
    if (!g.empty()) {
      for (std::size_t i = 0; i < x.size(); ++i) {
        const double u = radius.r > 0.0 ? (x[i] / radius.largest) / radius.root_mean : 0.0;
        g[i] = 4.0 * decay * u / dn + 2.0 * kPi / dn * ripple * std::sin(2.0 * kPi * x[i]);
      }
    }
    return 20.0 * (1.0 - decay) + (std::exp(1.0) - ripple);
  };
  auto hessian = [n, dn](std::span<const double> x, std::span<double> h) {
    const AckleyRadius radius = ackley_radius(x);
    if (radius.r == 0.0) {
      throw InvalidArgument("ackley: the Hessian does not exist at the origin x = 0, a cone point of f "
                            "(its curvature grows like 1/||x|| there)");
    }
    Point u(n), sines(n), cosines(n);
    double cos_sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      u[i] = (x[i] / radius.largest) / radius.root_mean;
      sines[i] = std::sin(2.0 * kPi * x[i]);
      cosines[i] = std::cos(2.0 * kPi * x[i]);
      cos_sum += cosines[i];
    }
    const double decay = std::exp(-0.2 * radius.r), ripple = std::exp(cos_sum / dn);
    const double cone = 4.0 * decay / dn, wave = 4.0 * kPi * kPi / dn * ripple;
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = i; j < n; ++j) {
        double entry = -cone * u[i] * u[j] * (0.2 + 1.0 / radius.r) / dn - wave * sines[i] * sines[j] / dn;
        if (i == j) entry += cone / radius.r + wave * cosines[i];
        h[i * n + j] = entry;
        h[j * n + i] = entry;
      }
    }
  };
  // No customary start (the customary box is [-32.768, 32.768]^n): the same off-lattice point as Rastrigin's,
  // away from the non-differentiable origin. The view shows the central funnel and the first ripples.
  return {"ackley",
          "Ackley, -20 exp(-0.2 sqrt(mean_i x_i^2)) - exp(mean_i cos(2 pi x_i)) + 20 + e (not differentiable at 0)" +
              dimension_note(n),
          std::make_shared<FormulaObjective>("ackley", n, value_and_gradient, hessian),
          alternating(n, -3.3, 2.7),
          {Point(n, 0.0)},
          0.0,
          {-5.0, 5.0, -5.0, 5.0}};
}

// ---- 2-D problems ---------------------------------------------------------------------------------

// Beale: sum_k t_k^2 with t_k = c_k - x + x y^k, c = (1.5, 2.25, 2.625). With dt/dx = y^k - 1,
// dt/dy = k x y^(k-1), d2t/dxdy = k y^(k-1), d2t/dy2 = k (k-1) x y^(k-2), d2t/dx2 = 0:
// H = 2 sum_k (grad t_k grad t_k^T + t_k hess t_k).
constexpr std::array<double, 3> kBealeConstants{1.5, 2.25, 2.625};

double beale_value(std::span<const double> p, std::span<double> g) {
  const double x = p[0], y = p[1];
  double sum = 0.0, gx = 0.0, gy = 0.0, y_power = 1.0;  // y_power = y^(k-1)
  for (std::size_t k = 1; k <= 3; ++k) {
    const double kd = static_cast<double>(k);
    const double t = kBealeConstants[k - 1] - x + x * y_power * y;
    sum += t * t;
    gx += 2.0 * t * (y_power * y - 1.0);
    gy += 2.0 * t * kd * x * y_power;
    y_power *= y;
  }
  if (!g.empty()) {
    g[0] = gx;
    g[1] = gy;
  }
  return sum;
}

void beale_hessian(std::span<const double> p, std::span<double> h) {
  const double x = p[0], y = p[1];
  double hxx = 0.0, hxy = 0.0, hyy = 0.0;
  double y_before = 0.0, y_power = 1.0;  // y^(k-2) (0 for k = 1, where it is multiplied by k - 1 = 0), y^(k-1)
  for (std::size_t k = 1; k <= 3; ++k) {
    const double kd = static_cast<double>(k);
    const double t = kBealeConstants[k - 1] - x + x * y_power * y;
    const double dx = y_power * y - 1.0, dy = kd * x * y_power;
    hxx += 2.0 * dx * dx;
    hxy += 2.0 * (dx * dy + t * kd * y_power);
    hyy += 2.0 * (dy * dy + t * kd * (kd - 1.0) * x * y_before);
    y_before = y_power;
    y_power *= y;
  }
  h[0] = hxx;
  h[1] = h[2] = hxy;
  h[3] = hyy;
}

// Booth: (x + 2y - 7)^2 + (2x + y - 5)^2, a quadratic with Hessian [[10, 8], [8, 10]].
double booth_value(std::span<const double> p, std::span<double> g) {
  const double first = p[0] + 2.0 * p[1] - 7.0, second = 2.0 * p[0] + p[1] - 5.0;
  if (!g.empty()) {
    g[0] = 2.0 * first + 4.0 * second;
    g[1] = 4.0 * first + 2.0 * second;
  }
  return first * first + second * second;
}

void booth_hessian(std::span<const double>, std::span<double> h) {
  h[0] = h[3] = 10.0;
  h[1] = h[2] = 8.0;
}

// Himmelblau (1972): (x^2 + y - 11)^2 + (x + y^2 - 7)^2, four global minima, a local maximum near
// (-0.27, -0.92) and four saddles.
double himmelblau_value(std::span<const double> p, std::span<double> g) {
  const double x = p[0], y = p[1];
  const double first = x * x + y - 11.0, second = x + y * y - 7.0;
  if (!g.empty()) {
    g[0] = 4.0 * x * first + 2.0 * second;
    g[1] = 2.0 * first + 4.0 * y * second;
  }
  return first * first + second * second;
}

void himmelblau_hessian(std::span<const double> p, std::span<double> h) {
  const double x = p[0], y = p[1];
  h[0] = 4.0 * (x * x + y - 11.0) + 8.0 * x * x + 2.0;
  h[1] = h[2] = 4.0 * (x + y);
  h[3] = 4.0 * (x + y * y - 7.0) + 8.0 * y * y + 2.0;
}

// Matyas: 0.26 (x^2 + y^2) - 0.48 x y, a quadratic with eigenvalues 0.04 along (1, 1) and 1 along (1, -1).
double matyas_value(std::span<const double> p, std::span<double> g) {
  const double x = p[0], y = p[1];
  if (!g.empty()) {
    g[0] = 0.52 * x - 0.48 * y;
    g[1] = 0.52 * y - 0.48 * x;
  }
  return 0.26 * (x * x + y * y) - 0.48 * x * y;
}

void matyas_hessian(std::span<const double>, std::span<double> h) {
  h[0] = h[3] = 0.52;
  h[1] = h[2] = -0.48;
}

// Three-hump camel: 2x^2 - 1.05x^4 + x^6/6 + xy + y^2; the global minimum at 0 and two local ones at
// about +-(1.7476, -0.8738).
double three_hump_camel_value(std::span<const double> p, std::span<double> g) {
  const double x = p[0], y = p[1], x2 = x * x;
  if (!g.empty()) {
    g[0] = 4.0 * x - 4.2 * x2 * x + x2 * x2 * x + y;
    g[1] = x + 2.0 * y;
  }
  return 2.0 * x2 - 1.05 * x2 * x2 + x2 * x2 * x2 / 6.0 + x * y + y * y;
}

void three_hump_camel_hessian(std::span<const double> p, std::span<double> h) {
  const double x2 = p[0] * p[0];
  h[0] = 4.0 - 12.6 * x2 + 5.0 * x2 * x2;
  h[1] = h[2] = 1.0;
  h[3] = 2.0;
}

double saddle_value(std::span<const double> p, std::span<double> g) {
  if (!g.empty()) {
    g[0] = 2.0 * p[0];
    g[1] = -2.0 * p[1];
  }
  return p[0] * p[0] - p[1] * p[1];
}

void saddle_hessian(std::span<const double>, std::span<double> h) {
  h[0] = 2.0;
  h[3] = -2.0;
}

TestProblem beale(std::size_t) {
  return {"beale", "Beale, (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2: plateaus and steep ridges",
          planar("beale", beale_value, beale_hessian), {1.0, 1.0}, {{3.0, 0.5}}, 0.0, {-1.0, 4.5, -1.5, 2.0}};
}

TestProblem booth(std::size_t) {
  // No customary start: the origin.
  return {"booth", "Booth, (x + 2y - 7)^2 + (2x + y - 5)^2: a quadratic, condition number 9",
          planar("booth", booth_value, booth_hessian), {0.0, 0.0}, {{1.0, 3.0}}, 0.0, {-2.0, 4.0, -1.0, 5.0}};
}

TestProblem himmelblau(std::size_t) {
  // Three minimizers are irrational: the doubles nearest the roots of the gradient (computed to 40 digits
  // with mpmath's findroot), where f is below 1e-30 and the gradient below 2e-14.
  // No single customary start: the origin, from where the four basins are all within reach.
  return {"himmelblau",
          "Himmelblau, (x^2 + y - 11)^2 + (x + y^2 - 7)^2: four global minima",
          planar("himmelblau", himmelblau_value, himmelblau_hessian),
          {0.0, 0.0},
          {{3.0, 2.0},
           {-2.805118086952745, 3.131312518250573},
           {-3.779310253377747, -3.2831859912861696},
           {3.5844283403304917, -1.8481265269644036}},
          0.0,
          {-5.0, 5.0, -5.0, 5.0}};
}

TestProblem matyas(std::size_t) {
  // No customary start: (8, 6) lies mostly along the flat direction (1, 1), where the curvature is 0.04, so
  // the ill conditioning (condition number 25) shows.
  return {"matyas", "Matyas, 0.26 (x^2 + y^2) - 0.48 xy: a flat valley along x = y",
          planar("matyas", matyas_value, matyas_hessian), {8.0, 6.0}, {{0.0, 0.0}}, 0.0, {-10.0, 10.0, -10.0, 10.0}};
}

TestProblem three_hump_camel(std::size_t) {
  // No customary start: (-1.2, -1.5), from where gradient flow reaches the global minimum, between the two
  // side humps.
  return {"three-hump-camel", "three-hump camel, 2x^2 - 1.05x^4 + x^6/6 + xy + y^2: two local minima beside the global one",
          planar("three-hump-camel", three_hump_camel_value, three_hump_camel_hessian), {-1.2, -1.5}, {{0.0, 0.0}},
          0.0, {-2.5, 2.5, -2.5, 2.5}};
}

TestProblem saddle(std::size_t) {
  // The start of descent's comparison tool: almost on the ridge y = 0 and on the attracting direction x, so an
  // optimizer first slides towards the saddle and must then escape along y, where 1e-3 grows geometrically.
  return {"saddle", "x^2 - y^2: a saddle at the origin, unbounded below along y",
          planar("saddle", saddle_value, saddle_hessian), {-2.0, 1e-3}, {}, -kInfinity, {-3.0, 3.0, -3.0, 3.0}};
}

// ---- logistic regression's data ---------------------------------------------------------------------

using detail::SplitMix64;

constexpr std::uint64_t kLogisticSeed = 20240601;

// log(1 + exp(z)) without overflow, and without losing digits for large |z|.
double softplus(double z) { return z > 0.0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }

// 1 / (1 + exp(-z)); exp overflows to inf for very negative z, which gives the correct 0.
double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

double dot(std::span<const double> a, std::span<const double> b) {
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

// ---- the table ----------------------------------------------------------------------------------------

constexpr std::array<std::string_view, 13> kNames{
    "sphere",           "quadratic",       "rosenbrock", "beale",  "booth",  "himmelblau",         "matyas",
    "three-hump-camel", "styblinski-tang", "rastrigin",  "ackley", "saddle", "logistic-regression"};

// The dimension a problem is built in: its default for 0, else `requested` when it is at least `smallest`.
std::size_t any_dimension(std::string_view name, std::size_t requested, std::size_t default_dimension,
                          std::size_t smallest) {
  if (requested == 0) return default_dimension;
  if (requested < smallest) {
    throw InvalidArgument("test problem '" + std::string(name) + "': dimension " + std::to_string(requested) +
                          " is too small (it needs at least " + std::to_string(smallest) + ")");
  }
  return requested;
}

void require_planar(std::string_view name, std::size_t requested) {
  if (requested != 0 && requested != 2) {
    throw InvalidArgument("test problem '" + std::string(name) + "' is defined in 2 dimensions only, not in dimension " +
                          std::to_string(requested));
  }
}

}  // namespace

// ---- LogisticRegression ---------------------------------------------------------------------------------

LogisticRegression::LogisticRegression(std::size_t samples, std::size_t features, double l2)
    : samples_(samples), features_(features), l2_(l2) {
  if (samples == 0) throw InvalidArgument("logistic regression: samples = 0 must be at least 1");
  if (features == 0) throw InvalidArgument("logistic regression: features = 0 must be at least 1");
  if (!(l2 >= 0.0) || !std::isfinite(l2)) {
    throw InvalidArgument("logistic regression: l2 = " + format_number(l2) + " must be finite and >= 0");
  }
  // A hidden weight vector, then the inputs, all approximately standard normal; each label is the side of
  // the hidden hyperplane the input lies on, so the data is linearly separable through the origin.
  SplitMix64 random(kLogisticSeed);
  Point hidden(features);
  for (double& wi : hidden) wi = random.normal();
  inputs_.resize(samples * features);
  labels_.resize(samples);
  for (std::size_t i = 0; i < samples; ++i) {
    const std::span<double> row(inputs_.data() + i * features, features);
    for (double& aij : row) aij = random.normal();
    labels_[i] = dot(hidden, row) >= 0.0 ? 1.0 : -1.0;
  }
  all_terms_.resize(samples);
  for (std::size_t i = 0; i < samples; ++i) all_terms_[i] = i;
}

double LogisticRegression::evaluate(std::span<const double> w, std::span<double> grad) const {
  // The same loop as over any subset, so that evaluate() and evaluate_terms() on all terms agree exactly.
  return evaluate_terms(w, all_terms_, grad);
}

double LogisticRegression::evaluate_terms(std::span<const double> w, std::span<const std::size_t> terms,
                                          std::span<double> grad) const {
  const std::string_view name = "logistic regression";
  require_length(name, "w", w.size(), features_);
  if (!grad.empty()) require_length(name, "grad", grad.size(), features_);
  if (terms.empty()) throw InvalidArgument("logistic regression: the list of terms is empty (the mean of no terms)");
  for (std::size_t term : terms) {
    if (term >= samples_) {
      throw InvalidArgument("logistic regression: term " + std::to_string(term) + " is out of range (there are " +
                            std::to_string(samples_) + " terms)");
    }
  }
  // term i: log(1 + exp(-m_i)) + 0.5 l2 ||w||^2 with margin m_i = y_i <w, a_i>; its gradient is
  // -y_i sigmoid(-m_i) a_i + l2 w.
  if (!grad.empty()) std::fill(grad.begin(), grad.end(), 0.0);
  double loss = 0.0;
  for (std::size_t term : terms) {
    const std::span<const double> row(inputs_.data() + term * features_, features_);
    const double margin = labels_[term] * dot(w, row);
    loss += softplus(-margin);
    if (!grad.empty()) {
      const double weight = -labels_[term] * sigmoid(-margin);
      for (std::size_t j = 0; j < features_; ++j) grad[j] += weight * row[j];
    }
  }
  const double count = static_cast<double>(terms.size());
  if (!grad.empty()) {
    for (std::size_t j = 0; j < features_; ++j) grad[j] = grad[j] / count + l2_ * w[j];
  }
  return loss / count + 0.5 * l2_ * dot(w, w);
}

void LogisticRegression::hessian(std::span<const double> w, std::span<double> h) const {
  const std::string_view name = "logistic regression";
  require_length(name, "w", w.size(), features_);
  require_length(name, "the Hessian buffer", h.size(), features_ * features_);
  // (1/N) sum_i s_i a_i a_i^T + l2 I with s_i = sigmoid(m_i) sigmoid(-m_i) (the sign y_i squares away).
  std::fill(h.begin(), h.end(), 0.0);
  const std::size_t n = features_;
  for (std::size_t i = 0; i < samples_; ++i) {
    const std::span<const double> row(inputs_.data() + i * n, n);
    const double margin = dot(w, row);
    const double s = sigmoid(margin) * sigmoid(-margin);
    for (std::size_t j = 0; j < n; ++j) {
      for (std::size_t k = j; k < n; ++k) h[j * n + k] += s * row[j] * row[k];
    }
  }
  const double count = static_cast<double>(samples_);
  for (std::size_t j = 0; j < n; ++j) {
    h[j * n + j] = h[j * n + j] / count + l2_;
    for (std::size_t k = j + 1; k < n; ++k) {
      h[j * n + k] /= count;
      h[k * n + j] = h[j * n + k];
    }
  }
}

void LogisticRegression::hessian_vector_product(std::span<const double> w, std::span<const double> v,
                                                std::span<double> hv) const {
  const std::string_view name = "logistic regression";
  require_length(name, "w", w.size(), features_);
  require_length(name, "v", v.size(), features_);
  require_length(name, "hv", hv.size(), features_);
  std::fill(hv.begin(), hv.end(), 0.0);
  for (std::size_t i = 0; i < samples_; ++i) {
    const std::span<const double> row(inputs_.data() + i * features_, features_);
    const double margin = dot(w, row);
    const double weight = sigmoid(margin) * sigmoid(-margin) * dot(row, v);
    for (std::size_t j = 0; j < features_; ++j) hv[j] += weight * row[j];
  }
  const double count = static_cast<double>(samples_);
  for (std::size_t j = 0; j < features_; ++j) hv[j] = hv[j] / count + l2_ * v[j];
}

// ---- public functions ---------------------------------------------------------------------------------

std::span<const std::string_view> test_problem_names() { return kNames; }

TestProblem make_quadratic(std::size_t dimension, double condition_number) {
  if (dimension == 0) throw InvalidArgument("quadratic: dimension 0 must be at least 1");
  if (!(condition_number >= 1.0) || !std::isfinite(condition_number)) {
    throw InvalidArgument("quadratic: condition number " + format_number(condition_number) +
                          " must be finite and >= 1");
  }
  if (dimension == 1 && condition_number != 1.0) {
    throw InvalidArgument("quadratic: condition number " + format_number(condition_number) +
                          " is impossible in dimension 1, where it is always 1");
  }
  const std::size_t n = dimension;
  Point curvature(n, 1.0);
  for (std::size_t i = 1; i < n; ++i) {
    curvature[i] = std::pow(condition_number, static_cast<double>(i) / static_cast<double>(n - 1));
  }
  curvature[n - 1] = condition_number;  // exactly, whatever pow rounds to
  auto phi = [curvature](std::size_t i, double x) {
    return CoordinateTerm{0.5 * curvature[i] * x * x, curvature[i] * x, curvature[i]};
  };
  auto objective = coordinatewise("quadratic", n, phi);
  // Boyd & Vandenberghe's start (kappa, 1) for 0.5 (x^2 + kappa y^2), generalised to x_i = kappa / a_i: every
  // gradient component is kappa, so no direction starts out negligible.
  Point start(n);
  for (std::size_t i = 0; i < n; ++i) start[i] = condition_number / curvature[i];
  // The window holds the whole level set through the start: the ellipse reaches sqrt(2 f(start) / a_i) along
  // coordinate i.
  const double level = objective->evaluate(start, {});
  const double x_extent = 1.1 * std::sqrt(2.0 * level / curvature[0]);
  const double y_extent = n > 1 ? 1.1 * std::sqrt(2.0 * level / curvature[1]) : x_extent;
  return {"quadratic",
          "0.5 sum_i a_i x_i^2, a_i = " + format_number(condition_number) +
              "^(i/(n-1)) from 1 to the condition number " + format_number(condition_number) + dimension_note(n),
          objective,
          start,
          {Point(n, 0.0)},
          0.0,
          {-x_extent, x_extent, -y_extent, y_extent}};
}

TestProblem make_logistic_regression(std::size_t samples, std::size_t features, double l2) {
  auto objective = std::make_shared<LogisticRegression>(samples, features, l2);
  const double radius = l2 > 0.0 ? std::sqrt(2.0 * std::log(2.0) / l2) : 1.0;
  return {"logistic-regression",
          "logistic regression, (1/N) sum_i log(1 + exp(-y_i <w, a_i>)) + 0.5 l2 ||w||^2, on " + std::to_string(samples) +
              " generated separable samples, " + std::to_string(features) + " features, l2 = " + format_number(l2) +
              "; minimizer not known in closed form (minimum NaN)",
          objective,
          Point(features, 0.0),
          {},
          kNotKnown,
          {-radius, radius, -radius, radius}};
}

TestProblem make_test_problem(std::string_view name, std::size_t dimension) {
  if (name == "sphere") return sphere(any_dimension(name, dimension, 2, 1));
  if (name == "quadratic") {
    const std::size_t n = any_dimension(name, dimension, 2, 1);
    return make_quadratic(n, n == 1 ? 1.0 : 100.0);
  }
  if (name == "rosenbrock") return rosenbrock(any_dimension(name, dimension, 2, 2));
  if (name == "styblinski-tang") return styblinski_tang(any_dimension(name, dimension, 2, 2));
  if (name == "rastrigin") return rastrigin(any_dimension(name, dimension, 2, 2));
  if (name == "ackley") return ackley(any_dimension(name, dimension, 2, 2));
  if (name == "logistic-regression") return make_logistic_regression(200, any_dimension(name, dimension, 5, 1), 1e-2);
  using Planar = TestProblem (*)(std::size_t);
  constexpr std::array<std::pair<std::string_view, Planar>, 6> kPlanar{{{"beale", beale},
                                                                          {"booth", booth},
                                                                          {"himmelblau", himmelblau},
                                                                          {"matyas", matyas},
                                                                          {"three-hump-camel", three_hump_camel},
                                                                          {"saddle", saddle}}};
  for (const auto& [planar_name, make] : kPlanar) {
    if (planar_name == name) {
      require_planar(name, dimension);
      return make(2);
    }
  }
  std::string known;
  for (std::string_view known_name : kNames) known += (known.empty() ? "" : ", ") + std::string(known_name);
  throw NotFound("unknown test problem '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace descent
