// `descent compare`: every optimizer on one test function, each at its best learning rate, with plots.
#pragma once

#include <cstddef>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "lr_grid.hpp"
#include "presets.hpp"

namespace descent::cli {

struct CompareConfig {
  std::string function = "rosenbrock";
  std::vector<Preset> optimizers;  // resolved presets, in the order given
  std::size_t steps = 5000;
  double lr = 0.0;                 // 0: tune each optimizer's rate on a log grid (0.01 where f has no minimum)
  double tolerance = 1e-6;         // target: f - f* <= tolerance (functions with a minimum)
  std::filesystem::path out = "report";
  bool plots = true;
};

// Writes <out>/<function>/{summary.md, summary.csv, runs/*.csv, loss.*, paths.*} and prints a summary.
// Returns the report folder.
std::filesystem::path run_compare(const CompareConfig& config, std::ostream& log);

}  // namespace descent::cli
