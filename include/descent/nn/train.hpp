// Training an MLP on a data set with any optimizer of the library: epochs of seeded mini-batches (or full
// batch), evaluation on the test set after every epoch, hooks for loss curves and learning-rate schedules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "descent/nn/data.hpp"
#include "descent/nn/mlp.hpp"
#include "descent/optimizer.hpp"

namespace descent::nn {

struct TrainConfig {
  std::string optimizer = "adam";
  std::map<std::string, double> options{{"lr", 1e-3}};  // overrides of the optimizer's defaults
  std::size_t epochs = 10;
  std::size_t batch_size = 128;  // 0: full batch (the notes' batch gradient descent)
  std::uint64_t seed = 1;        // the order of the mini-batches
  std::size_t threads = 0;       // the update engine's threads (0: one per core)
};

struct StepMetrics {
  std::size_t step;      // optimizer steps so far, this one included
  double loss;           // the mean loss of the batch this step used
  double seconds;        // training time so far (evaluation excluded)
};

struct EpochMetrics {
  std::size_t epoch;            // 1-based
  std::size_t steps;            // optimizer steps so far
  double train_loss;            // mean of the epoch's batch losses
  double test_loss;
  double test_accuracy;         // fraction in [0, 1]
  double seconds;               // training time so far (evaluation excluded)
  double epoch_seconds;         // this epoch's training time
  double lr;                    // group 0's learning rate during the epoch
};

struct TrainHooks {
  // Once, with the optimizer just built over the model's parameters (attach a schedule here).
  std::function<void(Optimizer&)> on_start;
  std::function<void(const StepMetrics&)> on_step;
  // After each epoch's evaluation; a schedule steps here (it may change the optimizer's options).
  std::function<void(Optimizer&, const EpochMetrics&)> on_epoch;
  // Before each step, after the gradient is computed (gradient clipping goes here).
  std::function<void(Optimizer&)> before_step;
};

struct Evaluation {
  double loss;
  double accuracy;
};

// Mean loss and accuracy over a whole data set, in chunks of 1000 samples.
Evaluation evaluate(MLP<float>& model, const Dataset& data);

// Trains `model` in place; returns the metrics of every epoch. The optimizer is built over the model's
// parameters from config.optimizer and config.options; `optimizer_out`, when given, receives it (to read
// its state or save it). Throws InvalidArgument for a data set that does not fit the model.
std::vector<EpochMetrics> train(MLP<float>& model, const Dataset& train_set, const Dataset& test_set,
                                const TrainConfig& config, const TrainHooks& hooks = {},
                                std::unique_ptr<Optimizer>* optimizer_out = nullptr);

}  // namespace descent::nn
