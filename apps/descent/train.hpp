// `descent train`: one MLP, one optimizer, real data; progress, metrics as CSV and JSON.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "descent/nn/data.hpp"
#include "descent/nn/train.hpp"
#include "descent/schedule.hpp"
#include "presets.hpp"

namespace descent::cli {

struct TrainCommand {
  std::string optimizer = "adam";  // a preset or library name, in any case
  double lr = 0.0;                 // 0: the preset's rate for this data (see default_learning_rate)
  std::vector<std::string> settings;  // --set name=value: any option of the optimizer (lr too, instead of --lr)
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
  bool overwrite = false;            // a fresh run may replace an existing checkpoint file
  std::size_t micro_batches = 1;     // gradient accumulation: each batch in this many parts (nn::TrainConfig)
  bool distributed = false;          // data-parallel over MPI: each rank one part of each batch (train_distributed.hpp)
  std::filesystem::path save_params; // the final parameters, as a checkpoint-format file (to compare runs bitwise)
};

// The data set a --data value names ("auto": Fashion-MNIST if installed, else the spirals).
nn::TrainTest load_data(const std::string& data, std::ostream& log);
// The model's layer sizes: --model, or 784-256-10 for MNIST-format data and 2-64-64-2 for the spirals.
std::vector<std::size_t> model_layers(const std::string& model, const nn::TrainTest& data);
// The model a train command builds on this data: model_layers(), --activation, --init, --loss, --seed.
// One definition for train and train --distributed, which must build the same model.
nn::MLPConfig model_config(const TrainCommand& command, const nn::TrainTest& data);
// --nonfinite as the optimizer's policy: skip, else raise (the option accepts only those two).
NonFinitePolicy nonfinite_policy(const TrainCommand& command);
// A rate that trains this MLP well with the preset (lr 1e-3 for Adam, 0.1 for SGD, ...).
double default_learning_rate(const Preset& preset);

// --schedule: constant, step, multistep, exponential, cosine, cosine-restarts, warmup, onecycle, polynomial,
// plateau. Their arguments follow from the number of epochs (see schedule_help()).
std::string schedule_help();
void check_schedule(const std::string& name);  // throws InvalidArgument naming an unknown schedule
// Throws for a name that is no preset or library optimizer, or is a second-order method (which needs a
// function with a Hessian, not mini-batches): those are for `descent compare --function`.
void check_trainable(const std::string& optimizer);
// Throws InvalidArgument for --activation, --init or --loss naming nothing, or a malformed --model.
void check_model_options(const std::string& model, const std::string& activation, const std::string& init,
                         const std::string& loss);
// Throws InvalidArgument for a --model whose layers do not fit the data's features and classes.
void check_model_fits(const std::string& model, const nn::TrainTest& data);

// The optimizer's options for the run: the preset's, then the learning rate (--lr, else the default
// rate), then every --set; validated by the option table (throws NotFound or InvalidArgument naming the
// option and value).
std::map<std::string, double> train_options(const TrainCommand& command);
// Where the run saves checkpoints, if anywhere: --checkpoint; else the --resume file; else with
// --checkpoint-every or --max-steps, <out>/checkpoint.safetensors; else nowhere (empty).
std::filesystem::path checkpoint_file(const TrainCommand& command, const std::filesystem::path& out);
// Everything about a train command that can be checked before its data set loads: names, the model,
// the options, --lr and --set, the checkpoint files (a fresh run does not replace an existing
// checkpoint unless --overwrite) and whether --out and the checkpoint's folder can be written (they are
// created). Throws descent::Error naming the bad value.
void check_train_command(const TrainCommand& command);

struct TrainRun {
  std::string label;
  std::filesystem::path checkpoint;  // the checkpoint written, if any
  std::vector<nn::EpochMetrics> epochs;
  std::vector<nn::StepMetrics> steps;
};

// Writes the final parameters as a checkpoint file of "param/<name>" tensors and no varying metadata, so
// that two runs that end with the same parameters write the same bytes.
void save_parameters(const std::filesystem::path& path, nn::MLP<float>& model);

// The schedule --schedule names over `opt`, for a run of `epochs` epochs of `steps_per_epoch` steps at
// learning rate `lr` (null for constant), and its steps as descent train takes them: after every
// optimizer step (onecycle) and after every epoch's evaluation (plateau with the test loss, the others
// plainly). One definition for train and train --distributed, where every rank steps its own optimizer's
// schedule alike (with the same test loss).
std::unique_ptr<Scheduler> make_schedule(const std::string& name, Optimizer& opt, std::size_t epochs,
                                         std::size_t steps_per_epoch, double lr);
void schedule_after_step(const std::string& name, Scheduler* schedule);
void schedule_after_epoch(const std::string& name, Scheduler* schedule, double test_loss);

// The line printed after each epoch ("  <label> epoch 3/10: train loss ...").
void print_epoch(std::ostream& log, const std::string& label, std::size_t epochs, const nn::EpochMetrics& e);

// Writes <out>/metrics.csv (run.epochs), steps.csv (run.steps) and metrics.json (the run's settings, the
// effective value of every option of `optimizer` given `options`, and the epochs). One definition for
// train and for rank 0 of train --distributed.
void write_train_metrics(const TrainCommand& command, const TrainRun& run, const std::string& optimizer,
                         const std::map<std::string, double>& options, const std::vector<std::size_t>& layers,
                         const std::string& data_name, const std::filesystem::path& out);

// Trains and writes <out>/metrics.csv, steps.csv and metrics.json; prints progress to `log` (a bar when
// `log` is a terminal). Returns the run.
TrainRun run_train(const TrainCommand& command, const nn::TrainTest& data, const std::filesystem::path& out,
                   std::ostream& log, bool progress_bar);

}  // namespace descent::cli
