// The `descent` command line. Exit status: 0 success, 2 usage error, 1 run-time error.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <iomanip>
#include <cmath>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "compare.hpp"
#include "compare_mlp.hpp"
#include "lr_find.hpp"
#include "train.hpp"
#include "train_distributed.hpp"
#include "descent/minimize.hpp"
#include "descent/minimize/test_problems.hpp"
#include "names.hpp"
#include "output.hpp"
#include "presets.hpp"

namespace {

using namespace descent;

// Thrown for bad command-line values found after parsing (unknown names, out-of-range options).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Presets by name, each once; a name that is none is a usage error.
std::vector<cli::Preset> resolve(const std::vector<std::string>& names) {
  try {
    return cli::resolve_optimizers(names);
  } catch (const descent::Error& e) {
    throw UsageError(e.what());
  }
}

// The data set a --data value names: a name or folder that is not there is a usage error, a corrupt file
// a run-time one.
nn::TrainTest load_data(const std::string& data) {
  try {
    return cli::load_data(data, std::cout);
  } catch (const descent::NotFound& e) {
    throw UsageError(e.what());
  }
}

// Runs `check`, turning the library's errors (bad names and values) into usage errors.
template <typename Check>
void usage_check(Check check) {
  try {
    check();
  } catch (const descent::Error& e) {
    throw UsageError(e.what());
  }
}

// Refuses the options of `sub` in `given` (options of another mode): they would be ignored silently.
void refuse_options(const CLI::App* sub, std::initializer_list<const char*> given, const std::string& why) {
  for (const char* name : given) {
    if (sub->get_option(name)->count() > 0) throw UsageError(std::string(name) + " " + why);
  }
}

// Unsigned integer options: digits only, so that "-5" is refused instead of wrapping around to 2^64 - 5.
CLI::Validator unsigned_between(std::uint64_t lo, std::uint64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& value) -> std::string {
        std::uint64_t parsed = 0;
        const char* end = value.data() + value.size();
        const auto [stop, error] = std::from_chars(value.data(), end, parsed);
        if (value.empty() || error != std::errc() || stop != end || parsed < lo || parsed > hi) {
          return "'" + value + "' is not an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
        }
        return "";
      },
      "INT in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}
constexpr std::uint64_t kMaxU64 = std::numeric_limits<std::uint64_t>::max();
// Update engine threads: 0 (one per core) to this; more is a typing error, not a machine.
constexpr std::uint64_t kMaxThreads = 1024;

// Finite real numbers >= 0 (0 may mean "off").
CLI::Validator non_negative_real() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        std::size_t used = 0;
        double parsed = 0.0;
        try {
          parsed = std::stod(value, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != value.size() || !(parsed >= 0.0) || !std::isfinite(parsed)) {
          return "'" + value + "' is not a finite number >= 0";
        }
        return "";
      },
      "NUMBER >= 0");
}

// The same for positive real numbers.
CLI::Validator positive_real() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        std::size_t used = 0;
        double parsed = 0.0;
        try {
          parsed = std::stod(value, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != value.size() || !(parsed > 0.0) || !std::isfinite(parsed)) {
          return "'" + value + "' is not a positive number";
        }
        return "";
      },
      "POSITIVE");
}

