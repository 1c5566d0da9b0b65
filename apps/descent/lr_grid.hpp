// The learning rates tried when tuning a first-order optimizer on a test function: 1e-4 to 1e3 in steps
// of sqrt(10). Shared by `descent compare` and the convergence table (tools/convergence).
#pragma once

#include <cmath>
#include <vector>

namespace descent::cli {

inline std::vector<double> learning_rate_grid() {
  std::vector<double> grid;
  for (int k = -8; k <= 6; ++k) grid.push_back(std::pow(10.0, k / 2.0));
  return grid;
}

}  // namespace descent::cli
