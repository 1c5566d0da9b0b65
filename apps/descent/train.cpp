#include "train.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "descent/error.hpp"
#include "descent/nn/mlp.hpp"
#include "descent/schedule.hpp"
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
  const Preset preset = find_preset(optimizer);
  if (preset.optimizer == "newton" || preset.optimizer == "newton-cg" || preset.optimizer == "lbfgs") {
    throw InvalidArgument("'" + optimizer + "' is a second-order method for functions (descent compare --function); "
                          "train a network with a first-order optimizer (descent list)");
  }
}

void check_schedule(const std::string& name) {
  for (const char* s : kSchedules) {
    if (name == s) return;
  }
  throw InvalidArgument("unknown schedule '" + name + "' (constant, step, multistep, exponential, cosine, "
                        "cosine-restarts, warmup, onecycle, polynomial, plateau)");
}

namespace {

// The schedule for a run of `epochs` epochs of `steps_per_epoch` steps; null for constant.
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
    config.cycle_momentum = opt.group(0).options().has("beta1") || opt.group(0).options().has("momentum");
    return std::make_unique<OneCycleLR>(opt, config);
  }
  check_schedule(name);
  return nullptr;
}

}  // namespace

double default_learning_rate(const Preset& preset) { return preset.train_lr; }

TrainRun run_train(const TrainCommand& command, const nn::TrainTest& data, const std::filesystem::path& out,
                   std::ostream& log, bool progress_bar) {
  const Preset preset = find_preset(command.optimizer);
  nn::MLPConfig model;
  model.layers = model_layers(command.model, data);
  model.activation = nn::activation_from(command.activation);
  model.init = nn::init_from(command.init);
  model.loss = nn::loss_from(command.loss);
  model.seed = command.seed;
  nn::MLP<float> mlp(model);

  nn::TrainConfig config;
  config.optimizer = preset.optimizer;
  config.options = preset.options;
  config.options["lr"] = command.lr > 0.0 ? command.lr : default_learning_rate(preset);
  config.epochs = command.epochs;
  config.batch_size = command.batch_size;
  config.seed = command.seed;
  config.threads = command.threads;
  config.nonfinite = command.nonfinite == "skip" ? NonFinitePolicy::Skip : NonFinitePolicy::Raise;
  config.checkpoint = command.checkpoint;
  if (config.checkpoint.empty() && !command.resume.empty()) {
    config.checkpoint = command.resume;  // a resumed run goes on saving where it was saved
  } else if (config.checkpoint.empty() && (command.checkpoint_every > 0 || command.max_steps > 0)) {
    config.checkpoint = out / "checkpoint.safetensors";
  }
  config.checkpoint_every = command.checkpoint_every;
  config.resume = command.resume;
  config.max_steps = command.max_steps;
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
    log << "  " << preset.name << " epoch " << e.epoch << "/" << command.epochs << ": train loss " << std::fixed
        << std::setprecision(4) << e.train_loss << ", test loss " << e.test_loss << ", test accuracy "
        << std::setprecision(2) << 100.0 * e.test_accuracy << "%, " << std::setprecision(2) << e.epoch_seconds << " s"
        << std::defaultfloat << "\n";
  };
  std::unique_ptr<Scheduler> schedule;
  hooks.on_start = [&](Optimizer& opt) {
    schedule = make_schedule(command.schedule, opt, command.epochs, steps_per_epoch, config.options["lr"]);
  };
  hooks.schedule = [&] { return schedule.get(); };
  const auto on_step = hooks.on_step;
  hooks.on_step = [&, on_step](const nn::StepMetrics& s) {
    on_step(s);
    if (command.schedule == "onecycle") static_cast<LRScheduler&>(*schedule).step();
  };
  const auto on_epoch = hooks.on_epoch;
  hooks.on_epoch = [&, on_epoch](Optimizer& opt, const nn::EpochMetrics& e) {
    on_epoch(opt, e);
    if (!schedule || command.schedule == "onecycle") return;
    if (auto* plateau = dynamic_cast<ReduceLROnPlateau*>(schedule.get())) {
      plateau->step(e.test_loss);
    } else {
      static_cast<LRScheduler&>(*schedule).step();
    }
  };
  if (command.clip_norm > 0.0) {
    hooks.before_step = [&](Optimizer& opt) { clip_grad_norm(opt, command.clip_norm); };
  }
  std::unique_ptr<Optimizer> optimizer;
  log << "train " << join(model.layers) << " on " << data.train.name << " (" << data.train.samples << " train, "
      << data.test.samples << " test) with " << preset.name << ", lr " << config.options["lr"] << ", batch "
      << (command.batch_size == 0 ? std::string("full") : std::to_string(batch)) << ", " << command.epochs
      << " epochs" << (command.resume.empty() ? "" : ", resuming from " + command.resume.string()) << "\n";
  run.epochs = nn::train(mlp, data.train, data.test, config, hooks, &optimizer);
  if (optimizer->skipped_steps() > 0) {
    log << "skipped " << optimizer->skipped_steps() << " steps with a non-finite gradient\n";
  }

  std::filesystem::create_directories(out);
  std::ostringstream csv, steps, json;
  csv << "epoch,steps,train_loss,test_loss,test_accuracy,seconds,epoch_seconds,lr\n" << std::setprecision(10);
  for (const auto& e : run.epochs) {
    csv << e.epoch << ',' << e.steps << ',' << e.train_loss << ',' << e.test_loss << ',' << e.test_accuracy << ','
        << e.seconds << ',' << e.epoch_seconds << ',' << e.lr << '\n';
  }
  steps << "step,loss,seconds\n" << std::setprecision(10);
  for (const auto& s : run.steps) steps << s.step << ',' << s.loss << ',' << s.seconds << '\n';
  json << std::setprecision(10) << "{\n  \"optimizer\": \"" << preset.name << "\",\n  \"lr\": " << config.options["lr"]
       << ",\n  \"model\": \"" << join(model.layers) << "\",\n  \"data\": \"" << data.train.name
       << "\",\n  \"batch_size\": " << command.batch_size << ",\n  \"seed\": " << command.seed
       << ",\n  \"final_test_accuracy\": ";
  if (run.epochs.empty()) {
    json << "null";  // stopped by --max-steps before an epoch ended
  } else {
    json << run.epochs.back().test_accuracy;
  }
  json << ",\n  \"epochs\": [";
  for (std::size_t i = 0; i < run.epochs.size(); ++i) {
    const auto& e = run.epochs[i];
    json << (i ? "," : "") << "\n    {\"epoch\": " << e.epoch << ", \"train_loss\": " << e.train_loss
         << ", \"test_loss\": " << e.test_loss << ", \"test_accuracy\": " << e.test_accuracy
         << ", \"epoch_seconds\": " << e.epoch_seconds << "}";
  }
  json << "\n  ]\n}\n";
  write_text(out / "metrics.csv", csv.str());
  write_text(out / "steps.csv", steps.str());
  write_text(out / "metrics.json", json.str());
  return run;
}

}  // namespace descent::cli
