// `descent problems --json` and `descent convergence`: the convergence table of docs/convergence.md.
//
// Every method of the library (Newton, Newton-CG, L-BFGS and each first-order optimizer at its best
// learning rate) runs on every test problem until ||grad f|| <= 1e-6 is first seen; the table shows the
// evaluations that took, beside SciPy's minimize on the same starts (scripts/scipy_convergence.py, which
// reads the problems from `descent problems --json`).
#pragma once

#include <cstddef>
#include <filesystem>
#include <iosfwd>
#include <string>

namespace descent::cli {

// Every test problem (each name at its default dimension, and rosenbrock at n = 100) as JSON: name, id,
// dimension, start, f and gradient and Hessian at the start, minimum (null when not finite), minimizers,
// and for logistic regression its data (inputs, labels, l2). Numbers with 17 significant digits.
void print_problems_json(std::ostream& out);

struct ConvergenceConfig {
  std::filesystem::path scipy;     // the JSON written by scripts/scipy_convergence.py
  std::filesystem::path out = "docs/convergence.md";
  std::string command = "scripts/convergence-table.sh";  // named in the doc as the way to regenerate it
  std::size_t jobs = 0;            // worker threads; 0: the hardware's
};

// Runs every method on every problem, reads SciPy's results and writes the Markdown document.
void run_convergence(const ConvergenceConfig& config, std::ostream& log);

}  // namespace descent::cli
