// `descent train`: one MLP, one optimizer, real data; progress, metrics as CSV and JSON.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "descent/nn/data.hpp"
#include "descent/nn/train.hpp"
#include "presets.hpp"

namespace descent::cli {

struct TrainCommand {
  std::string optimizer = "adam";  // a preset or library name
  double lr = 0.0;                 // 0: the preset's rate for this data (see default_learning_rate)
  std::size_t epochs = 10;
  std::size_t batch_size = 128;    // 0: full batch
  std::string model;               // "784-256-10"; empty: the data set's default
  std::string data = "auto";       // fashion-mnist, spirals, a folder of MNIST-format files, or auto
  std::string schedule = "constant";
  std::string activation = "relu", init = "pytorch", loss = "cross-entropy";
  std::uint64_t seed = 1;
  std::size_t threads = 0;
  double clip_norm = 0.0;          // 0: no clipping
  std::filesystem::path out = "report/train";
  std::filesystem::path checkpoint;  // empty: the resume file, else <out>/checkpoint.safetensors with checkpoint_every
                                     // or max_steps, else none
  std::size_t checkpoint_every = 0;
  std::filesystem::path resume;
  std::size_t max_steps = 0;
  std::string nonfinite = "raise";   // raise, skip
};

// The data set a --data value names ("auto": Fashion-MNIST if installed, else the spirals).
nn::TrainTest load_data(const std::string& data, std::ostream& log);
// The model's layer sizes: --model, or 784-256-10 for MNIST-format data and 2-64-64-2 for the spirals.
std::vector<std::size_t> model_layers(const std::string& model, const nn::TrainTest& data);
// A rate that trains this MLP well with the preset (lr 1e-3 for Adam, 0.1 for SGD, ...).
double default_learning_rate(const Preset& preset);

// --schedule: constant, step, multistep, exponential, cosine, cosine-restarts, warmup, onecycle, polynomial,
// plateau. Their arguments follow from the number of epochs (see schedule_help()).
std::string schedule_help();
void check_schedule(const std::string& name);  // throws InvalidArgument naming an unknown schedule
// Throws for a name that is no preset or library optimizer, or is a second-order method (which needs a
// function with a Hessian, not mini-batches): those are for `descent compare --function`.
void check_trainable(const std::string& optimizer);

struct TrainRun {
  std::string label;
  std::filesystem::path checkpoint;  // the checkpoint written, if any
  std::vector<nn::EpochMetrics> epochs;
  std::vector<nn::StepMetrics> steps;
};

// Trains and writes <out>/metrics.csv, steps.csv and metrics.json; prints progress to `log` (a bar when
// `log` is a terminal). Returns the run.
TrainRun run_train(const TrainCommand& command, const nn::TrainTest& data, const std::filesystem::path& out,
                   std::ostream& log, bool progress_bar);

}  // namespace descent::cli
