// `descent lr-find`: the learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural
// Networks", section 3.3): train for a few hundred mini-batches while the rate grows exponentially, watch
// where the loss falls fastest, and suggest that rate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "descent/nn/data.hpp"

namespace descent::cli {

struct LrFindCommand {
  std::string optimizer = "adam";
  std::vector<std::string> settings;  // --set name=value: the optimizer's options (not lr: the test sweeps it)
  std::string data = "auto";
  std::string model;
  std::size_t batch_size = 128;
  double start_lr = 1e-7;
  double end_lr = 10.0;
  std::size_t steps = 200;
  std::uint64_t seed = 1;
  std::filesystem::path out = "report/lr-find";
  bool plots = true;
};

// Throws InvalidArgument unless 0 < start_lr < end_lr (both finite) and steps >= 10, and for a --set that
// the option table refuses or that sets lr.
void check_lr_find(const LrFindCommand& command);
// Writes <out>/lr-find.csv (lr, loss, smoothed loss) and lr-find.png/svg; returns the suggested rate.
double run_lr_find(const LrFindCommand& command, const nn::TrainTest& data, std::ostream& log);

}  // namespace descent::cli
