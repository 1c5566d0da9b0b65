#include "train_distributed.hpp"

#include <ostream>

#include "descent/error.hpp"

#ifdef DESCENT_CLI_WITH_MPI
#include <mpi.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "descent/dist.hpp"
#include "descent/factory.hpp"
#include "descent/nn/mlp.hpp"
#include "descent/nn/train.hpp"
#include "descent/schedule.hpp"
#include "names.hpp"
#include "output.hpp"
#include "plot.hpp"
#include "presets.hpp"
#endif

namespace descent::cli {

#ifndef DESCENT_CLI_WITH_MPI

bool distributed_available() { return false; }

void run_train_distributed(const TrainCommand&, std::ostream&) {
  throw InvalidArgument("--distributed needs descent built with -DDESCENT_WITH_MPI=ON");
}

#else

bool distributed_available() { return true; }

namespace {

// MPI_Init on construction, MPI_Finalize on every way out.
struct MpiSession {
  MpiSession() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) MPI_Init(nullptr, nullptr);
  }
  ~MpiSession() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
};

// The training position a checkpoint carries, as "key=value" lines (all counts).
std::string position_text(const std::map<std::string, std::string>& values) {
  std::string out;
  for (const auto& [key, value] : values) out += key + "=" + value + "\n";
  return out;
}

std::map<std::string, std::string> parse_position(const std::string& text, const std::string& source) {
  std::map<std::string, std::string> out;
  std::size_t begin = 0;
  while (begin < text.size()) {
    const std::size_t end = text.find('\n', begin);
    const std::string line = text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos) throw InvalidArgument(source + ": training position line '" + excerpt(line) + "' has no '='");
    out[line.substr(0, eq)] = line.substr(eq + 1);
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return out;
}

std::size_t count_of(const std::map<std::string, std::string>& values, const std::string& key, const std::string& source) {
  const auto it = values.find(key);
  if (it == values.end()) throw InvalidArgument(source + ": the training position has no '" + key + "'");
  std::size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(it->second, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != it->second.size()) {
    throw InvalidArgument(source + ": training position '" + key + "' = '" + excerpt(it->second) + "' is not a count");
  }
  return static_cast<std::size_t>(v);
}

// The epochs done, for the checkpoint: one line per epoch, "epoch,steps,train_loss,test_loss,test_accuracy,lr"
// (shortest round-trip digits), so that a resumed run's metrics.csv and metrics.json list every epoch, as
// descent train's do (their times 0, as nn::train gives them).
std::string history_text(const std::vector<nn::EpochMetrics>& history) {
  std::string out;
  for (const nn::EpochMetrics& e : history) {
    out += std::to_string(e.epoch) + "," + std::to_string(e.steps) + "," + format_number(e.train_loss) + "," +
           format_number(e.test_loss) + "," + format_number(e.test_accuracy) + "," + format_number(e.lr) + "\n";
  }
  return out;
}

std::vector<nn::EpochMetrics> parse_history(const std::string& text, std::size_t epochs, const std::string& source) {
  std::vector<nn::EpochMetrics> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<std::string> fields;
    std::istringstream parts(line);
    for (std::string field; std::getline(parts, field, ',');) fields.push_back(field);
    const std::string at = source + ": epoch " + std::to_string(out.size() + 1) + " of the history";
    nn::EpochMetrics e{};
    try {
      if (fields.size() != 6) throw std::invalid_argument("fields");
      e.epoch = std::stoull(fields[0]);
      e.steps = std::stoull(fields[1]);
      e.train_loss = std::stod(fields[2]);
      e.test_loss = std::stod(fields[3]);
      e.test_accuracy = std::stod(fields[4]);
      e.lr = std::stod(fields[5]);
    } catch (const std::exception&) {
      throw InvalidArgument(at + ": '" + excerpt(line) + "' is not epoch,steps,train_loss,test_loss,test_accuracy,lr");
    }
    if (e.epoch != out.size() + 1) throw InvalidArgument(at + " is numbered " + std::to_string(e.epoch));
    out.push_back(e);
  }
  if (out.size() != epochs) {
    throw InvalidArgument(source + ": " + std::to_string(out.size()) + " epochs of metrics for " + std::to_string(epochs) +
                          " epochs done");
  }
  return out;
}

}  // namespace

