#include "train.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "descent/checkpoint.hpp"
#include "descent/error.hpp"
#include "descent/factory.hpp"
#include "descent/nn/mlp.hpp"
#include "descent/schedule.hpp"
#include "names.hpp"
#include "output.hpp"
#include "plot.hpp"

namespace descent::cli {
namespace {

std::string join(const std::vector<std::size_t>& layers) {
  std::string out;
  for (const std::size_t w : layers) out.append(out.empty() ? "" : "-").append(std::to_string(w));
  return out;
}

}  // namespace

nn::TrainTest load_data(const std::string& data, std::ostream& log) {
  if (data == "spirals") return nn::make_spirals();
  if (data == "fashion-mnist" || data == "auto") {
    if (nn::fashion_mnist_available()) return nn::load_mnist_format(nn::kFashionMnistFolder, "fashion-mnist");
    if (data == "fashion-mnist") {
      throw NotFound("Fashion-MNIST is not installed at " + std::string(nn::kFashionMnistFolder) +
                     " (apt-get install dataset-fashion-mnist, or use --data spirals)");
    }
    log << "Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist); using the generated spirals\n";
    return nn::make_spirals();
  }
  return nn::load_mnist_format(data, std::filesystem::path(data).filename().string());
}

std::vector<std::size_t> model_layers(const std::string& model, const nn::TrainTest& data) {
  if (!model.empty()) return nn::parse_layers(model);
  if (data.train.features == 2) return {2, 64, 64, data.train.classes};
  return {data.train.features, 256, data.train.classes};
}

nn::MLPConfig model_config(const TrainCommand& command, const nn::TrainTest& data) {
  nn::MLPConfig model;
  model.layers = model_layers(command.model, data);
  model.activation = nn::activation_from(command.activation);
  model.init = nn::init_from(command.init);
  model.loss = nn::loss_from(command.loss);
  model.seed = command.seed;
  return model;
}

NonFinitePolicy nonfinite_policy(const TrainCommand& command) {
  return command.nonfinite == "skip" ? NonFinitePolicy::Skip : NonFinitePolicy::Raise;
}

namespace {
const char* const kSchedules[] = {"constant", "step",   "multistep",  "exponential", "cosine",
                                  "cosine-restarts", "warmup", "onecycle", "polynomial", "plateau"};
}  // namespace

std::string schedule_help() {
  return "learning-rate schedule: constant; step (x0.1 every epochs/3); multistep (x0.1 at 1/2 and 3/4 of the "
         "epochs); exponential (x0.9 per epoch); cosine (to 0 over the epochs); cosine-restarts (period epochs/3); "
         "warmup (linear from 0.1 lr over the first epochs/5); onecycle (per batch, peak at the lr); polynomial "
         "(linear to 0); plateau (x0.1 after 2 epochs without a better test loss)";
}

void check_trainable(const std::string& optimizer) {
  if (is_second_order(resolve_optimizer(optimizer))) {
    throw InvalidArgument("'" + optimizer + "' is a second-order method for functions (descent compare --function); "
                          "train a network with a first-order optimizer (descent list)");
  }
}

void check_model_options(const std::string& model, const std::string& activation, const std::string& init,
                         const std::string& loss) {
  static_cast<void>(nn::activation_from(activation));
  static_cast<void>(nn::init_from(init));
  static_cast<void>(nn::loss_from(loss));
  if (!model.empty()) static_cast<void>(nn::parse_layers(model));
}

void check_model_fits(const std::string& model, const nn::TrainTest& data) {
  const std::vector<std::size_t> layers = model_layers(model, data);
  nn::check_model_fits(layers, data.train);
  nn::check_model_fits(layers, data.test);
}

std::map<std::string, double> train_options(const TrainCommand& command) {
  const Preset preset = resolve_optimizer(command.optimizer);
  const std::map<std::string, double> settings = parse_settings(preset.optimizer, command.settings);
  if (command.lr > 0.0 && settings.count("lr")) {
    throw InvalidArgument("--lr " + format_number(command.lr) + " and --set lr=" + format_number(settings.at("lr")) +
                          ": give the learning rate once");
  }
  std::map<std::string, double> options = preset.options;
  options["lr"] = command.lr > 0.0 ? command.lr : default_learning_rate(preset);
  for (const auto& [name, value] : settings) options[name] = value;
  make_options(preset.optimizer, options)->validate();  // the rules between options (Options::validate)
  return options;
}

std::filesystem::path checkpoint_file(const TrainCommand& command, const std::filesystem::path& out) {
  if (!command.checkpoint.empty()) return command.checkpoint;
  if (!command.resume.empty()) return command.resume;  // a resumed run goes on saving where it was saved
  if (command.checkpoint_every > 0 || command.max_steps > 0) return out / "checkpoint.safetensors";
  return {};
}

void check_train_command(const TrainCommand& command) {
  check_trainable(command.optimizer);
  check_schedule(command.schedule);
  check_model_options(command.model, command.activation, command.init, command.loss);
  static_cast<void>(train_options(command));
  if (!command.resume.empty() && !std::filesystem::exists(command.resume)) {
    throw NotFound("--resume: no file '" + command.resume.string() + "'");
  }
  const std::filesystem::path file = checkpoint_file(command, command.out);
  if (!file.empty()) {
    std::error_code error;
    const bool resumed_from = !command.resume.empty() && std::filesystem::equivalent(file, command.resume, error);
    if (std::filesystem::exists(file, error) && !resumed_from && !command.overwrite) {
      throw InvalidArgument(
          command.resume.empty()
              ? "checkpoint '" + file.string() + "' exists: continue its run with --resume " + file.string() +
                    ", or replace it with --overwrite"
              : "checkpoint '" + file.string() + "' exists and is not the file resumed from ('" +
                    command.resume.string() + "'): --overwrite replaces it");
    }
    prepare_checkpoint_file(file, command.checkpoint.empty() ? (command.resume.empty() ? "checkpoint" : "--resume")
                                                             : "--checkpoint");
  }
  prepare_output_folder(command.out, "--out");
}

void check_schedule(const std::string& name) {
  for (const char* s : kSchedules) {
    if (name == s) return;
  }
  throw InvalidArgument("unknown schedule '" + name + "' (constant, step, multistep, exponential, cosine, "
                        "cosine-restarts, warmup, onecycle, polynomial, plateau)");
}

std::unique_ptr<Scheduler> make_schedule(const std::string& name, Optimizer& opt, std::size_t epochs,
                                         std::size_t steps_per_epoch, double lr) {
  const auto e = static_cast<std::int64_t>(epochs);
  if (name == "constant") return nullptr;
  if (name == "step") return std::make_unique<StepLR>(opt, std::max<std::int64_t>(1, e / 3), 0.1);
  if (name == "multistep") {
    return std::make_unique<MultiStepLR>(opt, std::vector<std::int64_t>{std::max<std::int64_t>(1, e / 2),
                                                                        std::max<std::int64_t>(2, 3 * e / 4)}, 0.1);
  }
  if (name == "exponential") return std::make_unique<ExponentialLR>(opt, 0.9);
  if (name == "cosine") return std::make_unique<CosineAnnealingLR>(opt, std::max<std::int64_t>(1, e));
  if (name == "cosine-restarts") return std::make_unique<CosineAnnealingWarmRestarts>(opt, std::max<std::int64_t>(1, e / 3));
  if (name == "warmup") return std::make_unique<LinearLR>(opt, 0.1, 1.0, std::max<std::int64_t>(1, e / 5));
  if (name == "polynomial") return std::make_unique<PolynomialLR>(opt, std::max<std::int64_t>(1, e), 1.0);
  if (name == "plateau") {
    ReduceLROnPlateauConfig config;
    config.patience = 2;
    return std::make_unique<ReduceLROnPlateau>(opt, config);
  }
  if (name == "onecycle") {
    OneCycleLRConfig config;
    config.max_lr = {lr};
    config.total_steps = static_cast<std::int64_t>(epochs * steps_per_epoch);
    // Cycled when every group has the same momentum option (not in muon's Muon + AdamW, whose groups
    // have "momentum" and "beta1": OneCycleLR cycles one option name).
    const auto momentum_option = [&](std::size_t g) -> std::string_view {
      const Options& o = opt.group(g).options();
      return o.has("beta1") ? "beta1" : o.has("momentum") ? "momentum" : "";
    };
    config.cycle_momentum = !momentum_option(0).empty();
    for (std::size_t g = 1; g < opt.num_groups(); ++g) config.cycle_momentum &= momentum_option(g) == momentum_option(0);
    return std::make_unique<OneCycleLR>(opt, config);
  }
  check_schedule(name);
  return nullptr;
}

void schedule_after_step(const std::string& name, Scheduler* schedule) {
  if (schedule && name == "onecycle") static_cast<LRScheduler&>(*schedule).step();
}

void schedule_after_epoch(const std::string& name, Scheduler* schedule, double test_loss) {
  if (!schedule || name == "onecycle") return;
  if (auto* plateau = dynamic_cast<ReduceLROnPlateau*>(schedule)) {
    plateau->step(test_loss);
  } else {
    static_cast<LRScheduler&>(*schedule).step();
  }
}

void print_epoch(std::ostream& log, const std::string& label, std::size_t epochs, const nn::EpochMetrics& e) {
  log << "  " << label << " epoch " << e.epoch << "/" << epochs << ": train loss " << std::fixed
      << std::setprecision(4) << e.train_loss << ", test loss " << e.test_loss << ", test accuracy "
      << std::setprecision(2) << 100.0 * e.test_accuracy << "%, " << std::setprecision(2) << e.epoch_seconds << " s"
      << std::defaultfloat << "\n";
}

double default_learning_rate(const Preset& preset) { return preset.train_lr; }

void save_parameters(const std::filesystem::path& path, nn::MLP<float>& model) {
  StateDict dict;
  for (const Parameter& p : model.parameters()) {
    dict.tensors["param/" + p.name()] = Tensor::of<float>(p.value<float>(), p.shape());
  }
  save_checkpoint(path, dict);
}

void write_train_metrics(const TrainCommand& command, const TrainRun& run, const std::string& optimizer,
                         const std::map<std::string, double>& options, const std::vector<std::size_t>& layers,
                         const std::string& data_name, const std::filesystem::path& out) {
  std::filesystem::create_directories(out);
  std::ostringstream csv, steps;
  csv << "epoch,steps,train_loss,test_loss,test_accuracy,seconds,epoch_seconds,lr\n" << std::setprecision(10);
  for (const auto& e : run.epochs) {
    csv << e.epoch << ',' << e.steps << ',' << e.train_loss << ',' << e.test_loss << ',' << e.test_accuracy << ','
        << e.seconds << ',' << e.epoch_seconds << ',' << e.lr << '\n';
  }
  steps << "step,loss,seconds\n" << std::setprecision(10);
  for (const auto& s : run.steps) steps << s.step << ',' << s.loss << ',' << s.seconds << '\n';
  nlohmann::ordered_json json;
  json["optimizer"] = run.label;
  json["lr"] = options.at("lr");
  nlohmann::ordered_json values;  // every option's value: the defaults, the preset's, the learning rate, each --set
  const auto effective = make_options(optimizer, options);
  for (const OptionInfo& f : effective->info()) {
    const double value = effective->get(f.name);
    values[std::string(f.name)] = f.type == OptionType::Bool ? nlohmann::ordered_json(value != 0.0)
                                                             : nlohmann::ordered_json(value);
  }
  json["options"] = values;
  json["model"] = join(layers);
  json["data"] = data_name;
  json["batch_size"] = command.batch_size;
  json["seed"] = command.seed;
  // null when --max-steps stopped the run before an epoch ended, or the accuracy is not a number
  json["final_test_accuracy"] = run.epochs.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(run.epochs.back().test_accuracy);
  json["epochs"] = nlohmann::ordered_json::array();
  for (const auto& e : run.epochs) {
    json["epochs"].push_back({{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"test_loss", e.test_loss},
                              {"test_accuracy", e.test_accuracy}, {"epoch_seconds", e.epoch_seconds}});
  }
  write_text(out / "metrics.csv", csv.str());
  write_text(out / "steps.csv", steps.str());
  write_text(out / "metrics.json", json_text(json));
}

TrainRun run_train(const TrainCommand& command, const nn::TrainTest& data, const std::filesystem::path& out,
                   std::ostream& log, bool progress_bar) {
  const Preset preset = resolve_optimizer(command.optimizer);
  const nn::MLPConfig model = model_config(command, data);
  nn::MLP<float> mlp(model);

  nn::TrainConfig config;
  config.optimizer = preset.optimizer;
  config.options = train_options(command);
  config.epochs = command.epochs;
  config.batch_size = command.batch_size;
  config.seed = command.seed;
  config.threads = command.threads;
  config.nonfinite = nonfinite_policy(command);
  config.checkpoint = checkpoint_file(command, out);
  config.checkpoint_every = command.checkpoint_every;
  config.resume = command.resume;
  config.max_steps = command.max_steps;
  config.micro_batches = command.micro_batches;
  config.bf16_parameters = preset.bf16_parameters;
  if (!config.checkpoint.empty() && config.checkpoint.has_parent_path()) {
    std::filesystem::create_directories(config.checkpoint.parent_path());
  }

  TrainRun run{preset.name, config.checkpoint, {}, {}};
  const std::size_t batch = command.batch_size == 0 ? data.train.samples : std::min(command.batch_size, data.train.samples);
  const std::size_t steps_per_epoch = (data.train.samples + batch - 1) / batch;
  nn::TrainHooks hooks;
  hooks.on_step = [&](const nn::StepMetrics& s) {
    run.steps.push_back(s);
    if (progress_bar && (s.step % std::max<std::size_t>(1, steps_per_epoch / 50) == 0)) {
      const std::size_t in_epoch = (s.step - 1) % steps_per_epoch + 1;
      const int filled = static_cast<int>(30 * in_epoch / steps_per_epoch);
      log << "\r  epoch " << (s.step - 1) / steps_per_epoch + 1 << " [" << std::string(static_cast<std::size_t>(filled), '=')
          << std::string(static_cast<std::size_t>(30 - filled), ' ') << "] loss " << std::fixed << std::setprecision(4)
          << s.loss << std::defaultfloat << std::flush;
    }
  };
  hooks.on_epoch = [&](Optimizer&, const nn::EpochMetrics& e) {
    if (progress_bar) log << "\r" << std::string(60, ' ') << "\r";
    print_epoch(log, preset.name, command.epochs, e);
  };
  std::unique_ptr<Scheduler> schedule;
  hooks.on_start = [&](Optimizer& opt) {
    schedule = make_schedule(command.schedule, opt, command.epochs, steps_per_epoch, config.options["lr"]);
  };
  hooks.schedule = [&] { return schedule.get(); };
  const auto on_step = hooks.on_step;
  hooks.on_step = [&, on_step](const nn::StepMetrics& s) {
    on_step(s);
    schedule_after_step(command.schedule, schedule.get());
  };
  const auto on_epoch = hooks.on_epoch;
  hooks.on_epoch = [&, on_epoch](Optimizer& opt, const nn::EpochMetrics& e) {
    on_epoch(opt, e);
    schedule_after_epoch(command.schedule, schedule.get(), e.test_loss);
  };
  if (command.clip_norm > 0.0) {
    hooks.before_step = [&](Optimizer& opt) { clip_grad_norm(opt, command.clip_norm); };
  }
  std::unique_ptr<Optimizer> optimizer;
  log << "train " << join(model.layers) << " on " << data.train.name << " (" << data.train.samples << " train, "
      << data.test.samples << " test) with " << preset.name << ", lr " << config.options["lr"] << ", batch "
      << (command.batch_size == 0 ? std::string("full") : std::to_string(batch)) << ", " << command.epochs
      << " epochs" << (command.resume.empty() ? "" : ", resuming from " + command.resume.string()) << "\n";
  try {
    run.epochs = nn::train(mlp, data.train, data.test, config, hooks, &optimizer);
  } catch (const InvalidArgument& e) {
    // The library's message names its C++ call for skipping such steps; here the flag does that.
    std::string message = e.what();
    const std::string call = "set_nonfinite_policy(NonFinitePolicy::Skip)";
    const std::size_t at = message.find(call);
    if (at == std::string::npos) throw;
    throw InvalidArgument(message.replace(at, call.size(), "--nonfinite skip"));
  }
  if (optimizer->skipped_steps() > 0) {
    log << "skipped " << optimizer->skipped_steps() << " steps with a non-finite gradient\n";
  }

  if (!command.save_params.empty()) save_parameters(command.save_params, mlp);

  write_train_metrics(command, run, preset.optimizer, config.options, model.layers, data.train.name, out);
  return run;
}

}  // namespace descent::cli
