#include "descent/nn/train.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "checkpoint/json.hpp"
#include "checkpoint/metadata.hpp"
#include "descent/checkpoint.hpp"
#include "descent/compose.hpp"
#include "descent/error.hpp"
#include "descent/factory.hpp"

namespace descent::nn {

void check_model_fits(const std::vector<std::size_t>& layers, const Dataset& data) {
  if (layers.size() < 2) throw InvalidArgument("a model needs at least two layer sizes: inputs and outputs");
  if (data.features != layers.front()) {
    throw InvalidArgument("the model takes " + std::to_string(layers.front()) + " inputs but data set '" + data.name +
                          "' has " + std::to_string(data.features) + " features");
  }
  if (data.classes > layers.back()) {
    throw InvalidArgument("the model has " + std::to_string(layers.back()) + " outputs but data set '" + data.name +
                          "' has " + std::to_string(data.classes) + " classes");
  }
}

namespace {
void check_fits(const MLP<float>& model, const Dataset& data) { check_model_fits(model.config().layers, data); }
}  // namespace

std::pair<std::size_t, std::size_t> micro_batch_range(std::size_t batch, std::size_t part, std::size_t parts) {
  if (parts == 0 || part >= parts) {
    throw InvalidArgument("micro_batch_range: part " + std::to_string(part) + " of " + std::to_string(parts) +
                          " does not exist");
  }
  // batch * part stays far from overflow for any batch that fits in memory.
  return {batch * part / parts, batch * (part + 1) / parts};
}

double micro_batch_gradient(MLP<float>& model, std::span<const float> inputs, std::span<const std::int32_t> labels,
                            std::size_t part, std::size_t parts) {
  const std::size_t batch = labels.size(), features = model.config().layers.front();
  if (inputs.size() != batch * features) {
    throw InvalidArgument("micro_batch_gradient: " + std::to_string(inputs.size()) + " inputs for " +
                          std::to_string(batch) + " samples of " + std::to_string(features) + " features");
  }
  const auto [first, last] = micro_batch_range(batch, part, parts);
  std::vector<Parameter> params = model.parameters();
  if (first == last) {
    for (Parameter& p : params) std::fill(p.grad<float>().begin(), p.grad<float>().end(), 0.0f);
    return 0.0;
  }
  const double loss = model.loss(inputs.subspan(first * features, (last - first) * features),
                                  labels.subspan(first, last - first), true);
  const double share = static_cast<double>(last - first) / static_cast<double>(batch);
  if (last - first != batch) {
    const float scale = static_cast<float>(share);
    for (Parameter& p : params) {
      for (float& g : p.grad<float>()) g *= scale;
    }
  }
  return loss * share;
}

Evaluation evaluate(MLP<float>& model, const Dataset& data) {
  check_fits(model, data);
  constexpr std::size_t kChunk = 1000;
  double loss_sum = 0.0;
  std::size_t hits = 0;
  for (std::size_t begin = 0; begin < data.samples; begin += kChunk) {
    const std::size_t count = std::min(kChunk, data.samples - begin);
    hits += model.correct(std::span(data.inputs).subspan(begin * data.features, count * data.features),
                          std::span(data.labels).subspan(begin, count), &loss_sum);
  }
  return {loss_sum / static_cast<double>(data.samples), static_cast<double>(hits) / static_cast<double>(data.samples)};
}

namespace {

namespace json = detail::json;

// What a missing run metadata key says of the file.
constexpr std::string_view kNotTraining = "not a training checkpoint";

std::string text_of(double value) { return json::quote(format_number(value)); }

double number_in(const json::Value& object, std::string_view key, const std::string& where) {
  const json::Value* v = object.find(key);
  double out = 0.0;
  if (v && json::to_double(*v, out)) return out;
  throw InvalidArgument(where + ": '" + std::string(key) + "' is missing or not a number");
}

std::size_t count_in(const json::Value& object, std::string_view key, const std::string& where) {
  const double v = number_in(object, key, where);
  if (!(v >= 0.0 && v <= 9007199254740992.0) || v != std::floor(v)) {
    throw InvalidArgument(where + ": '" + std::string(key) + "' = " + format_number(v) + " is not a count");
  }
  return static_cast<std::size_t>(v);
}

std::vector<double> numbers_in(const json::Value& object, std::string_view key, const std::string& where) {
  const json::Value* v = object.find(key);
  if (!v || !v->is(json::Value::Kind::Array)) throw InvalidArgument(where + ": '" + std::string(key) + "' is not a list");
  std::vector<double> out(v->items.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!json::to_double(v->items[i], out[i])) {
      throw InvalidArgument(where + ": '" + std::string(key) + "' entry " + std::to_string(i) + " is not a number");
    }
  }
  return out;
}

// Where a run is: everything besides the model and the optimizer that a checkpoint carries.
struct RunPosition {
  std::size_t steps = 0, epoch = 0, position = 0;  // loader: epochs done, batches taken in the current one
  double epoch_loss_sum = 0.0;
  std::size_t epoch_batches = 0;
  double epoch_lr = 0.0;  // group 0's lr when the current epoch began
  std::vector<EpochMetrics> history;
};

// What must match for a run to resume: the layer sizes and the functions the model computes (its
// initialization does not matter: the checkpoint brings the values).
std::string model_text(const MLPConfig& model) {
  static constexpr const char* kActivations[] = {"relu", "tanh", "sigmoid", "gelu"};
  static constexpr const char* kLosses[] = {"cross-entropy", "mse"};
  std::string out;
  for (const std::size_t w : model.layers) out.append(out.empty() ? "" : "-").append(std::to_string(w));
  out.append(" ").append(kActivations[static_cast<int>(model.activation)]);
  return out.append(" ").append(kLosses[static_cast<int>(model.loss)]);
}

std::string training_meta(const RunPosition& run, const BatchLoader& loader, const TrainConfig& config,
                          const Dataset& data, const MLPConfig& model) {
  std::string out = "{\"steps\":" + text_of(static_cast<double>(run.steps));
  out += ",\"epochs\":" + text_of(static_cast<double>(config.epochs));
  out += ",\"model\":" + json::quote(model_text(model));
  out += ",\"epoch\":" + text_of(static_cast<double>(loader.epoch()));
  out += ",\"position\":" + text_of(static_cast<double>(loader.position()));
  out += ",\"batch_size\":" + text_of(static_cast<double>(loader.batch_size()));
  out += ",\"seed\":" + json::quote(std::to_string(config.seed));
  out += ",\"samples\":" + text_of(static_cast<double>(data.samples));
  // Only when not 1, so that a run without gradient accumulation writes the bytes it wrote before the count
  // existed (tests/compat: a resumed 0.1.0 run ends with 0.1.0's checkpoint).
  if (config.micro_batches != 1) out += ",\"micro_batches\":" + text_of(static_cast<double>(config.micro_batches));
  out += ",\"data\":" + json::quote(data.name);
  out += ",\"epoch_loss_sum\":" + text_of(run.epoch_loss_sum);
  out += ",\"epoch_batches\":" + text_of(static_cast<double>(run.epoch_batches));
  out += ",\"epoch_lr\":" + text_of(run.epoch_lr);
  // Every option's value as the run began (its lr before any schedule): a resumed run must have the same.
  out += ",\"options\":{";
  const auto options = make_options(config.optimizer, config.options);
  const char* separator = "";
  for (const OptionInfo& f : options->info()) {
    out.append(separator).append(json::quote(f.name)).append(":").append(text_of(options->get(f.name)));
    separator = ",";
  }
  out += "}";
  out += ",\"history\":[";
  for (std::size_t i = 0; i < run.history.size(); ++i) {
    const EpochMetrics& e = run.history[i];
    out += std::string(i ? "," : "") + "{\"epoch\":" + text_of(static_cast<double>(e.epoch)) +
           ",\"steps\":" + text_of(static_cast<double>(e.steps)) + ",\"train_loss\":" + text_of(e.train_loss) +
           ",\"test_loss\":" + text_of(e.test_loss) + ",\"test_accuracy\":" + text_of(e.test_accuracy) +
           ",\"lr\":" + text_of(e.lr) + "}";
  }
  return out + "]}";
}

std::string schedule_meta(const Scheduler& schedule) {
  const SchedulerState st = schedule.state();
  const auto list = [](const std::vector<double>& values) {
    std::string out = "[";
    for (std::size_t i = 0; i < values.size(); ++i) out.append(i ? "," : "").append(text_of(values[i]));
    return out + "]";
  };
  return "{\"name\":" + json::quote(schedule.name()) + ",\"last_step\":" + text_of(static_cast<double>(st.last_step)) +
         ",\"base_lrs\":" + list(st.base_lrs) + ",\"last_lrs\":" + list(st.last_lrs) + ",\"best\":" + text_of(st.best) +
         ",\"num_bad_epochs\":" + text_of(static_cast<double>(st.num_bad_epochs)) +
         ",\"cooldown_counter\":" + text_of(static_cast<double>(st.cooldown_counter)) + "}";
}

// A schedule's state from its checkpoint metadata (schedule_meta's object), checked against `schedule`'s kind.
SchedulerState schedule_state_in(const json::Value& saved, const Scheduler& schedule, const std::string& source) {
  const std::string at = source + ": schedule state";
  const json::Value* name = saved.find("name");
  if (!name || !name->is(json::Value::Kind::String) || name->text != schedule.name()) {
    throw InvalidArgument(source + ": the run was saved with schedule " + (name ? name->text : std::string("?")) +
                          ", this one has " + std::string(schedule.name()));
  }
  SchedulerState st;
  st.last_step = static_cast<std::int64_t>(count_in(saved, "last_step", at));
  st.base_lrs = numbers_in(saved, "base_lrs", at);
  st.last_lrs = numbers_in(saved, "last_lrs", at);
  st.best = number_in(saved, "best", at);
  st.num_bad_epochs = static_cast<std::int64_t>(count_in(saved, "num_bad_epochs", at));
  st.cooldown_counter = static_cast<std::int64_t>(count_in(saved, "cooldown_counter", at));
  return st;
}

void save_run(const TrainConfig& config, const Optimizer& optimizer, const Scheduler* schedule, const RunPosition& run,
              const BatchLoader& loader, const Dataset& data, const MLPConfig& model) {
  StateDict dict = optimizer.state_dict(/*with_parameters=*/true);
  dict.metadata["training"] = training_meta(run, loader, config, data, model);
  if (schedule) dict.metadata["schedule"] = schedule_meta(*schedule);
  save_checkpoint(config.checkpoint, dict);
}

// Restores a run from config.resume: checks everything that can be checked first, then loads the
// schedule, the optimizer (with the model's parameters) and the data position.
RunPosition resume_run(const TrainConfig& config, Optimizer& optimizer, Scheduler* schedule, BatchLoader& loader,
                       const Dataset& data, const MLPConfig& model) {
  const std::string source = config.resume.string();
  const StateDict dict = load_checkpoint(config.resume);
  const json::Value training = detail::metadata_object(dict, "training", source, kNotTraining);
  const std::string where = source + ": training state";
  RunPosition run;
  run.steps = count_in(training, "steps", where);
  run.epoch = count_in(training, "epoch", where);
  run.position = count_in(training, "position", where);
  run.epoch_loss_sum = number_in(training, "epoch_loss_sum", where);
  run.epoch_batches = count_in(training, "epoch_batches", where);
  run.epoch_lr = number_in(training, "epoch_lr", where);
  // What a run can have written: a sum of finite losses (the loop counts no other), a rate >= 0, at most
  // one counted loss per batch taken.
  if (!(std::isfinite(run.epoch_loss_sum) && run.epoch_loss_sum >= 0.0)) {
    throw InvalidArgument(where + ": 'epoch_loss_sum' = " + format_number(run.epoch_loss_sum) +
                          " is not a sum of losses (finite, >= 0)");
  }
  if (!(std::isfinite(run.epoch_lr) && run.epoch_lr >= 0.0)) {
    throw InvalidArgument(where + ": 'epoch_lr' = " + format_number(run.epoch_lr) + " is not a learning rate");
  }
  if (run.epoch_batches > run.position) {
    throw InvalidArgument(where + ": 'epoch_batches' = " + std::to_string(run.epoch_batches) + " is more than the " +
                          std::to_string(run.position) + " batches taken in the epoch");
  }
  const json::Value* seed = training.find("seed");
  if (!seed || !seed->is(json::Value::Kind::String) || seed->text != std::to_string(config.seed)) {
    throw InvalidArgument(source + ": the run was saved with seed " + (seed ? seed->text : std::string("?")) +
                          ", this one has seed " + std::to_string(config.seed) + ": the batches would differ");
  }
  const json::Value* saved_model = training.find("model");
  if (!saved_model || !saved_model->is(json::Value::Kind::String) || saved_model->text != model_text(model)) {
    throw InvalidArgument(source + ": the run was saved with the model " +
                          (saved_model ? "'" + saved_model->text + "'" : std::string("?")) + ", this one is '" +
                          model_text(model) + "'");
  }
  const json::Value* saved_data = training.find("data");
  if (!saved_data || !saved_data->is(json::Value::Kind::String) || saved_data->text != data.name) {
    throw InvalidArgument(source + ": the run was saved training on " +
                          (saved_data ? "'" + saved_data->text + "'" : std::string("?")) + ", this one on '" +
                          data.name + "'");
  }
  if (const json::Value* saved_options = training.find("options")) {  // checkpoints before 2026-12 lack it
    if (!saved_options->is(json::Value::Kind::Object)) throw InvalidArgument(where + ": 'options' is not an object");
    const auto options = make_options(config.optimizer, config.options);
    std::string differences;
    const auto differ = [&](const std::string& text) { differences.append(differences.empty() ? "" : ", ").append(text); };
    for (const auto& [name, value] : saved_options->members) {
      double v = 0.0;
      if (!json::to_double(value, v)) throw InvalidArgument(where + ": option '" + name + "' is not a number");
      if (!options->has(name)) {
        differ(name + " = " + format_number(v) + " (this one has no " + name + ")");
      } else if (options->get(name) != v) {
        differ(name + " = " + format_number(v) + " (this one: " + format_number(options->get(name)) + ")");
      }
    }
    for (const OptionInfo& f : options->info()) {
      if (!saved_options->find(f.name)) {
        differ(std::string(f.name) + " not saved (this one: " + format_number(options->get(f.name)) + ")");
      }
    }
    if (!differences.empty()) {
      throw InvalidArgument(source + ": the run was saved with the options " + differences +
                            ": a resumed run keeps its options, give the same");
    }
  }
  const std::size_t epochs = count_in(training, "epochs", where);
  if (schedule && epochs != config.epochs) {
    throw InvalidArgument(source + ": the run was saved with " + std::to_string(epochs) + " epochs, this one has " +
                          std::to_string(config.epochs) + ": its schedule would change (without a schedule a run "
                          "may be extended)");
  }
  const std::size_t batch_size = count_in(training, "batch_size", where), samples = count_in(training, "samples", where);
  if (batch_size != loader.batch_size() || samples != data.samples) {
    throw InvalidArgument(source + ": the run was saved with batches of " + std::to_string(batch_size) + " from " +
                          std::to_string(samples) + " samples, this one has batches of " +
                          std::to_string(loader.batch_size()) + " from " + std::to_string(data.samples));
  }
  // The parts a batch's gradient is summed from change its rounding, so a resumed run with another count
  // would not continue bitwise (a checkpoint without the count was saved with 1).
  const std::size_t micro_batches = training.find("micro_batches") ? count_in(training, "micro_batches", where) : 1;
  if (micro_batches != config.micro_batches) {
    throw InvalidArgument(source + ": the run was saved with micro_batches = " + std::to_string(micro_batches) +
                          ", this one has micro_batches = " + std::to_string(config.micro_batches) +
                          ": each batch's gradient would be rounded differently, give the same");
  }
  if (run.position > loader.batches_per_epoch()) {
    throw InvalidArgument(where + ": position " + std::to_string(run.position) + " is past the epoch's " +
                          std::to_string(loader.batches_per_epoch()) + " batches");
  }
  const json::Value* history = training.find("history");
  if (!history || !history->is(json::Value::Kind::Array)) throw InvalidArgument(where + ": 'history' is not a list");
  for (const json::Value& e : history->items) {
    if (!e.is(json::Value::Kind::Object)) throw InvalidArgument(where + ": a history entry is not an object");
    const EpochMetrics m{count_in(e, "epoch", where), count_in(e, "steps", where), number_in(e, "train_loss", where),
                         number_in(e, "test_loss", where), number_in(e, "test_accuracy", where), 0.0, 0.0,
                         number_in(e, "lr", where)};
    const std::string at = where + ": epoch " + std::to_string(run.history.size() + 1) + " of the history";
    const std::size_t steps_before = run.history.empty() ? 0 : run.history.back().steps;
    if (m.epoch != run.history.size() + 1) throw InvalidArgument(at + " is numbered " + std::to_string(m.epoch));
    if (m.steps < steps_before || m.steps > run.steps) {
      throw InvalidArgument(at + ": 'steps' = " + std::to_string(m.steps) + " is not from " +
                            std::to_string(steps_before) + " to the run's " + std::to_string(run.steps));
    }
    // A diverged epoch reports a NaN or infinite loss (they are kept: they feed nothing); no loss is negative.
    for (const auto& [name, loss] : {std::pair{"train_loss", m.train_loss}, std::pair{"test_loss", m.test_loss}}) {
      if (loss < 0.0) throw InvalidArgument(at + ": '" + name + "' = " + format_number(loss) + " is negative");
    }
    if (!(m.test_accuracy >= 0.0 && m.test_accuracy <= 1.0)) {
      throw InvalidArgument(at + ": 'test_accuracy' = " + format_number(m.test_accuracy) +
                            " is not a fraction from 0 to 1");
    }
    if (!(std::isfinite(m.lr) && m.lr >= 0.0)) {
      throw InvalidArgument(at + ": 'lr' = " + format_number(m.lr) + " is not a learning rate");
    }
    run.history.push_back(m);
  }
  if (run.history.size() != run.epoch) {
    throw InvalidArgument(where + ": " + std::to_string(run.history.size()) + " epochs of metrics for " +
                          std::to_string(run.epoch) + " epochs done");
  }

  // The schedule: the same kind as saved, or none on both sides.
  const bool saved_schedule = dict.metadata.count("schedule") != 0;
  if (saved_schedule != (schedule != nullptr)) {
    throw InvalidArgument(source + (saved_schedule ? ": the run was saved with a learning-rate schedule, this one has none"
                                                   : ": the run was saved without a schedule, this one has one"));
  }
  SchedulerState old_state;
  if (schedule) {
    const json::Value saved = detail::metadata_object(dict, "schedule", source, kNotTraining);
    SchedulerState st = schedule_state_in(saved, *schedule, source);
    old_state = schedule->state();
    schedule->load_state(st);  // validates first: a throw changes nothing
  }
  try {
    optimizer.load_state_dict(dict);  // strict; parameters included
  } catch (...) {
    if (schedule) schedule->load_state(old_state);  // the lrs it set, undone
    throw;
  }
  loader.seek(run.epoch, run.position);  // checked above: cannot throw
  return run;
}

}  // namespace

