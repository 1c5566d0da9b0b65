// L-BFGS, following torch.optim.LBFGS (PyTorch 1.13) step for step; see lbfgs.hpp. Arithmetic mirrors
// PyTorch's: x + t d and the two-loop updates are fused multiply-adds (PyTorch's add_ with alpha), dot
// products are the BLAS ddot, and the first step's sum |g| adds in ATen's order (below).
#include "descent/minimize/lbfgs.hpp"

#include <cblas.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>

#include "descent/error.hpp"

namespace descent {
namespace {

// torch.dot on CPU float64 calls the BLAS ddot it links (Debian's python3-torch: OpenBLAS, which descent
// links too), so the same call gives the same rounding; a loop in index order differs from its unrolled
// kernel by ulps from about 8 elements on.
double dot(std::span<const double> a, std::span<const double> b) {
  return cblas_ddot(static_cast<int>(a.size()), a.data(), 1, b.data(), 1);
}

// sum |g| in the order of ATen 1.13's cascade sum (aten/src/ATen/native/cpu/SumKernel.cpp:
// vectorized_inner_sum, row_sum, multi_row_sum) at the AVX2 width, 4 doubles a vector, PyTorch 1.13's
// default CPU capability: whole vectors of 4 are summed lane-wise in 4 interleaved rows (vectors k,
// k + 4, k + 8, ... go to row k mod 4), each row with cascade levels of at least 16 vectors; the rows
// are added, then the scalar tail, then the 4 lanes in order.
double aten_abs_sum(std::span<const double> g) {
  constexpr std::size_t kLanes = 4, kRows = 4, kLevels = 4;
  using Vec = std::array<double, kLanes>;
  const auto add = [](Vec& to, const Vec& v) {
    for (std::size_t l = 0; l < kLanes; ++l) to[l] += v[l];
  };
  const auto load = [&](std::size_t vector) {
    Vec v;
    for (std::size_t l = 0; l < kLanes; ++l) v[l] = std::abs(g[vector * kLanes + l]);
    return v;
  };
  const std::size_t vectors = g.size() / kLanes;
  const std::size_t groups = vectors / kRows;  // multi_row_sum's `size`
  std::size_t ceil_log2 = 0;
  while ((std::size_t{1} << ceil_log2) < groups) ++ceil_log2;
  const std::size_t level_power = std::max<std::size_t>(4, ceil_log2 / kLevels);
  const std::size_t level_step = std::size_t{1} << level_power;
  const std::size_t level_mask = level_step - 1;
  std::array<std::array<Vec, kRows>, kLevels> acc{};
  std::size_t i = 0;
  while (i + level_step <= groups) {
    for (std::size_t j = 0; j < level_step; ++j, ++i) {
      for (std::size_t k = 0; k < kRows; ++k) add(acc[0][k], load(i * kRows + k));
    }
    for (std::size_t j = 1; j < kLevels; ++j) {
      for (std::size_t k = 0; k < kRows; ++k) {
        add(acc[j][k], acc[j - 1][k]);
        acc[j - 1][k] = Vec{};
      }
      if ((i & (level_mask << (j * level_power))) != 0) break;
    }
  }
  for (; i < groups; ++i) {
    for (std::size_t k = 0; k < kRows; ++k) add(acc[0][k], load(i * kRows + k));
  }
  for (std::size_t j = 1; j < kLevels; ++j) {
    for (std::size_t k = 0; k < kRows; ++k) add(acc[0][k], acc[j][k]);
  }
  for (std::size_t v = groups * kRows; v < vectors; ++v) add(acc[0][0], load(v));  // row_sum's leftover vectors
  for (std::size_t k = 1; k < kRows; ++k) add(acc[0][0], acc[0][k]);
  double sum = 0.0;
  for (std::size_t e = vectors * kLanes; e < g.size(); ++e) sum += std::abs(g[e]);
  for (const double lane : acc[0][0]) sum += lane;
  return sum;
}

double max_abs(std::span<const double> a) {
  double m = 0.0;
  for (const double v : a) m = std::max(m, std::abs(v));
  return m;
}

bool all_finite(double f, std::span<const double> g) {
  if (!std::isfinite(f)) return false;
  return std::all_of(g.begin(), g.end(), [](double v) { return std::isfinite(v); });
}

// The minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clamped to the
// bounds (default: the interval between x1 and x2); the midpoint when the cubic has no minimizer
// (Nocedal & Wright, eq. 3.59). A non-finite input (a trial point that overflowed) gives the midpoint
// too: bisection, where PyTorch would produce NaN.
double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2, double lower,
                         double upper) {
  if (!std::isfinite(f1) || !std::isfinite(f2) || !std::isfinite(g1) || !std::isfinite(g2)) {
    return (lower + upper) / 2.0;
  }
  const double d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
  const double d2_square = d1 * d1 - g1 * g2;
  if (d2_square >= 0.0) {
    const double d2 = std::sqrt(d2_square);
    const double min_pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
                                    : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2));
    return std::min(std::max(min_pos, lower), upper);
  }
  return (lower + upper) / 2.0;
}

