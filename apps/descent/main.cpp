// The `descent` command line. Exit status: 0 success, 2 usage error, 1 run-time error.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <iostream>
#include <sstream>

#include "compare.hpp"
#include "convergence.hpp"
#include "descent/descent.hpp"
#include "descent/minimize/test_problems.hpp"
#include "presets.hpp"

namespace {

using namespace descent;

// Thrown for bad command-line values found after parsing (unknown names, out-of-range options).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Presets by name, case-insensitively, each once (a name given twice runs once).
std::vector<cli::Preset> resolve(const std::vector<std::string>& names) {
  std::vector<cli::Preset> out;
  try {
    if (names.empty()) return cli::presets();
    for (std::string name : names) {
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      cli::Preset preset = cli::find_preset(name);
      const bool seen = std::any_of(out.begin(), out.end(), [&](const cli::Preset& p) { return p.name == preset.name; });
      if (!seen) out.push_back(std::move(preset));
    }
  } catch (const descent::Error& e) {
    throw UsageError(e.what());
  }
  return out;
}

// A validator with a message that names the value and the range, for integer options.
CLI::Validator integer_between(long long lo, long long hi) {
  return CLI::Validator(
      [lo, hi](std::string& value) -> std::string {
        std::size_t used = 0;
        long long parsed = 0;
        try {
          parsed = std::stoll(value, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used == 0 || used != value.size() || parsed < lo || parsed > hi) {
          return "'" + value + "' is not an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
        }
        return "";
      },
      "INT in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
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
  for (const cli::Preset& p : cli::presets()) out << "  " << std::left << std::setw(11) << p.name << p.description << "\n";
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

  cli::CompareConfig config;
  std::vector<std::string> optimizer_names_given;
  auto* compare = app.add_subcommand("compare", "Run optimizers on a test function, each at its best learning rate; "
                                                "write a summary table, loss curves and paths on the contours");
  compare->add_option("-f,--function", config.function, "test function (see `descent list`)")->capture_default_str();
  compare->add_option("-o,--optimizers", optimizer_names_given, "comma-separated presets (default: all of them)")
      ->delimiter(',');
  compare->add_option("-n,--steps", config.steps, "maximum steps per run")
      ->capture_default_str()
      ->check(integer_between(1, 10'000'000));
  compare->add_option("--lr", config.lr, "learning rate for every optimizer (default: tune each over a log grid)")
      ->check(positive_real());
  compare->add_option("--tolerance", config.tolerance, "target gap f - f*")->capture_default_str()->check(positive_real());
  compare->add_option("--out", config.out, "report folder")->capture_default_str();
  bool no_plots = false;
  compare->add_flag("--no-plots", no_plots, "write data only, no gnuplot pictures");

  app.add_subcommand("list", "List optimizer presets, library optimizers and test functions");

  std::string options_of;
  bool markdown = false;
  auto* options = app.add_subcommand("options", "Show an optimizer's options: type, default, valid range, meaning");
  options->add_option("optimizer", options_of, "library optimizer name")->required();
  options->add_flag("--markdown", markdown, "print a Markdown table (as in docs/optimizers.md)");

  bool problems_json = false;
  auto* problems = app.add_subcommand("problems", "Print every test problem of the convergence table (start, f, "
                                                  "gradient, minimum, minimizers) as JSON");
  problems->add_flag("--json", problems_json, "JSON output (the only format)")->required();

  cli::ConvergenceConfig convergence_config;
  auto* convergence = app.add_subcommand("convergence", "Run Newton, Newton-CG, L-BFGS and every first-order "
                                                        "optimizer on every test problem to ||grad f|| <= 1e-6; "
                                                        "write the table beside SciPy's results");
  convergence->add_option("--scipy", convergence_config.scipy, "SciPy's results (scripts/scipy_convergence.py)")
      ->required();
  convergence->add_option("--out", convergence_config.out, "the Markdown document to write")->capture_default_str();
  convergence->add_option("-j,--jobs", convergence_config.jobs, "worker threads (default: all hardware threads)")
      ->check(integer_between(1, 1024));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help/version (code 0) or the error
    return code == 0 ? 0 : 2;
  }

  try {
    if (app.got_subcommand("list")) {
      print_list(std::cout);
    } else if (app.got_subcommand("options")) {
      std::unique_ptr<Options> o;
      try {
        o = make_options(options_of);
      } catch (const descent::Error& e) {
        throw UsageError(e.what());
      }
      if (markdown) {
        std::cout << markdown_table(*o);
      } else {
        for (const OptionInfo& f : o->info()) {
          const std::string default_text = f.type == OptionType::Bool ? (f.default_value != 0.0 ? "true" : "false")
                                                                        : format_number(f.default_value);
          std::cout << std::left << std::setw(27) << f.name << std::setw(10) << default_text
                    << std::setw(16) << f.range_text() << f.meaning << "\n";
        }
      }
    } else if (app.got_subcommand("problems")) {
      cli::print_problems_json(std::cout);
    } else if (app.got_subcommand("convergence")) {
      cli::run_convergence(convergence_config, std::cout);
      std::cout << "wrote " << convergence_config.out.string() << "\n";
    } else if (app.got_subcommand("compare")) {
      config.optimizers = resolve(optimizer_names_given);
      config.plots = !no_plots;
      try {
        if (make_test_problem(config.function).objective->dimension() != 2) {
          throw descent::InvalidArgument("compare needs a 2-D function; '" + config.function + "' is not one");
        }
      } catch (const descent::Error& e) {
        throw UsageError(e.what());
      }
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
