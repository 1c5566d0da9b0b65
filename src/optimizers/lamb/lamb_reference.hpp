// LAMB: the per-step scalars, the scalar reference update and its vector kernel.
// The reference (lamb.cpp) is the specification; the kernel (lamb-inl.h, compiled for every
// instruction set by lamb_kernel.cpp) applies the same operations lane by lane, so its results are
// bitwise the reference's on every target (lamb_test.cpp checks it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/optimizers/lamb.hpp"
#include "kernels/kernels.hpp"

namespace descent {
namespace reference {

struct LAMBStep {
  double beta1, beta2, eps, weight_decay;
  double bias_correction1, bias_correction2;  // 1 without bias correction
  bool maximize;
  static LAMBStep make(const LAMBOptions& options, std::int64_t step);
  // lr times the trust ratio, from the squared norms of the weights and of the update direction.
  static double scaled_lr(const LAMBOptions& options, double weight_sq, double direction_sq);
};
// Pass 1: updates the moments and returns the squared norm of the direction (Adam step + weight decay).
template <class T>
double lamb_moments(const LAMBStep& s, const T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::size_t n);
// Pass 2: param -= scaled_lr * direction, the direction recomputed exactly as in pass 1.
template <class T>
void lamb_apply(const LAMBStep& s, double scaled_lr, T* param, const T* exp_avg, const T* exp_avg_sq, std::size_t n);

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::lamb_moments) lamb_moments;
extern const DESCENT_KERNEL_OF(reference::lamb_apply) lamb_apply;
}  // namespace kernels
}  // namespace descent
