// Classic test functions for optimizers, with value and gradient (float64).
#pragma once

#include <array>
#include <span>
#include <string_view>
#include <vector>

namespace descent {

struct TestFunction {
  std::string_view name;
  std::string_view description;
  std::vector<double> start;      // the customary starting point
  std::vector<double> minimizer;  // a global minimizer (empty where there is none, e.g. a saddle)
  double minimum;                 // f at the minimizer (-inf where f is unbounded below)
  std::array<double, 4> view;     // x_min, x_max, y_min, y_max: the region a contour plot should show
  // Returns f(x) and writes the gradient into grad (same length as x).
  double (*evaluate)(std::span<const double> x, std::span<double> grad);
};

// rosenbrock, beale, quadratic (condition number 50), sphere, saddle (x^2 - y^2).
std::span<const TestFunction> test_functions();
// Throws NotFound for an unknown name.
const TestFunction& test_function(std::string_view name);

}  // namespace descent
