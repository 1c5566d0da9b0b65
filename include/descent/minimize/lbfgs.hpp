// L-BFGS (Nocedal 1980; Liu & Nocedal 1989) as PyTorch's torch.optim.LBFGS runs it: the same options,
// defaults, two-loop recursion, first step, stopping tests and strong-Wolfe line search (Nocedal &
// Wright, Algorithms 3.5 and 3.6, with cubic interpolation), so that it follows PyTorch's iterates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "descent/minimize/objective.hpp"

namespace descent {

enum class LineSearch : unsigned char { None, StrongWolfe };

struct LBFGSOptions {
  double lr = 1.0;                 // step size (the first step of the first iteration is min(1, 1/|g|_1) * lr)
  int max_iter = 20;               // iterations per step() call
  int max_eval = 25;               // function evaluations per step() call (PyTorch: max_iter * 5 / 4)
  double tolerance_grad = 1e-7;    // stop when max_i |g_i| <= tolerance_grad
  double tolerance_change = 1e-9;  // stop when the step or the change of f is below it
  int history_size = 100;          // number of (s, y) pairs kept
  LineSearch line_search = LineSearch::None;  // None: fixed steps of lr (PyTorch's default)

  // Throws InvalidArgument naming the option, its value and the valid range.
  void validate() const;
};

// Why an L-BFGS iteration ended the run, or kContinue.
enum class LBFGSStatus : unsigned char {
  kContinue,
  kGradientTolerance,  // max |g| <= tolerance_grad
  kStepTolerance,      // max |t d| <= tolerance_change
  kValueTolerance,     // |f_new - f_old| < tolerance_change
  kSmallDirectionalDerivative,  // g . d > -tolerance_change: converged along d (or d is not downhill)
  kNonFinite,          // f or g is not finite even after backing off; x is the last finite point
};

class LBFGS {
 public:
  LBFGS(const Objective& objective, const LBFGSOptions& options);

  // One torch.optim.LBFGS.step(closure): evaluates f at x, then runs up to max_iter iterations (at
  // most max_eval evaluations), moving x in place. The history persists across calls. Returns f at x
  // as it was on entry, as PyTorch does. If the objective throws in the first evaluation, the history,
  // the counters and the options are as they were before the call (only value() and gradient() are not).
  double step(std::span<double> x);

  // The pieces step() is made of, for drivers with their own stopping rules (descent::minimize):
  // begin() evaluates f and g at x; iterate() runs one iteration from there.
  LBFGSStatus begin(std::span<const double> x);
  LBFGSStatus iterate(std::span<double> x, bool evaluate_after_fixed_step = true);

  double value() const noexcept { return loss_; }
  std::span<const double> gradient() const noexcept { return flat_grad_; }
  std::int64_t iterations() const noexcept { return n_iter_; }
  std::int64_t function_evaluations() const noexcept { return func_evals_; }
  int evaluations_this_call() const noexcept { return current_evals_; }
  const LBFGSOptions& options() const noexcept { return options_; }
  // Replaces the options between step() calls, keeping the history (torch reads its options at every
  // step(), so a scheduler's lr takes effect at the next one). Validates first; throws InvalidArgument
  // and keeps the old options.
  void set_options(const LBFGSOptions& options);

 private:
  double evaluate(std::span<const double> x, std::span<double> grad);
  void direction();
  LBFGSStatus fixed_step(std::span<double> x, bool evaluate_after);
  LBFGSStatus strong_wolfe_step(std::span<double> x, double gtd);

  const Objective& objective_;
  LBFGSOptions options_;
  std::size_t n_;
  double loss_ = 0.0, prev_loss_ = 0.0;
  std::vector<double> flat_grad_, prev_flat_grad_, d_;
  double t_ = 0.0;
  double h_diag_ = 1.0;
  std::deque<std::vector<double>> old_dirs_, old_stps_;  // y_i and s_i, oldest first
  std::deque<double> ro_;                                 // 1 / (y_i . s_i)
  std::int64_t n_iter_ = 0, func_evals_ = 0;
  int current_evals_ = 0;
  bool have_prev_ = false;
};

}  // namespace descent
