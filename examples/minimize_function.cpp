// Minimize your own function: write f and its gradient, pick a method, read the result.
#include <cmath>
#include <cstdio>

#include "descent/minimize.hpp"

int main() {
  // f(x, y) = (x - 3)^2 + 10 (y + 1)^4 + x y, with its gradient.
  descent::FunctionObjective f(2, [](std::span<const double> x, std::span<double> g) {
    g[0] = 2.0 * (x[0] - 3.0) + x[1];
    g[1] = 40.0 * std::pow(x[1] + 1.0, 3) + x[0];
    return std::pow(x[0] - 3.0, 2) + 10.0 * std::pow(x[1] + 1.0, 4) + x[0] * x[1];
  });

  descent::LBFGSOptions lbfgs;
  lbfgs.line_search = descent::LineSearch::StrongWolfe;
  const auto result = descent::minimize(f, {0.0, 0.0}, lbfgs);
  std::printf("L-BFGS: f(%.6f, %.6f) = %.9f after %zu iterations, %zu evaluations (%s)\n", result.x[0], result.x[1],
              result.value, result.iterations, result.function_evaluations,
              std::string(descent::to_string(result.reason)).c_str());

  // Any optimizer of the library works too, here Adam as full-batch gradient descent.
  const auto adam = descent::minimize(f, {0.0, 0.0}, descent::FirstOrder{"adam", {{"lr", 0.05}}});
  std::printf("Adam:   f(%.6f, %.6f) = %.9f after %zu iterations\n", adam.x[0], adam.x[1], adam.value, adam.iterations);
}
