// Math shared by several optimizers, written once: the effective gradient (maximize, L2 weight decay),
// exponential moving averages, bias correction, decoupled weight decay, norms and the LARS/LAMB trust ratio.
//
// Each optimizer lives in its own folder, src/optimizers/<name>/: <name>.cpp (the rule, with its paper and
// equations, its options, its scalar reference update and its registration), <name>_reference.hpp (the
// per-step scalars and the declarations of the reference and of the vector kernel), <name>-inl.h (the
// vector body), <name>_kernel.cpp (compiles it for every instruction set) and <name>_test.cpp (kernel
// against reference on every target). src/optimizers/registry.cpp lists the folders.
//
// The scalar reference updates are the specification: the vectorised kernels are tested against them.
// A `...Step` struct holds what is constant over one step of one parameter (bias corrections, learning
// rate after decay...): computed once in double by make(), outside the element loop.
//
// Conventions of every reference update:
// - element arithmetic runs in the parameter's type T, with per-step scalars computed once in double
//   and rounded to T, in the order PyTorch's tensor operations apply them;
// - rounding follows PyTorch's CPU kernels, measured (tests/reference/README.md): a.add_(b, alpha) and
//   a.addcmul_(b, c, value) round once (fused multiply-add), a.addcdiv_(b, c, value) computes
//   a + (value * b) / c with three roundings, and division by a scalar is a true division. The library
//   is built with -ffp-contract=off, so the compiler fuses nothing else and results do not depend on -march;
// - reductions (norms) accumulate in double, in index order, so they are deterministic.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "descent/error.hpp"
#include "descent/options.hpp"

