// Adafactor: the per-step scalars, the scalar reference of the element-wise work and its vector kernels.
// The reference (adafactor.cpp) is the specification; the kernels (adafactor-inl.h, compiled for every
// instruction set by adafactor_kernel.cpp) apply the same operations lane by lane, so their results are
// bitwise the reference's on every target (adafactor_test.cpp checks it). The row and column reductions
// of a factored parameter are whole-tensor work in adafactor.cpp, not kernels.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "descent/optimizers/adafactor.hpp"
#include "kernels/kernels.hpp"

namespace descent {
namespace reference {

struct AdafactorStep {
  double lerp_weight;  // 1 - beta2_t = t^beta2_decay: the weight of the new g^2 in the running means
  double eps1;         // clamps the mean of row_var (factored parameters)
  double eps1_sq;      // eps1 * eps1 (in double, as torch squares the Python float): clamps the estimate of v
  bool maximize;
  static AdafactorStep make(const AdafactorOptions& options, DType dtype, std::int64_t step);
};

// torch.lerp(avg, x, w) as torch's vectorized CPU kernel computes it: avg + w * (x - avg) for |w| < 0.5,
// x + (w - 1) * (x - avg) otherwise (each one fused multiply-add), so that w = 1 gives x exactly.
template <class T>
inline T lerp(T avg, T x, T w, T w_minus_one) {
  return std::abs(w) < T(0.5) ? std::fma(w, x - avg, avg) : std::fma(w_minus_one, x - avg, x);
}

// The unscaled update of one element, from the estimate of its second moment (r * c) / row_mean:
// g / sqrt(max(v, eps1^2)), as torch's var_estimate.clamp_(min=eps1^2).rsqrt_().mul_(g). A 1-D
// parameter passes r = 1, row_mean = 1 and c = its variance (exact: v = c). A NaN estimate stays NaN.
template <class T>
inline T unscaled_update(T g, T r, T c, T row_mean, T eps1_sq) {
  const T v = (r * c) / row_mean;
  return (T(1) / std::sqrt(v < eps1_sq ? eps1_sq : v)) * g;
}

// 1-D parameters: variance <- lerp(variance, g^2, w); returns the sum of the squared updates (in double).
template <class T>
double adafactor_variance(const AdafactorStep& s, const T* grad, T* variance, std::size_t n);
// Sum of the squared updates of one row segment of a factored parameter: column values col[0, n), the
// row's row_var value `row` and the clamped mean of row_var `row_mean`.
template <class T>
double adafactor_factored_sq(const AdafactorStep& s, T row, T row_mean, const T* grad, const T* col, std::size_t n);
// param <- param * decay + scale * update (scale = -alpha / clip), the update recomputed exactly as in
// the passes above (a 1-D parameter: row = row_mean = 1, col = its variance). decay = 1 - lr * weight_decay.
template <class T>
void adafactor_apply(const AdafactorStep& s, double decay, double scale, T row, T row_mean, T* param, const T* grad,
                     const T* col, std::size_t n);

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::adafactor_variance) adafactor_variance;
extern const DESCENT_KERNEL_OF(reference::adafactor_factored_sq) adafactor_factored_sq;
extern const DESCENT_KERNEL_OF(reference::adafactor_apply) adafactor_apply;
}  // namespace kernels
}  // namespace descent