double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2) {
  return cubic_interpolate(x1, f1, g1, x2, f2, g2, std::min(x1, x2), std::max(x1, x2));
}

void check(bool ok, const std::string& option, double value, const char* range) {
  if (!ok) {
    throw InvalidArgument("LBFGS: option '" + option + "' = " + format_number(value) + " is out of range: must be " +
                          range);
  }
}

}  // namespace

void LBFGSOptions::validate() const {
  check(std::isfinite(lr) && lr > 0.0, "lr", lr, "in (0, inf)");
  check(max_iter >= 1, "max_iter", max_iter, "an integer >= 1");
  check(max_eval >= 1, "max_eval", max_eval, "an integer >= 1");
  check(tolerance_grad >= 0.0 && std::isfinite(tolerance_grad), "tolerance_grad", tolerance_grad, "in [0, inf)");
  check(tolerance_change >= 0.0 && std::isfinite(tolerance_change), "tolerance_change", tolerance_change, "in [0, inf)");
  check(history_size >= 1, "history_size", history_size, "an integer >= 1");
}

LBFGS::LBFGS(const Objective& objective, const LBFGSOptions& options)
    : objective_(objective), options_(options), n_(objective.dimension()) {
  options_.validate();
  flat_grad_.resize(n_);
  prev_flat_grad_.resize(n_);
  d_.resize(n_);
}

void LBFGS::set_options(const LBFGSOptions& options) {
  options.validate();
  options_ = options;
}

// Counts after the objective returns, so that an objective that throws leaves the counters as they were.
double LBFGS::evaluate(std::span<const double> x, std::span<double> grad) {
  const double f = objective_.evaluate(x, grad);
  ++func_evals_;
  ++current_evals_;
  return f;
}

LBFGSStatus LBFGS::begin(std::span<const double> x) {
  if (x.size() != n_) {
    throw InvalidArgument("LBFGS: x has " + std::to_string(x.size()) + " elements, the objective " + std::to_string(n_));
  }
  const double f = objective_.evaluate(x, flat_grad_);  // (throws before anything but flat_grad_ changes)
  current_evals_ = 1;
  ++func_evals_;
  loss_ = f;
  if (!all_finite(loss_, flat_grad_)) return LBFGSStatus::kNonFinite;
  return max_abs(flat_grad_) <= options_.tolerance_grad ? LBFGSStatus::kGradientTolerance : LBFGSStatus::kContinue;
}

// The search direction d = -H g, H the L-BFGS inverse-Hessian estimate (two-loop recursion, Nocedal &
// Wright Algorithm 7.4), after adding the newest pair s = t d, y = g - g_prev when y.s > 1e-10.
void LBFGS::direction() {
  if (n_iter_ == 1) {
    for (std::size_t i = 0; i < n_; ++i) d_[i] = -flat_grad_[i];
    old_dirs_.clear();
    old_stps_.clear();
    ro_.clear();
    h_diag_ = 1.0;
    return;
  }
  std::vector<double> y(n_), s(n_);
  for (std::size_t i = 0; i < n_; ++i) {
    y[i] = flat_grad_[i] - prev_flat_grad_[i];
    s[i] = d_[i] * t_;
  }
  const double ys = dot(y, s);
  if (ys > 1e-10) {  // keep the pair only if it has positive curvature
    if (old_dirs_.size() == static_cast<std::size_t>(options_.history_size)) {
      old_dirs_.pop_front();
      old_stps_.pop_front();
      ro_.pop_front();
    }
    h_diag_ = ys / dot(y, y);
    old_dirs_.push_back(std::move(y));
    old_stps_.push_back(std::move(s));
    ro_.push_back(1.0 / ys);
  }
  const std::size_t num_old = old_dirs_.size();
  std::vector<double> al(num_old);
  std::vector<double>& q = d_;
  for (std::size_t i = 0; i < n_; ++i) q[i] = -flat_grad_[i];
  for (std::size_t k = num_old; k-- > 0;) {
    al[k] = dot(old_stps_[k], q) * ro_[k];
    for (std::size_t i = 0; i < n_; ++i) q[i] = std::fma(-al[k], old_dirs_[k][i], q[i]);
  }
  for (std::size_t i = 0; i < n_; ++i) q[i] *= h_diag_;
  for (std::size_t k = 0; k < num_old; ++k) {
    const double be = dot(old_dirs_[k], q) * ro_[k];
    for (std::size_t i = 0; i < n_; ++i) q[i] = std::fma(al[k] - be, old_stps_[k][i], q[i]);
  }
}