namespace descent::detail {

// Builds an OptionInfo row; `max_inclusive` matters only where max is finite or +inf is allowed.
constexpr OptionInfo real_option(std::string_view name, double default_value, double min, double max,
                                 bool min_inclusive, bool max_inclusive, std::string_view meaning) {
  return {name, OptionType::Real, default_value, min, max, min_inclusive, max_inclusive, meaning, {}};
}
constexpr OptionInfo bool_option(std::string_view name, bool default_value, std::string_view meaning) {
  return {name, OptionType::Bool, default_value ? 1.0 : 0.0, 0.0, 1.0, true, true, meaning, {}};
}
// An integer option (iterations, a period, a block size). Bounds are integers, or +-infinity for none;
// values are integers of magnitude at most 2^53 in any case.
constexpr OptionInfo int_option(std::string_view name, std::int64_t default_value, double min, double max,
                                bool min_inclusive, bool max_inclusive, std::string_view meaning) {
  return {name, OptionType::Int, static_cast<double>(default_value), min, max, min_inclusive, max_inclusive,
          meaning, {}};
}
// One of a fixed list of names, e.g. constexpr std::array<std::string_view, 2> kModes{"original", "fast"};
// choice_option("mode", "original", kModes, "..."). `choices` must outlive the table (a static array),
// and a default that is not one of them stops the compilation of a constexpr table.
constexpr OptionInfo choice_option(std::string_view name, std::string_view default_choice,
                                   std::span<const std::string_view> choices, std::string_view meaning) {
  std::size_t index = 0;
  while (index < choices.size() && choices[index] != default_choice) ++index;
  if (index == choices.size()) throw Error("internal: the default of option '" + std::string(name) + "' is not one of its choices");
  return {name, OptionType::Choice, static_cast<double>(index), 0.0, static_cast<double>(choices.size() - 1),
          true, true, meaning, choices};
}
inline constexpr double kInf = HUGE_VAL;

// The shared option rows, so a range like "beta in [0, 1)" is written once.
constexpr OptionInfo lr_option(double default_value) {
  return real_option("lr", default_value, 0.0, kInf, true, false, "learning rate (step size)");
}
constexpr OptionInfo weight_decay_option(double default_value, std::string_view meaning) {
  return real_option("weight_decay", default_value, 0.0, kInf, true, false, meaning);
}
constexpr OptionInfo eps_option(double default_value, std::string_view meaning) {
  return real_option("eps", default_value, 0.0, kInf, true, false, meaning);
}
constexpr OptionInfo beta1_option() {
  return real_option("beta1", 0.9, 0.0, 1.0, true, false, "decay rate of the first-moment (gradient) average");
}
constexpr OptionInfo beta2_option() {
  return real_option("beta2", 0.999, 0.0, 1.0, true, false, "decay rate of the second-moment (squared gradient) average");
}
constexpr OptionInfo momentum_option(double default_value) {
  return real_option("momentum", default_value, 0.0, 1.0, true, false, "momentum factor (0 turns momentum off)");
}
constexpr OptionInfo maximize_option() {
  return bool_option("maximize", false, "ascend the objective instead of descending (negates the gradient)");
}
constexpr OptionInfo exclude_option() {
  return bool_option("exclude", false,
                     "take plain steps for this group: no trust ratio, no weight decay (biases, 1-D norm weights)");
}

// a + alpha * b with one rounding: PyTorch's a.add_(b, alpha=alpha) on CPU.
template <class T>
inline T add_scaled(T a, T alpha, T b) {
  return std::fma(alpha, b, a);
}

// The gradient an update uses: negated when maximizing, then L2 weight decay added (PyTorch's
// grad.add(param, alpha=weight_decay), applied only when weight_decay != 0).
template <class T>
inline T effective_grad(T grad, T param, bool maximize, T l2) {
  const T g = maximize ? -grad : grad;
  return l2 != T(0) ? add_scaled(g, l2, param) : g;
}

// max(a, b) that returns NaN when either is NaN, as torch.maximum and torch.amax do (std::max(a, NaN)
// returns a, which would hide a NaN gradient from the state).
template <class T>
inline T nan_max(T a, T b) {
  return a != a || b != b ? a + b : (a < b ? b : a);
}

// PyTorch's scalar lerp(from, to, weight) (aten/src/ATen/native/Lerp.h), exact at both ends: Muon's
// momentum, SOAP's preconditioner averages.
template <class T>
inline T lerp(T from, T to, T weight) {
  return std::abs(weight) < T(0.5) ? from + weight * (to - from) : to - (to - from) * (T(1) - weight);
}

// avg <- beta * avg + (1 - beta) * x, as PyTorch's avg.mul_(beta).add_(x, alpha=1-beta).
template <class T>
inline T ema(T avg, T x, T beta, T one_minus_beta) {
  return add_scaled(avg * beta, one_minus_beta, x);
}
// avg <- beta * avg + (1 - beta) * x * x, as PyTorch's avg.mul_(beta).addcmul_(x, x, value=1-beta).
template <class T>
inline T ema_sq(T avg, T x, T beta, T one_minus_beta) {
  return std::fma(one_minus_beta * x, x, avg * beta);
}

// Adam's two moment estimates, shared by Adam, AdamW, NAdam, RAdam and LAMB:
//   m <- beta1 * m + (1 - beta1) * g,   v <- beta2 * v + (1 - beta2) * g^2.
template <class T>
struct AdamMoments {
  T beta1, one_minus_beta1, beta2, one_minus_beta2;
  AdamMoments(double b1, double b2)
      : beta1(static_cast<T>(b1)),
        one_minus_beta1(static_cast<T>(1.0 - b1)),
        beta2(static_cast<T>(b2)),
        one_minus_beta2(static_cast<T>(1.0 - b2)) {}
  void update(T& exp_avg, T& exp_avg_sq, T g) const {
    exp_avg = ema(exp_avg, g, beta1, one_minus_beta1);
    exp_avg_sq = ema_sq(exp_avg_sq, g, beta2, one_minus_beta2);
  }
};

// 1 - beta^t: divides an average started at zero to remove its bias towards zero (Adam, section 3).
inline double bias_correction(double beta, std::int64_t step) { return 1.0 - std::pow(beta, static_cast<double>(step)); }

// Decoupled weight decay (Loshchilov & Hutter): param <- param * (1 - lr * weight_decay), before the step.
inline double decoupled_decay_factor(double lr, double weight_decay) { return 1.0 - lr * weight_decay; }

template <class T>
inline double sum_of_squares(const T* x, std::size_t n) {
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return sum;
}

// Layer-wise trust ratio of LARS and LAMB: numerator / denominator, or 1 when either the weight norm
// or the update norm is zero (a zero-initialised layer, or a zero update), where the ratio means nothing.
// A NaN norm (from a NaN gradient) gives a NaN ratio, so the NaN reaches every element of the tensor
// rather than turning into an unscaled step of the others.
inline double trust_ratio(double weight_norm, double update_norm, double numerator, double denominator) {
  return weight_norm == 0.0 || update_norm == 0.0 ? 1.0 : numerator / denominator;
}

}  // namespace descent::detail