void print_list(std::ostream& out) {
  out << "Optimizer presets (descent compare --optimizers NAME,...):\n";
  for (const cli::Preset& p : cli::presets()) out << "  " << std::left << std::setw(19) << p.name << p.description << "\n";
  out << "\nLibrary optimizers (descent options NAME):\n ";
  for (const auto name : optimizer_names()) out << " " << name;
  out << "\n\nTest functions (descent compare --function NAME):\n";
  for (const std::string_view name : test_problem_names()) {
    const TestProblem problem = make_test_problem(name);
    if (problem.objective->dimension() == 2) out << "  " << std::left << std::setw(18) << name << problem.description << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"descent: compare optimizers and see why they behave as they do"};
  app.set_version_flag("--version", "descent 0.1.0");
  app.require_subcommand(1);

  // compare --function and trajectory: optimizers on a 2-D test function; compare on data: the MLP.
  cli::CompareConfig config;
  cli::MlpCompareConfig mlp_config;
  std::vector<std::string> optimizer_names_given;
  std::filesystem::path out = "report";
  bool no_plots = false;
  const auto add_function_options = [&](CLI::App* sub, bool function_default) {
    auto* function = sub->add_option("-f,--function", config.function,
                                     "2-D test function (see `descent list`)" +
                                         std::string(function_default ? "" : "; without it, compare trains on --data"));
    if (function_default) function->capture_default_str();
    sub->add_option("-n,--steps", config.steps, "maximum steps per run (functions)")
        ->capture_default_str()
        ->check(unsigned_between(1, 10'000'000));
    sub->add_option("--lr", config.lr, "learning rate for every optimizer (functions; default: tune each on a log grid)")
        ->check(positive_real());
    sub->add_option("--tolerance", config.tolerance, "target gap f - f* (functions)")->capture_default_str()->check(positive_real());
  };
  const auto add_common_options = [&](CLI::App* sub) {
    sub->add_option("-o,--optimizers", optimizer_names_given, "comma-separated presets (default: all of them)")
        ->delimiter(',');
    sub->add_option("--out", out, "report folder")->capture_default_str();
    sub->add_flag("--no-plots", no_plots, "write data only, no gnuplot pictures");
  };
  auto* compare = app.add_subcommand(
      "compare", "Train the same MLP with each optimizer on a data set (or, with --function, race them on a test "
                 "function); write a summary table and plots");
  add_function_options(compare, false);
  add_common_options(compare);
  compare->add_option("--data", mlp_config.data, "fashion-mnist, spirals, a folder of MNIST-format files, or auto "
                                                 "(Fashion-MNIST if installed, else the spirals)")
      ->capture_default_str();
  compare->add_option("--model", mlp_config.model, "layer sizes, e.g. 784-256-10 (default: the data set's)");
  compare->add_option("--epochs", mlp_config.epochs, "epochs per optimizer")->capture_default_str()->check(unsigned_between(1, 100000));
  compare->add_option("--batch-size", mlp_config.batch_size, "mini-batch size (0: full batch)")
      ->capture_default_str()
      ->check(unsigned_between(0, kMaxU64));
  compare->add_option("--seed", mlp_config.seed, "initial weights and batch order")
      ->capture_default_str()
      ->check(unsigned_between(0, kMaxU64));
  compare->add_option("--threads", mlp_config.threads, "update engine threads (0: one per core)")
      ->capture_default_str()
      ->check(unsigned_between(0, kMaxThreads));

  auto* trajectory = app.add_subcommand(
      "trajectory", "Draw each optimizer's path on a 2-D function's contours (momentum overshooting, Adagrad's "
                    "shrinking steps, escaping a saddle), with loss curves and a summary");
  add_function_options(trajectory, true);
  add_common_options(trajectory);

  cli::LrFindCommand lr_find_command;
  bool lr_find_no_plots = false;
  auto* lr_find = app.add_subcommand("lr-find", "The learning-rate range test: train while the rate grows "
                                                "exponentially; plot the loss and suggest a rate");
  lr_find->add_option("--optimizer", lr_find_command.optimizer, "a preset or library optimizer (any case)")->capture_default_str();
  lr_find->add_option("--data", lr_find_command.data, "fashion-mnist, spirals, a folder, or auto")->capture_default_str();
  lr_find->add_option("--model", lr_find_command.model, "layer sizes (default: the data set's)");
  lr_find->add_option("--set", lr_find_command.settings,
                      "name=value: set an option of the optimizer other than lr (see descent options NAME); repeatable")
      ->allow_extra_args(false);
  lr_find->add_option("--batch-size", lr_find_command.batch_size)->capture_default_str()->check(unsigned_between(1, 1'000'000));
  lr_find->add_option("--start-lr", lr_find_command.start_lr)->capture_default_str()->check(positive_real());
  lr_find->add_option("--end-lr", lr_find_command.end_lr)->capture_default_str()->check(positive_real());
  lr_find->add_option("--steps", lr_find_command.steps)->capture_default_str()->check(unsigned_between(10, 100000));
  lr_find->add_option("--seed", lr_find_command.seed)->capture_default_str()->check(unsigned_between(0, kMaxU64));
  lr_find->add_option("--out", lr_find_command.out, "output folder")->capture_default_str();
  lr_find->add_flag("--no-plots", lr_find_no_plots, "write data only");

  cli::TrainCommand train_command;
  auto* train = app.add_subcommand("train", "Train an MLP on real data with one optimizer; progress, metrics as CSV "
                                            "and JSON, final test accuracy");
  train->add_option("--optimizer", train_command.optimizer, "a preset or library optimizer (any case)")->capture_default_str();
  train->add_option("--lr", train_command.lr, "learning rate (default: the optimizer's usual rate for this network)")
      ->check(positive_real());
  train->add_option("--set", train_command.settings,
                    "name=value: set any option of the optimizer (see descent options NAME); repeatable")
      ->allow_extra_args(false);
  train->add_option("--epochs", train_command.epochs)->capture_default_str()->check(unsigned_between(1, 100000));
  train->add_option("--batch-size", train_command.batch_size, "mini-batch size (0: full batch)")
      ->capture_default_str()
      ->check(unsigned_between(0, kMaxU64));
  train->add_option("--model", train_command.model, "layer sizes, e.g. 784-256-10 (default: the data set's)");
  train->add_option("--data", train_command.data, "fashion-mnist, spirals, a folder of MNIST-format files, or auto")
      ->capture_default_str();
  train->add_option("--schedule", train_command.schedule, cli::schedule_help())->capture_default_str();
  train->add_option("--activation", train_command.activation, "relu, tanh, sigmoid, gelu")->capture_default_str();
  train->add_option("--init", train_command.init, "pytorch, he, xavier, normal")->capture_default_str();
  train->add_option("--loss", train_command.loss, "cross-entropy, mse")->capture_default_str();
  train->add_option("--seed", train_command.seed)->capture_default_str()->check(unsigned_between(0, kMaxU64));
  train->add_option("--threads", train_command.threads, "update engine threads (0: one per core)")
      ->capture_default_str()
      ->check(unsigned_between(0, kMaxThreads));
  train->add_option("--clip-norm", train_command.clip_norm, "clip the gradients' global norm to this (0: off)")
      ->capture_default_str()
      ->check(non_negative_real());
  train->add_option("--out", train_command.out, "metrics folder")->capture_default_str();
  train->add_option("--checkpoint", train_command.checkpoint,
                    "checkpoint file (default: the --resume file; else with --checkpoint-every or --max-steps, "
                    "<out>/checkpoint.safetensors)");
  train->add_option("--checkpoint-every", train_command.checkpoint_every,
                    "save a checkpoint every this many steps, and at the end (0: only at the end)")
      ->capture_default_str()
      ->check(unsigned_between(0, kMaxU64));
  train->add_option("--resume", train_command.resume,
                    "continue the run saved in this checkpoint, bitwise as if it had not stopped (same data, model, "
                    "optimizer, schedule, batch size and seed)");
  train->add_option("--max-steps", train_command.max_steps, "stop after this many steps in all, saving a checkpoint "
                                                              "(0: no limit)")
      ->capture_default_str()
      ->check(unsigned_between(0, kMaxU64));
  train->add_flag("--overwrite", train_command.overwrite,
                  "let a fresh run (no --resume) replace an existing checkpoint file");
  train->add_option("--nonfinite", train_command.nonfinite, "a NaN or infinite gradient: raise (stop with an error) "
                                                             "or skip (skip the step, counted)")
      ->capture_default_str()
      ->check(CLI::IsMember({"raise", "skip"}));
  train->add_option("--micro-batches", train_command.micro_batches,
                    "accumulate each batch's gradient over this many parts: the final parameters are bitwise those of "
                    "mpirun -np N descent train --distributed")
      ->capture_default_str()
      ->check(unsigned_between(1, 1 << 20));
  train->add_flag("--distributed", train_command.distributed,
                  "data-parallel over MPI (mpirun -np N descent train --distributed): each rank its share of each "
                  "batch, optimizer state sharded (docs/distributed.md)");
  train->add_option("--save-params", train_command.save_params,
                    "write the final parameters to this file (checkpoint format), e.g. to compare runs bitwise");

  bool list_names = false;
  auto* list = app.add_subcommand("list", "List optimizer presets, library optimizers and test functions");
  list->add_flag("--names", list_names, "print only the library optimizers' names, one per line (for scripts)");

  std::string options_of;
  bool markdown = false;
  auto* options = app.add_subcommand("options", "Show an optimizer's options: type, default, valid range, meaning");
  options->add_option("optimizer", options_of, "a preset or library optimizer (any case)")->required();
  options->add_flag("--markdown", markdown, "print a Markdown table (as in docs/optimizers.md)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help/version (code 0) or the error
    return code == 0 ? 0 : 2;
  }

  try {
    if (app.got_subcommand("list")) {
      if (list_names) {
        for (const auto name : optimizer_names()) std::cout << name << "\n";
      } else {
        print_list(std::cout);
      }
    } else if (app.got_subcommand("options")) {
      cli::Preset preset;
      std::unique_ptr<Options> o;
      usage_check([&] { preset = cli::resolve_optimizer(options_of); });
      if (cli::is_second_order(preset)) {
        throw UsageError("'" + options_of + "' is a method for functions (descent compare --function); its settings "
                         "are in docs/minimize.md, not an option table");
      }
      usage_check([&] { o = make_options(preset.optimizer); });
      if (!preset.options.empty() || preset.name != preset.optimizer) {
        std::cout << preset.name << ": " << preset.description << "; the options of " << preset.optimizer;
        for (const auto& [name, value] : preset.options) std::cout << ", " << name << " = " << format_number(value);
        std::cout << " (defaults below are " << preset.optimizer << "'s)\n";
      }
      if (markdown) {
        std::cout << markdown_table(*o);
      } else {
        for (const OptionInfo& f : o->info()) {
          std::cout << std::left << std::setw(27) << f.name << std::setw(10) << f.display_text(f.default_value)
                    << std::setw(16) << f.range_text() << f.meaning << "\n";
        }
      }
    } else if (app.got_subcommand("lr-find")) {
      lr_find_command.plots = !lr_find_no_plots;
      usage_check([&] {
        cli::check_trainable(lr_find_command.optimizer);
        cli::check_lr_find(lr_find_command);
        cli::check_model_options(lr_find_command.model, "relu", "pytorch", "cross-entropy");
        cli::prepare_output_folder(lr_find_command.out, "--out");
      });
      const nn::TrainTest data = load_data(lr_find_command.data);
      usage_check([&] { cli::check_model_fits(lr_find_command.model, data); });
      cli::run_lr_find(lr_find_command, data, std::cout);
    } else if (app.got_subcommand("train") && train_command.distributed) {
      usage_check([&] {
        if (!cli::distributed_available()) throw InvalidArgument("--distributed needs descent built with -DDESCENT_WITH_MPI=ON");
        if (train_command.micro_batches != 1) throw InvalidArgument("--micro-batches: with --distributed each rank is one part of each batch");
        cli::check_train_command(train_command);
      });
      cli::run_train_distributed(train_command, std::cout);
    } else if (app.got_subcommand("train")) {
      const bool terminal = isatty(STDOUT_FILENO) != 0;
      usage_check([&] { cli::check_train_command(train_command); });
      const nn::TrainTest data = load_data(train_command.data);
      usage_check([&] { cli::check_model_fits(train_command.model, data); });
      const auto run = cli::run_train(train_command, data, train_command.out, std::cout, terminal);
      if (run.epochs.size() < train_command.epochs) {
        std::cout << "stopped at --max-steps " << train_command.max_steps << " (epochs done: " << run.epochs.size()
                  << "); continue with --resume " << run.checkpoint.string() << "\n";
      } else {
        std::cout << "final test accuracy: " << std::fixed << std::setprecision(2)
                  << 100.0 * run.epochs.back().test_accuracy << "%\n";
      }
      if (!run.checkpoint.empty()) std::cout << "checkpoint: " << run.checkpoint.string() << "\n";
      std::cout << "metrics: " << train_command.out.string() << "/metrics.csv, metrics.json, steps.csv\n";
    } else if (app.got_subcommand("compare") && compare->get_option("--function")->count() == 0) {
      // On data: the options of the function mode would be ignored, and so would second-order methods.
      refuse_options(compare, {"--lr", "--steps", "--tolerance"},
                     "applies to compare --function only (on data each optimizer trains at its usual rate)");
      mlp_config.optimizers = resolve(optimizer_names_given);
      if (optimizer_names_given.empty()) {
        std::erase_if(mlp_config.optimizers, [](const cli::Preset& p) { return cli::is_second_order(p); });
      }
      for (const cli::Preset& p : mlp_config.optimizers) {
        if (cli::is_second_order(p)) {
          throw UsageError("'" + p.name + "' is a second-order method for functions: compare --function NAME "
                           "--optimizers " + p.name + ", or leave it out of a comparison on data");
        }
      }
      mlp_config.out = out;
      mlp_config.plots = !no_plots;
      usage_check([&] {
        cli::check_model_options(mlp_config.model, "relu", "pytorch", "cross-entropy");
        cli::prepare_output_folder(out, "--out");
      });
      const nn::TrainTest data = load_data(mlp_config.data);
      usage_check([&] { cli::check_model_fits(mlp_config.model, data); });
      const auto dir = cli::run_mlp_compare(mlp_config, data, std::cout, isatty(STDOUT_FILENO) != 0);
      std::cout << "\nreport: " << dir.string() << "/summary.md\n";
    } else if (app.got_subcommand("compare") || app.got_subcommand("trajectory")) {
      if (app.got_subcommand("compare")) {
        refuse_options(compare, {"--data", "--model", "--epochs", "--batch-size", "--seed", "--threads"},
                       "applies to compare on data only, not with --function");
      }
      config.optimizers = resolve(optimizer_names_given);
      if (optimizer_names_given.empty()) {
        // Low-bit state (adam-bf16, adam-int8, ...) needs float32 parameters and the test functions are
        // float64: a comparison of every optimizer leaves those presets out (naming one still runs it, and
        // it fails naming the dtype).
        std::erase_if(config.optimizers, [](const cli::Preset& p) { return p.options.count("state_dtype") != 0; });
      }
      // bfloat16 parameters are a way to store a model's weights: a float64 function has none to store.
      for (const cli::Preset& p : config.optimizers) {
        if (p.bf16_parameters && !optimizer_names_given.empty()) {
          throw UsageError("'" + p.name + "' trains a model with bfloat16 parameters: compare it on data (--data), "
                                "not on a function");
        }
      }
      std::erase_if(config.optimizers, [](const cli::Preset& p) { return p.bf16_parameters; });
      config.out = out;
      config.plots = !no_plots;
      usage_check([&] {
        if (make_test_problem(config.function).objective->dimension() != 2) {
          throw descent::InvalidArgument("'" + config.function + "' is not a 2-D function");
        }
        cli::prepare_output_folder(out, "--out");
      });
      const auto dir = cli::run_compare(config, std::cout);
      std::cout << "\nreport: " << dir.string() << "/summary.md\n";
    }
    std::cout.flush();
    if (!std::cout) throw std::runtime_error("cannot write to standard output");
  } catch (const UsageError& e) {
    std::cerr << "descent: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "descent: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
