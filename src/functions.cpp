#include "descent/functions.hpp"

#include <array>
#include <cmath>
#include <limits>
#include <string>

#include "descent/error.hpp"

namespace descent {
namespace {

// Rosenbrock (1960): a curved valley; minimum 0 at (1, 1).
double rosenbrock(std::span<const double> x, std::span<double> g) {
  const double a = 1.0 - x[0], b = x[1] - x[0] * x[0];
  g[0] = -2.0 * a - 400.0 * x[0] * b;
  g[1] = 200.0 * b;
  return a * a + 100.0 * b * b;
}

// Beale: flat plateaus and steep ridges; minimum 0 at (3, 0.5).
double beale(std::span<const double> x, std::span<double> g) {
  const double u = x[0], v = x[1];
  const double t1 = 1.5 - u + u * v, t2 = 2.25 - u + u * v * v, t3 = 2.625 - u + u * v * v * v;
  g[0] = 2.0 * t1 * (v - 1.0) + 2.0 * t2 * (v * v - 1.0) + 2.0 * t3 * (v * v * v - 1.0);
  g[1] = 2.0 * t1 * u + 2.0 * t2 * 2.0 * u * v + 2.0 * t3 * 3.0 * u * v * v;
  return t1 * t1 + t2 * t2 + t3 * t3;
}

// An ill-conditioned quadratic 0.5 * (x^2 + 50 y^2): the valley where plain gradient descent zig-zags.
double quadratic(std::span<const double> x, std::span<double> g) {
  g[0] = x[0];
  g[1] = 50.0 * x[1];
  return 0.5 * (x[0] * x[0] + 50.0 * x[1] * x[1]);
}

double sphere(std::span<const double> x, std::span<double> g) {
  g[0] = 2.0 * x[0];
  g[1] = 2.0 * x[1];
  return x[0] * x[0] + x[1] * x[1];
}

// A saddle at the origin, unbounded below along y: a start on the ridge shows who escapes it.
double saddle(std::span<const double> x, std::span<double> g) {
  g[0] = 2.0 * x[0];
  g[1] = -2.0 * x[1];
  return x[0] * x[0] - x[1] * x[1];
}

const std::array<TestFunction, 5>& table() {
  static const std::array<TestFunction, 5> functions{{
      {"rosenbrock", "Rosenbrock's banana valley, (1-x)^2 + 100 (y-x^2)^2", {-1.2, 1.0}, {1.0, 1.0}, 0.0, {-2.0, 2.0, -1.0, 3.0}, rosenbrock},
      {"beale", "Beale's function: plateaus and steep ridges", {1.0, 1.5}, {3.0, 0.5}, 0.0, {-1.0, 4.5, -1.5, 2.0}, beale},
      {"quadratic", "0.5 (x^2 + 50 y^2): condition number 50", {-4.0, 1.5}, {0.0, 0.0}, 0.0, {-5.0, 5.0, -2.0, 2.0}, quadratic},
      {"sphere", "x^2 + y^2", {-3.0, 2.0}, {0.0, 0.0}, 0.0, {-4.0, 4.0, -3.0, 3.0}, sphere},
      {"saddle", "x^2 - y^2: a saddle at the origin, no minimum", {-2.0, 1e-3}, {}, -std::numeric_limits<double>::infinity(),
       {-3.0, 3.0, -3.0, 3.0}, saddle},
  }};
  return functions;
}

}  // namespace

std::span<const TestFunction> test_functions() { return table(); }

const TestFunction& test_function(std::string_view name) {
  for (const TestFunction& f : table()) {
    if (f.name == name) return f;
  }
  std::string known;
  for (const TestFunction& f : table()) known += (known.empty() ? "" : ", ") + std::string(f.name);
  throw NotFound("unknown test function '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace descent