void run_train_distributed(const TrainCommand& command, std::ostream& out_log) {
  MpiSession mpi;
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  std::ofstream discard;  // ranks other than 0 print nothing
  std::ostream& log = rank == 0 ? out_log : discard;

  const nn::TrainTest data = load_data(command.data, log);
  const Preset preset = resolve_optimizer(command.optimizer);
  if (preset.bf16_parameters) {  // sharded optimizers reduce and clip in the parameters' float32 or float64
    throw InvalidArgument("train --distributed: '" + preset.name + "' trains bfloat16 parameters, which "
                          "distributed training does not take");
  }
  const nn::MLPConfig model = model_config(command, data);
  nn::MLP<float> mlp(model);
  nn::check_model_fits(model.layers, data.train);
  nn::check_model_fits(model.layers, data.test);
  const auto options = train_options(command);
  const std::size_t threads = command.threads;
  dist::ShardedOptimizer opt(MPI_COMM_WORLD, mlp.parameters(), [&](std::vector<Parameter> owned) {
    auto local = make_optimizer(preset.optimizer, std::move(owned), options);
    local->set_num_threads(threads);
    return local;
  });
  opt.set_nonfinite_policy(nonfinite_policy(command));

  nn::BatchLoader loader(data.train, command.batch_size, command.seed);
  // Each rank schedules its own optimizer's groups: they all start from the same options and step alike
  // (plateau with the test loss rank 0 broadcasts), so every tensor sees the rate one process would give
  // it. A rank that owns no tensor has no optimizer and no schedule.
  std::unique_ptr<Scheduler> schedule;
  if (Optimizer* local = opt.local()) {
    schedule = make_schedule(command.schedule, *local, command.epochs, loader.batches_per_epoch(), options.at("lr"));
  }
  const auto epoch_lr_now = [&] { return opt.local() ? opt.local()->group(0).options().lr() : 0.0; };
  const std::filesystem::path checkpoint = checkpoint_file(command, command.out);
  TrainRun run{preset.name, checkpoint, {}, {}};
  std::size_t steps = 0;
  double epoch_loss_sum = 0.0, epoch_lr = epoch_lr_now();
  std::size_t epoch_batches = 0;
  const auto identity = [&] {
    return std::map<std::string, std::string>{{"seed", std::to_string(command.seed)},
                                              {"batch_size", std::to_string(loader.batch_size())},
                                              {"samples", std::to_string(data.train.samples)},
                                              {"schedule", command.schedule}};
  };
  if (!command.resume.empty()) {
    const std::string source = command.resume.string();
    const auto meta = opt.load(command.resume);
    const auto it = meta.find("training");
    if (it == meta.end()) throw InvalidArgument(source + ": no training position: not a checkpoint of descent train --distributed");
    auto saved = parse_position(it->second, source);
    if (!saved.count("schedule")) saved["schedule"] = "constant";  // saved before --distributed had schedules
    for (const auto& [key, value] : identity()) {
      if (!saved.count(key) || saved.at(key) != value) {
        throw InvalidArgument(source + ": the run was saved with " + key + " " +
                              (saved.count(key) ? saved.at(key) : std::string("?")) + ", this one has " + value);
      }
    }
    if (command.schedule != "constant" && count_of(saved, "epochs", source) != command.epochs) {
      throw InvalidArgument(source + ": the run was saved with " + saved.at("epochs") + " epochs, this one has " +
                            std::to_string(command.epochs) + ": its schedule would change (without a schedule a run "
                            "may be extended)");
    }
    steps = count_of(saved, "steps", source);
    const std::size_t epoch = count_of(saved, "epoch", source), position = count_of(saved, "position", source);
    if (position > loader.batches_per_epoch()) throw InvalidArgument(source + ": position " + std::to_string(position) + " is past the epoch");
    epoch_batches = count_of(saved, "epoch_batches", source);
    epoch_loss_sum = std::stod(saved.count("epoch_loss_sum") ? saved.at("epoch_loss_sum") : "0");
    if (saved.count("epoch_lr")) epoch_lr = std::stod(saved.at("epoch_lr"));
    run.epochs = parse_history(meta.count("history") ? meta.at("history") : "", epoch, source);
    if (schedule) {
      const auto at = meta.find("schedule");
      if (at == meta.end()) throw InvalidArgument(source + ": the run was saved without its schedule's state");
      nn::load_schedule_metadata(*schedule, at->second, source);
    }
    loader.seek(epoch, position);
  }
  const auto save = [&] {
    if (checkpoint.empty()) return;
    auto position = identity();
    position["steps"] = std::to_string(steps);
    position["epochs"] = std::to_string(command.epochs);
    position["epoch"] = std::to_string(loader.epoch());
    position["position"] = std::to_string(loader.position());
    position["epoch_batches"] = std::to_string(epoch_batches);
    position["epoch_loss_sum"] = format_number(epoch_loss_sum);
    position["epoch_lr"] = format_number(epoch_lr);
    std::map<std::string, std::string> metadata{{"training", position_text(position)}, {"history", history_text(run.epochs)}};
    // The index keeps rank 0's metadata; rank 0 always owns a tensor (the largest), so it has the schedule.
    if (schedule) metadata["schedule"] = nn::schedule_metadata(*schedule);
    opt.save(checkpoint, metadata);
  };

  log << "train " << model.layers.front() << "-...-" << model.layers.back() << " on " << data.train.name << " with "
      << preset.name << " on " << world << " ranks, batch " << loader.batch_size() << " (each rank its share)\n";
  std::vector<float> inputs;
  std::vector<std::int32_t> labels;
  std::vector<double> losses(static_cast<std::size_t>(world));
  double compute = 0.0, communicate = 0.0, update = 0.0, training_seconds = 0.0;
  bool stopped = false;
  for (std::size_t epoch = loader.epoch() + 1; epoch <= command.epochs && !stopped; ++epoch) {
    if (loader.position() == 0) epoch_lr = epoch_lr_now();  // else resumed mid-epoch
    const auto epoch_start = std::chrono::steady_clock::now();
    std::span<const std::size_t> indices;
    while (loader.next(indices)) {
      if (command.max_steps > 0 && steps >= command.max_steps) {
        loader.seek(loader.epoch(), loader.position() - 1);
        stopped = true;
        break;
      }
      const auto start = std::chrono::steady_clock::now();
      loader.gather(indices, inputs, labels);
      const double part_loss = nn::micro_batch_gradient(mlp, inputs, labels, static_cast<std::size_t>(rank),
                                                        static_cast<std::size_t>(world));
      compute += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      MPI_Gather(&part_loss, 1, MPI_DOUBLE, losses.data(), 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
      opt.reduce_gradients();
      if (command.clip_norm > 0.0) opt.clip_grad_norm(command.clip_norm);
      const bool stepped = opt.step();
      const dist::StepStats& s = opt.last_step_stats();
      communicate += s.reduce_seconds + s.gather_seconds;
      update += s.update_seconds;
      double loss = losses[0];  // in rank order, as `descent train --micro-batches` adds (rank 0's is the sum)
      for (std::size_t r = 1; r < losses.size(); ++r) loss += losses[r];
      if (stepped && std::isfinite(loss)) {
        epoch_loss_sum += loss;
        ++epoch_batches;
      }
      ++steps;
      if (rank == 0) {
        run.steps.push_back({steps, loss, training_seconds + std::chrono::duration<double>(
                                                                 std::chrono::steady_clock::now() - epoch_start).count()});
      }
      schedule_after_step(command.schedule, schedule.get());
      if (command.checkpoint_every > 0 && steps % command.checkpoint_every == 0) save();
    }
    if (stopped) break;
    const double epoch_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    training_seconds += epoch_seconds;
    // Rank 0 evaluates the full test set and every rank receives its numbers: a plateau schedule steps
    // with the same loss everywhere, and every rank's history (saved by rank 0) is rank 0's.
    double test[2] = {0.0, 0.0};
    if (rank == 0) {
      const nn::Evaluation e = nn::evaluate(mlp, data.test);
      test[0] = e.loss;
      test[1] = e.accuracy;
    }
    MPI_Bcast(test, 2, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    run.epochs.push_back({epoch, steps, epoch_loss_sum / static_cast<double>(epoch_batches), test[0], test[1],
                          training_seconds, epoch_seconds, epoch_lr});
    print_epoch(log, preset.name, command.epochs, run.epochs.back());
    epoch_loss_sum = 0.0;
    epoch_batches = 0;
    schedule_after_epoch(command.schedule, schedule.get(), test[0]);
  }
  save();
  if (opt.skipped_steps() > 0) log << "skipped " << opt.skipped_steps() << " steps with a non-finite gradient\n";
  log << "rank 0 seconds: compute " << compute << ", communication " << communicate << ", update " << update << "\n";
  if (rank == 0 && !command.save_params.empty()) save_parameters(command.save_params, mlp);
  if (rank == 0) {
    write_train_metrics(command, run, preset.optimizer, options, model.layers, data.train.name, command.out);
    log << "metrics: " << command.out.string() << "/metrics.csv, metrics.json, steps.csv\n";
  }
  if (stopped) log << "stopped at --max-steps " << command.max_steps << "; continue with --resume " << checkpoint.string() << "\n";
  if (!checkpoint.empty()) log << "checkpoint: " << checkpoint.string() << "\n";
}

#endif

}  // namespace descent::cli
