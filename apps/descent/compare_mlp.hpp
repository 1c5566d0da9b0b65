// `descent compare` on a data set: the same MLP trained with each optimizer, side by side.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "descent/nn/data.hpp"
#include "presets.hpp"

namespace descent::cli {

struct MlpCompareConfig {
  std::vector<Preset> optimizers;  // first-order presets; empty: all of them (second-order ones are refused)
  std::string data = "auto";
  std::string model;               // empty: the data set's default
  std::size_t epochs = 5;
  std::size_t batch_size = 128;
  std::uint64_t seed = 1;
  std::size_t threads = 0;
  std::filesystem::path out = "report";
  bool plots = true;
};

// Writes <out>/<data>/{summary.md, summary.csv, runs/<optimizer>/*, loss-step.*, loss-time.*, accuracy.*}.
// `data` is what config.data names (load_data).
std::filesystem::path run_mlp_compare(const MlpCompareConfig& config, const nn::TrainTest& data, std::ostream& log,
                                      bool progress_bar);

}  // namespace descent::cli