LBFGSStatus LBFGS::iterate(std::span<double> x, bool evaluate_after_fixed_step) {
  ++n_iter_;
  direction();
  std::copy(flat_grad_.begin(), flat_grad_.end(), prev_flat_grad_.begin());
  have_prev_ = true;
  prev_loss_ = loss_;
  t_ = n_iter_ == 1 ? std::min(1.0, 1.0 / aten_abs_sum(flat_grad_)) * options_.lr : options_.lr;
  const double gtd = dot(flat_grad_, d_);
  if (gtd > -options_.tolerance_change) return LBFGSStatus::kSmallDirectionalDerivative;

  const LBFGSStatus status = options_.line_search == LineSearch::StrongWolfe
                                 ? strong_wolfe_step(x, gtd)
                                 : fixed_step(x, evaluate_after_fixed_step);
  if (status != LBFGSStatus::kContinue) return status;
  if (options_.line_search == LineSearch::None && !evaluate_after_fixed_step) return LBFGSStatus::kContinue;
  if (max_abs(flat_grad_) <= options_.tolerance_grad) return LBFGSStatus::kGradientTolerance;
  double step_max = 0.0;
  for (const double di : d_) step_max = std::max(step_max, std::abs(di * t_));
  if (step_max <= options_.tolerance_change) return LBFGSStatus::kStepTolerance;
  if (std::abs(loss_ - prev_loss_) < options_.tolerance_change) return LBFGSStatus::kValueTolerance;
  return LBFGSStatus::kContinue;
}

// x <- x + t d. Where f or g comes out non-finite, the step is halved from the same x (up to 60 times)
// instead of continuing from a NaN, which is what PyTorch would do.
LBFGSStatus LBFGS::fixed_step(std::span<double> x, bool evaluate_after) {
  const std::vector<double> x_start(x.begin(), x.end());
  for (int attempt = 0; attempt < 60; ++attempt) {
    for (std::size_t i = 0; i < n_; ++i) x[i] = std::fma(t_, d_[i], x_start[i]);
    if (!evaluate_after) return LBFGSStatus::kContinue;
    std::vector<double> grad(n_);
    const double f = evaluate(x, grad);
    if (all_finite(f, grad)) {
      loss_ = f;
      flat_grad_ = std::move(grad);
      return LBFGSStatus::kContinue;
    }
    t_ *= 0.5;
  }
  std::copy(x_start.begin(), x_start.end(), x.begin());
  return LBFGSStatus::kNonFinite;
}

