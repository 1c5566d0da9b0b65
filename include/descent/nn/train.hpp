// Training an MLP on a data set with any optimizer of the library: epochs of seeded mini-batches (or full
// batch), evaluation on the test set after every epoch, hooks for loss curves and learning-rate schedules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "descent/nn/data.hpp"
#include "descent/nn/mlp.hpp"
#include "descent/optimizer.hpp"
#include "descent/schedule.hpp"

namespace descent::nn {

struct TrainConfig {
  std::string optimizer = "adam";
  std::map<std::string, double> options{{"lr", 1e-3}};  // overrides of the optimizer's defaults
  std::size_t epochs = 10;
  std::size_t batch_size = 128;  // 0: full batch (the notes' batch gradient descent)
  std::uint64_t seed = 1;        // the order of the mini-batches
  std::size_t threads = 0;       // the update engine's threads (0: one per core)
  NonFinitePolicy nonfinite = NonFinitePolicy::Raise;  // a NaN or infinite gradient: stop with an error

  // Checkpoints (docs/checkpoint-format.md): when `checkpoint` names a file, the run saves there every
  // `checkpoint_every` steps (0: only at the end) and when training ends or stops at max_steps. A
  // checkpoint holds the model, the optimizer's state and options, the schedule's state (TrainHooks::
  // schedule), the data position and the metrics of the epochs done; no wall-clock times, so that a
  // resumed run writes the same bytes as an uninterrupted one.
  std::filesystem::path checkpoint;
  std::size_t checkpoint_every = 0;
  // Resume from this checkpoint: the run continues bitwise as if it had never stopped. The data set,
  // batch size and seed must be those of the saved run (checked); the optimizer and model must fit the
  // saved state (strict load).
  std::filesystem::path resume;
  // Stop (saving a checkpoint) after this many optimizer steps in all, counted from the run's start
  // (0: no limit): a long run split into sessions.
  std::size_t max_steps = 0;
  // Gradient accumulation: each batch's gradient is the sum, in order, of micro_batches parts' gradients
  // (micro_batch_gradient), bitwise what descent::dist gives with that many ranks (docs/distributed.md).
  // 1: the batch's gradient in one pass. Must be >= 1. Checkpoints record it; a resume with another
  // count is refused (the gradients would round differently).
  std::size_t micro_batches = 1;
  // Train with the parameters in bfloat16 (MLP::bfloat16_parameters): the optimizer updates the bfloat16
  // weights, the passes read them as float32, and the gradients are rounded to bfloat16 before each step.
  // The optimizer must take bfloat16 parameters (Adam, AdamW; their option bf16_params says how).
  bool bf16_parameters = false;
};

// Part `part` of `parts` of a batch of `batch` samples: samples [first, second), floor(part * batch /
// parts) to floor((part + 1) * batch / parts) (empty when batch < parts).
std::pair<std::size_t, std::size_t> micro_batch_range(std::size_t batch, std::size_t part, std::size_t parts);

// The gradient of part `part` of `parts` of a batch (inputs: batch x features; labels: batch), scaled by
// the part's share of the batch, size / batch, into the model's gradients: the parts' gradients added in
// order make the batch mean loss's gradient (up to rounding). Returns the part's mean loss times its
// share (0 for an empty part, whose gradient is 0). One definition for `descent train --micro-batches`
// and for each rank of `descent train --distributed`.
double micro_batch_gradient(MLP<float>& model, std::span<const float> inputs, std::span<const std::int32_t> labels,
                            std::size_t part, std::size_t parts);

struct StepMetrics {
  std::size_t step;      // optimizer steps so far, this one included
  double loss;           // the mean loss of the batch this step used
  double seconds;        // training time so far (evaluation excluded)
};

struct EpochMetrics {
  std::size_t epoch;            // 1-based
  std::size_t steps;            // optimizer steps so far
  double train_loss;            // mean of the batch losses of the epoch's steps taken (a step skipped for a
                                // non-finite gradient, or a non-finite loss, is not counted; NaN if none is)
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
  // The schedule that on_start attached, if any: checkpoints save and restore its state.
  std::function<Scheduler*()> schedule;
};

struct Evaluation {
  double loss;
  double accuracy;
};

// Throws InvalidArgument unless a model of these layer sizes takes the data set's features as inputs and
// has an output for each of its classes.
void check_model_fits(const std::vector<std::size_t>& layers, const Dataset& data);

// Mean loss and accuracy over a whole data set, in chunks of 1000 samples.
Evaluation evaluate(MLP<float>& model, const Dataset& data);

// A schedule's state as the checkpoint metadata train() writes (JSON text), and back:
// load_schedule_metadata checks the schedule's kind and every value, then loads it (Scheduler::load_state,
// which sets the optimizer's learning rates); it throws InvalidArgument naming `source` and changes nothing.
// Shared with `descent train --distributed`, whose checkpoints carry the schedule the same way.
std::string schedule_metadata(const Scheduler& schedule);
void load_schedule_metadata(Scheduler& schedule, const std::string& text, const std::string& source);

// Trains `model` in place; returns the metrics of every epoch (after a resume, the saved epochs' metrics
// come first, with their times 0; after max_steps, the epochs completed). The optimizer is built over the model's
// parameters from config.optimizer and config.options; `optimizer_out`, when given, receives it (to read
// its state or save it). Throws InvalidArgument for a data set that does not fit the model.
std::vector<EpochMetrics> train(MLP<float>& model, const Dataset& train_set, const Dataset& test_set,
                                const TrainConfig& config, const TrainHooks& hooks = {},
                                std::unique_ptr<Optimizer>* optimizer_out = nullptr);

}  // namespace descent::nn
