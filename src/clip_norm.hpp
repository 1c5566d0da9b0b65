// The arithmetic of clip_grad_norm (PyTorch's clip_grad_norm_) in pieces, one definition for the
// one-process descent::clip_grad_norm (src/schedule.cpp) and for descent::dist's owners, which run each
// piece over the tensors they own (src/dist/sharded.cpp). Both give bitwise the same norm and scaling
// because they run this same code in the same order (tests/dist/dist_test.cpp checks it).
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include "descent/error.hpp"

namespace descent::detail {

// The arguments' checks; `function` names the caller in the message.
inline void check_clip_norm_arguments(std::string_view function, double max_norm, double norm_type) {
  if (!(max_norm >= 0.0)) {
    throw InvalidArgument(std::string(function) + ": argument 'max_norm' = " + format_number(max_norm) +
                          " is out of range: must be in [0, inf]");
  }
  if (!(norm_type > 0.0)) {
    throw InvalidArgument(std::string(function) + ": argument 'norm_type' = " + format_number(norm_type) +
                          " is out of range: must be > 0 (inf for the maximum norm)");
  }
}

// max |g| over gradients, NaN if any element is NaN (as torch's max does). Exact in any order, so
// partial maxima combine with MPI_MAX.
struct MaxAbs {
  double value = 0.0;  // the largest non-NaN |g|
  bool nan = false;

  template <class Grad>
  void add(const Grad& grad) {
    for (const auto x : grad) {
      const double a = std::abs(static_cast<double>(x));
      if (a != a) {
        nan = true;
      } else if (a > value) {
        value = a;
      }
    }
  }
  double result() const { return nan ? std::numeric_limits<double>::quiet_NaN() : value; }
};

// Whether the norm of order `norm_type` needs the sum of powers: not for the maximum norm, and not when
// max |g| is NaN, infinite or 0 (the p-norm is then max |g| itself).
inline bool norm_needs_sum(double max_abs, double norm_type) {
  return !(std::isinf(norm_type) || !std::isfinite(max_abs) || max_abs == 0.0);
}

// s, a power of two near max |g|: sum |g / s|^p is an exact scaling that keeps g^p from overflowing or
// underflowing; the norm is s * sum^(1/p).
inline double norm_scale(double max_abs) {
  int exponent = 0;
  (void)std::frexp(max_abs, &exponent);
  return std::ldexp(1.0, exponent);
}

// Continues `sum` with |g / scale|^p over one gradient, element by element (the order fixes the rounding).
template <class Grad>
void add_scaled_powers(const Grad& grad, double scale, double norm_type, double& sum) {
  for (const auto x : grad) {
    const double a = std::abs(static_cast<double>(x)) / scale;
    sum += norm_type == 2.0 ? a * a : norm_type == 1.0 ? a : std::pow(a, norm_type);
  }
}

inline double norm_from_sum(double sum, double scale, double norm_type) {
  const double root = norm_type == 2.0 ? std::sqrt(sum) : norm_type == 1.0 ? sum : std::pow(sum, 1.0 / norm_type);
  return scale * root;
}

// The factor the gradients are multiplied by, and whether it applies: it does when below 1, and also
// when NaN (PyTorch's clamp(coef, max=1) keeps the NaN and applies it).
inline double clip_coefficient(double max_norm, double total) { return max_norm / (total + 1e-6); }
inline bool clip_applies(double coefficient) { return !(coefficient >= 1.0); }

template <class Grad>
void scale_gradient(Grad&& grad, double coefficient) {
  using T = std::remove_cvref_t<decltype(*grad.begin())>;
  const T c = static_cast<T>(coefficient);
  for (auto& x : grad) x *= c;
}

}  // namespace descent::detail
