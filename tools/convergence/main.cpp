// descent-convergence problems             the test problems as JSON, for scipy_convergence.py
// descent-convergence table --scipy F --out F.md [-j N]
//                                          run every method, write the document beside SciPy's results
// Exit status 2 for a usage error, 1 for a failure.
#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>

#include "convergence.hpp"

int main(int argc, char** argv) {
  CLI::App app{"descent-convergence: the convergence table of docs/convergence.md"};
  app.require_subcommand(1);
  app.add_subcommand("problems", "Print every test problem of the table (start, f, gradient, Hessian, minimum, "
                                 "minimizers) as JSON");
  descent::cli::ConvergenceConfig config;
  auto* table = app.add_subcommand("table", "Run every method on every problem to ||grad f|| <= 1e-6 and write the "
                                            "Markdown document beside SciPy's results");
  table->add_option("--scipy", config.scipy, "SciPy's results (tools/convergence/scipy_convergence.py)")->required();
  // No default: the document in docs/ is regenerated only when named.
  table->add_option("--out", config.out, "the Markdown document to write")->required();
  table->add_option("-j,--jobs", config.jobs, "worker threads (default: all hardware threads)")
      ->check(CLI::Range(1, 1024));
  table->add_option("--command", config.command, "the command named in the document as the way to regenerate it")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    if (app.got_subcommand("problems")) {
      descent::cli::print_problems_json(std::cout);
    } else {
      descent::cli::run_convergence(config, std::cout);
      std::cout << "wrote " << config.out.string() << "\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "descent-convergence: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