std::string schedule_metadata(const Scheduler& schedule) { return schedule_meta(schedule); }

void load_schedule_metadata(Scheduler& schedule, const std::string& text, const std::string& source) {
  const json::Value saved = json::parse_object(text, source + ": schedule state");
  schedule.load_state(schedule_state_in(saved, schedule, source));  // validates first: a throw changes nothing
}

std::vector<EpochMetrics> train(MLP<float>& model, const Dataset& train_set, const Dataset& test_set,
                                const TrainConfig& config, const TrainHooks& hooks,
                                std::unique_ptr<Optimizer>* optimizer_out) {
  check_fits(model, train_set);
  check_fits(model, test_set);
  if (config.micro_batches == 0) throw InvalidArgument("train: micro_batches = 0 must be >= 1");
  auto optimizer = make_optimizer(config.optimizer,
                                  config.bf16_parameters ? model.bfloat16_parameters() : model.parameters(),
                                  config.options);
  optimizer->set_num_threads(config.threads);
  optimizer->set_nonfinite_policy(config.nonfinite);
  if (hooks.on_start) hooks.on_start(*optimizer);
  Scheduler* schedule = hooks.schedule ? hooks.schedule() : nullptr;
  BatchLoader loader(train_set, config.batch_size, config.seed);
  RunPosition run;
  if (!config.resume.empty()) run = resume_run(config, *optimizer, schedule, loader, train_set, model.config());
  if (config.bf16_parameters) model.load_bfloat16();  // a resumed run's weights came back in bfloat16
  const bool checkpoints = !config.checkpoint.empty();
  const auto save = [&] {
    if (checkpoints) save_run(config, *optimizer, schedule, run, loader, train_set, model.config());
  };

  std::vector<float> inputs;
  std::vector<std::int32_t> labels;
  std::vector<float> accumulated;  // the micro-batches' gradient sum
  double training_seconds = 0.0;
  const auto done = [&] {
    if (optimizer_out) *optimizer_out = std::move(optimizer);
    return run.history;
  };
  for (std::size_t epoch = loader.epoch() + 1; epoch <= config.epochs; ++epoch) {
    if (loader.position() == 0) run.epoch_lr = optimizer->group(0).options().lr();  // else resumed mid-epoch
    const auto epoch_start = std::chrono::steady_clock::now();
    std::span<const std::size_t> indices;
    while (loader.next(indices)) {
      if (config.max_steps > 0 && run.steps >= config.max_steps) {  // stop before this batch, resumable
        loader.seek(loader.epoch(), loader.position() - 1);
        save();
        return done();
      }
      loader.gather(indices, inputs, labels);
      double loss = 0.0;
      if (config.micro_batches <= 1) {
        loss = model.loss(inputs, labels, true);
      } else {
        // ((g_0 + g_1) + g_2) + ...: the order in which descent::dist's owners add the ranks' parts.
        for (std::size_t part = 0; part < config.micro_batches; ++part) {
          const double part_loss = micro_batch_gradient(model, inputs, labels, part, config.micro_batches);
          const auto grads = model.gradients();
          if (part == 0) {
            accumulated.assign(grads.begin(), grads.end());
            loss = part_loss;
          } else {
            for (std::size_t k = 0; k < grads.size(); ++k) accumulated[k] += grads[k];
            loss += part_loss;
          }
        }
        for (Parameter& p : model.parameters()) {
          const auto grad = p.grad<float>();
          const std::size_t offset = static_cast<std::size_t>(grad.data() - model.gradients().data());
          std::copy_n(accumulated.begin() + static_cast<std::ptrdiff_t>(offset), grad.size(), grad.begin());
        }
      }
      if (config.bf16_parameters) model.round_gradients_to_bfloat16();
      if (hooks.before_step) hooks.before_step(*optimizer);
      // The epoch's training loss is the mean over the steps taken: a step skipped for a non-finite
      // gradient (NonFinitePolicy::Skip) and a non-finite loss would make it NaN and tell nothing.
      if (optimizer->step() && std::isfinite(loss)) {
        run.epoch_loss_sum += loss;
        ++run.epoch_batches;
      }
      if (config.bf16_parameters) model.load_bfloat16();
      ++run.steps;
      if (hooks.on_step) {
        const double now = training_seconds +
                           std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
        hooks.on_step({run.steps, loss, now});
      }
      if (config.checkpoint_every > 0 && run.steps % config.checkpoint_every == 0) save();
    }
    const double epoch_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    training_seconds += epoch_seconds;
    // An optimizer that evaluates at an average of the weights (Schedule-Free's x, an EMA's) has it
    // swapped in for the evaluation and the trained values swapped back, bit for bit, before training on.
    auto* averaging = dynamic_cast<Averaging*>(optimizer.get());
    if (averaging) averaging->use_average(true);
    Evaluation test{};
    try {
      test = evaluate(model, test_set);
    } catch (...) {
      if (averaging) averaging->use_average(false);
      throw;
    }
    if (averaging) averaging->use_average(false);
    run.history.push_back({epoch, run.steps, run.epoch_loss_sum / static_cast<double>(run.epoch_batches), test.loss,
                           test.accuracy, training_seconds, epoch_seconds, run.epoch_lr});
    run.epoch_loss_sum = 0.0;
    run.epoch_batches = 0;
    if (hooks.on_epoch) hooks.on_epoch(*optimizer, run.history.back());
  }
  save();
  return done();
}

}  // namespace descent::nn
