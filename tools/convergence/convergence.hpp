// descent-convergence: the convergence table of docs/convergence.md, a maintainers' tool (not part of the
// user CLI).
//
// Every second-order method of the library (second_order_method_names()) and every first-order optimizer
// (optimizer_names(), at its best learning rate) runs on every test problem until ||grad f|| <= 1e-6 is
// first seen; the tables show the evaluations that took, beside SciPy's minimize from the same starts
// (tools/convergence/scipy_convergence.py, which reads the problems from `descent-convergence problems`).
// tools/convergence/convergence-table.sh runs the whole pipeline.
#pragma once

#include <cstddef>
#include <filesystem>
#include <iosfwd>
#include <string>

namespace descent::cli {

// Every test problem (each name at its default dimension, and rosenbrock at n = 100 and 1000) as JSON: name,
// id, dimension, start, f and gradient at the start, the Hessian there (n <= 100), minimum (null when not
// finite), minimizers, perturbed starts, and for logistic regression its data (inputs, labels, l2).
// Numbers with 17 significant digits.
void print_problems_json(std::ostream& out);

struct ConvergenceConfig {
  std::filesystem::path scipy;     // the JSON written by tools/convergence/scipy_convergence.py
  std::filesystem::path out;       // the Markdown document to write: always given explicitly
  std::string command = "tools/convergence/convergence-table.sh docs/convergence.md";  // named in the doc
  std::size_t jobs = 0;            // worker threads; 0: the hardware's
};

// Runs every method on every problem, reads SciPy's results and writes the Markdown document.
void run_convergence(const ConvergenceConfig& config, std::ostream& log);

}  // namespace descent::cli