// The strong-Wolfe line search of torch.optim.lbfgs._strong_wolfe (c1 = 1e-4, c2 = 0.9, at most 25
// evaluations, interval tolerance 1e-9: PyTorch passes its defaults, not the optimizer's options).
// A non-finite trial value counts as a failed sufficient-decrease test, so the bracket shrinks onto
// finite ground (bisection) and the step never lands on NaN.
LBFGSStatus LBFGS::strong_wolfe_step(std::span<double> x, double gtd) {
  constexpr double c1 = 1e-4, c2 = 0.9, interval_tolerance = 1e-9;
  constexpr int max_ls = 25;
  const std::vector<double> x_init(x.begin(), x.end());
  const double f = loss_;
  const std::vector<double> g = flat_grad_;
  const double d_norm = max_abs(d_);
  std::vector<double> trial(n_);
  const auto evaluate_at = [&](double t, std::vector<double>& grad_out) {
    for (std::size_t i = 0; i < n_; ++i) trial[i] = std::fma(t, d_[i], x_init[i]);
    grad_out.assign(n_, 0.0);
    const double value = evaluate(trial, grad_out);
    return all_finite(value, grad_out) ? value : std::numeric_limits<double>::infinity();
  };

  double t = t_;
  std::vector<double> g_new;
  double f_new = evaluate_at(t, g_new);
  double gtd_new = dot(g_new, d_);
  double t_prev = 0.0, f_prev = f, gtd_prev = gtd;
  std::vector<double> g_prev = g;
  bool done = false;
  int ls_iter = 0;

  std::array<double, 2> bracket{}, bracket_f{}, bracket_gtd{};
  std::array<std::vector<double>, 2> bracket_g;
  std::size_t bracket_size = 0;
  const auto set_pair = [&] {
    bracket = {t_prev, t};
    bracket_f = {f_prev, f_new};
    bracket_g = {g_prev, g_new};
    bracket_gtd = {gtd_prev, gtd_new};
    bracket_size = 2;
  };

  while (ls_iter < max_ls) {
    if (f_new > f + c1 * t * gtd || (ls_iter > 1 && f_new >= f_prev)) {
      set_pair();
      break;
    }
    if (std::abs(gtd_new) <= -c2 * gtd) {
      bracket[0] = t;
      bracket_f[0] = f_new;
      bracket_g[0] = g_new;
      bracket_size = 1;
      done = true;
      break;
    }
    if (gtd_new >= 0.0) {
      set_pair();
      break;
    }
    // Extrapolate: the next trial lies between 1.01 t and 10 t.
    const double min_step = t + 0.01 * (t - t_prev);
    const double max_step = t * 10.0;
    const double previous = t;
    t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, min_step, max_step);
    t_prev = previous;
    f_prev = f_new;
    g_prev = g_new;
    gtd_prev = gtd_new;
    f_new = evaluate_at(t, g_new);
    gtd_new = dot(g_new, d_);
    ++ls_iter;
  }
  if (ls_iter == max_ls) {
    bracket = {0.0, t};
    bracket_f = {f, f_new};
    bracket_g = {g, g_new};
    bracket_size = 2;
  }

  // Zoom (Nocedal & Wright Algorithm 3.6) until the strong Wolfe conditions hold.
  bool insufficient_progress = false;
  std::size_t low = 0, high = 1;
  if (bracket_size == 2 && !(bracket_f[0] <= bracket_f[1])) std::swap(low, high);
  while (!done && ls_iter < max_ls) {
    if (std::abs(bracket[1] - bracket[0]) * d_norm < interval_tolerance) break;
    t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]);
    // Keep the trial at least 10% of the interval away from its ends (safeguard against stalling).
    const double lo = std::min(bracket[0], bracket[1]), hi = std::max(bracket[0], bracket[1]);
    const double eps = 0.1 * (hi - lo);
    if (std::min(hi - t, t - lo) < eps) {
      if (insufficient_progress || t >= hi || t <= lo) {
        t = std::abs(t - hi) < std::abs(t - lo) ? hi - eps : lo + eps;
        insufficient_progress = false;
      } else {
        insufficient_progress = true;
      }
    } else {
      insufficient_progress = false;
    }
    f_new = evaluate_at(t, g_new);
    gtd_new = dot(g_new, d_);
    ++ls_iter;
    if (f_new > f + c1 * t * gtd || f_new >= bracket_f[low]) {
      bracket[high] = t;
      bracket_f[high] = f_new;
      bracket_g[high] = g_new;
      bracket_gtd[high] = gtd_new;
      low = bracket_f[0] <= bracket_f[1] ? 0 : 1;
      high = 1 - low;
    } else {
      if (std::abs(gtd_new) <= -c2 * gtd) {
        done = true;
      } else if (gtd_new * (bracket[high] - bracket[low]) >= 0.0) {
        bracket[high] = bracket[low];
        bracket_f[high] = bracket_f[low];
        bracket_g[high] = bracket_g[low];
        bracket_gtd[high] = bracket_gtd[low];
      }
      bracket[low] = t;
      bracket_f[low] = f_new;
      bracket_g[low] = g_new;
      bracket_gtd[low] = gtd_new;
    }
  }

  t_ = bracket[low];
  if (!std::isfinite(bracket_f[low])) {  // nothing finite was found: stay at x
    t_ = 0.0;
    return LBFGSStatus::kNonFinite;
  }
  loss_ = bracket_f[low];
  flat_grad_ = bracket_g[low];
  for (std::size_t i = 0; i < n_; ++i) x[i] = std::fma(t_, d_[i], x_init[i]);
  return LBFGSStatus::kContinue;
}

double LBFGS::step(std::span<double> x) {
  LBFGSStatus status = begin(x);
  const double original = loss_;
  if (status != LBFGSStatus::kContinue) return original;
  for (int n_iter = 1; n_iter <= options_.max_iter; ++n_iter) {
    status = iterate(x, n_iter != options_.max_iter);
    if (status != LBFGSStatus::kContinue || n_iter == options_.max_iter || current_evals_ >= options_.max_eval) break;
  }
  return original;
}

}  // namespace descent
